//===- ExecutableTest.cpp - Tests for loading and running artifacts -------===//
//
// This file packages the real test kernel (testdata/test_kernel.cpp) with the
// writer, loads it, runs it and checks the numbers; then checks every load
// and binding error: missing entry symbol, foreign or non-ELF code, missing
// tensors, wrong shapes and dtypes, out-of-range token ids. It also covers
// HostTensor's safetensors conversions.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/executable.h"
#include "gecko/runtime/device.h"
#include "gecko/runtime/host_tensor.h"

#include "TestArtifact.h"

#include <gtest/gtest.h>

#include <elf.h>

#include <cstring>
#include <unistd.h>

using namespace gecko;
using namespace gecko::testing;

namespace {

std::vector<uint8_t> imageFor(const ArtifactPlan &plan,
                              const std::vector<uint8_t> &code) {
  StatusOr<std::vector<uint8_t>> image = serializeArtifact(plan, code);
  EXPECT_TRUE(image.isOk()) << image.status().toString();
  return image.isOk() ? *image : std::vector<uint8_t>();
}

std::unique_ptr<Executable> loadTest() {
  StatusOr<std::unique_ptr<Executable>> exe = Executable::loadFromBytes(
      imageFor(testKernelPlan(), testKernelCode()), "test.gkm");
  EXPECT_TRUE(exe.isOk()) << exe.status().toString();
  return exe.isOk() ? std::move(exe).value() : nullptr;
}

HostTensor tensorOf(ElementType dtype, std::vector<int64_t> shape,
                    const void *data, size_t size) {
  StatusOr<HostTensor> t = HostTensor::fromBytes(dtype, shape, data, size);
  EXPECT_TRUE(t.isOk()) << t.status().toString();
  return std::move(t).value();
}

TensorMap testParams() {
  std::vector<float> e = testEmbedding();
  TensorMap m;
  m.emplace("embed.weight", tensorOf(ElementType::kF32, {5, 3}, e.data(),
                                     e.size() * sizeof(float)));
  // Tensors the plan does not mention are ignored.
  float extra = 1.0f;
  m.emplace("unused", tensorOf(ElementType::kF32, {}, &extra, sizeof(extra)));
  return m;
}

TensorMap testInputs(std::vector<int64_t> tokens = testTokens()) {
  TensorMap m;
  m.emplace("input.tokens", tensorOf(ElementType::kI64, {2, 4}, tokens.data(),
                                     tokens.size() * sizeof(int64_t)));
  return m;
}

void expectRunError(const Executable &exe, const TensorMap &params,
                    const TensorMap &inputs,
                    const std::vector<std::string> &needles) {
  StatusOr<TensorMap> r = exe.run("forward", params, inputs);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  for (const std::string &n : needles)
    EXPECT_NE(r.status().message().find(n), std::string::npos)
        << "'" << n << "' not in: " << r.status().message();
}

} // namespace

TEST(Executable, RunsTheTestKernel) {
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  ASSERT_EQ(exe->functions().size(), 2u);
  RunStats stats;
  StatusOr<TensorMap> out =
      exe->run("forward", testParams(), testInputs(), &stats);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  ASSERT_EQ(out->size(), 2u);
  const HostTensor &logits = out->at("output.logits");
  EXPECT_EQ(logits.shape(), (std::vector<int64_t>{2, 4, 3}));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(logits.data()) % 64, 0u);
  std::vector<float> e = testEmbedding();
  std::vector<int64_t> tok = testTokens();
  double sum = 0;
  for (int i = 0; i < 8; ++i)
    for (int d = 0; d < 3; ++d) {
      float want = 2.0f * e[tok[i] * 3 + d];
      EXPECT_FLOAT_EQ(logits.dataAs<float>()[i * 3 + d], want);
      sum += want;
    }
  const HostTensor &loss = out->at("output.loss");
  EXPECT_TRUE(loss.shape().empty());
  EXPECT_NEAR(loss.dataAs<float>()[0], sum, 1e-4);
  EXPECT_GE(stats.totalSeconds, stats.kernelSeconds);

  float x[4] = {1, 2, 3, 4.5f};
  TensorMap in;
  in.emplace("input.x", tensorOf(ElementType::kF32, {4}, x, sizeof(x)));
  StatusOr<TensorMap> s = exe->run("sum", {}, in);
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_FLOAT_EQ(s->at("output.sum").dataAs<float>()[0], 10.5f);
}

