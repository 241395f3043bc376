//===- SignalTest.cpp - Ready signals of a compiled CPU artifact ----------===//
//
// testdata/signals.mlir, compiled by gecko-compile --target cpu at build
// time, has two results marked with a collective; grad.a is read again
// (grad.b = grad.a w) after its last write. The tests check, through
// BoundCall's signal handler, that every signal of the plan arrives once, in
// order; that each signalled tensor is final when its signal arrives and is
// never read afterwards (the handler scales it in place, as an all-reduce
// would, and nothing else may change); handler errors; and that a v1 plan
// of the same code loads and raises nothing.
//
//===----------------------------------------------------------------------===//

#include "gecko/abi/artifact_format.h"
#include "gecko/runtime/executable.h"
#include "gecko/runtime/host_tensor.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

using namespace gecko;

namespace {

constexpr int64_t kN = 8;

ParsedArtifact readSignalsArtifact() {
  StatusOr<ParsedArtifact> art = readArtifact(GECKO_TEST_SIGNALS_ARTIFACT);
  EXPECT_TRUE(art.isOk()) << art.status().toString();
  return art.isOk() ? std::move(art).value() : ParsedArtifact();
}

std::unique_ptr<Executable> loadPlan(const ArtifactPlan &plan,
                                     const std::vector<uint8_t> &code) {
  StatusOr<std::vector<uint8_t>> image = serializeArtifact(plan, code);
  EXPECT_TRUE(image.isOk()) << image.status().toString();
  if (!image.isOk())
    return nullptr;
  StatusOr<std::unique_ptr<Executable>> exe =
      Executable::loadFromBytes(*image, "signals.gkm");
  EXPECT_TRUE(exe.isOk()) << exe.status().toString();
  return exe.isOk() ? std::move(exe).value() : nullptr;
}

HostTensor matrix(float scale) {
  std::vector<float> v(size_t(kN * kN));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = scale * float(int(i % 7) - 3) / 8.0f;
  StatusOr<HostTensor> t = HostTensor::fromBytes(
      ElementType::kF32, {kN, kN}, v.data(), v.size() * sizeof(float));
  EXPECT_TRUE(t.isOk());
  return std::move(t).value();
}

std::unique_ptr<BoundCall> bindGrad(const Executable &exe) {
  StatusOr<std::unique_ptr<BoundCall>> call = exe.bind("grad");
  EXPECT_TRUE(call.isOk()) << call.status().toString();
  if (!call.isOk())
    return nullptr;
  EXPECT_TRUE((*call)->setArg("input.x", matrix(1.0f)).isOk());
  EXPECT_TRUE((*call)->setArg("w", matrix(0.5f)).isOk());
  return std::move(call).value();
}

std::vector<float> floats(const HostTensor &t) {
  std::vector<float> v(size_t(t.numel()));
  std::memcpy(v.data(), t.data(), t.byteSize());
  return v;
}

/// The results of a call without a handler.
TensorMap reference(const Executable &exe) {
  std::unique_ptr<BoundCall> call = bindGrad(exe);
  EXPECT_TRUE(call->run().isOk());
  StatusOr<TensorMap> out = call->results();
  EXPECT_TRUE(out.isOk());
  return std::move(out).value();
}

TEST(ReadySignals, PlanListsTheSignalsInProgramOrder) {
  ParsedArtifact art = readSignalsArtifact();
  EXPECT_EQ(art.header.kernelAbiVersion, 2u);
  const FunctionPlan *f = art.plan.findFunction("grad");
  ASSERT_NE(f, nullptr);
  // grad.a is final once grad.b (which reads it) is computed, grad.b once
  // the loss is: two signals, a's first.
  ASSERT_EQ(f->signals.size(), 2u);
  EXPECT_EQ(f->signals[0].id, 0u);
  EXPECT_EQ(f->signals[0].tensors, std::vector<std::string>{"grad.a"});
  EXPECT_EQ(f->signals[1].id, 1u);
  EXPECT_EQ(f->signals[1].tensors, std::vector<std::string>{"grad.b"});
}

TEST(ReadySignals, EverySignalOnceInOrderWithFinalUnreadTensors) {
  ParsedArtifact art = readSignalsArtifact();
  std::unique_ptr<Executable> exe = loadPlan(art.plan, art.code);
  ASSERT_NE(exe, nullptr);
  const FunctionPlan &f = *exe->plan().findFunction("grad");
  TensorMap want = reference(*exe);
  std::unique_ptr<BoundCall> call = bindGrad(*exe);
  std::vector<unsigned> ids;
  bool finalAtSignal = true;
  call->setSignalHandler([&](unsigned id) -> Status {
    ids.push_back(id);
    for (const std::string &name : f.signals.at(id).tensors) {
      StatusOr<void *> p = call->buffer(name);
      if (!p.isOk())
        return p.status();
      auto *v = static_cast<float *>(*p);
      std::vector<float> expect = floats(want.at(name));
      // Final now; then changed in place, like an all-reduce: nothing of
      // the call may read it any more.
      finalAtSignal =
          finalAtSignal &&
          std::memcmp(v, expect.data(), expect.size() * sizeof(float)) == 0;
      for (size_t i = 0; i < expect.size(); ++i)
        v[i] *= 2.0f;
    }
    return Status::ok();
  });
  for (int repeat = 0; repeat < 2; ++repeat) {
    ids.clear();
    Status s = call->run();
    ASSERT_TRUE(s.isOk()) << s.toString();
    EXPECT_EQ(ids, (std::vector<unsigned>{0, 1}));
    EXPECT_TRUE(finalAtSignal);
    for (const char *name : {"grad.a", "grad.b"}) {
      StatusOr<HostTensor> got = call->result(name);
      ASSERT_TRUE(got.isOk());
      std::vector<float> g = floats(*got), w = floats(want.at(name));
      for (size_t i = 0; i < w.size(); ++i)
        ASSERT_EQ(g[i], 2.0f * w[i]) << name << "[" << i << "]";
    }
    // The loss reads grad.b before its signal: unaffected by the scaling.
    StatusOr<HostTensor> loss = call->result("output.loss");
    ASSERT_TRUE(loss.isOk());
    EXPECT_EQ(loss->elementAsDouble(0),
              want.at("output.loss").elementAsDouble(0));
  }
}

TEST(ReadySignals, HandlerErrorSurfacesAndLaterSignalsAreSkipped) {
  ParsedArtifact art = readSignalsArtifact();
  std::unique_ptr<Executable> exe = loadPlan(art.plan, art.code);
  ASSERT_NE(exe, nullptr);
  std::unique_ptr<BoundCall> call = bindGrad(*exe);
  std::vector<unsigned> ids;
  call->setSignalHandler([&](unsigned id) -> Status {
    ids.push_back(id);
    if (id == 0)
      return unavailable("the peer went away");
    return Status::ok();
  });
  Status s = call->run();
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("signals.gkm: function 'grad': the handler of "
                             "ready signal 0 (grad.a): the peer went away"),
            std::string::npos)
      << s.toString();
  EXPECT_EQ(ids, std::vector<unsigned>{0});
  // The next call starts afresh.
  ids.clear();
  call->setSignalHandler([&](unsigned id) -> Status {
    ids.push_back(id);
    return Status::ok();
  });
  EXPECT_TRUE(call->run().isOk());
  EXPECT_EQ(ids, (std::vector<unsigned>{0, 1}));
}

