//===- ArtifactFormatTest.cpp - Tests for the .gkm container --------------===//
//
// This file tests the container writer and verifier: the round trip, every
// header/section/plan rejection path (each a Status naming the part, never a
// crash), truncation at every length and a random mutation sweep.
//
//===----------------------------------------------------------------------===//

#include "gecko/abi/artifact_format.h"

#include "TestArtifact.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>
#include <random>
#include <unistd.h>

using namespace gecko;
using namespace gecko::testing;

namespace {

std::string tempPath(const std::string &name) {
  return ::testing::TempDir() + "gecko_artifact_" + std::to_string(::getpid()) +
         "_" + name;
}

std::vector<uint8_t> goodImage() {
  std::vector<uint8_t> code = testKernelCode();
  EXPECT_FALSE(code.empty()) << "cannot read " << GECKO_TEST_KERNEL_PATH;
  StatusOr<std::vector<uint8_t>> image =
      serializeArtifact(testKernelPlan(), code);
  EXPECT_TRUE(image.isOk()) << image.status().toString();
  return image.isOk() ? *image : std::vector<uint8_t>();
}

/// Parses `image`, expects an error whose message contains `needle`.
void expectError(const std::vector<uint8_t> &image, const std::string &needle) {
  StatusOr<ParsedArtifact> r = parseArtifact(image, "t.gkm");
  ASSERT_FALSE(r.isOk()) << "expected an error containing '" << needle << "'";
  EXPECT_NE(r.status().message().find(needle), std::string::npos)
      << r.status().toString();
  EXPECT_EQ(r.status().message().rfind("t.gkm", 0), 0u)
      << "message does not name the file: " << r.status().toString();
}

std::string goodPlanText() {
  StatusOr<std::string> text = planToJson(testKernelPlan());
  EXPECT_TRUE(text.isOk());
  return text.isOk() ? *text : "";
}

/// The test plan as JSON, edited by `edit`.
template <typename Fn> std::string editedPlanText(Fn edit) {
  nlohmann::json j = nlohmann::json::parse(goodPlanText());
  edit(j);
  return j.dump();
}

/// The test plan as JSON, edited by `edit`, wrapped in a valid container.
template <typename Fn> std::vector<uint8_t> editedPlanImage(Fn edit) {
  return rawImage(editedPlanText(edit), testKernelCode());
}

} // namespace

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  // Chaining equals one pass.
  EXPECT_EQ(crc32c("6789", 4, crc32c("12345", 5)), 0xE3069283u);
  std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
}

TEST(ArtifactFormat, RoundTrip) {
  std::vector<uint8_t> image = goodImage();
  ASSERT_FALSE(image.empty());
  EXPECT_EQ(std::memcmp(image.data(), "GECKOGKM", 8), 0);
  StatusOr<ParsedArtifact> parsed = parseArtifact(image, "t.gkm");
  ASSERT_TRUE(parsed.isOk()) << parsed.status().toString();
  EXPECT_EQ(parsed->header.formatVersion,
            uint32_t(GECKO_ARTIFACT_FORMAT_VERSION));
  // The plan's version (the test kernel's, v1) goes to the header.
  EXPECT_EQ(parsed->header.kernelAbiVersion, 1u);
  EXPECT_EQ(parsed->header.planOffset, artifact::kHeaderSize);
  EXPECT_EQ(parsed->header.codeOffset % artifact::kSectionAlignment, 0u);
  EXPECT_EQ(parsed->header.fileSize, image.size());
  EXPECT_EQ(parsed->code, testKernelCode());

  const ArtifactPlan &plan = parsed->plan;
  ASSERT_EQ(plan.functions.size(), 2u);
  const FunctionPlan *fwd = plan.findFunction("forward");
  ASSERT_NE(fwd, nullptr);
  EXPECT_EQ(fwd->entry, "gecko_entry_forward");
  ASSERT_EQ(fwd->args.size(), 2u);
  EXPECT_EQ(fwd->args[0].kind, ArgKind::kInput);
  EXPECT_EQ(fwd->args[0].dtype, ElementType::kI64);
  ASSERT_TRUE(fwd->args[0].range.has_value());
  EXPECT_EQ(fwd->args[0].range->hi, 5);
  EXPECT_EQ(fwd->args[1].kind, ArgKind::kParam);
  EXPECT_EQ(fwd->results[1].shape, std::vector<int64_t>{});
  EXPECT_EQ(fwd->workspace.bytes, 64u);
  ASSERT_EQ(fwd->buffers.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(plan.modelJson)["vocab_size"], 5);
  // Serializing the parsed plan again gives the same bytes (deterministic).
  StatusOr<std::vector<uint8_t>> again = serializeArtifact(plan, parsed->code);
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(*again, image);
}

