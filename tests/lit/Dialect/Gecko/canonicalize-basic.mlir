// RUN: gecko-opt %s -canonicalize | FileCheck %s

// Folders of the basic family (docs/dialect.md#basic-family).

// num_rope_heads = 0 rotates no head: gecko.rope folds to its input, whatever
// the start position or direction.
// CHECK-LABEL: func.func @rope_no_rope_heads
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x8x16xf32>, %[[POS:[^:]+]]: tensor<i64>)
func.func @rope_no_rope_heads(%x: tensor<2x8x16xf32>, %pos: tensor<i64>) -> (tensor<2x8x16xf32>, tensor<2x8x16xf32>) {
  // CHECK-NOT: gecko.rope
  // CHECK: return %[[X]], %[[X]]
  %y = gecko.rope %x heads(2) rope_heads(0) base(5.0e+05) : tensor<2x8x16xf32>
  %z = gecko.rope %x start(%pos) heads(2) rope_heads(0) base(5.0e+05) inverse : tensor<2x8x16xf32>, tensor<i64>
  return %y, %z : tensor<2x8x16xf32>, tensor<2x8x16xf32>
}

// Odd head dimensions are allowed when no head is rotated (C4), and still fold.
// CHECK-LABEL: func.func @rope_no_rope_heads_odd
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x8x15xbf16>)
func.func @rope_no_rope_heads_odd(%x: tensor<2x8x15xbf16>) -> tensor<2x8x15xbf16> {
  // CHECK-NEXT: return %[[X]]
  %y = gecko.rope %x heads(3) rope_heads(0) base(1.0e+04) : tensor<2x8x15xbf16>
  return %y : tensor<2x8x15xbf16>
}

// Any rotated head keeps the op.
// CHECK-LABEL: func.func @rope_kept
// CHECK: %[[Y:.+]] = gecko.rope %{{.+}} heads(2) rope_heads(1)
// CHECK: return %[[Y]]
func.func @rope_kept(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  %y = gecko.rope %x heads(2) rope_heads(1) base(5.0e+05) : tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}
