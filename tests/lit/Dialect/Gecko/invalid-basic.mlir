// RUN: gecko-opt %s -split-input-file -verify-diagnostics

// One case per constraint of the basic family (docs/dialect.md#basic-family).

func.func @embedding_c1_table_rank(%table: tensor<32000xf32>, %tokens: tensor<2x8xi64>) -> tensor<2x8x32000xf32> {
  // expected-error @+1 {{[C1] table must have rank 2, got 32000}}
  %x = gecko.embedding %table, %tokens : tensor<32000xf32>, tensor<2x8xi64>
  return %x : tensor<2x8x32000xf32>
}

// -----

func.func @embedding_c2_tokens_rank(%table: tensor<100x16xf32>, %tokens: tensor<16xi64>) -> tensor<16x16xf32> {
  // expected-error @+1 {{[C2] tokens must have rank 2, got 16}}
  %x = gecko.embedding %table, %tokens : tensor<100x16xf32>, tensor<16xi64>
  return %x : tensor<16x16xf32>
}

// -----

func.func @embedding_grad_c2_tokens_rank(%dx: tensor<2x8x16xf32>, %tokens: tensor<2x8x1xi64>) -> tensor<100x16xf32> {
  // expected-error @+1 {{[C2] tokens must have rank 2, got 2x8x1}}
  %dt = gecko.embedding_grad %dx, %tokens vocab(100) : tensor<2x8x16xf32>, tensor<2x8x1xi64>
  return %dt : tensor<100x16xf32>
}

// -----

func.func @embedding_grad_c3_dx_rank(%dx: tensor<16x16xf32>, %tokens: tensor<2x8xi64>) -> tensor<100x16xf32> {
  // expected-error @+1 {{[C3] dx must have rank 3, got 16x16}}
  %dt = gecko.embedding_grad %dx, %tokens vocab(100) : tensor<16x16xf32>, tensor<2x8xi64>
  return %dt : tensor<100x16xf32>
}

// -----

func.func @embedding_grad_c3_dx_length(%dx: tensor<2x4x16xf32>, %tokens: tensor<2x8xi64>) -> tensor<100x16xf32> {
  // expected-error @+1 {{[C3] dimension 1 of dx (4) must equal the sequence length of tokens (8)}}
  %dt = gecko.embedding_grad %dx, %tokens vocab(100) : tensor<2x4x16xf32>, tensor<2x8xi64>
  return %dt : tensor<100x16xf32>
}

// -----

func.func @embedding_grad_c4_vocab(%dx: tensor<2x8x16xf32>, %tokens: tensor<2x8xi64>) -> tensor<0x16xf32> {
  // expected-error @+1 {{[C4] vocab_size must be positive, got 0}}
  %dt = gecko.embedding_grad %dx, %tokens vocab(0) : tensor<2x8x16xf32>, tensor<2x8xi64>
  return %dt : tensor<0x16xf32>
}

// -----

func.func @linear_c1_scalar(%x: tensor<f32>, %w: tensor<4x4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{[C1] x must have rank >= 1}}
  %y = gecko.linear %x, %w : tensor<f32>, tensor<4x4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @linear_c2_weight_rank(%x: tensor<2x8x16xf32>, %w: tensor<16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C2] weight must have rank 2, got 16}}
  %y = gecko.linear %x, %w : tensor<2x8x16xf32>, tensor<16xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

func.func @linear_c2_in_mismatch(%x: tensor<2x8x16xf32>, %w: tensor<32x8xf32>) -> tensor<2x8x32xf32> {
  // expected-error @+1 {{[C2] dimension 1 of weight (8) must equal the last dimension of x (16)}}
  %y = gecko.linear %x, %w : tensor<2x8x16xf32>, tensor<32x8xf32>
  return %y : tensor<2x8x32xf32>
}

// -----

func.func @linear_c3_weight_dtype(%x: tensor<2x8x16xbf16>, %w: tensor<32x16xf32>) -> tensor<2x8x32xbf16> {
  // expected-error @+1 {{[C3] weight must have element type 'bf16', got 'f32'}}
  %y = gecko.linear %x, %w : tensor<2x8x16xbf16>, tensor<32x16xf32>
  return %y : tensor<2x8x32xbf16>
}

// -----

func.func @linear_c4_bias_shape(%x: tensor<2x8x16xf32>, %w: tensor<32x16xf32>, %b: tensor<16xf32>) -> tensor<2x8x32xf32> {
  // expected-error @+1 {{[C4] bias must have shape 32, got 16}}
  %y = gecko.linear %x, %w bias(%b) : tensor<2x8x16xf32>, tensor<32x16xf32>, tensor<16xf32>
  return %y : tensor<2x8x32xf32>
}

// -----