TEST(Executable, ManyLoadsCoexist) {
  // Several live artifacts, and load/unload cycles, each see their own code.
  std::vector<std::unique_ptr<Executable>> live;
  for (int i = 0; i < 4; ++i) {
    live.push_back(loadTest());
    ASSERT_TRUE(live.back());
  }
  for (int i = 0; i < 8; ++i) {
    std::unique_ptr<Executable> exe = loadTest();
    ASSERT_TRUE(exe);
    StatusOr<TensorMap> out = exe->run("forward", testParams(), testInputs());
    ASSERT_TRUE(out.isOk()) << out.status().toString();
  }
  for (auto &exe : live)
    ASSERT_TRUE(exe->run("forward", testParams(), testInputs()).isOk());
}

TEST(Executable, LoadFromFile) {
  std::string path =
      ::testing::TempDir() + "gecko_exe_" + std::to_string(::getpid()) + ".gkm";
  ASSERT_TRUE(writeArtifact(path, testKernelPlan(), testKernelCode()).isOk());
  StatusOr<std::unique_ptr<Executable>> exe = Executable::load(path);
  ASSERT_TRUE(exe.isOk()) << exe.status().toString();
  EXPECT_EQ((*exe)->source(), path);
  ::unlink(path.c_str());
  StatusOr<std::unique_ptr<Executable>> gone = Executable::load(path);
  ASSERT_FALSE(gone.isOk());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
}

TEST(Executable, UnknownFunction) {
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  StatusOr<TensorMap> r = exe->run("train_step", testParams(), testInputs());
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("no function 'train_step'"),
            std::string::npos);
  EXPECT_NE(r.status().message().find("'forward', 'sum'"), std::string::npos);
}

TEST(Executable, MissingEntrySymbol) {
  ArtifactPlan plan = testKernelPlan();
  plan.functions[1].entry = "gecko_entry_missing";
  StatusOr<std::unique_ptr<Executable>> exe =
      Executable::loadFromBytes(imageFor(plan, testKernelCode()), "m.gkm");
  ASSERT_FALSE(exe.isOk());
  EXPECT_EQ(exe.status().code(), StatusCode::kNotFound);
  EXPECT_NE(exe.status().message().find("'gecko_entry_missing' (function "
                                        "'sum')"),
            std::string::npos)
      << exe.status().toString();
}

