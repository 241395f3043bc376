// RUN: gecko-opt %s --test-gecko-vjp | FileCheck %s

// Upstream arith.addf / subf / mulf / negf on ranked float tensors carry
// DifferentiableOpInterface as external models (ExternalModels.cpp), so the
// residual arithmetic of a block is differentiable.

// Residual y = x + h: both operands receive dy unchanged.
// CHECK-LABEL: func.func @addf
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x8x16xbf16>, %[[H:[^:]+]]: tensor<2x8x16xbf16>, %[[DY:[^:]+]]: tensor<2x8x16xbf16>)
func.func @addf(%x: tensor<2x8x16xbf16>, %h: tensor<2x8x16xbf16>) -> tensor<2x8x16xbf16> {
  // CHECK: arith.addf %[[X]], %[[H]]
  // CHECK-NOT: arith.
  // CHECK: return %[[DY]], %[[DY]] : tensor<2x8x16xbf16>, tensor<2x8x16xbf16>
  %y = arith.addf %x, %h : tensor<2x8x16xbf16>
  return %y : tensor<2x8x16xbf16>
}

// CHECK-LABEL: func.func @subf
// CHECK-SAME: (%[[A:[^:]+]]: tensor<4x8xf32>, %[[B:[^:]+]]: tensor<4x8xf32>, %[[DY:[^:]+]]: tensor<4x8xf32>)
func.func @subf(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // CHECK: arith.subf
  // CHECK: %[[DB:.+]] = arith.negf %[[DY]] : tensor<4x8xf32>
  // CHECK: return %[[DY]], %[[DB]]
  %y = arith.subf %a, %b : tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// The fast-math flags of the forward op carry over to the backward ops.
// CHECK-LABEL: func.func @mulf
// CHECK-SAME: (%[[A:[^:]+]]: tensor<4x8xf32>, %[[B:[^:]+]]: tensor<4x8xf32>, %[[DY:[^:]+]]: tensor<4x8xf32>)
func.func @mulf(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // CHECK: %[[DA:.+]] = arith.mulf %[[DY]], %[[B]] fastmath<contract> : tensor<4x8xf32>
  // CHECK: %[[DB:.+]] = arith.mulf %[[DY]], %[[A]] fastmath<contract> : tensor<4x8xf32>
  // CHECK: return %[[DA]], %[[DB]]
  %y = arith.mulf %a, %b fastmath<contract> : tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @negf
// CHECK-SAME: (%[[A:[^:]+]]: tensor<?x8xf16>, %[[DY:[^:]+]]: tensor<?x8xf16>)
func.func @negf(%a: tensor<?x8xf16>) -> tensor<?x8xf16> {
  // CHECK: %[[DA:.+]] = arith.negf %[[DY]] : tensor<?x8xf16>
  // CHECK: return %[[DA]]
  %y = arith.negf %a : tensor<?x8xf16>
  return %y : tensor<?x8xf16>
}

// The gated combination a = o_s * r + o_m (spec section 3.9): the test pass
// asks each op separately, so mulf receives its own cotangent argument.
// CHECK-LABEL: func.func @gated_combination
// CHECK-SAME: (%[[OS:[^:]+]]: tensor<2x8x32xf32>, %[[R:[^:]+]]: tensor<2x8x32xf32>, %[[OM:[^:]+]]: tensor<2x8x32xf32>, %[[DG:[^:]+]]: tensor<2x8x32xf32>, %[[DA:[^:]+]]: tensor<2x8x32xf32>)
func.func @gated_combination(%os: tensor<2x8x32xf32>, %r: tensor<2x8x32xf32>, %om: tensor<2x8x32xf32>) -> tensor<2x8x32xf32> {
  // CHECK: %[[DOS:.+]] = arith.mulf %[[DG]], %[[R]] : tensor<2x8x32xf32>
  // CHECK: %[[DR:.+]] = arith.mulf %[[DG]], %[[OS]] : tensor<2x8x32xf32>
  // CHECK: return %[[DOS]], %[[DR]], %[[DA]], %[[DA]]
  %g = arith.mulf %os, %r : tensor<2x8x32xf32>
  %a = arith.addf %g, %om : tensor<2x8x32xf32>
  return %a : tensor<2x8x32xf32>
}