func.func @linear_c4_bias_dtype(%x: tensor<2x8x16xf32>, %w: tensor<32x16xf32>, %b: tensor<32xf16>) -> tensor<2x8x32xf32> {
  // expected-error @+1 {{[C4] bias must have element type 'f32', got 'f16'}}
  %y = gecko.linear %x, %w bias(%b) : tensor<2x8x16xf32>, tensor<32x16xf32>, tensor<32xf16>
  return %y : tensor<2x8x32xf32>
}

// -----

func.func @linear_grad_c2_in_mismatch(%dy: tensor<2x8x32xf32>, %x: tensor<2x8x16xf32>, %w: tensor<32x8xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C2] dimension 1 of weight (8) must equal the last dimension of x (16)}}
  %dx, %dw = gecko.linear_grad %dy, %x, %w : tensor<2x8x32xf32>, tensor<2x8x16xf32>, tensor<32x8xf32>
  return %dx : tensor<2x8x16xf32>
}

// -----

func.func @linear_grad_c5_dy_shape(%dy: tensor<2x8x16xf32>, %x: tensor<2x8x16xf32>, %w: tensor<32x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C5] dy must have shape 2x8x32, got 2x8x16}}
  %dx, %dw = gecko.linear_grad %dy, %x, %w : tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<32x16xf32>
  return %dx : tensor<2x8x16xf32>
}

// -----

func.func @linear_grad_c5_dy_dtype(%dy: tensor<2x8x32xbf16>, %x: tensor<2x8x16xf32>, %w: tensor<32x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C5] dy must have element type 'f32', got 'bf16'}}
  %dx, %dw = gecko.linear_grad %dy, %x, %w : tensor<2x8x32xbf16>, tensor<2x8x16xf32>, tensor<32x16xf32>
  return %dx : tensor<2x8x16xf32>
}

// -----

func.func @z_affine_c1_z_rank(%z: tensor<8x16xf32>, %g: tensor<4x16xf32>, %b: tensor<4x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{[C1] z must have rank 3, got 8x16}}
  %q, %k, %aq, %ak = gecko.z_affine %z, %g, %b head_dim(8) : tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>
  return %q : tensor<8x16xf32>
}

// -----

func.func @z_affine_c2_gamma_shape(%z: tensor<2x8x16xf32>, %g: tensor<2x16xf32>, %b: tensor<4x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C2] gamma must have shape 4x16, got 2x16}}
  %q, %k, %aq, %ak = gecko.z_affine %z, %g, %b head_dim(8) : tensor<2x8x16xf32>, tensor<2x16xf32>, tensor<4x16xf32>
  return %q : tensor<2x8x16xf32>
}

// -----

func.func @z_affine_c2_beta_dtype(%z: tensor<2x8x16xf32>, %g: tensor<4x16xf32>, %b: tensor<4x16xbf16>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C2] beta must have element type 'f32', got 'bf16'}}
  %q, %k, %aq, %ak = gecko.z_affine %z, %g, %b head_dim(8) : tensor<2x8x16xf32>, tensor<4x16xf32>, tensor<4x16xbf16>
  return %q : tensor<2x8x16xf32>
}

// -----

func.func @z_affine_c3_head_dim_zero(%z: tensor<2x8x16xf32>, %g: tensor<4x16xf32>, %b: tensor<4x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C3] head_dim must be positive, got 0}}
  %q, %k, %aq, %ak = gecko.z_affine %z, %g, %b head_dim(0) : tensor<2x8x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>
  return %q : tensor<2x8x16xf32>
}

// -----

func.func @z_affine_c3_head_dim_not_divisor(%z: tensor<2x8x16xf32>, %g: tensor<4x16xf32>, %b: tensor<4x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C3] head_dim (6) must divide the last dimension of z (16)}}
  %q, %k, %aq, %ak = gecko.z_affine %z, %g, %b head_dim(6) : tensor<2x8x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>
  return %q : tensor<2x8x16xf32>
}

// -----

func.func @z_affine_grad_c2_gamma_shape(%z: tensor<2x8x16xf32>, %g: tensor<4x8xf32>, %dq: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C2] gamma must have shape 4x16, got 4x8}}
  %dz, %dg, %db = gecko.z_affine_grad %z, %g dq(%dq) head_dim(8) : tensor<2x8x16xf32>, tensor<4x8xf32>, tensor<2x8x16xf32>
  return %dz : tensor<2x8x16xf32>
}

// -----

func.func @z_affine_grad_c4_cotangent_type(%z: tensor<2x8x16xf32>, %g: tensor<4x16xf32>, %dak: tensor<2x8x16xbf16>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C4] dak must have element type 'f32', got 'bf16'}}
  %dz, %dg, %db = gecko.z_affine_grad %z, %g dak(%dak) head_dim(8) : tensor<2x8x16xf32>, tensor<4x16xf32>, tensor<2x8x16xbf16>
  return %dz : tensor<2x8x16xf32>
}

