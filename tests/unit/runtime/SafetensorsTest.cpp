//===- SafetensorsTest.cpp - Tests for the safetensors reader/writer ------===//
//
// This file tests the round trip, every rejection path of the strict reader,
// the golden reference file, and a randomized mutation sweep.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <unistd.h>

using namespace gecko;

// tests/CMakeLists.txt defaults the shared directory to <source>/../shared;
// use that when the build does not pass GECKO_SHARED_DIR to this target.
#ifndef GECKO_SHARED_DIR
#define GECKO_SHARED_DIR GECKO_SOURCE_DIR "/../shared"
#endif

namespace {

/// The shared/ directory: $GECKO_SHARED_DIR if set, else the build's value.
std::string sharedDir() {
  const char *env = std::getenv("GECKO_SHARED_DIR");
  return env && *env ? env : GECKO_SHARED_DIR;
}

/// A scratch directory unique to this process.
std::string tempDir() {
  static std::string dir = [] {
    std::string d = ::testing::TempDir() + "gecko_safetensors_" +
                    std::to_string(::getpid());
    std::string cmd = "mkdir -p '" + d + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    return d;
  }();
  return dir;
}

/// Builds a file image from a raw header text and data bytes.
std::vector<uint8_t> image(const std::string &header,
                           const std::vector<uint8_t> &data) {
  std::vector<uint8_t> out(8);
  uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

StatusOr<SafetensorsFile> parseText(const std::string &header,
                                    size_t dataBytes) {
  return SafetensorsFile::parse(image(header, std::vector<uint8_t>(dataBytes)),
                                "mem.safetensors");
}

/// A small valid image with three tensors of different dtypes.
struct Sample {
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, 7.0f};
  std::vector<int64_t> ids = {0, -1, 1ll << 40};
  std::vector<uint16_t> half = {0x3c00, 0xc000, 0x3555}; // 1, -2, ~0.333 F16
  std::vector<TensorToWrite> tensors() const {
    return {{"w.a", DType::kF32, {2, 3}, a.data(), a.size() * 4},
            {"ids", DType::kI64, {3}, ids.data(), ids.size() * 8},
            {"h", DType::kF16, {3}, half.data(), half.size() * 2}};
  }
};

void expectCode(const StatusOr<SafetensorsFile> &f, StatusCode code,
                const std::string &needle) {
  ASSERT_FALSE(f.isOk()) << "expected failure containing '" << needle << "'";
  EXPECT_EQ(f.status().code(), code) << f.status().toString();
  EXPECT_NE(f.status().message().find(needle), std::string::npos)
      << f.status().toString();
  EXPECT_NE(f.status().message().find("mem.safetensors"), std::string::npos)
      << "message must name the file: " << f.status().toString();
}

} // namespace

//===----------------------------------------------------------------------===//
// Writer and round trip
//===----------------------------------------------------------------------===//

TEST(Safetensors, RoundTrip) {
  Sample s;
  std::string path = tempDir() + "/rt.safetensors";
  ASSERT_TRUE(writeSafetensors(path, s.tensors(), {{"format", "pt"}}).isOk());
  // The temporary file is gone after the rename.
  EXPECT_FALSE(std::ifstream(path + ".tmp." + std::to_string(::getpid())));

  StatusOr<SafetensorsFile> f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.isOk()) << f.status().toString();
  EXPECT_EQ(f->names(), (std::vector<std::string>{"h", "ids", "w.a"}));
  EXPECT_EQ(f->metadata().at("format"), "pt");
  const TensorInfo *a = f->find("w.a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->numel(), 6);
  StatusOr<std::vector<float>> af = f->readAsF32("w.a");
  ASSERT_TRUE(af.isOk());
  EXPECT_EQ(*af, s.a);
  StatusOr<std::vector<double>> ad = f->readAsF64("w.a");
  ASSERT_TRUE(ad.isOk());
  EXPECT_EQ((*ad)[2], 3.25);
  StatusOr<std::vector<int64_t>> ids = f->readAsI64("ids");
  ASSERT_TRUE(ids.isOk());
  EXPECT_EQ(*ids, s.ids);
  StatusOr<std::vector<float>> h = f->readAsF32("h");
  ASSERT_TRUE(h.isOk());
  EXPECT_EQ((*h)[0], 1.0f);
  EXPECT_EQ((*h)[1], -2.0f);
  EXPECT_NEAR((*h)[2], 1.0 / 3, 1e-3);
  StatusOr<ByteView> raw = f->rawBytes("ids");
  ASSERT_TRUE(raw.isOk());
  ASSERT_EQ(raw->size, 24u);
  EXPECT_EQ(std::memcmp(raw->data, s.ids.data(), 24), 0);
}

