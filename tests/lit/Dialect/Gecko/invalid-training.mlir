// RUN: gecko-opt %s -split-input-file -verify-diagnostics

// One case per constraint of the training family (docs/dialect.md#training-family).

func.func @cross_entropy_c1_logits_rank(%logits: tensor<128x100xf32>, %targets: tensor<2x64xi64>) -> tensor<f32> {
  // expected-error @+1 {{[C1] logits must have rank 3, got 128x100}}
  %loss = gecko.cross_entropy %logits, %targets : tensor<128x100xf32>, tensor<2x64xi64>
  return %loss : tensor<f32>
}

// -----

func.func @cross_entropy_c2_targets_shape(%logits: tensor<2x64x100xf32>, %targets: tensor<2x32xi64>) -> tensor<f32> {
  // expected-error @+1 {{[C2] targets must have shape 2x64, got 2x32}}
  %loss = gecko.cross_entropy %logits, %targets : tensor<2x64x100xf32>, tensor<2x32xi64>
  return %loss : tensor<f32>
}

// -----

func.func @cross_entropy_grad_c1_logits_rank(%dloss: tensor<f32>, %logits: tensor<2x64x100x1xf32>, %targets: tensor<2x64xi64>) -> tensor<2x64x100x1xf32> {
  // expected-error @+1 {{[C1] logits must have rank 3, got 2x64x100x1}}
  %d = gecko.cross_entropy_grad %dloss, %logits, %targets : tensor<f32>, tensor<2x64x100x1xf32>, tensor<2x64xi64>
  return %d : tensor<2x64x100x1xf32>
}

// -----

func.func @cross_entropy_grad_c2_targets_shape(%dloss: tensor<f32>, %logits: tensor<2x64x100xf32>, %targets: tensor<128xi64>) -> tensor<2x64x100xf32> {
  // expected-error @+1 {{[C2] targets must have shape 2x64, got 128}}
  %d = gecko.cross_entropy_grad %dloss, %logits, %targets : tensor<f32>, tensor<2x64x100xf32>, tensor<128xi64>
  return %d : tensor<2x64x100xf32>
}

// -----

func.func @cross_entropy_grad_c3_dloss_rank(%dloss: tensor<1xf32>, %logits: tensor<2x64x100xf32>, %targets: tensor<2x64xi64>) -> tensor<2x64x100xf32> {
  // expected-error @+1 {{[C3] dloss must have rank 0, got 1}}
  %d = gecko.cross_entropy_grad %dloss, %logits, %targets : tensor<1xf32>, tensor<2x64x100xf32>, tensor<2x64xi64>
  return %d : tensor<2x64x100xf32>
}

// -----

func.func @cross_entropy_grad_c3_dloss_dtype(%dloss: tensor<f64>, %logits: tensor<2x64x100xbf16>, %targets: tensor<2x64xi64>) -> tensor<2x64x100xbf16> {
  // expected-error @+1 {{[C3] dloss must have element type 'f32', got 'f64'}}
  %d = gecko.cross_entropy_grad %dloss, %logits, %targets : tensor<f64>, tensor<2x64x100xbf16>, tensor<2x64xi64>
  return %d : tensor<2x64x100xbf16>
}

// -----

func.func @adamw_c1_shape(%p: tensor<16x8xf32>, %g: tensor<16x8xf32>, %m: tensor<16x8xf32>, %v: tensor<8x16xf32>,
                          %t: tensor<i64>, %lr: tensor<f32>) -> tensor<16x8xf32> {
  // expected-error @+1 {{[C1] v must have shape 16x8, got 8x16}}
  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr) betas(0.9, 0.98) eps(1.0e-08) weight_decay(0.1)
      : tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>, tensor<i64>, tensor<f32>
  return %p2 : tensor<16x8xf32>
}

// -----