// Without a GPU (as in CI) a cuda artifact fails to load with a clear
// message; with one (the GPU machine) the CPU test kernel, which exports no
// device image, is refused for that instead.
TEST(Executable, CudaArtifactNeedsAUsableCudaDevice) {
  ArtifactPlan plan = testKernelPlan();
  plan.target.kind = "cuda";
  plan.target.chip = "sm_90a";
  plan.target.deviceImageFormat = "fatbin";
  plan.target.kernels = {"gecko_k0"};
  std::vector<uint8_t> image = imageFor(plan, testKernelCode());
  StatusOr<std::unique_ptr<Executable>> exe =
      Executable::loadFromBytes(image, "gpu.gkm");
  ASSERT_FALSE(exe.isOk());
  StatusOr<int> count = cudaDeviceCount();
  if (!count.isOk() || *count == 0) {
    EXPECT_EQ(exe.status().code(), StatusCode::kUnavailable);
    EXPECT_EQ(exe.status().message().rfind(
                  "gpu.gkm: artifact targets cuda (sm_90a); this machine has "
                  "no usable CUDA device: ",
                  0),
              0u)
        << exe.status().toString();
  } else {
    EXPECT_NE(exe.status().message().find("artifact targets cuda") ==
                      std::string::npos
                  ? exe.status().message().find("gecko_device_image")
                  : 0,
              std::string::npos)
        << exe.status().toString();
  }
  // Asking for the CPU explicitly is a different, precise error.
  std::unique_ptr<Device> cpu = createCpuDevice();
  LoadOptions options;
  options.device = cpu.get();
  exe = Executable::loadFromBytes(image, "gpu.gkm", options);
  ASSERT_FALSE(exe.isOk());
  EXPECT_EQ(exe.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(exe.status().message().find(
                "artifact targets cuda (sm_90a) and cannot run on the cpu "
                "device"),
            std::string::npos)
      << exe.status().toString();
  // A cpu artifact on the CPU device runs as before, and has no graphs.
  exe = Executable::loadFromBytes(imageFor(testKernelPlan(), testKernelCode()),
                                  "cpu.gkm", options);
  ASSERT_TRUE(exe.isOk()) << exe.status().toString();
  EXPECT_FALSE((*exe)->onCuda());
  EXPECT_EQ((*exe)->deviceDescription(), "cpu");
  StatusOr<std::unique_ptr<BoundCall>> call = (*exe)->bind("forward");
  ASSERT_TRUE(call.isOk()) << call.status().toString();
  EXPECT_EQ((*call)->captureGraph().code(), StatusCode::kUnimplemented);
}

TEST(Executable, BoundCallOnTheCpu) {
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  StatusOr<std::unique_ptr<BoundCall>> call = exe->bind("forward");
  ASSERT_TRUE(call.isOk()) << call.status().toString();
  BoundCall &c = **call;
  ASSERT_TRUE(c.setArgs(testParams(), testInputs()).isOk());
  ASSERT_TRUE(c.run().isOk());
  StatusOr<TensorMap> bound = c.results();
  ASSERT_TRUE(bound.isOk());
  StatusOr<TensorMap> direct = exe->run("forward", testParams(), testInputs());
  ASSERT_TRUE(direct.isOk());
  for (const char *name : {"output.logits", "output.loss"}) {
    const HostTensor &a = bound->at(name), &b = direct->at(name);
    ASSERT_EQ(a.byteSize(), b.byteSize());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.byteSize()), 0) << name;
  }
  // setArg checks the range like run() does.
  std::vector<int64_t> bad = testTokens();
  bad[2] = 7;
  Status s = c.setArg("input.tokens", testInputs(bad).at("input.tokens"));
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("outside the allowed range [0, 5)"),
            std::string::npos)
      << s.toString();
  StatusOr<std::vector<double>> ms = c.time(1, 3);
  ASSERT_TRUE(ms.isOk());
  EXPECT_EQ(ms->size(), 3u);
  EXPECT_EQ(c.replayGraph().code(), StatusCode::kFailedPrecondition);
}

