// RUN: gecko-opt %s --test-gecko-vjp | FileCheck %s

// Each differentiable op of the basic family builds its backward op through
// DifferentiableOpInterface::buildVjp.

// Only the table gets a cotangent; the integer tokens get none.
// CHECK-LABEL: func.func @embedding
// CHECK-SAME: (%[[T:[^:]+]]: tensor<100x16xf32>, %[[TOK:[^:]+]]: tensor<2x8xi64>, %[[DX:[^:]+]]: tensor<2x8x16xf32>) -> tensor<100x16xf32>
func.func @embedding(%table: tensor<100x16xf32>, %tokens: tensor<2x8xi64>) -> tensor<2x8x16xf32> {
  // CHECK: %[[DT:.+]] = gecko.embedding_grad %[[DX]], %[[TOK]] vocab(100) scale_emb : tensor<2x8x16xf32>, tensor<2x8xi64>
  // CHECK: return %[[DT]]
  %x = gecko.embedding %table, %tokens scale_emb : tensor<100x16xf32>, tensor<2x8xi64>
  return %x : tensor<2x8x16xf32>
}


// CHECK-LABEL: func.func @linear_bias
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x8x16xf32>, %[[W:[^:]+]]: tensor<32x16xf32>, %[[B:[^:]+]]: tensor<32xf32>, %[[DY:[^:]+]]: tensor<2x8x32xf32>)
func.func @linear_bias(%x: tensor<2x8x16xf32>, %w: tensor<32x16xf32>, %b: tensor<32xf32>) -> tensor<2x8x32xf32> {
  // CHECK: %[[DX:.+]], %[[DW:.+]], %[[DB:.+]] = gecko.linear_grad %[[DY]], %[[X]], %[[W]] with_bias
  // CHECK: return %[[DX]], %[[DW]], %[[DB]] : tensor<2x8x16xf32>, tensor<32x16xf32>, tensor<32xf32>
  %y = gecko.linear %x, %w bias(%b) : tensor<2x8x16xf32>, tensor<32x16xf32>, tensor<32xf32>
  return %y : tensor<2x8x32xf32>
}

// CHECK-LABEL: func.func @linear_no_bias
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x8x16xbf16>, %[[W:[^:]+]]: tensor<32x16xbf16>, %[[DY:[^:]+]]: tensor<2x8x32xbf16>)
func.func @linear_no_bias(%x: tensor<2x8x16xbf16>, %w: tensor<32x16xbf16>) -> tensor<2x8x32xbf16> {
  // CHECK: %[[DX:.+]], %[[DW:.+]] = gecko.linear_grad %[[DY]], %[[X]], %[[W]] :
  // CHECK: return %[[DX]], %[[DW]] : tensor<2x8x16xbf16>, tensor<32x16xbf16>
  %y = gecko.linear %x, %w : tensor<2x8x16xbf16>, tensor<32x16xbf16>
  return %y : tensor<2x8x32xbf16>
}

// CHECK-LABEL: func.func @z_affine
// CHECK-SAME: (%[[Z:[^:]+]]: tensor<2x8x16xf32>, %[[G:[^:]+]]: tensor<4x16xf32>, %[[B:[^:]+]]: tensor<4x16xf32>, %[[DQ:[^:]+]]: tensor<2x8x16xf32>, %[[DK:[^:]+]]: tensor<2x8x16xf32>, %[[DAQ:[^:]+]]: tensor<2x8x16xf32>, %[[DAK:[^:]+]]: tensor<2x8x16xf32>)
func.func @z_affine(%z: tensor<2x8x16xf32>, %g: tensor<4x16xf32>, %b: tensor<4x16xf32>) -> tensor<2x8x16xf32> {
  // CHECK: %[[DZ:.+]], %[[DG:.+]], %[[DB:.+]] = gecko.z_affine_grad %[[Z]], %[[G]] dq(%[[DQ]]) dk(%[[DK]]) daq(%[[DAQ]]) dak(%[[DAK]]) head_dim(8)
  // CHECK: return %[[DZ]], %[[DG]], %[[DB]]
  %q, %k, %aq, %ak = gecko.z_affine %z, %g, %b head_dim(8) : tensor<2x8x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>
  return %q : tensor<2x8x16xf32>
}

// The VJP of a rotation is the inverse rotation with the same positions; the
// integer start position gets no cotangent.
// CHECK-LABEL: func.func @rope
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x8x16xf32>, %[[POS:[^:]+]]: tensor<i64>, %[[DY:[^:]+]]: tensor<2x8x16xf32>, %[[DY2:[^:]+]]: tensor<2x8x16xf32>)
func.func @rope(%x: tensor<2x8x16xf32>, %pos: tensor<i64>) -> (tensor<2x8x16xf32>, tensor<2x8x16xf32>) {
  // CHECK: %[[DX:.+]] = gecko.rope %[[DY]] start(%[[POS]]) heads(2) rope_heads(1) base(1.000000e+04) inverse : tensor<2x8x16xf32>, tensor<i64>
  // CHECK: %[[DX2:.+]] = gecko.rope %[[DY2]] heads(2) rope_heads(2) base(5.000000e+05) : tensor<2x8x16xf32>
  // CHECK: return %[[DX]], %[[DX2]]
  %y = gecko.rope %x start(%pos) heads(2) rope_heads(1) base(1.0e+04) : tensor<2x8x16xf32>, tensor<i64>
  %y2 = gecko.rope %x heads(2) rope_heads(2) base(5.0e+05) inverse : tensor<2x8x16xf32>
  return %y, %y2 : tensor<2x8x16xf32>, tensor<2x8x16xf32>
}

// Megalodon's per-chunk positions carry over to the inverse rotation.
// CHECK-LABEL: func.func @rope_restart
// CHECK: gecko.rope %{{.+}} heads(2) rope_heads(2) base(1.000000e+04) restart(4) inverse
func.func @rope_restart(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  %y = gecko.rope %x heads(2) rope_heads(2) base(1.0e+04) restart(4) : tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// CHECK-LABEL: func.func @silu
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x8xf32>, %[[DY:[^:]+]]: tensor<2x8xf32>)
func.func @silu(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // CHECK: %[[DX:.+]] = gecko.silu_grad %[[DY]], %[[X]] : tensor<2x8xf32>, tensor<2x8xf32>
  // CHECK: return %[[DX]]
  %y = gecko.silu %x : tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// CHECK-LABEL: func.func @swiglu
// CHECK-SAME: (%[[A:[^:]+]]: tensor<2x8xf32>, %[[B:[^:]+]]: tensor<2x8xf32>, %[[DY:[^:]+]]: tensor<2x8xf32>)
func.func @swiglu(%a: tensor<2x8xf32>, %b: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // CHECK: %[[DA:.+]], %[[DB:.+]] = gecko.swiglu_grad %[[DY]], %[[A]], %[[B]]
  // CHECK: return %[[DA]], %[[DB]]
  %y = gecko.swiglu %a, %b : tensor<2x8xf32>, tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}
