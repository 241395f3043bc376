// RUN: gecko-opt %s --test-gecko-vjp | FileCheck %s

// Each differentiable op of the norm family builds its backward op through
// DifferentiableOpInterface::buildVjp.

// CHECK-LABEL: func.func @rms_norm
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x8x16xf32>, %[[W:[^:]+]]: tensor<16xf32>, %[[DY:[^:]+]]: tensor<2x8x16xf32>)
func.func @rms_norm(%x: tensor<2x8x16xf32>, %w: tensor<16xf32>) -> tensor<2x8x16xf32> {
  // CHECK: %[[DX:.+]], %[[DW:.+]] = gecko.rms_norm_grad %[[DY]], %[[X]] weight(%[[W]]) groups(2) eps(1.000000e-05)
  // CHECK: return %[[DX]], %[[DW]]
  %y = gecko.rms_norm %x weight(%w) groups(2) eps(1.0e-05) : tensor<2x8x16xf32>, tensor<16xf32>
  return %y : tensor<2x8x16xf32>
}
