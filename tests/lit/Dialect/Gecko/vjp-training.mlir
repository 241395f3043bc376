// RUN: gecko-opt %s --test-gecko-vjp | FileCheck %s

// Each differentiable op of the training family builds its backward op
// through DifferentiableOpInterface::buildVjp. (gecko.adamw is not
// differentiable: it has no VJP and the test pass leaves it alone.)

// Only the logits get a cotangent; the integer targets get none.
// CHECK-LABEL: func.func @cross_entropy
// CHECK-SAME: (%[[L:[^:]+]]: tensor<2x8x100xf32>, %[[T:[^:]+]]: tensor<2x8xi64>, %[[DL:[^:]+]]: tensor<f32>) -> tensor<2x8x100xf32>
func.func @cross_entropy(%logits: tensor<2x8x100xf32>, %targets: tensor<2x8xi64>) -> tensor<f32> {
  // CHECK: %[[D:.+]] = gecko.cross_entropy_grad %[[DL]], %[[L]], %[[T]] : tensor<f32>, tensor<2x8x100xf32>, tensor<2x8xi64>
  // CHECK: return %[[D]]
  %loss = gecko.cross_entropy %logits, %targets : tensor<2x8x100xf32>, tensor<2x8xi64>
  return %loss : tensor<f32>
}

// The ignore_index travels to the backward op.
// CHECK-LABEL: func.func @cross_entropy_ignore
// CHECK-SAME: (%[[L:[^:]+]]: tensor<2x8x100xbf16>, %[[T:[^:]+]]: tensor<2x8xi64>, %[[DL:[^:]+]]: tensor<f32>)
func.func @cross_entropy_ignore(%logits: tensor<2x8x100xbf16>, %targets: tensor<2x8xi64>) -> tensor<f32> {
  // CHECK: %[[D:.+]] = gecko.cross_entropy_grad %[[DL]], %[[L]], %[[T]] ignore_index(0) : tensor<f32>, tensor<2x8x100xbf16>, tensor<2x8xi64>
  // CHECK: return %[[D]]
  %loss = gecko.cross_entropy %logits, %targets ignore_index(0) : tensor<2x8x100xbf16>, tensor<2x8xi64>
  return %loss : tensor<f32>
}

// CHECK-LABEL: func.func @adamw_not_differentiable
// CHECK: gecko.adamw
// CHECK-NOT: _grad
// CHECK: return
func.func @adamw_not_differentiable(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>,
                                    %t: tensor<i64>, %lr: tensor<f32>) -> tensor<16xf32> {
  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr) betas(0.9, 0.98) eps(1.0e-08) weight_decay(0.1)
      : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<i64>, tensor<f32>
  return %p2 : tensor<16xf32>
}