TEST(Safetensors, WriterIsDeterministicAndAligned) {
  Sample s;
  std::vector<TensorToWrite> fwd = s.tensors(), rev(fwd.rbegin(), fwd.rend());
  StatusOr<std::vector<uint8_t>> a = serializeSafetensors(fwd, {{"k", "v"}});
  StatusOr<std::vector<uint8_t>> b = serializeSafetensors(rev, {{"k", "v"}});
  ASSERT_TRUE(a.isOk() && b.isOk());
  EXPECT_EQ(*a, *b);
  uint64_t n;
  std::memcpy(&n, a->data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u);
  std::string header(a->begin() + 8, a->begin() + 8 + n);
  // The JSON object ends at the last '}'; only space padding follows.
  size_t close = header.rfind('}');
  ASSERT_NE(close, std::string::npos);
  EXPECT_EQ(header.find_first_not_of(' ', close + 1), std::string::npos);
  // Sorted names are packed in order: "h" first at offset 0.
  EXPECT_NE(header.find("\"h\":{\"data_offsets\":[0,6]"), std::string::npos)
      << header;
}

TEST(Safetensors, WriterRejectsBadRequests) {
  float x[2] = {1, 2};
  std::string path = tempDir() + "/bad.safetensors";
  EXPECT_EQ(writeSafetensors(path, {{"x", DType::kF32, {3}, x, 8}}, {}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(writeSafetensors(
                path,
                {{"x", DType::kF32, {2}, x, 8}, {"x", DType::kF32, {2}, x, 8}},
                {})
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      writeSafetensors(path, {{"__metadata__", DType::kF32, {2}, x, 8}}, {})
          .code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(writeSafetensors(path, {{"x", DType::kF32, {-2}, x, 8}}, {}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::ifstream(path));
  // A directory that does not exist fails cleanly.
  EXPECT_FALSE(writeSafetensors("/nonexistent-dir/x.safetensors",
                                {{"x", DType::kF32, {2}, x, 8}}, {})
                   .isOk());
}

TEST(Safetensors, EmptyAndScalarTensors) {
  double scalar = 2.5;
  std::vector<TensorToWrite> t = {{"s", DType::kF64, {}, &scalar, 8},
                                  {"e", DType::kBF16, {0, 4}, nullptr, 0}};
  StatusOr<std::vector<uint8_t>> img = serializeSafetensors(t, {});
  ASSERT_TRUE(img.isOk());
  StatusOr<SafetensorsFile> f = SafetensorsFile::parse(*img, "mem");
  ASSERT_TRUE(f.isOk()) << f.status().toString();
  EXPECT_EQ(f->readAsF64("s")->at(0), 2.5);
  EXPECT_TRUE(f->readAsF32("e")->empty());
  EXPECT_TRUE(f->metadata().empty());
}

//===----------------------------------------------------------------------===//
// Reader rejections
//===----------------------------------------------------------------------===//

TEST(Safetensors, MissingFileIsNotFound) {
  StatusOr<SafetensorsFile> f =
      SafetensorsFile::open(tempDir() + "/does-not-exist.safetensors");
  ASSERT_FALSE(f.isOk());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
}

TEST(Safetensors, TruncatedFileAtSeveralCutPoints) {
  Sample s;
  StatusOr<std::vector<uint8_t>> img = serializeSafetensors(s.tensors(), {});
  ASSERT_TRUE(img.isOk());
  uint64_t n;
  std::memcpy(&n, img->data(), 8);
  for (size_t cut :
       {size_t(0), size_t(3), size_t(7), size_t(8), size_t(20),
        size_t(8 + n - 1), size_t(8 + n), size_t(8 + n + 5), img->size() - 1}) {
    std::vector<uint8_t> part(img->begin(), img->begin() + cut);
    StatusOr<SafetensorsFile> f = SafetensorsFile::parse(part, "mem");
    ASSERT_FALSE(f.isOk()) << "cut at " << cut;
    EXPECT_EQ(f.status().code(), StatusCode::kDataLoss) << "cut at " << cut;
  }
  // Through the file system too.
  std::string path = tempDir() + "/trunc.safetensors";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char *>(img->data()), img->size() - 3);
  }
  StatusOr<SafetensorsFile> f = SafetensorsFile::open(path);
  ASSERT_FALSE(f.isOk());
  EXPECT_EQ(f.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(f.status().message().find(path), std::string::npos);
}

TEST(Safetensors, HeaderLengthPastEofOrHuge) {
  std::vector<uint8_t> img = image("{}", {});
  uint64_t big = 1000;
  std::memcpy(img.data(), &big, 8);
  expectCode(SafetensorsFile::parse(img, "mem.safetensors"),
             StatusCode::kDataLoss, "past the end");
  uint64_t huge = ~uint64_t(0);
  std::memcpy(img.data(), &huge, 8);
  expectCode(SafetensorsFile::parse(img, "mem.safetensors"),
             StatusCode::kDataLoss, "limit");
}

TEST(Safetensors, BadJson) {
  expectCode(parseText("{\"a\": ", 0), StatusCode::kDataLoss, "JSON");
  expectCode(parseText("[1, 2]   ", 0), StatusCode::kDataLoss, "JSON object");
  expectCode(parseText("\"str\"", 0), StatusCode::kDataLoss, "JSON object");
  expectCode(parseText(std::string("{\"a\"\0:1}", 9), 0), StatusCode::kDataLoss,
             "JSON");
  expectCode(parseText("{\"__metadata__\": {\"k\": 1}}", 0),
             StatusCode::kDataLoss, "__metadata__");
  expectCode(parseText("{\"__metadata__\": [\"k\"]}", 0), StatusCode::kDataLoss,
             "__metadata__");
  expectCode(parseText("{\"x\": 3}", 0), StatusCode::kDataLoss, "'x'");
}

TEST(Safetensors, BadDtypeAndShape) {
  expectCode(
      parseText(R"({"x":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", 1),
      StatusCode::kDataLoss, "unsupported dtype 'F8'");
  expectCode(
      parseText(R"({"x":{"dtype":3,"shape":[1],"data_offsets":[0,4]}})", 4),
      StatusCode::kDataLoss, "dtype");
  expectCode(
      parseText(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
                4),
      StatusCode::kDataLoss, "non-negative");
  expectCode(
      parseText(R"({"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})",
                4),
      StatusCode::kDataLoss, "non-negative");
  expectCode(
      parseText(R"({"x":{"dtype":"F32","shape":1,"data_offsets":[0,4]}})", 4),
      StatusCode::kDataLoss, "shape");
  expectCode(parseText(R"({"x":{"dtype":"F32","data_offsets":[0,4]}})", 4),
             StatusCode::kDataLoss, "needs dtype");
  expectCode(
      parseText(
          R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"y":1}})", 4),
      StatusCode::kDataLoss, "unexpected header field");
  expectCode(
      parseText(
          R"({"x":{"dtype":"U8","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})",
          4),
      StatusCode::kDataLoss, "too large");
  // Huge dims before a zero dim describe an empty tensor.
  StatusOr<SafetensorsFile> empty = parseText(
      R"({"x":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})",
      0);
  ASSERT_TRUE(empty.isOk()) << empty.status().toString();
  EXPECT_EQ(empty->find("x")->numel(), 0);
}

