//===- CommunicatorTest.cpp - The communicator interface, one process -----===//
//
// The local (one-rank) communicator (collectives, and send/recv to the rank
// itself), backend selection, the bucketed
// all-reduce's packing (on a simulated two-rank communicator, so buckets and
// tensors that span them are exercised without MPI), and the plan's
// `collectives` field (round trip and validation). The MPI backend is tested
// under mpirun by tests/distributed/ (label `distributed`).
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/communicator.h"

#include "TestArtifact.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <functional>
#include <vector>

using namespace gecko;
using namespace gecko::testing;

namespace {

void expectContains(const Status &s, const std::string &needle) {
  EXPECT_NE(s.message().find(needle), std::string::npos)
      << "'" << needle << "' not in: " << s.message();
}

/// Two ranks simulated in one process: the "other" rank holds 10x this
/// rank's values, so a sum is 11x and a mean 5.5x. Records every call.
class TwoRankFake final : public Communicator {
public:
  const char *backend() const override { return "fake"; }
  int rank() const override { return 0; }
  int size() const override { return 2; }
  Status allReduce(void *data, int64_t count, ElementType dtype, ReduceOp op,
                   const std::string &what) override {
    ++sequence_;
    calls.push_back({count, what});
    if (failAt && int(calls.size()) == failAt)
      return deadlineExceeded("simulated timeout of " + what);
    for (int64_t i = 0; i < count; ++i) {
      if (dtype == ElementType::kF32)
        static_cast<float *>(data)[i] *= 11.0f;
      else
        static_cast<double *>(data)[i] *= 11.0;
    }
    return Status::ok();
  }
  Status broadcast(void *, size_t, int, const std::string &) override {
    return Status::ok();
  }
  Status barrier(const std::string &) override { return Status::ok(); }
  Status send(const void *, size_t, int, int, const std::string &) override {
    return unimplemented("the fake has no point-to-point messages");
  }
  Status recv(void *, size_t, int, int, const std::string &) override {
    return unimplemented("the fake has no point-to-point messages");
  }
  [[noreturn]] void abort(int code, const std::string &) override {
    std::_Exit(code);
  }
  struct Call {
    int64_t count;
    std::string what;
  };
  std::vector<Call> calls;
  int failAt = 0;
};

} // namespace

TEST(Communicator, LocalIsOneRankAndLeavesDataAlone) {
  std::unique_ptr<Communicator> c = createLocalCommunicator();
  EXPECT_STREQ(c->backend(), "local");
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->size(), 1);
  std::vector<float> v = {1.5f, -2.0f, 3.25f};
  ASSERT_TRUE(
      c->allReduce(v.data(), 3, ElementType::kF32, ReduceOp::kSum, "v").isOk());
  ASSERT_TRUE(c->allReduceMean(v.data(), 3, ElementType::kF32, "v").isOk());
  EXPECT_EQ(v, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  int64_t i = 7;
  EXPECT_TRUE(
      c->allReduce(&i, 1, ElementType::kI64, ReduceOp::kMax, "i").isOk());
  EXPECT_EQ(i, 7);
  EXPECT_TRUE(c->barrier("b").isOk());
  EXPECT_TRUE(c->broadcast(&i, sizeof(i), 0, "i").isOk());
  EXPECT_EQ(c->collectivesStarted(), 5u);
  Status s = c->broadcast(&i, sizeof(i), 1, "the step");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  expectContains(s, "from rank 1: the job has 1 rank");
  s = c->allReduce(&i, 1, ElementType::kI64, ReduceOp::kSum, "ints");
  expectContains(s, "dtype i64 is not supported");
  s = c->allReduceMean(&i, 1, ElementType::kBF16, "halves");
  expectContains(s, "mean all-reduce of halves: dtype bf16");
}