TEST(ArtifactFormat, WriteAndReadFile) {
  std::string path = tempPath("rw.gkm");
  Status s = writeArtifact(path, testKernelPlan(), testKernelCode());
  ASSERT_TRUE(s.isOk()) << s.toString();
  EXPECT_NE(
      ::access((path + ".tmp." + std::to_string(::getpid())).c_str(), F_OK), 0);
  StatusOr<ParsedArtifact> r = readArtifact(path);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->plan.functions.size(), 2u);
  StatusOr<ParsedArtifact> missing = readArtifact(path + ".nope");
  ASSERT_FALSE(missing.isOk());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  ::unlink(path.c_str());
}

TEST(ArtifactFormat, WriterRejectsBadInput) {
  ArtifactPlan plan = testKernelPlan();
  std::vector<uint8_t> code = testKernelCode();
  EXPECT_FALSE(serializeArtifact(plan, nullptr, 0).isOk());
  std::vector<uint8_t> notElf = {'h', 'e', 'l', 'l', 'o'};
  StatusOr<std::vector<uint8_t>> r = serializeArtifact(plan, notElf);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("not an ELF"), std::string::npos);

  ArtifactPlan bad = plan;
  bad.functions[0].args[1].shape = {5, -3};
  r = serializeArtifact(bad, code);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("embed.weight"), std::string::npos)
      << r.status().toString();
  bad = plan;
  bad.modelJson = "[1, 2]";
  EXPECT_FALSE(serializeArtifact(bad, code).isOk());
  Status w = writeArtifact("/nonexistent-dir/x.gkm", plan, code);
  EXPECT_FALSE(w.isOk());
}

TEST(ArtifactFormat, RejectsWrongMagic) {
  std::vector<uint8_t> image = goodImage();
  image[3] = 'X';
  expectError(image, "not a Gecko artifact");
  expectError({}, "not a Gecko artifact");
  std::vector<uint8_t> text = {'{', '}', '\n'};
  expectError(text, "not a Gecko artifact");
}

TEST(ArtifactFormat, RejectsFutureVersions) {
  std::vector<uint8_t> image = goodImage();
  std::vector<uint8_t> future = image;
  future[artifact::kOffFormatVersion] = 2;
  expectError(future, "artifact format version 2 is not supported");

  future = image;
  future[artifact::kOffKernelAbiVersion] = 7;
  resealHeader(future);
  expectError(future, "kernel ABI version 7 is not supported");

  // A plan claiming another version than the header.
  std::vector<uint8_t> planV2 =
      editedPlanImage([](nlohmann::json &j) { j["kernel_abi_version"] = 2; });
  expectError(planV2, "kernel ABI 2) disagree with the header's");
  std::vector<uint8_t> planV3 =
      editedPlanImage([](nlohmann::json &j) { j["kernel_abi_version"] = 3; });
  expectError(planV3, "kernel_abi_version 3 is not supported");
}