TEST(Safetensors, BadOffsets) {
  // Past the data section.
  expectCode(
      parseText(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
      StatusCode::kDataLoss, "exceed the data section");
  // begin > end.
  expectCode(
      parseText(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
      StatusCode::kDataLoss, "begin");
  // Wrong size for shape and dtype.
  expectCode(
      parseText(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 8),
      StatusCode::kDataLoss, "does not match");
  // Overlap.
  expectCode(
      parseText(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                12),
      StatusCode::kDataLoss, "overlapping");
  // Malformed offsets.
  expectCode(
      parseText(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
      StatusCode::kDataLoss, "data_offsets");
  expectCode(
      parseText(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})",
                4),
      StatusCode::kDataLoss, "non-negative");
  // Duplicate keys would shadow each other.
  expectCode(
      parseText(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                R"("x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                8),
      StatusCode::kDataLoss, "duplicate");
}

TEST(Safetensors, MissingTensorAndBadConversion) {
  Sample s;
  StatusOr<std::vector<uint8_t>> img = serializeSafetensors(s.tensors(), {});
  ASSERT_TRUE(img.isOk());
  StatusOr<SafetensorsFile> f = SafetensorsFile::parse(*img, "mem.safetensors");
  ASSERT_TRUE(f.isOk());
  EXPECT_EQ(f->find("nope"), nullptr);
  StatusOr<std::vector<float>> r = f->readAsF32("nope");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("'nope'"), std::string::npos);
  EXPECT_NE(r.status().message().find("mem.safetensors"), std::string::npos);
  EXPECT_EQ(f->rawBytes("nope").status().code(), StatusCode::kNotFound);
  StatusOr<std::vector<int64_t>> bad = f->readAsI64("w.a");
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

//===----------------------------------------------------------------------===//
// Golden file and mutation sweep
//===----------------------------------------------------------------------===//

TEST(Safetensors, ReadsGoldenTinyA) {
  std::string path = sharedDir() + "/golden/golden_tiny_a.safetensors";
  if (!std::ifstream(path))
    GTEST_SKIP() << path << " is absent";
  StatusOr<SafetensorsFile> f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.isOk()) << f.status().toString();
  StatusOr<std::vector<float>> loss = f->readAsF32("output.loss");
  ASSERT_TRUE(loss.isOk());
  EXPECT_NEAR((*loss)[0], 4.388475, 1e-6);
  const TensorInfo *logits = f->find("output.logits");
  ASSERT_NE(logits, nullptr);
  EXPECT_EQ(logits->shape, (std::vector<int64_t>{2, 64, 50}));
  EXPECT_EQ(logits->dtype, DType::kF32);
  StatusOr<std::vector<int64_t>> tokens = f->readAsI64("input.tokens");
  ASSERT_TRUE(tokens.isOk());
  EXPECT_EQ(tokens->size(), 128u);
  EXPECT_EQ(f->metadata().at("multi_segments"), "false");
  EXPECT_NE(f->find("layers.0.mega.wz.weight"), nullptr);
  EXPECT_EQ(f->find("layers.0.mega.timenorm.prior_count")->shape.size(), 0u);
}

