//===- StatusTest.cpp - Tests for gecko::Status and StatusOr --------------===//
//
// This file tests status.h: printing, context prefixes and the propagation
// macros GECKO_RETURN_IF_ERROR and GECKO_ASSIGN_OR_RETURN.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/status.h"

#include <gtest/gtest.h>

#include <memory>

using namespace gecko;

namespace {

StatusOr<int> parsePositive(int x) {
  if (x <= 0)
    return invalidArgument("not positive: " + std::to_string(x));
  return x;
}

StatusOr<int> doubled(int x) {
  GECKO_ASSIGN_OR_RETURN(int v, parsePositive(x));
  return 2 * v;
}

int sideEffects = 0;

Status step(bool fail) {
  ++sideEffects;
  return fail ? dataLoss("step failed") : Status::ok();
}

Status twoSteps(bool failFirst) {
  GECKO_RETURN_IF_ERROR(step(failFirst));
  GECKO_RETURN_IF_ERROR(step(false));
  return Status::ok();
}

} // namespace

TEST(Status, OkIsDefaultAndPrintsOk) {
  Status s;
  EXPECT_TRUE(s.isOk());
  EXPECT_TRUE(static_cast<bool>(s));
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.toString(), "OK");
  EXPECT_TRUE(Status::ok().message().empty());
}

TEST(Status, ToStringNamesTheCode) {
  EXPECT_EQ(notFound("tensor 'x'").toString(), "NOT_FOUND: tensor 'x'");
  EXPECT_EQ(dataLoss("cut").toString(), "DATA_LOSS: cut");
  EXPECT_EQ(invalidArgument("a").toString(), "INVALID_ARGUMENT: a");
  EXPECT_STREQ(statusCodeName(StatusCode::kResourceExhausted),
               "RESOURCE_EXHAUSTED");
  EXPECT_STREQ(statusCodeName(StatusCode::kInternal), "INTERNAL");
  EXPECT_STREQ(statusCodeName(StatusCode::kDeadlineExceeded),
               "DEADLINE_EXCEEDED");
}

TEST(Status, WithContextPrefixesAndKeepsCode) {
  Status s = dataLoss("truncated").withContext("model.safetensors");
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "model.safetensors: truncated");
  // Nested contexts read outermost first.
  EXPECT_EQ(s.withContext("load").message(),
            "load: model.safetensors: truncated");
  // OK stays OK and message-free.
  EXPECT_TRUE(Status::ok().withContext("ignored").isOk());
  EXPECT_TRUE(Status::ok().withContext("ignored").message().empty());
}

TEST(StatusOr, HoldsValueOrError) {
  StatusOr<int> good = parsePositive(3);
  ASSERT_TRUE(good.isOk());
  EXPECT_EQ(*good, 3);
  StatusOr<int> bad = parsePositive(-1);
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "not positive: -1");
}

TEST(StatusOr, MoveOnlyValues) {
  StatusOr<std::unique_ptr<int>> p = std::make_unique<int>(7);
  ASSERT_TRUE(p.isOk());
  std::unique_ptr<int> owned = std::move(p).value();
  EXPECT_EQ(*owned, 7);
}

TEST(StatusMacros, AssignOrReturnPropagates) {
  StatusOr<int> ok = doubled(21);
  ASSERT_TRUE(ok.isOk());
  EXPECT_EQ(*ok, 42);
  StatusOr<int> err = doubled(0);
  ASSERT_FALSE(err.isOk());
  EXPECT_EQ(err.status().toString(), "INVALID_ARGUMENT: not positive: 0");
}

TEST(StatusMacros, ReturnIfErrorStopsAtFirstFailure) {
  sideEffects = 0;
  Status s = twoSteps(/*failFirst=*/true);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(sideEffects, 1);
  sideEffects = 0;
  EXPECT_TRUE(twoSteps(false).isOk());
  EXPECT_EQ(sideEffects, 2);
}