TEST(ArtifactFormat, ReadsKernelAbiV1) {
  // v1 artifacts (from before ready signals) still load: header and plan
  // both say 1.
  std::string text =
      editedPlanText([](nlohmann::json &j) { j["kernel_abi_version"] = 1; });
  StatusOr<ParsedArtifact> r = parseArtifact(
      rawImage(text, testKernelCode(), GECKO_ARTIFACT_FORMAT_VERSION, 1),
      "v1.gkm");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->header.kernelAbiVersion, 1u);
  EXPECT_EQ(r->plan.kernelAbiVersion, 1u);
  // But a v1 plan cannot have ready signals (v2).
  text = editedPlanText([](nlohmann::json &j) {
    j["kernel_abi_version"] = 1;
    nlohmann::json signal;
    signal["id"] = 0;
    signal["tensors"] =
        nlohmann::json::array({j["functions"][0]["results"][0]["name"]});
    j["functions"][0]["signals"] = nlohmann::json::array({signal});
  });
  expectError(
      rawImage(text, testKernelCode(), GECKO_ARTIFACT_FORMAT_VERSION, 1),
      "has ready signals, which need kernel ABI version 2");
}

TEST(ArtifactFormat, ReadySignals) {
  ArtifactPlan plan = testKernelPlan();
  plan.kernelAbiVersion = 2;
  FunctionPlan &f = plan.functions.at(0);
  const std::string result = f.results.at(0).name;
  f.signals.push_back(SignalSpec{0, {result}});
  ASSERT_TRUE(validatePlan(plan).isOk());
  // Round trip through the JSON.
  StatusOr<std::string> text = planToJson(plan);
  ASSERT_TRUE(text.isOk());
  EXPECT_NE(text->find("\"signals\""), std::string::npos);
  StatusOr<ArtifactPlan> back = planFromJson(*text, "s.gkm");
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  ASSERT_EQ(back->functions.at(0).signals.size(), 1u);
  EXPECT_EQ(back->functions.at(0).signals[0].tensors,
            std::vector<std::string>{result});
  // Ids in order, tensors that are results, each once.
  auto expectInvalid = [&](auto edit, const std::string &message) {
    ArtifactPlan p = testKernelPlan();
    p.kernelAbiVersion = 2;
    edit(p.functions.at(0));
    Status s = validatePlan(p);
    ASSERT_FALSE(s.isOk()) << message;
    EXPECT_NE(s.message().find(message), std::string::npos) << s.toString();
  };
  expectInvalid([&](FunctionPlan &g) { g.signals = {SignalSpec{1, {result}}}; },
                "signals[0] has id 1; ids number the signals 0, 1, ... in "
                "order");
  expectInvalid([&](FunctionPlan &g) { g.signals = {SignalSpec{0, {}}}; },
                "signals[0]: names no tensors");
  expectInvalid([&](FunctionPlan &g) { g.signals = {SignalSpec{0, {"nope"}}}; },
                "signals[0]: tensor 'nope' is not a result of the function");
  expectInvalid(
      [&](FunctionPlan &g) {
        g.signals = {SignalSpec{0, {result}}, SignalSpec{1, {result}}};
      },
      "signals[1]: tensor '" + result + "' is signalled twice");
}

TEST(ArtifactFormat, EveryHeaderByteIsChecked) {
  std::vector<uint8_t> image = goodImage();
  for (size_t i = 0; i < artifact::kHeaderSize; ++i) {
    std::vector<uint8_t> bad = image;
    bad[i] ^= 0x20;
    StatusOr<ParsedArtifact> r = parseArtifact(bad, "t.gkm");
    ASSERT_FALSE(r.isOk()) << "flipping header byte " << i << " went unnoticed";
    if (i >= 12)
      EXPECT_NE(r.status().message().find("header checksum mismatch"),
                std::string::npos)
          << i << ": " << r.status().toString();
  }
}

TEST(ArtifactFormat, SectionChecksumsNameTheSection) {
  std::vector<uint8_t> image = goodImage();
  StatusOr<ParsedArtifact> ok = parseArtifact(image, "t.gkm");
  ASSERT_TRUE(ok.isOk());
  const ArtifactHeader &h = ok->header;

  std::vector<uint8_t> bad = image;
  bad[h.planOffset + h.planSize / 2] ^= 0x01;
  expectError(bad, "plan section checksum mismatch");

  bad = image;
  bad[h.codeOffset + h.codeSize / 2] ^= 0x80;
  expectError(bad, "code section checksum mismatch");

  bad = image;
  bad[h.codeOffset + h.codeSize - 1] ^= 0xff;
  expectError(bad, "code section checksum mismatch");

  if (h.planOffset + h.planSize < h.codeOffset) {
    bad = image;
    bad[h.planOffset + h.planSize] = 'x';
    expectError(bad, "non-zero padding byte");
  }
}

