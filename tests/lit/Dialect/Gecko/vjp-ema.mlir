// RUN: gecko-opt %s --test-gecko-vjp | FileCheck %s

// Each differentiable op of the EMA family builds its backward op through
// DifferentiableOpInterface::buildVjp.

// CHECK-LABEL: func.func @ema_coeffs
// CHECK-SAME: (%[[A:[^:]+]]: tensor<8x4xbf16>, %[[D:[^:]+]]: tensor<8x4xbf16>, %[[T:[^:]+]]: tensor<8xbf16>, %[[G:[^:]+]]: tensor<8x4x2xbf16>, %[[DP:[^:]+]]: tensor<8x4xf32>, %[[DQ:[^:]+]]: tensor<8x4x2xf32>, %[[DG:[^:]+]]: tensor<8x4x2xf32>)
func.func @ema_coeffs(%a: tensor<8x4xbf16>, %d: tensor<8x4xbf16>, %th: tensor<8xbf16>, %g: tensor<8x4x2xbf16>) -> (tensor<8x4xf32>, tensor<8x4x2xf32>, tensor<8x4x2xf32>) {
  // CHECK: %[[DA:.+]], %[[DDL:.+]], %[[DT:.+]], %[[DGR:.+]] = gecko.ema_coeffs_grad dp(%[[DP]]) dq(%[[DQ]]) dgamma(%[[DG]]) alpha(%[[A]]) delta(%[[D]]) theta(%[[T]])
  // CHECK: return %[[DA]], %[[DDL]], %[[DT]], %[[DGR]]
  %p, %q, %gc = gecko.ema_coeffs alpha(%a) delta(%d) theta(%th) gamma(%g) : tensor<8x4xbf16>, tensor<8x4xbf16>, tensor<8xbf16>, tensor<8x4x2xbf16>
  return %p, %q, %gc : tensor<8x4xf32>, tensor<8x4x2xf32>, tensor<8x4x2xf32>
}

// bos gets no gradient; h0 does.
// CHECK-LABEL: func.func @ema_scan
// CHECK-SAME: (%[[U:[^:]+]]: tensor<2x16x8xbf16>, %[[P:[^:]+]]: tensor<8x4xf32>, %[[Q:[^:]+]]: tensor<8x4x2xf32>, %[[G:[^:]+]]: tensor<8x4x2xf32>, %[[BOS:[^:]+]]: tensor<2x16xi1>, %[[H0:[^:]+]]: tensor<2x8x4x2xf32>, %[[DY:[^:]+]]: tensor<2x16x8xbf16>, %[[DH:[^:]+]]: tensor<2x8x4x2xf32>)
func.func @ema_scan(%u: tensor<2x16x8xbf16>, %p: tensor<8x4xf32>, %q: tensor<8x4x2xf32>, %g: tensor<8x4x2xf32>, %bos: tensor<2x16xi1>, %h0: tensor<2x8x4x2xf32>) -> (tensor<2x16x8xbf16>, tensor<2x8x4x2xf32>) {
  // CHECK: %[[DU:.+]], %[[DPP:.+]], %[[DQ:.+]], %[[DG:.+]], %[[DH0:.+]] = gecko.ema_scan_grad %[[DY]], %[[U]] coeffs(%[[P]], %[[Q]], %[[G]]) bos(%[[BOS]]) state(%[[H0]]) dstate(%[[DH]])
  // CHECK: return %[[DU]], %[[DPP]], %[[DQ]], %[[DG]], %[[DH0]]
  %y, %h = gecko.ema_scan %u coeffs(%p, %q, %g) bos(%bos) state(%h0) : tensor<2x16x8xbf16>, tensor<8x4xf32>, tensor<8x4x2xf32>, tensor<8x4x2xf32>, tensor<2x16xi1>, tensor<2x8x4x2xf32>
  return %y, %h : tensor<2x16x8xbf16>, tensor<2x8x4x2xf32>
}

// Without an incoming state there is no dh0.
// CHECK-LABEL: func.func @ema_scan_fresh
// CHECK-SAME: (%[[U:[^:]+]]: tensor<2x16x8xf32>, %[[P:[^:]+]]: tensor<8x4xf32>, %[[Q:[^:]+]]: tensor<8x4x2xf32>, %[[G:[^:]+]]: tensor<8x4x2xf32>, %[[DY:[^:]+]]: tensor<2x16x8xf32>, %[[DH:[^:]+]]: tensor<2x8x4x2xf32>)
func.func @ema_scan_fresh(%u: tensor<2x16x8xf32>, %p: tensor<8x4xf32>, %q: tensor<8x4x2xf32>, %g: tensor<8x4x2xf32>) -> tensor<2x16x8xf32> {
  // CHECK: %[[DU:.+]], %[[DPP:.+]], %[[DQ:.+]], %[[DG:.+]] = gecko.ema_scan_grad %[[DY]], %[[U]] coeffs(%[[P]], %[[Q]], %[[G]]) dstate(%[[DH]])
  // CHECK: return %[[DU]], %[[DPP]], %[[DQ]], %[[DG]]
  %y, %h = gecko.ema_scan %u coeffs(%p, %q, %g) : tensor<2x16x8xf32>, tensor<8x4xf32>, tensor<8x4x2xf32>, tensor<8x4x2xf32>
  return %y : tensor<2x16x8xf32>
}
