// RUN: gecko-opt %s -split-input-file -verify-diagnostics

// One case per constraint of the norm family (docs/dialect.md#norm-family).

func.func @rms_norm_c1_scalar(%x: tensor<f32>) -> tensor<f32> {
  // expected-error @+1 {{[C1] x must have rank >= 1}}
  %y = gecko.rms_norm %x groups(1) eps(1.0e-05) : tensor<f32>
  return %y : tensor<f32>
}

// -----

func.func @rms_norm_c2_groups_not_divisor(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C2] num_groups (3) must divide the last dimension of x (16)}}
  %y = gecko.rms_norm %x groups(3) eps(1.0e-05) : tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

func.func @rms_norm_c2_groups_zero(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C2] num_groups must be positive, got 0}}
  %y = gecko.rms_norm %x groups(0) eps(1.0e-05) : tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

func.func @rms_norm_c3_weight_shape(%x: tensor<2x8x16xf32>, %w: tensor<8xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C3] weight must have shape 16, got 8}}
  %y = gecko.rms_norm %x weight(%w) groups(1) eps(1.0e-05) : tensor<2x8x16xf32>, tensor<8xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

func.func @rms_norm_c3_weight_dtype(%x: tensor<2x8x16xf32>, %w: tensor<16xbf16>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C3] weight must have element type 'f32', got 'bf16'}}
  %y = gecko.rms_norm %x weight(%w) groups(1) eps(1.0e-05) : tensor<2x8x16xf32>, tensor<16xbf16>
  return %y : tensor<2x8x16xf32>
}

// -----

func.func @rms_norm_c4_eps(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C4] eps must be positive, got 0}}
  %y = gecko.rms_norm %x groups(1) eps(0.0) : tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

func.func @rms_norm_grad_c5_dy_shape(%dy: tensor<2x8x8xf32>, %x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C5] dy must have shape 2x8x16, got 2x8x8}}
  %dx = gecko.rms_norm_grad %dy, %x groups(1) eps(1.0e-05) : tensor<2x8x8xf32>, tensor<2x8x16xf32>
  return %dx : tensor<2x8x16xf32>
}

// -----

func.func @layer_norm_c1_scalar(%x: tensor<f32>) {
  // expected-error @+1 {{[C1] x must have rank >= 1}}
  gecko.layer_norm %x groups(1) eps(1.0e-05)
      : tensor<f32>
  return
}

// -----

func.func @layer_norm_c2_groups_not_divisor(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{[C2] num_groups (3) must divide the last dimension of x (64)}}
  gecko.layer_norm %x weight(%w) bias(%b) groups(3) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @layer_norm_c3_bias_shape(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<32xf32>) {
  // expected-error @+1 {{[C3] bias must have shape 64, got 32}}
  gecko.layer_norm %x weight(%w) bias(%b) groups(1) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<32xf32>
  return
}

// -----

func.func @layer_norm_c4_eps(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{[C4] eps must be positive, got 0}}
  gecko.layer_norm %x weight(%w) bias(%b) groups(1) eps(0.0)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @layer_norm_grad_c1_scalar(%dy: tensor<f32>, %x: tensor<f32>) {
  // expected-error @+1 {{[C1] x must have rank >= 1}}
  gecko.layer_norm_grad %dy, %x groups(1) eps(1.0e-05)
      : tensor<f32>, tensor<f32>
  return
}

// -----

func.func @layer_norm_grad_c2_groups_not_divisor(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{[C2] num_groups (3) must divide the last dimension of x (64)}}
  gecko.layer_norm_grad %dy, %x weight(%w) with_bias groups(3) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>
  return
}

// -----

func.func @layer_norm_grad_c3_weight_shape(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<32xf32>) {
  // expected-error @+1 {{[C3] weight must have shape 64, got 32}}
  gecko.layer_norm_grad %dy, %x weight(%w) with_bias groups(1) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<32xf32>
  return
}

// -----

func.func @layer_norm_grad_c4_eps(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{[C4] eps must be positive, got 0}}
  gecko.layer_norm_grad %dy, %x weight(%w) with_bias groups(1) eps(0.0)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>
  return
}

// -----