TEST(Communicator, LocalSendRecvToItself) {
  std::unique_ptr<Communicator> c = createLocalCommunicator();
  // Two messages with one tag arrive in order; another tag is independent.
  std::vector<float> a = {1, 2, 3}, b = {4, 5, 6}, t = {7};
  ASSERT_TRUE(c->send(a.data(), 12, 0, 3, "a").isOk());
  ASSERT_TRUE(c->send(t.data(), 4, 0, 4, "t").isOk());
  ASSERT_TRUE(c->send(b.data(), 12, 0, 3, "b").isOk());
  a = {0, 0, 0};
  std::vector<float> got(3), one(1);
  ASSERT_TRUE(c->recv(one.data(), 4, 0, 4, "t").isOk());
  EXPECT_EQ(one[0], 7.0f);
  ASSERT_TRUE(c->recv(got.data(), 12, 0, 3, "a").isOk());
  EXPECT_EQ(got, (std::vector<float>{1, 2, 3})); // a copy, taken at send
  ASSERT_TRUE(c->recv(got.data(), 12, 0, 3, "b").isOk());
  EXPECT_EQ(got, (std::vector<float>{4, 5, 6}));
  EXPECT_EQ(c->messagesStarted(), 6u);
  EXPECT_EQ(c->collectivesStarted(), 0u);

  // Nothing left to receive: an error, not a hang.
  Status s = c->recv(got.data(), 12, 0, 3, "the state");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  expectContains(s, "recv of 12 bytes from rank 0 with tag 3 (the state): "
                    "this rank has sent itself no message with that tag");
  // Another rank than itself.
  s = c->send(got.data(), 12, 1, 0, "the state");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  expectContains(s, "send of 12 bytes to rank 1 with tag 0 (the state): no "
                    "rank 1 in a job of 1 rank (a one-rank job can only send "
                    "to itself, rank 0)");
  s = c->recv(got.data(), 12, -1, 0, "x");
  expectContains(s, "no rank -1 in a job of 1 rank");
  // Tags out of range.
  s = c->send(got.data(), 12, 0, -2, "x");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  expectContains(s, "with tag -2 (x): the tag must be in [0, 32767]");
  s = c->recv(got.data(), 12, 0, Communicator::kMaxTag + 1, "x");
  expectContains(s, "the tag must be in [0, 32767]");
  // A message of another size.
  ASSERT_TRUE(c->send(a.data(), 8, 0, 5, "two").isOk());
  s = c->recv(got.data(), 12, 0, 5, "three");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  expectContains(s, "recv of 12 bytes from rank 0 with tag 5 (three): the "
                    "message this rank sent itself with that tag has 8 "
                    "bytes, not 12");
  // Empty messages are messages.
  ASSERT_TRUE(c->send(nullptr, 0, 0, 6, "empty").isOk());
  EXPECT_TRUE(c->recv(nullptr, 0, 0, 6, "empty").isOk());
}

TEST(Communicator, BackendSelection) {
  StatusOr<std::unique_ptr<Communicator>> c = createCommunicator("local");
  ASSERT_TRUE(c.isOk());
  EXPECT_STREQ((*c)->backend(), "local");
  c = createCommunicator("nccl-please");
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  expectContains(c.status(), "unknown communicator backend 'nccl-please'");
  if (!haveMpi()) {
    c = createCommunicator("mpi");
    EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
    expectContains(c.status(), "built without MPI");
  }
  // Outside a launcher "auto" is local (ctest does not run this under
  // mpirun).
  if (!launchedByMpi()) {
    c = createCommunicator("auto");
    ASSERT_TRUE(c.isOk());
    EXPECT_STREQ((*c)->backend(), "local");
  }
}

TEST(Communicator, TimeoutComesFromTheEnvironment) {
  ::setenv("GECKO_COLLECTIVE_TIMEOUT", "2.5", 1);
  EXPECT_DOUBLE_EQ(createLocalCommunicator()->timeoutSeconds(), 2.5);
  ::setenv("GECKO_COLLECTIVE_TIMEOUT", "soon", 1);
  EXPECT_DOUBLE_EQ(createLocalCommunicator()->timeoutSeconds(), 300);
  ::unsetenv("GECKO_COLLECTIVE_TIMEOUT");
  EXPECT_DOUBLE_EQ(createLocalCommunicator()->timeoutSeconds(), 300);
}

