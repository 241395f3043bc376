//===- LowerNormTest.cpp - Compiled norm-family ops vs the fp64 oracle ===//
//
// See LowerBasicTest.cpp for the method and tolerances.
//
//===----------------------------------------------------------------------===//

#include "CpuJit.h"
#include "LoweringTestUtils.h"
#include "oracle.h"

#include <gtest/gtest.h>