TEST(ArtifactFormat, TruncationAtEveryLength) {
  std::vector<uint8_t> image = goodImage();
  for (size_t n = 0; n < image.size(); ++n) {
    std::vector<uint8_t> cut(image.begin(), image.begin() + n);
    StatusOr<ParsedArtifact> r = parseArtifact(cut, "t.gkm");
    ASSERT_FALSE(r.isOk()) << "truncation to " << n << " bytes accepted";
    EXPECT_EQ(r.status().code() == StatusCode::kDataLoss, true)
        << n << ": " << r.status().toString();
  }
  std::vector<uint8_t> cut(image.begin(), image.end() - 1);
  expectError(cut, "(truncated)");
  std::vector<uint8_t> longer = image;
  longer.push_back(0);
  expectError(longer, "the header records a file of");
}

TEST(ArtifactFormat, SectionBoundsAreChecked) {
  std::vector<uint8_t> image = goodImage();
  std::vector<uint8_t> bad = image;
  uint64_t huge = ~uint64_t(0) - 10;
  std::memcpy(&bad[artifact::kOffCodeSize], &huge, 8);
  resealHeader(bad);
  expectError(bad, "code section");
  bad = image;
  uint64_t odd = 130;
  std::memcpy(&bad[artifact::kOffPlanOffset], &odd, 8);
  resealHeader(bad);
  expectError(bad, "not 64-byte aligned");
  bad = image;
  uint64_t overlap = artifact::kHeaderSize;
  std::memcpy(&bad[artifact::kOffCodeOffset], &overlap, 8);
  resealHeader(bad);
  expectError(bad, "overlaps");
  bad = image;
  bad[80] = 1; // reserved
  resealHeader(bad);
  expectError(bad, "reserved header bytes");
}

TEST(ArtifactFormat, MalformedPlans) {
  std::vector<uint8_t> code = testKernelCode();
  expectError(rawImage("{not json", code), "plan: not valid JSON");
  expectError(rawImage("[1,2]", code), "plan: not a JSON object");
  expectError(rawImage("{\"a\":1,\"a\":2}", code), "duplicate key 'a'");

  struct Case {
    const char *needle;
    void (*edit)(nlohmann::json &);
  } cases[] = {
      {"unknown kind 'weight'",
       [](nlohmann::json &j) {
         j["functions"][0]["args"][1]["kind"] = "weight";
       }},
      {"unknown dtype 'f8'",
       [](nlohmann::json &j) { j["functions"][0]["args"][1]["dtype"] = "f8"; }},
      {"arg 'embed.weight': negative dimension -5",
       [](nlohmann::json &j) {
         j["functions"][0]["args"][1]["shape"] = {-5, 3};
       }},
      {"duplicate tensor name 'input.tokens'",
       [](nlohmann::json &j) {
         j["functions"][0]["results"][0]["name"] = "input.tokens";
       }},
      {"duplicate function name 'forward'",
       [](nlohmann::json &j) { j["functions"][1]["name"] = "forward"; }},
      {"missing field 'entry'",
       [](nlohmann::json &j) { j["functions"][0].erase("entry"); }},
      {"unknown field 'extra'",
       [](nlohmann::json &j) { j["functions"][0]["extra"] = 1; }},
      {"unknown field 'colour'",
       [](nlohmann::json &j) { j["colour"] = "red"; }},
      {"not a C identifier",
       [](nlohmann::json &j) { j["functions"][0]["entry"] = "bad entry"; }},
      {"range is only allowed on integer",
       [](nlohmann::json &j) {
         j["functions"][0]["args"][1]["range"] = {0, 1};
       }},
      {"empty range",
       [](nlohmann::json &j) {
         j["functions"][0]["args"][0]["range"] = {5, 5};
       }},
      {"unknown target kind 'tpu'",
       [](nlohmann::json &j) { j["target"]["kind"] = "tpu"; }},
      {"unknown code_format",
       [](nlohmann::json &j) { j["target"]["code_format"] = "macho"; }},
      {"plan has no functions",
       [](nlohmann::json &j) { j["functions"] = nlohmann::json::array(); }},
      {"'shape' is not an array",
       [](nlohmann::json &j) { j["functions"][0]["results"][0]["shape"] = 3; }},
      {"a dimension is not an integer",
       [](nlohmann::json &j) {
         j["functions"][0]["results"][0]["shape"] = {2.5};
       }},
      {"lies outside the workspace",
       [](nlohmann::json &j) {
         j["functions"][0]["buffers"] = {{{"offset", 60}, {"bytes", 8}}};
       }},
      {"workspace alignment 3",
       [](nlohmann::json &j) {
         j["functions"][0]["workspace"]["alignment"] = 3;
       }},
      {"is too large",
       [](nlohmann::json &j) {
         j["functions"][0]["results"][0]["shape"] = {1ll << 40, 1ll << 40};
       }},
      {"field 'model' is not a JSON object",
       [](nlohmann::json &j) { j["model"] = "tiny"; }},
      {"field 'name' is not a string",
       [](nlohmann::json &j) { j["functions"][0]["name"] = 3; }},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.needle);
    expectError(editedPlanImage(c.edit), c.needle);
  }
}