// -----

func.func @z_affine_grad_c5_no_cotangent(%z: tensor<2x8x16xf32>, %g: tensor<4x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C5] at least one of dq, dk, daq, dak must be present}}
  %dz, %dg, %db = gecko.z_affine_grad %z, %g head_dim(8) : tensor<2x8x16xf32>, tensor<4x16xf32>
  return %dz : tensor<2x8x16xf32>
}

// -----

func.func @rope_c1_x_rank(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{[C1] x must have rank 3, got 8x16}}
  %y = gecko.rope %x heads(2) rope_heads(2) base(1.0e+04) : tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

// -----

func.func @rope_c2_heads_zero(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C2] num_heads must be positive, got 0}}
  %y = gecko.rope %x heads(0) rope_heads(0) base(1.0e+04) : tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

func.func @rope_c2_heads_not_divisor(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C2] num_heads (3) must divide the last dimension of x (16)}}
  %y = gecko.rope %x heads(3) rope_heads(3) base(1.0e+04) : tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

func.func @rope_c3_too_many_rope_heads(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C3] num_rope_heads must be in [0, num_heads = 2], got 3}}
  %y = gecko.rope %x heads(2) rope_heads(3) base(1.0e+04) : tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

func.func @rope_c3_negative_rope_heads(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C3] num_rope_heads must be in [0, num_heads = 2], got -1}}
  %y = gecko.rope %x heads(2) rope_heads(-1) base(1.0e+04) : tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

func.func @rope_c4_odd_head_dim(%x: tensor<2x8x15xf32>) -> tensor<2x8x15xf32> {
  // expected-error @+1 {{[C4] the head dimension (5) must be even to form rotation pairs}}
  %y = gecko.rope %x heads(3) rope_heads(1) base(1.0e+04) : tensor<2x8x15xf32>
  return %y : tensor<2x8x15xf32>
}

// -----

func.func @rope_c5_base(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C5] base must be positive and finite, got 0}}
  %y = gecko.rope %x heads(2) rope_heads(2) base(0.0) : tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

func.func @rope_c6_start_rank(%x: tensor<2x8x16xf32>, %pos: tensor<2xi64>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C6] start must have rank 0, got 2}}
  %y = gecko.rope %x start(%pos) heads(2) rope_heads(2) base(1.0e+04) : tensor<2x8x16xf32>, tensor<2xi64>
  return %y : tensor<2x8x16xf32>
}

// -----

func.func @rope_c7_restart(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{[C7] restart must be positive, got 0}}
  %y = gecko.rope %x heads(2) rope_heads(2) base(1.0e+04) restart(0) : tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

func.func @silu_grad_c1_dy_shape(%dy: tensor<2x8xf32>, %x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{[C1] dy must have shape 2x4, got 2x8}}
  %dx = gecko.silu_grad %dy, %x : tensor<2x8xf32>, tensor<2x4xf32>
  return %dx : tensor<2x4xf32>
}

// -----

func.func @swiglu_c1_b_dtype(%a: tensor<2x8xf32>, %b: tensor<2x8xbf16>) -> tensor<2x8xf32> {
  // expected-error @+1 {{[C1] b must have element type 'f32', got 'bf16'}}
  %y = gecko.swiglu %a, %b : tensor<2x8xf32>, tensor<2x8xbf16>
  return %y : tensor<2x8xf32>
}

// -----

func.func @swiglu_grad_c1_b_shape(%dy: tensor<2x8xf32>, %a: tensor<2x8xf32>, %b: tensor<2x4xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{[C1] b must have shape 2x8, got 2x4}}
  %da, %db = gecko.swiglu_grad %dy, %a, %b : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x4xf32>
  return %da : tensor<2x8xf32>
}

// -----

func.func @swiglu_grad_c2_dy_shape(%dy: tensor<8xf32>, %a: tensor<2x8xf32>, %b: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{[C2] dy must have shape 2x8, got 8}}
  %da, %db = gecko.swiglu_grad %dy, %a, %b : tensor<8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
  return %da : tensor<2x8xf32>
}

// -----

func.func @segments_c1_tokens_rank(%t: tensor<8xi64>) -> tensor<8xi64> {
  // expected-error @+1 {{[C1] tokens must have rank 2, got 8}}
  %bos, %seg = gecko.segments %t bos_id(1) : tensor<8xi64>
  return %seg : tensor<8xi64>
}

// -----

func.func @segments_c2_offset_shape(%t: tensor<2x8xi64>, %o: tensor<3xi64>) -> tensor<2x8xi64> {
  // expected-error @+1 {{[C2] offset}}
  %bos, %seg = gecko.segments %t offset(%o) bos_id(1) : tensor<2x8xi64>, tensor<3xi64>
  return %seg : tensor<2x8xi64>
}