func.func @layer_norm_grad_c5_dy_dtype(%dy: tensor<2x16x64xbf16>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{[C5] dy must have element type 'f32', got 'bf16'}}
  gecko.layer_norm_grad %dy, %x weight(%w) with_bias groups(1) eps(1.0e-05)
      : tensor<2x16x64xbf16>, tensor<2x16x64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_decay_norm_c1_rank(%x: tensor<16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{[C1] x must have rank 3, got 16x64}}
  gecko.timestep_decay_norm %x weight(%w) bias(%b) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<16x64xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_decay_norm_c2_groups_not_divisor(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{[C2] num_groups (5) must divide the last dimension of x (64)}}
  gecko.timestep_decay_norm %x weight(%w) bias(%b) groups(5) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_decay_norm_c3_weight_dtype(%x: tensor<2x16x64xf32>, %w: tensor<64xbf16>, %b: tensor<64xf32>) {
  // expected-error @+1 {{[C3] weight must have element type 'f32', got 'bf16'}}
  gecko.timestep_decay_norm %x weight(%w) bias(%b) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xbf16>, tensor<64xf32>
  return
}

// -----

func.func @timestep_decay_norm_c4_eps(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{[C4] eps must be positive, got -1}}
  gecko.timestep_decay_norm %x weight(%w) bias(%b) groups(4) betas(0.999, 0.9999) eps(-1.0)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_decay_norm_c5_beta1(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{[C5] beta1 must lie in (0, 1), got 1}}
  gecko.timestep_decay_norm %x weight(%w) bias(%b) groups(4) betas(1.0, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_decay_norm_c5_beta2(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{[C5] beta2 must lie in (0, 1), got 0}}
  gecko.timestep_decay_norm %x weight(%w) bias(%b) groups(4) betas(0.999, 0.0) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_decay_norm_c6_bos_shape(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>, %bos: tensor<2x8xi1>) {
  // expected-error @+1 {{[C6] bos must have shape 2x16, got 2x8}}
  gecko.timestep_decay_norm %x weight(%w) bias(%b) bos(%bos) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<2x8xi1>
  return
}

// -----

func.func @timestep_decay_norm_c7_partial_state(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>, %n0: tensor<2xi64>, %m0: tensor<2x4xf32>) {
  // expected-error @+1 {{[C7] the state needs all of count, mean and var}}
  %r:4 = "gecko.timestep_decay_norm"(%x, %w, %b, %n0, %m0) <{beta1 = 0.999 : f64, beta2 = 0.9999 : f64, eps = 1.0e-05 : f64, num_groups = 4 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 1, 0>}>
      : (tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<2xi64>, tensor<2x4xf32>) -> (tensor<2x16x64xf32>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>)
  return
}

// -----

func.func @timestep_decay_norm_c8_count_shape(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>, %n0: tensor<4xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x4xf32>) {
  // expected-error @+1 {{[C8] count must have shape 2, got 4}}
  gecko.timestep_decay_norm %x weight(%w) bias(%b) state(%n0, %m0, %v0) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<4xi64>, tensor<2x4xf32>, tensor<2x4xf32>
  return
}

// -----

func.func @timestep_decay_norm_c9_mean_shape(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>, %n0: tensor<2xi64>, %m0: tensor<2x8xf32>, %v0: tensor<2x4xf32>) {
  // expected-error @+1 {{[C9] mean must have shape 2x4, got 2x8}}
  gecko.timestep_decay_norm %x weight(%w) bias(%b) state(%n0, %m0, %v0) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<2xi64>, tensor<2x8xf32>, tensor<2x4xf32>
  return
}

// -----

func.func @timestep_decay_norm_c9_var_dtype(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>, %n0: tensor<2xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x4xf16>) {
  // expected-error @+1 {{[C9] var must have element type 'f32', got 'f16'}}
  gecko.timestep_decay_norm %x weight(%w) bias(%b) state(%n0, %m0, %v0) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf16>
  return
}

// -----

func.func @timestep_decay_norm_grad_c1_rank(%dy: tensor<16x64xf32>, %x: tensor<16x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{[C1] x must have rank 3, got 16x64}}
  gecko.timestep_decay_norm_grad %dy, %x weight(%w) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<16x64xf32>, tensor<16x64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_decay_norm_grad_c2_groups_not_divisor(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{[C2] num_groups (5) must divide the last dimension of x (64)}}
  gecko.timestep_decay_norm_grad %dy, %x weight(%w) groups(5) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_decay_norm_grad_c3_weight_dtype(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xbf16>) {
  // expected-error @+1 {{[C3] weight must have element type 'f32', got 'bf16'}}
  gecko.timestep_decay_norm_grad %dy, %x weight(%w) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xbf16>
  return
}

// -----

func.func @timestep_decay_norm_grad_c4_eps(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{[C4] eps must be positive, got -1}}
  gecko.timestep_decay_norm_grad %dy, %x weight(%w) groups(4) betas(0.999, 0.9999) eps(-1.0)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_decay_norm_grad_c5_beta1(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{[C5] beta1 must lie in (0, 1), got 1}}
  gecko.timestep_decay_norm_grad %dy, %x weight(%w) groups(4) betas(1.0, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_decay_norm_grad_c5_beta2(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{[C5] beta2 must lie in (0, 1), got 0}}
  gecko.timestep_decay_norm_grad %dy, %x weight(%w) groups(4) betas(0.999, 0.0) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_decay_norm_grad_c6_bos_shape(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %bos: tensor<2x8xi1>) {
  // expected-error @+1 {{[C6] bos must have shape 2x16, got 2x8}}
  gecko.timestep_decay_norm_grad %dy, %x weight(%w) bos(%bos) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>, tensor<2x8xi1>
  return
}

// -----

func.func @timestep_decay_norm_grad_c7_partial_state(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %m0: tensor<2x4xf32>, %v0: tensor<2x4xf32>) {
  // expected-error @+1 {{[C7] the state needs all of count, mean and var}}
  %r:5 = "gecko.timestep_decay_norm_grad"(%dy, %x, %w, %m0, %v0) <{beta1 = 0.999 : f64, beta2 = 0.9999 : f64, eps = 1.0e-05 : f64, num_groups = 4 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 1, 1, 0, 0>}>
      : (tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>, tensor<2x4xf32>, tensor<2x4xf32>) -> (tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<2x4xf32>, tensor<2x4xf32>)
  return
}

// -----

func.func @timestep_decay_norm_grad_c8_count_shape(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %n0: tensor<4xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x4xf32>) {
  // expected-error @+1 {{[C8] count must have shape 2, got 4}}
  gecko.timestep_decay_norm_grad %dy, %x weight(%w) state(%n0, %m0, %v0) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>, tensor<4xi64>, tensor<2x4xf32>, tensor<2x4xf32>
  return
}

// -----

func.func @timestep_decay_norm_grad_c9_mean_shape(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %n0: tensor<2xi64>, %m0: tensor<2x8xf32>, %v0: tensor<2x4xf32>) {
  // expected-error @+1 {{[C9] mean must have shape 2x4, got 2x8}}
  gecko.timestep_decay_norm_grad %dy, %x weight(%w) state(%n0, %m0, %v0) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>, tensor<2xi64>, tensor<2x8xf32>, tensor<2x4xf32>
  return
}

// -----

func.func @timestep_decay_norm_grad_c9_var_dtype(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %n0: tensor<2xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x4xf16>) {
  // expected-error @+1 {{[C9] var must have element type 'f32', got 'f16'}}
  gecko.timestep_decay_norm_grad %dy, %x weight(%w) state(%n0, %m0, %v0) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf16>
  return
}

// -----

func.func @timestep_decay_norm_grad_c10_dy_shape(%dy: tensor<2x8x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{[C10] dy must have shape 2x16x64, got 2x8x64}}
  gecko.timestep_decay_norm_grad %dy, %x weight(%w) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x8x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_decay_norm_grad_c11_partial_dstate(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %dm: tensor<2x4xf32>) {
  // expected-error @+1 {{[C11] dstate needs both dmean_out and dvar_out}}
  %r:3 = "gecko.timestep_decay_norm_grad"(%dy, %x, %w, %dm) <{beta1 = 0.999 : f64, beta2 = 0.9999 : f64, eps = 1.0e-05 : f64, num_groups = 4 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 1, 0>}>
      : (tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>, tensor<2x4xf32>) -> (tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @timestep_decay_norm_grad_c12_dstate_shape(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %n0: tensor<2xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x4xf32>, %dm: tensor<2x4xf32>, %dv: tensor<4x2xf32>) {
  // expected-error @+1 {{[C12] dvar_out must have shape 2x4, got 4x2}}
  gecko.timestep_decay_norm_grad %dy, %x weight(%w) state(%n0, %m0, %v0) dstate(%dm, %dv) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<4x2xf32>
  return
}

// -----

func.func @timestep_norm_c1_rank(%x: tensor<2x16x8x8xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{[C1] x must have rank 3, got 2x16x8x8}}
  gecko.timestep_norm %x weight(%w) bias(%b) groups(4) eps(1.0e-05)
      : tensor<2x16x8x8xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_norm_c2_groups_zero(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{[C2] num_groups must be positive, got 0}}
  gecko.timestep_norm %x weight(%w) bias(%b) groups(0) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_norm_c3_weight_shape(%x: tensor<2x16x64xf32>, %w: tensor<2x64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{[C3] weight must have shape 64, got 2x64}}
  gecko.timestep_norm %x weight(%w) bias(%b) groups(4) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_norm_c4_eps(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{[C4] eps must be positive, got 0}}
  gecko.timestep_norm %x weight(%w) bias(%b) groups(4) eps(0.0)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_norm_c5_partial_state(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>, %n0: tensor<2xi64>) {
  // expected-error @+1 {{[C5] the state needs all of count, mean and var}}
  %r:4 = "gecko.timestep_norm"(%x, %w, %b, %n0) <{eps = 1.0e-05 : f64, num_groups = 4 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>}>
      : (tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<2xi64>) -> (tensor<2x16x64xf32>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>)
  return
}

// -----

func.func @timestep_norm_c6_count_shape(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>, %n0: tensor<2x1xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x4xf32>) {
  // expected-error @+1 {{[C6] count must have shape 2, got 2x1}}
  gecko.timestep_norm %x weight(%w) bias(%b) state(%n0, %m0, %v0) groups(4) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<2x1xi64>, tensor<2x4xf32>, tensor<2x4xf32>
  return
}

// -----

func.func @timestep_norm_c7_var_shape(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>, %n0: tensor<2xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x64xf32>) {
  // expected-error @+1 {{[C7] var must have shape 2x4, got 2x64}}
  gecko.timestep_norm %x weight(%w) bias(%b) state(%n0, %m0, %v0) groups(4) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x64xf32>
  return
}

// -----

func.func @timestep_norm_grad_c1_rank(%dy: tensor<2x16x8x8xf32>, %x: tensor<2x16x8x8xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{[C1] x must have rank 3, got 2x16x8x8}}
  gecko.timestep_norm_grad %dy, %x weight(%w) groups(4) eps(1.0e-05)
      : tensor<2x16x8x8xf32>, tensor<2x16x8x8xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_norm_grad_c2_groups_zero(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{[C2] num_groups must be positive, got 0}}
  gecko.timestep_norm_grad %dy, %x weight(%w) groups(0) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_norm_grad_c3_weight_shape(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<2x64xf32>) {
  // expected-error @+1 {{[C3] weight must have shape 64, got 2x64}}
  gecko.timestep_norm_grad %dy, %x weight(%w) groups(4) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<2x64xf32>
  return
}

// -----

func.func @timestep_norm_grad_c4_eps(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{[C4] eps must be positive, got 0}}
  gecko.timestep_norm_grad %dy, %x weight(%w) groups(4) eps(0.0)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_norm_grad_c5_partial_state(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %n0: tensor<2xi64>, %v0: tensor<2x4xf32>) {
  // expected-error @+1 {{[C5] the state needs all of count, mean and var}}
  %r:3 = "gecko.timestep_norm_grad"(%dy, %x, %w, %n0, %v0) <{eps = 1.0e-05 : f64, num_groups = 4 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 1, 0, 0>}>
      : (tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>, tensor<2xi64>, tensor<2x4xf32>) -> (tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @timestep_norm_grad_c6_count_shape(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %n0: tensor<2x1xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x4xf32>) {
  // expected-error @+1 {{[C6] count must have shape 2, got 2x1}}
  gecko.timestep_norm_grad %dy, %x weight(%w) state(%n0, %m0, %v0) groups(4) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>, tensor<2x1xi64>, tensor<2x4xf32>, tensor<2x4xf32>
  return
}

// -----

func.func @timestep_norm_grad_c7_var_shape(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %n0: tensor<2xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x64xf32>) {
  // expected-error @+1 {{[C7] var must have shape 2x4, got 2x64}}
  gecko.timestep_norm_grad %dy, %x weight(%w) state(%n0, %m0, %v0) groups(4) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x64xf32>
  return
}

// -----

func.func @timestep_norm_grad_c8_dy_dtype(%dy: tensor<2x16x64xf64>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{[C8] dy must have element type 'f32', got 'f64'}}
  gecko.timestep_norm_grad %dy, %x weight(%w) groups(4) eps(1.0e-05)
      : tensor<2x16x64xf64>, tensor<2x16x64xf32>, tensor<64xf32>
  return
}

// -----

func.func @timestep_norm_grad_c9_partial_dstate(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %dv: tensor<2x4xf32>) {
  // expected-error @+1 {{[C9] dstate needs both dmean_out and dvar_out}}
  %r:3 = "gecko.timestep_norm_grad"(%dy, %x, %w, %dv) <{eps = 1.0e-05 : f64, num_groups = 4 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 1>}>
      : (tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>, tensor<2x4xf32>) -> (tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @timestep_norm_grad_c10_dstate_dtype(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %dm: tensor<2x4xbf16>, %dv: tensor<2x4xf32>) {
  // expected-error @+1 {{[C10] dmean_out must have element type 'f32', got 'bf16'}}
  gecko.timestep_norm_grad %dy, %x weight(%w) dstate(%dm, %dv) groups(4) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>, tensor<2x4xbf16>, tensor<2x4xf32>
  return
}