namespace {

ArtifactPlan cudaPlan() {
  ArtifactPlan plan = testKernelPlan();
  plan.target.kind = "cuda";
  plan.target.chip = "sm_90a";
  plan.target.deviceImageFormat = "fatbin";
  plan.target.kernels = {"gecko_k0", "gecko_k1"};
  return plan;
}

} // namespace

TEST(ArtifactFormat, CudaTargetRoundTrip) {
  StatusOr<std::vector<uint8_t>> image =
      serializeArtifact(cudaPlan(), testKernelCode());
  ASSERT_TRUE(image.isOk()) << image.status().toString();
  StatusOr<ParsedArtifact> parsed = parseArtifact(*image, "c.gkm");
  ASSERT_TRUE(parsed.isOk()) << parsed.status().toString();
  const TargetSpec &t = parsed->plan.target;
  EXPECT_EQ(t.kind, "cuda");
  EXPECT_EQ(t.chip, "sm_90a");
  EXPECT_EQ(t.deviceImageFormat, "fatbin");
  EXPECT_EQ(t.kernels, (std::vector<std::string>{"gecko_k0", "gecko_k1"}));
  // A cuda target with no kernels is valid (host code that launches none).
  ArtifactPlan none = cudaPlan();
  none.target.kernels.clear();
  EXPECT_TRUE(validatePlan(none).isOk());
}

