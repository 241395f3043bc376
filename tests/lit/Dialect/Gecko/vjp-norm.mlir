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

// CHECK-LABEL: func.func @layer_norm
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x8x16xf32>, %[[W:[^:]+]]: tensor<16xf32>, %[[B:[^:]+]]: tensor<16xf32>, %[[DY:[^:]+]]: tensor<2x8x16xf32>)
func.func @layer_norm(%x: tensor<2x8x16xf32>, %w: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<2x8x16xf32> {
  // CHECK: %[[DX:.+]], %[[DP:.+]]:2 = gecko.layer_norm_grad %[[DY]], %[[X]] weight(%[[W]]) with_bias groups(2) eps(1.000000e-05)
  // CHECK: return %[[DX]], %[[DP]]#0, %[[DP]]#1
  %y = gecko.layer_norm %x weight(%w) bias(%b) groups(2) eps(1.0e-05) : tensor<2x8x16xf32>, tensor<16xf32>, tensor<16xf32>
  return %y : tensor<2x8x16xf32>
}

// A bias without a weight: the only parameter cotangent is dbias.
// CHECK-LABEL: func.func @layer_norm_bias_only
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x8x16xf32>, %[[B:[^:]+]]: tensor<16xf32>, %[[DY:[^:]+]]: tensor<2x8x16xf32>)
func.func @layer_norm_bias_only(%x: tensor<2x8x16xf32>, %b: tensor<16xf32>) -> tensor<2x8x16xf32> {
  // CHECK: %[[DX:.+]], %[[DB:.+]] = gecko.layer_norm_grad %[[DY]], %[[X]] with_bias groups(1) eps(1.000000e-05)
  // CHECK: return %[[DX]], %[[DB]]
  %y = gecko.layer_norm %x bias(%b) groups(1) eps(1.0e-05) : tensor<2x8x16xf32>, tensor<16xf32>
  return %y : tensor<2x8x16xf32>
}

// The count result is an integer: it gets no cotangent, and bos and the
// incoming count get no gradient.
// CHECK-LABEL: func.func @timestep_decay_norm
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x8x16xf32>, %[[W:[^:]+]]: tensor<16xf32>, %[[B:[^:]+]]: tensor<16xf32>, %[[BOS:[^:]+]]: tensor<2x8xi1>, %[[N0:[^:]+]]: tensor<2xi64>, %[[M0:[^:]+]]: tensor<2x4xf32>, %[[V0:[^:]+]]: tensor<2x4xf32>, %[[DY:[^:]+]]: tensor<2x8x16xf32>, %[[DM:[^:]+]]: tensor<2x4xf32>, %[[DV:[^:]+]]: tensor<2x4xf32>)
func.func @timestep_decay_norm(%x: tensor<2x8x16xf32>, %w: tensor<16xf32>, %b: tensor<16xf32>, %bos: tensor<2x8xi1>, %n0: tensor<2xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x4xf32>) -> tensor<2x8x16xf32> {
  // CHECK: %[[DX:.+]], %[[DW:.+]], %[[DB:.+]], %[[DM0:.+]], %[[DV0:.+]] = gecko.timestep_decay_norm_grad %[[DY]], %[[X]] weight(%[[W]]) bos(%[[BOS]]) state(%[[N0]], %[[M0]], %[[V0]]) dstate(%[[DM]], %[[DV]]) groups(4) betas(0.99899999999999999, 9.999000e-01) eps(1.000000e-05)
  // CHECK: return %[[DX]], %[[DW]], %[[DB]], %[[DM0]], %[[DV0]]
  %y, %n, %m, %v = gecko.timestep_decay_norm %x weight(%w) bias(%b) bos(%bos) state(%n0, %m0, %v0) groups(4) betas(0.999, 0.9999) eps(1.0e-05) : tensor<2x8x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<2x8xi1>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>
  return %y : tensor<2x8x16xf32>
}

// Without an incoming state there is no state gradient.
// CHECK-LABEL: func.func @timestep_decay_norm_fresh
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x8x16xf32>, %[[W:[^:]+]]: tensor<16xf32>, %[[B:[^:]+]]: tensor<16xf32>, %[[DY:[^:]+]]: tensor<2x8x16xf32>, %[[DM:[^:]+]]: tensor<2x4xf32>, %[[DV:[^:]+]]: tensor<2x4xf32>)
func.func @timestep_decay_norm_fresh(%x: tensor<2x8x16xf32>, %w: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<2x8x16xf32> {
  // CHECK: %[[DX:.+]], %[[DW:.+]], %[[DB:.+]] = gecko.timestep_decay_norm_grad %[[DY]], %[[X]] weight(%[[W]]) dstate(%[[DM]], %[[DV]]) groups(4)
  // CHECK: return %[[DX]], %[[DW]], %[[DB]]
  %y, %n, %m, %v = gecko.timestep_decay_norm %x weight(%w) bias(%b) groups(4) betas(0.999, 0.9999) eps(1.0e-05) : tensor<2x8x16xf32>, tensor<16xf32>, tensor<16xf32>
  return %y : tensor<2x8x16xf32>
}

// CHECK-LABEL: func.func @timestep_norm
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x8x16xf32>, %[[W:[^:]+]]: tensor<16xf32>, %[[B:[^:]+]]: tensor<16xf32>, %[[N0:[^:]+]]: tensor<2xi64>, %[[M0:[^:]+]]: tensor<2x4xf32>, %[[V0:[^:]+]]: tensor<2x4xf32>, %[[DY:[^:]+]]: tensor<2x8x16xf32>, %[[DM:[^:]+]]: tensor<2x4xf32>, %[[DV:[^:]+]]: tensor<2x4xf32>)
func.func @timestep_norm(%x: tensor<2x8x16xf32>, %w: tensor<16xf32>, %b: tensor<16xf32>, %n0: tensor<2xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x4xf32>) -> tensor<2x8x16xf32> {
  // CHECK: %[[DX:.+]], %[[DW:.+]], %[[DB:.+]], %[[DM0:.+]], %[[DV0:.+]] = gecko.timestep_norm_grad %[[DY]], %[[X]] weight(%[[W]]) state(%[[N0]], %[[M0]], %[[V0]]) dstate(%[[DM]], %[[DV]]) groups(4) eps(1.000000e-05)
  // CHECK: return %[[DX]], %[[DW]], %[[DB]], %[[DM0]], %[[DV0]]
  %y, %n, %m, %v = gecko.timestep_norm %x weight(%w) bias(%b) state(%n0, %m0, %v0) groups(4) eps(1.0e-05) : tensor<2x8x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>
  return %y : tensor<2x8x16xf32>
}