TEST(Executable, ForeignMachineElf) {
  std::vector<uint8_t> code = testKernelCode();
  ASSERT_GE(code.size(), sizeof(Elf64_Ehdr));
  uint16_t machine = EM_AARCH64;
#if defined(__aarch64__)
  machine = EM_X86_64;
#endif
  std::memcpy(code.data() + offsetof(Elf64_Ehdr, e_machine), &machine, 2);
  StatusOr<std::unique_ptr<Executable>> exe =
      Executable::loadFromBytes(imageFor(testKernelPlan(), code), "f.gkm");
  ASSERT_FALSE(exe.isOk());
  EXPECT_EQ(exe.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(exe.status().message().find("was compiled for"), std::string::npos)
      << exe.status().toString();

  std::vector<uint8_t> c32 = testKernelCode();
  c32[EI_CLASS] = ELFCLASS32;
  exe = Executable::loadFromBytes(imageFor(testKernelPlan(), c32), "f.gkm");
  ASSERT_FALSE(exe.isOk());
  EXPECT_NE(exe.status().message().find("32-bit"), std::string::npos);

  // Code the writer would refuse, packaged by hand with valid checksums.
  StatusOr<std::string> text = planToJson(testKernelPlan());
  ASSERT_TRUE(text.isOk());
  std::vector<uint8_t> junk(200, 0x5a);
  exe = Executable::loadFromBytes(rawImage(*text, junk), "j.gkm");
  ASSERT_FALSE(exe.isOk());
  EXPECT_NE(exe.status().message().find("j.gkm: code section is not an ELF"),
            std::string::npos)
      << exe.status().toString();

  // A valid ELF header on a truncated object: dlopen fails cleanly.
  std::vector<uint8_t> cut = testKernelCode();
  cut.resize(sizeof(Elf64_Ehdr) + 16);
  exe = Executable::loadFromBytes(imageFor(testKernelPlan(), cut), "c.gkm");
  ASSERT_FALSE(exe.isOk());
  EXPECT_NE(exe.status().message().find("cannot load the shared object"),
            std::string::npos)
      << exe.status().toString();
}

TEST(Executable, BindingErrorsNameTheTensor) {
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);

  expectRunError(*exe, {}, testInputs(),
                 {"missing param 'embed.weight' (f32 [5, 3])"});
  expectRunError(*exe, testParams(), {}, {"missing input 'input.tokens'"});
  // Both missing: both listed.
  expectRunError(*exe, {}, {},
                 {"2 binding problems", "'embed.weight'", "'input.tokens'"});

  TensorMap wrongShape;
  std::vector<float> e(12, 0.0f);
  wrongShape.emplace("embed.weight", tensorOf(ElementType::kF32, {4, 3},
                                              e.data(), e.size() * 4));
  expectRunError(*exe, wrongShape, testInputs(),
                 {"param 'embed.weight' has shape [4, 3], expected [5, 3]"});

  TensorMap wrongDtype;
  std::vector<double> d(15, 0.0);
  wrongDtype.emplace("embed.weight", tensorOf(ElementType::kF64, {5, 3},
                                              d.data(), d.size() * 8));
  std::vector<int32_t> t32(8, 0);
  TensorMap in32;
  in32.emplace("input.tokens",
               tensorOf(ElementType::kI32, {2, 4}, t32.data(), 32));
  expectRunError(*exe, wrongDtype, in32,
                 {"param 'embed.weight' has dtype f64, expected f32",
                  "input 'input.tokens' has dtype i32, expected i64"});

  std::vector<int64_t> tokens = testTokens();
  tokens[6] = 5; // == vocab
  expectRunError(*exe, testParams(), testInputs(tokens),
                 {"input 'input.tokens': element [1, 2] (flat 6) is 5, "
                  "outside the allowed range [0, 5)"});
  tokens = testTokens();
  tokens[0] = -1;
  expectRunError(*exe, testParams(), testInputs(tokens),
                 {"element [0, 0] (flat 0) is -1"});
}

TEST(HostTensor, AlignedZeroedAndSafetensorsRoundTrip) {
  StatusOr<HostTensor> z = HostTensor::zeros(ElementType::kBF16, {3, 0, 2});
  ASSERT_TRUE(z.isOk());
  EXPECT_EQ(z->numel(), 0);
  EXPECT_NE(z->data(), nullptr);
  EXPECT_FALSE(HostTensor::zeros(ElementType::kF32, {2, -1}).isOk());
  EXPECT_FALSE(
      HostTensor::zeros(ElementType::kF32, {1ll << 40, 1ll << 40}).isOk());
  EXPECT_FALSE(HostTensor::fromBytes(ElementType::kF32, {2}, "abc", 3).isOk());

  uint8_t flags[3] = {1, 0, 1};
  int64_t ids[2] = {7, -3};
  TensorMap m;
  m.emplace("flags", tensorOf(ElementType::kI1, {3}, flags, 3));
  m.emplace("ids", tensorOf(ElementType::kI64, {2, 1}, ids, 16));
  std::string path = ::testing::TempDir() + "gecko_ht_" +
                     std::to_string(::getpid()) + ".safetensors";
  ASSERT_TRUE(writeTensors(path, m).isOk());
  StatusOr<SafetensorsFile> f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.isOk());
  EXPECT_EQ(f->find("flags")->dtype, DType::kBool);
  StatusOr<TensorMap> back = loadTensors(*f, {"ids", "flags", "absent"});
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(back->size(), 2u);
  EXPECT_EQ(back->at("flags").dtype(), ElementType::kI1);
  EXPECT_EQ(back->at("ids").shape(), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(back->at("ids").elementAsInt64(1), -3);
  EXPECT_EQ(back->at("flags").toF64(), (std::vector<double>{1, 0, 1}));
  ::unlink(path.c_str());

  // U8 has no plan element type.
  uint8_t raw[2] = {1, 2};
  std::vector<TensorToWrite> u8 = {{"u", DType::kU8, {2}, raw, 2}};
  ASSERT_TRUE(writeSafetensors(path, u8, {}).isOk());
  f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.isOk());
  StatusOr<HostTensor> u = HostTensor::fromSafetensors(*f, "u");
  ASSERT_FALSE(u.isOk());
  EXPECT_NE(u.status().message().find("tensor 'u'"), std::string::npos);
  ::unlink(path.c_str());
}