TEST(Communicator, BucketsPackTensorsAcrossBoundaries) {
  // f32 tensors of 5, 3 and 9 elements with 16-byte (4-element) buckets:
  // 17 elements in 5 buckets (4+4+4+4+1); one f64 tensor of 3 in buckets
  // of 2 elements: 2 more. Every element is reduced exactly once.
  std::vector<float> a(5), b(3), c(9);
  std::vector<double> d(3);
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = float(i + 1);
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = float(100 + i);
  for (size_t i = 0; i < c.size(); ++i)
    c[i] = float(-1.0 - double(i));
  for (size_t i = 0; i < d.size(); ++i)
    d[i] = 0.5 + double(i);
  std::vector<float> a0 = a, b0 = b, c0 = c;
  std::vector<double> d0 = d;
  std::vector<BucketTensor> ts = {
      {a.data(), 5, ElementType::kF32},
      {b.data(), 3, ElementType::kF32},
      {c.data(), 9, ElementType::kF32},
      {d.data(), 3, ElementType::kF64},
  };
  TwoRankFake fake;
  StatusOr<int64_t> n = bucketedAllReduce(fake, ts, 16, /*mean=*/false, "g");
  ASSERT_TRUE(n.isOk()) << n.status().toString();
  EXPECT_EQ(*n, 5 + 2);
  ASSERT_EQ(fake.calls.size(), 7u);
  std::vector<int64_t> counts;
  for (auto &call : fake.calls)
    counts.push_back(call.count);
  EXPECT_EQ(counts, (std::vector<int64_t>{4, 4, 4, 4, 1, 2, 1}));
  EXPECT_EQ(fake.calls[0].what, "g bucket 1/7");
  EXPECT_EQ(fake.calls[6].what, "g bucket 7/7");
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i], a0[i] * 11.0f) << i;
  for (size_t i = 0; i < b.size(); ++i)
    EXPECT_EQ(b[i], b0[i] * 11.0f) << i;
  for (size_t i = 0; i < c.size(); ++i)
    EXPECT_EQ(c[i], c0[i] * 11.0f) << i;
  for (size_t i = 0; i < d.size(); ++i)
    EXPECT_EQ(d[i], d0[i] * 11.0) << i;

  // Mean: divided by the 2 ranks.
  TwoRankFake fake2;
  std::vector<float> m = {2.0f, 4.0f, 6.0f};
  std::vector<BucketTensor> one = {{m.data(), 3, ElementType::kF32}};
  ASSERT_TRUE(bucketedAllReduce(fake2, one, 1 << 20, true, "g").isOk());
  EXPECT_EQ(m, (std::vector<float>{11.0f, 22.0f, 33.0f}));
  EXPECT_EQ(fake2.calls.size(), 1u);
}

TEST(Communicator, BucketErrorsPropagate) {
  std::vector<float> a(10, 1.0f);
  std::vector<BucketTensor> ts = {{a.data(), 10, ElementType::kF32}};
  TwoRankFake fake;
  fake.failAt = 2;
  StatusOr<int64_t> n = bucketedAllReduce(fake, ts, 16, true, "the gradients");
  EXPECT_EQ(n.status().code(), StatusCode::kDeadlineExceeded);
  expectContains(n.status(), "the gradients bucket 2/3");
  std::vector<int32_t> ints(2);
  std::vector<BucketTensor> bad = {{ints.data(), 2, ElementType::kI32}};
  n = bucketedAllReduce(fake, bad, 16, true, "x");
  expectContains(n.status(), "dtype i32 is not supported");
  n = bucketedAllReduce(fake, ts, 4, true, "x");
  expectContains(n.status(), "at least 8 bytes");
  // One rank: nothing to exchange, but the buckets are still counted.
  std::unique_ptr<Communicator> local = createLocalCommunicator();
  n = bucketedAllReduce(*local, ts, 16, true, "x");
  ASSERT_TRUE(n.isOk());
  EXPECT_EQ(*n, 3);
  EXPECT_EQ(local->collectivesStarted(), 0u);
}

//===----------------------------------------------------------------------===//
// The plan's `collectives`
//===----------------------------------------------------------------------===//