func.func @adamw_c2_dtype(%p: tensor<16xf32>, %g: tensor<16xbf16>, %m: tensor<16xf32>, %v: tensor<16xf32>,
                          %t: tensor<i64>, %lr: tensor<f32>) -> tensor<16xf32> {
  // expected-error @+1 {{[C2] grad must have element type 'f32', got 'bf16'}}
  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr) betas(0.9, 0.98) eps(1.0e-08) weight_decay(0.1)
      : tensor<16xf32>, tensor<16xbf16>, tensor<16xf32>, tensor<16xf32>, tensor<i64>, tensor<f32>
  return %p2 : tensor<16xf32>
}

// -----

func.func @adamw_c3_step_rank(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>,
                              %t: tensor<1xi64>, %lr: tensor<f32>) -> tensor<16xf32> {
  // expected-error @+1 {{[C3] step must have rank 0, got 1}}
  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr) betas(0.9, 0.98) eps(1.0e-08) weight_decay(0.1)
      : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<1xi64>, tensor<f32>
  return %p2 : tensor<16xf32>
}

// -----

func.func @adamw_c4_lr_rank(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>,
                            %t: tensor<i64>, %lr: tensor<16xf32>) -> tensor<16xf32> {
  // expected-error @+1 {{[C4] lr must have rank 0, got 16}}
  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr) betas(0.9, 0.98) eps(1.0e-08) weight_decay(0.1)
      : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<i64>, tensor<16xf32>
  return %p2 : tensor<16xf32>
}

// -----

func.func @adamw_c4_lr_dtype(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>,
                             %t: tensor<i64>, %lr: tensor<f64>) -> tensor<16xf32> {
  // expected-error @+1 {{[C4] lr must have element type 'f32', got 'f64'}}
  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr) betas(0.9, 0.98) eps(1.0e-08) weight_decay(0.1)
      : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<i64>, tensor<f64>
  return %p2 : tensor<16xf32>
}

// -----

func.func @adamw_c5_grad_scale_rank(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>,
                                    %t: tensor<i64>, %lr: tensor<f32>, %s: tensor<16xf32>) -> tensor<16xf32> {
  // expected-error @+1 {{[C5] grad_scale must have rank 0, got 16}}
  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr) grad_scale(%s) betas(0.9, 0.98) eps(1.0e-08) weight_decay(0.1)
      : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<i64>, tensor<f32>, tensor<16xf32>
  return %p2 : tensor<16xf32>
}

// -----

func.func @adamw_c6_beta1(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>,
                          %t: tensor<i64>, %lr: tensor<f32>) -> tensor<16xf32> {
  // expected-error @+1 {{[C6] beta1 must be in [0, 1), got 1}}
  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr) betas(1.0, 0.98) eps(1.0e-08) weight_decay(0.1)
      : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<i64>, tensor<f32>
  return %p2 : tensor<16xf32>
}

// -----

func.func @adamw_c6_beta2(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>,
                          %t: tensor<i64>, %lr: tensor<f32>) -> tensor<16xf32> {
  // expected-error @+1 {{[C6] beta2 must be in [0, 1), got -5.000000e-01}}
  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr) betas(0.9, -0.5) eps(1.0e-08) weight_decay(0.1)
      : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<i64>, tensor<f32>
  return %p2 : tensor<16xf32>
}

// -----

func.func @adamw_c7_eps(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>,
                        %t: tensor<i64>, %lr: tensor<f32>) -> tensor<16xf32> {
  // expected-error @+1 {{[C7] eps must be positive and finite, got 0}}
  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr) betas(0.9, 0.98) eps(0.0) weight_decay(0.1)
      : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<i64>, tensor<f32>
  return %p2 : tensor<16xf32>
}

// -----

func.func @adamw_c8_weight_decay(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %v: tensor<16xf32>,
                                 %t: tensor<i64>, %lr: tensor<f32>) -> tensor<16xf32> {
  // expected-error @+1 {{[C8] weight_decay must be non-negative and finite, got -1.000000e-01}}
  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr) betas(0.9, 0.98) eps(1.0e-08) weight_decay(-0.1)
      : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<i64>, tensor<f32>
  return %p2 : tensor<16xf32>
}