// BoundCall::shareBuffer: two calls use one buffer (the trainer's grad reads
// the params that apply_gradients updates); read() sees args and results.
TEST(Executable, BoundCallsShareBuffers) {
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  StatusOr<std::unique_ptr<BoundCall>> owner = exe->bind("forward");
  StatusOr<std::unique_ptr<BoundCall>> user = exe->bind("forward");
  ASSERT_TRUE(owner.isOk() && user.isOk());
  EXPECT_EQ((*owner)->nativeStream(), nullptr); // The CPU has no stream.
  TensorMap params = testParams();
  ASSERT_TRUE(
      (*owner)->setArg("embed.weight", params.at("embed.weight")).isOk());
  // Before sharing, `user` reads its own zero-filled buffer.
  StatusOr<HostTensor> mine = (*user)->read("embed.weight");
  ASSERT_TRUE(mine.isOk()) << mine.status().toString();
  EXPECT_EQ(mine->dataAs<float>()[1], 0.0f);
  ASSERT_TRUE(
      (*user)->shareBuffer("embed.weight", **owner, "embed.weight").isOk());
  ASSERT_TRUE(
      (*user)->setArg("input.tokens", testInputs().at("input.tokens")).isOk());
  ASSERT_TRUE((*user)->run().isOk());
  StatusOr<HostTensor> logits = (*user)->result("output.logits");
  ASSERT_TRUE(logits.isOk()) << logits.status().toString();
  std::vector<float> e = testEmbedding();
  std::vector<int64_t> tok = testTokens();
  for (int i = 0; i < 8; ++i)
    for (int d = 0; d < 3; ++d)
      EXPECT_FLOAT_EQ(logits->dataAs<float>()[i * 3 + d],
                      2.0f * e[size_t(tok[size_t(i)] * 3 + d)]);
  StatusOr<HostTensor> shared = (*user)->read("embed.weight");
  ASSERT_TRUE(shared.isOk());
  EXPECT_EQ(std::memcmp(shared->data(), e.data(), e.size() * sizeof(float)), 0);

  // Errors: unknown names, another dtype or shape, another executable.
  StatusOr<std::unique_ptr<BoundCall>> sum = exe->bind("sum");
  ASSERT_TRUE(sum.isOk());
  Status s = (*sum)->shareBuffer("input.x", **owner, "embed.weight");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("f32 [4]"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("[5, 3]"), std::string::npos) << s.message();
  EXPECT_EQ((*sum)->shareBuffer("nope", **owner, "embed.weight").code(),
            StatusCode::kNotFound);
  EXPECT_EQ((*sum)->shareBuffer("input.x", **owner, "nope").code(),
            StatusCode::kNotFound);
  EXPECT_EQ((*sum)->read("nope").status().code(), StatusCode::kNotFound);
  std::unique_ptr<Executable> other = loadTest();
  ASSERT_TRUE(other);
  StatusOr<std::unique_ptr<BoundCall>> foreign = other->bind("forward");
  ASSERT_TRUE(foreign.isOk());
  EXPECT_EQ(
      (*foreign)->shareBuffer("embed.weight", **owner, "embed.weight").code(),
      StatusCode::kInvalidArgument);
}