namespace {

/// A plan whose one function takes a param w, an input grad.w (reduced)
/// and an integer input.
ArtifactPlan collectivePlan() {
  ArtifactPlan plan = testKernelPlan();
  FunctionPlan &f = plan.functions[0];
  f.args.clear();
  f.results.clear();
  ArgSpec w;
  w.kind = ArgKind::kParam;
  w.name = "w";
  w.dtype = ElementType::kF32;
  w.shape = {4};
  ArgSpec g = w;
  g.kind = ArgKind::kInput;
  g.name = "grad.w";
  ArgSpec step;
  step.kind = ArgKind::kInput;
  step.name = "input.step";
  step.dtype = ElementType::kI64;
  f.args = {w, g, step};
  TensorSpec out;
  out.name = "next:w";
  out.dtype = ElementType::kF32;
  out.shape = {4};
  f.results = {out};
  f.collectives.push_back({"all_reduce", "mean", "data", {"grad.w"}});
  return plan;
}

} // namespace

TEST(PlanCollectives, RoundTrip) {
  ArtifactPlan plan = collectivePlan();
  StatusOr<std::string> text = planToJson(plan);
  ASSERT_TRUE(text.isOk()) << text.status().toString();
  EXPECT_NE(text->find("\"collectives\""), std::string::npos);
  StatusOr<ArtifactPlan> back = planFromJson(*text, "t");
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  const FunctionPlan &f = back->functions[0];
  ASSERT_EQ(f.collectives.size(), 1u);
  EXPECT_EQ(f.collectives[0].op, "all_reduce");
  EXPECT_EQ(f.collectives[0].reduction, "mean");
  EXPECT_EQ(f.collectives[0].group, "data");
  EXPECT_EQ(f.collectives[0].tensors, std::vector<std::string>{"grad.w"});
  // Without collectives the field is not written (older plans unchanged).
  plan.functions[0].collectives.clear();
  text = planToJson(plan);
  ASSERT_TRUE(text.isOk());
  EXPECT_EQ(text->find("collectives"), std::string::npos);
}

TEST(PlanCollectives, Validation) {
  struct Case {
    std::function<void(CollectiveSpec &)> mutate;
    std::string error;
  };
  std::vector<Case> cases = {
      {[](CollectiveSpec &c) { c.op = "all_gather"; },
       "collectives[0]: unknown op 'all_gather'"},
      {[](CollectiveSpec &c) { c.reduction = "prod"; },
       "unknown reduction 'prod'"},
      {[](CollectiveSpec &c) { c.group = "tensor"; },
       "unknown group 'tensor' (expected 'data' or 'chunk')"},
      {[](CollectiveSpec &c) { c.tensors.clear(); }, "names no tensors"},
      {[](CollectiveSpec &c) { c.tensors = {"grad.v"}; },
       "tensor 'grad.v' is not an argument"},
      {[](CollectiveSpec &c) { c.tensors = {"w"}; },
       "'w' is a param arg; only input args are reduced"},
      {[](CollectiveSpec &c) { c.tensors = {"input.step"}; },
       "'input.step' is i64; only float tensors are reduced"},
      {[](CollectiveSpec &c) { c.tensors = {"grad.w", "grad.w"}; },
       "'grad.w' is reduced twice"},
  };
  for (const Case &k : cases) {
    ArtifactPlan plan = collectivePlan();
    k.mutate(plan.functions[0].collectives[0]);
    Status s = validatePlan(plan);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << k.error;
    expectContains(s, k.error);
  }
  // Strict reading: unknown keys and wrong types are errors.
  ArtifactPlan plan = collectivePlan();
  StatusOr<std::string> text = planToJson(plan);
  ASSERT_TRUE(text.isOk());
  nlohmann::json j = nlohmann::json::parse(*text);
  j["functions"][0]["collectives"][0]["bucket"] = 4;
  StatusOr<ArtifactPlan> p = planFromJson(j.dump(), "bad.gkm");
  expectContains(p.status(), "unknown field 'bucket'");
  j = nlohmann::json::parse(*text);
  j["functions"][0]["collectives"][0]["tensors"] = {1};
  p = planFromJson(j.dump(), "bad.gkm");
  expectContains(p.status(), "field 'tensors' holds a non-string");
  j = nlohmann::json::parse(*text);
  j["functions"][0]["collectives"] = "all";
  p = planFromJson(j.dump(), "bad.gkm");
  expectContains(p.status(), "field 'collectives' is not an array");
}