TEST(ReadySignals, ExecutableRunCountsThemWithoutAHandler) {
  ParsedArtifact art = readSignalsArtifact();
  std::unique_ptr<Executable> exe = loadPlan(art.plan, art.code);
  ASSERT_NE(exe, nullptr);
  TensorMap params, inputs;
  params.emplace("w", matrix(0.5f));
  inputs.emplace("input.x", matrix(1.0f));
  StatusOr<TensorMap> out = exe->run("grad", params, inputs);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  TensorMap want = reference(*exe);
  EXPECT_EQ(floats(out->at("grad.b")), floats(want.at("grad.b")));
}

TEST(ReadySignals, PlanAndCodeMustAgree) {
  ParsedArtifact art = readSignalsArtifact();
  // A plan listing a third signal the code never raises.
  ArtifactPlan plan = art.plan;
  plan.functions.at(0).signals.push_back(SignalSpec{2, {"output.loss"}});
  std::unique_ptr<Executable> exe = loadPlan(plan, art.code);
  ASSERT_NE(exe, nullptr);
  std::unique_ptr<BoundCall> call = bindGrad(*exe);
  Status s = call->run();
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("the call raised 2 of the 3 ready signals its "
                             "plan lists"),
            std::string::npos)
      << s.toString();
  // A plan with fewer signals than the code raises.
  plan = art.plan;
  plan.functions.at(0).signals.pop_back();
  exe = loadPlan(plan, art.code);
  ASSERT_NE(exe, nullptr);
  call = bindGrad(*exe);
  s = call->run();
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("the code raised ready signal 1 where the plan "
                             "expects no more signals (it lists 1)"),
            std::string::npos)
      << s.toString();
}

TEST(ReadySignals, KernelAbiV1PlanLoadsAndRaisesNothing) {
  ParsedArtifact art = readSignalsArtifact();
  ArtifactPlan plan = art.plan;
  plan.kernelAbiVersion = 1;
  // Signals need v2.
  Status bad = validatePlan(plan);
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.message().find("has ready signals, which need kernel ABI "
                               "version 2"),
            std::string::npos)
      << bad.toString();
  // Without them, the v1 runtime contract: the table is not filled (a v1
  // object's table has no signal field), so the code raises nothing.
  plan.functions.at(0).signals.clear();
  std::unique_ptr<Executable> exe = loadPlan(plan, art.code);
  ASSERT_NE(exe, nullptr);
  EXPECT_EQ(exe->header().kernelAbiVersion, 1u);
  std::unique_ptr<BoundCall> call = bindGrad(*exe);
  int calls = 0;
  call->setSignalHandler([&](unsigned) -> Status {
    ++calls;
    return Status::ok();
  });
  Status s = call->run();
  ASSERT_TRUE(s.isOk()) << s.toString();
  EXPECT_EQ(calls, 0);
  TensorMap want = reference(*exe);
  StatusOr<HostTensor> b = call->result("grad.b");
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(floats(*b), floats(want.at("grad.b")));
}

} // namespace