TEST(ArtifactFormat, CudaTargetValidation) {
  struct Case {
    const char *needle;
    void (*edit)(ArtifactPlan &);
  } cases[] = {
      {"target 'cuda' has chip ''",
       [](ArtifactPlan &p) { p.target.chip.clear(); }},
      {"target 'cuda' has chip 'gfx90a'",
       [](ArtifactPlan &p) { p.target.chip = "gfx90a"; }},
      {"device_image_format 'elf'",
       [](ArtifactPlan &p) { p.target.deviceImageFormat = "elf"; }},
      {"device_image_format ''",
       [](ArtifactPlan &p) { p.target.deviceImageFormat.clear(); }},
      {"duplicate target kernel 'gecko_k0'",
       [](ArtifactPlan &p) { p.target.kernels[1] = "gecko_k0"; }},
      {"target kernel name 'bad name' is not a C identifier",
       [](ArtifactPlan &p) { p.target.kernels[0] = "bad name"; }},
      {"target kernel name '' is not a C identifier",
       [](ArtifactPlan &p) { p.target.kernels[0] = ""; }},
      {"target 'cpu' has a chip, device image format or kernel list",
       [](ArtifactPlan &p) {
         p.target.kind = "cpu";
         p.target.chip.clear();
         p.target.deviceImageFormat.clear();
       }},
      {"target 'cpu' has a chip",
       [](ArtifactPlan &p) {
         p.target.kind = "cpu";
         p.target.kernels.clear();
         p.target.deviceImageFormat.clear();
       }},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.needle);
    ArtifactPlan plan = cudaPlan();
    c.edit(plan);
    Status s = validatePlan(plan);
    ASSERT_FALSE(s.isOk());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(c.needle), std::string::npos) << s.toString();
    // The writer refuses it too, and the reader refuses the JSON.
    EXPECT_FALSE(serializeArtifact(plan, testKernelCode()).isOk());
  }
  // The reader: cuda fields are required on a cuda target, rejected on cpu.
  StatusOr<std::string> text = planToJson(cudaPlan());
  ASSERT_TRUE(text.isOk());
  nlohmann::json j = nlohmann::json::parse(*text);
  nlohmann::json noChip = j;
  noChip["target"].erase("chip");
  expectError(rawImage(noChip.dump(), testKernelCode()), "chip");
  nlohmann::json notArray = j;
  notArray["target"]["kernels"] = "gecko_k0";
  expectError(rawImage(notArray.dump(), testKernelCode()),
              "'target.kernels' is not an array");
  nlohmann::json cpuKernels = nlohmann::json::parse(goodPlanText());
  cpuKernels["target"]["kernels"] = {"k"};
  expectError(rawImage(cpuKernels.dump(), testKernelCode()),
              "field 'target.kernels' is only allowed on a 'cuda' target");
}

TEST(ArtifactFormat, PrecisionRoundTrip) {
  // fp32 (the default) is not written, so fp32 plans are unchanged.
  EXPECT_EQ(goodPlanText().find("precision"), std::string::npos);
  ArtifactPlan plan = testKernelPlan();
  plan.precision = "bf16";
  StatusOr<std::string> text = planToJson(plan);
  ASSERT_TRUE(text.isOk()) << text.status().toString();
  EXPECT_NE(text->find("\"precision\": \"bf16\""), std::string::npos) << *text;
  StatusOr<std::vector<uint8_t>> image =
      serializeArtifact(plan, testKernelCode());
  ASSERT_TRUE(image.isOk()) << image.status().toString();
  StatusOr<ParsedArtifact> parsed = parseArtifact(*image, "p.gkm");
  ASSERT_TRUE(parsed.isOk()) << parsed.status().toString();
  EXPECT_EQ(parsed->plan.precision, "bf16");
  // Spelled out, fp32 reads as the default.
  image = rawImage(
      editedPlanText([](nlohmann::json &j) { j["precision"] = "fp32"; }),
      testKernelCode());
  parsed = parseArtifact(*image, "p.gkm");
  ASSERT_TRUE(parsed.isOk()) << parsed.status().toString();
  EXPECT_EQ(parsed->plan.precision, "fp32");
  // Anything else is refused by the validator, the writer and the reader.
  plan.precision = "fp16";
  Status s = validatePlan(plan);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("unknown precision 'fp16'"), std::string::npos)
      << s.toString();
  EXPECT_FALSE(serializeArtifact(plan, testKernelCode()).isOk());
  expectError(
      editedPlanImage([](nlohmann::json &j) { j["precision"] = "tf32"; }),
      "unknown precision 'tf32'");
  expectError(editedPlanImage([](nlohmann::json &j) { j["precision"] = 16; }),
              "field 'precision' is not a string");
}

TEST(ArtifactFormat, RandomMutationsNeverCrash) {
  std::vector<uint8_t> image = goodImage();
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> bad = image;
    int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k)
      bad[rng() % bad.size()] ^= uint8_t(1 + rng() % 255);
    if (rng() % 4 == 0)
      bad.resize(rng() % bad.size());
    StatusOr<ParsedArtifact> r = parseArtifact(bad, "t.gkm");
    if (bad != image)
      EXPECT_FALSE(r.isOk()) << "mutation " << iter << " accepted";
  }
}