TEST(Safetensors, RandomMutationsNeverCrash) {
  Sample s;
  StatusOr<std::vector<uint8_t>> img =
      serializeSafetensors(s.tensors(), {{"note", "mutation seed"}});
  ASSERT_TRUE(img.isOk());
  std::mt19937 rng(20240601);
  int rejected = 0, accepted = 0;
  for (int iter = 0; iter < 200; ++iter) {
    std::vector<uint8_t> m = *img;
    int kind = iter % 3;
    if (kind == 0) { // flip a few random bytes
      int flips = 1 + rng() % 4;
      for (int i = 0; i < flips; ++i)
        m[rng() % m.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
    } else if (kind == 1) { // truncate
      m.resize(rng() % m.size());
    } else { // corrupt the header length or a header byte
      if (rng() % 2)
        m[rng() % 8] ^= static_cast<uint8_t>(1u << (rng() % 8));
      else
        m[8 + rng() % (m.size() - 8)] = static_cast<uint8_t>(rng());
    }
    StatusOr<SafetensorsFile> f = SafetensorsFile::parse(m, "mut");
    if (!f.isOk()) {
      ++rejected;
      EXPECT_FALSE(f.status().message().empty());
      continue;
    }
    ++accepted;
    // A file that parses must serve every tensor it lists.
    for (const std::string &name : f->names()) {
      const TensorInfo *info = f->find(name);
      ASSERT_NE(info, nullptr);
      StatusOr<ByteView> raw = f->rawBytes(name);
      ASSERT_TRUE(raw.isOk());
      EXPECT_EQ(raw->size, info->byteSize());
      StatusOr<std::vector<double>> d = f->readAsF64(name);
      ASSERT_TRUE(d.isOk());
      EXPECT_EQ(static_cast<int64_t>(d->size()), info->numel());
    }
  }
  EXPECT_EQ(rejected + accepted, 200);
  EXPECT_GT(rejected, 0);
}
