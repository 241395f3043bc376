// RUN: gecko-opt %s -split-input-file -verify-diagnostics

// One case per constraint of the EMA family (docs/dialect.md#ema-family).

func.func @ema_coeffs_c1_rank(%a: tensor<64xf32>, %d: tensor<64x16xf32>, %th: tensor<64xf32>, %g: tensor<64x16x2xf32>) {
  // expected-error @+1 {{[C1] alpha must have rank 2, got 64}}
  gecko.ema_coeffs alpha(%a) delta(%d) theta(%th) gamma(%g)
      : tensor<64xf32>, tensor<64x16xf32>, tensor<64xf32>, tensor<64x16x2xf32>
  return
}

// -----

func.func @ema_coeffs_c1_no_states(%a: tensor<64x0xf32>, %d: tensor<64x0xf32>, %th: tensor<64xf32>, %g: tensor<64x16x2xf32>) {
  // expected-error @+1 {{[C1] alpha must have at least one EMA state (N >= 1), got N = 0}}
  gecko.ema_coeffs alpha(%a) delta(%d) theta(%th) gamma(%g)
      : tensor<64x0xf32>, tensor<64x0xf32>, tensor<64xf32>, tensor<64x16x2xf32>
  return
}

// -----

func.func @ema_coeffs_c2_delta_shape(%a: tensor<64x16xf32>, %d: tensor<64x8xf32>, %th: tensor<64xf32>, %g: tensor<64x16x2xf32>) {
  // expected-error @+1 {{[C2] delta must have shape 64x16, got 64x8}}
  gecko.ema_coeffs alpha(%a) delta(%d) theta(%th) gamma(%g)
      : tensor<64x16xf32>, tensor<64x8xf32>, tensor<64xf32>, tensor<64x16x2xf32>
  return
}

// -----

func.func @ema_coeffs_c3_theta_shape(%a: tensor<64x16xf32>, %d: tensor<64x16xf32>, %th: tensor<64x2xf32>, %g: tensor<64x16x2xf32>) {
  // expected-error @+1 {{[C3] theta must have shape 64 or 64x1, got 64x2}}
  gecko.ema_coeffs alpha(%a) delta(%d) theta(%th) gamma(%g)
      : tensor<64x16xf32>, tensor<64x16xf32>, tensor<64x2xf32>, tensor<64x16x2xf32>
  return
}

// -----

func.func @ema_coeffs_c4_gamma_not_complex(%a: tensor<64x16xf32>, %d: tensor<64x16xf32>, %th: tensor<64xf32>, %g: tensor<64x16xf32>) {
  // expected-error @+1 {{[C4] gamma must have shape 64x16x2, got 64x16}}
  gecko.ema_coeffs alpha(%a) delta(%d) theta(%th) gamma(%g)
      : tensor<64x16xf32>, tensor<64x16xf32>, tensor<64xf32>, tensor<64x16xf32>
  return
}

// -----

func.func @ema_coeffs_c5_theta_dtype(%a: tensor<64x16xf32>, %d: tensor<64x16xf32>, %th: tensor<64xbf16>, %g: tensor<64x16x2xf32>) {
  // expected-error @+1 {{[C5] theta must have element type 'f32', got 'bf16'}}
  gecko.ema_coeffs alpha(%a) delta(%d) theta(%th) gamma(%g)
      : tensor<64x16xf32>, tensor<64x16xf32>, tensor<64xbf16>, tensor<64x16x2xf32>
  return
}

// -----

func.func @ema_coeffs_c5_gamma_dtype(%a: tensor<64x16xf32>, %d: tensor<64x16xf32>, %th: tensor<64xf32>, %g: tensor<64x16x2xf16>) {
  // expected-error @+1 {{[C5] gamma must have element type 'f32', got 'f16'}}
  gecko.ema_coeffs alpha(%a) delta(%d) theta(%th) gamma(%g)
      : tensor<64x16xf32>, tensor<64x16xf32>, tensor<64xf32>, tensor<64x16x2xf16>
  return
}

// -----

func.func @ema_coeffs_grad_c1_rank(%dp: tensor<64x16xf32>, %dq: tensor<64x16x2xf32>, %dg: tensor<64x16x2xf32>, %a: tensor<64xf32>, %d: tensor<64x16xf32>, %th: tensor<64xf32>) {
  // expected-error @+1 {{[C1] alpha must have rank 2, got 64}}
  gecko.ema_coeffs_grad dp(%dp) dq(%dq) dgamma(%dg) alpha(%a) delta(%d) theta(%th)
      : tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<64xf32>, tensor<64x16xf32>, tensor<64xf32>
  return
}

// -----

func.func @ema_coeffs_grad_c1_no_states(%dp: tensor<64x0xf32>, %dq: tensor<64x0x2xf32>, %dg: tensor<64x0x2xf32>, %a: tensor<64x0xf32>, %d: tensor<64x0xf32>, %th: tensor<64xf32>) {
  // expected-error @+1 {{[C1] alpha must have at least one EMA state (N >= 1), got N = 0}}
  gecko.ema_coeffs_grad dp(%dp) dq(%dq) dgamma(%dg) alpha(%a) delta(%d) theta(%th)
      : tensor<64x0xf32>, tensor<64x0x2xf32>, tensor<64x0x2xf32>, tensor<64x0xf32>, tensor<64x0xf32>, tensor<64xf32>
  return
}

// -----

func.func @ema_coeffs_grad_c2_delta_shape(%dp: tensor<64x16xf32>, %dq: tensor<64x16x2xf32>, %dg: tensor<64x16x2xf32>, %a: tensor<64x16xf32>, %d: tensor<64x8xf32>, %th: tensor<64xf32>) {
  // expected-error @+1 {{[C2] delta must have shape 64x16, got 64x8}}
  gecko.ema_coeffs_grad dp(%dp) dq(%dq) dgamma(%dg) alpha(%a) delta(%d) theta(%th)
      : tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<64x16xf32>, tensor<64x8xf32>, tensor<64xf32>
  return
}

// -----

func.func @ema_coeffs_grad_c3_theta_shape(%dp: tensor<64x16xf32>, %dq: tensor<64x16x2xf32>, %dg: tensor<64x16x2xf32>, %a: tensor<64x16xf32>, %d: tensor<64x16xf32>, %th: tensor<64x2xf32>) {
  // expected-error @+1 {{[C3] theta must have shape 64 or 64x1, got 64x2}}
  gecko.ema_coeffs_grad dp(%dp) dq(%dq) dgamma(%dg) alpha(%a) delta(%d) theta(%th)
      : tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<64x16xf32>, tensor<64x16xf32>, tensor<64x2xf32>
  return
}

// -----

func.func @ema_coeffs_grad_c5_theta_dtype(%dp: tensor<64x16xf32>, %dq: tensor<64x16x2xf32>, %dg: tensor<64x16x2xf32>, %a: tensor<64x16xf32>, %d: tensor<64x16xf32>, %th: tensor<64xbf16>) {
  // expected-error @+1 {{[C5] theta must have element type 'f32', got 'bf16'}}
  gecko.ema_coeffs_grad dp(%dp) dq(%dq) dgamma(%dg) alpha(%a) delta(%d) theta(%th)
      : tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<64x16xf32>, tensor<64x16xf32>, tensor<64xbf16>
  return
}

// -----

func.func @ema_coeffs_grad_c6_dp_dtype(%dp: tensor<64x16xf64>, %dq: tensor<64x16x2xf32>, %dg: tensor<64x16x2xf32>, %a: tensor<64x16xbf16>, %d: tensor<64x16xbf16>, %th: tensor<64xbf16>) {
  // expected-error @+1 {{[C6] dp must have element type 'f32', got 'f64'}}
  gecko.ema_coeffs_grad dp(%dp) dq(%dq) dgamma(%dg) alpha(%a) delta(%d) theta(%th)
      : tensor<64x16xf64>, tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<64x16xbf16>, tensor<64x16xbf16>, tensor<64xbf16>
  return
}

// -----

func.func @ema_coeffs_grad_c7_dq_shape(%dp: tensor<64x16xf32>, %dq: tensor<64x16xf32>, %dg: tensor<64x16x2xf32>, %a: tensor<64x16xf32>, %d: tensor<64x16xf32>, %th: tensor<64xf32>) {
  // expected-error @+1 {{[C7] dq must have shape 64x16x2, got 64x16}}
  gecko.ema_coeffs_grad dp(%dp) dq(%dq) dgamma(%dg) alpha(%a) delta(%d) theta(%th)
      : tensor<64x16xf32>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16xf32>, tensor<64x16xf32>, tensor<64xf32>
  return
}

// -----

func.func @ema_scan_c1_rank(%u: tensor<32x64xf32>, %p: tensor<64x16xf32>, %q: tensor<64x16x2xf32>, %g: tensor<64x16x2xf32>) {
  // expected-error @+1 {{[C1] u must have rank 3, got 32x64}}
  gecko.ema_scan %u coeffs(%p, %q, %g)
      : tensor<32x64xf32>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>
  return
}

// -----

func.func @ema_scan_c2_p_channels(%u: tensor<2x32x64xbf16>, %p: tensor<32x16xf32>, %q: tensor<64x16x2xf32>, %g: tensor<64x16x2xf32>) {
  // expected-error @+1 {{[C2] dimension 0 of p (32) must equal the channel dimension D of u (64)}}
  gecko.ema_scan %u coeffs(%p, %q, %g)
      : tensor<2x32x64xbf16>, tensor<32x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>
  return
}

// -----

func.func @ema_scan_c2_no_states(%u: tensor<2x32x64xbf16>, %p: tensor<64x0xf32>, %q: tensor<64x0x2xf32>, %g: tensor<64x0x2xf32>) {
  // expected-error @+1 {{[C2] p must have at least one EMA state (N >= 1), got N = 0}}
  gecko.ema_scan %u coeffs(%p, %q, %g)
      : tensor<2x32x64xbf16>, tensor<64x0xf32>, tensor<64x0x2xf32>, tensor<64x0x2xf32>
  return
}

// -----

func.func @ema_scan_c3_q_shape(%u: tensor<2x32x64xbf16>, %p: tensor<64x16xf32>, %q: tensor<64x8x2xf32>, %g: tensor<64x16x2xf32>) {
  // expected-error @+1 {{[C3] q must have shape 64x16x2, got 64x8x2}}
  gecko.ema_scan %u coeffs(%p, %q, %g)
      : tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x8x2xf32>, tensor<64x16x2xf32>
  return
}

// -----

func.func @ema_scan_c4_gamma_dtype(%u: tensor<2x32x64xbf16>, %p: tensor<64x16xf32>, %q: tensor<64x16x2xf32>, %g: tensor<64x16x2xf64>) {
  // expected-error @+1 {{[C4] gamma must have element type 'f32', got 'f64'}}
  gecko.ema_scan %u coeffs(%p, %q, %g)
      : tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf64>
  return
}

// -----

func.func @ema_scan_c5_bos_shape(%u: tensor<2x32x64xbf16>, %p: tensor<64x16xf32>, %q: tensor<64x16x2xf32>, %g: tensor<64x16x2xf32>, %bos: tensor<2x31xi1>) {
  // expected-error @+1 {{[C5] bos must have shape 2x32, got 2x31}}
  gecko.ema_scan %u coeffs(%p, %q, %g) bos(%bos)
      : tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<2x31xi1>
  return
}

// -----

func.func @ema_scan_c6_h0_shape(%u: tensor<2x32x64xbf16>, %p: tensor<64x16xf32>, %q: tensor<64x16x2xf32>, %g: tensor<64x16x2xf32>, %h0: tensor<2x64x16xf32>) {
  // expected-error @+1 {{[C6] h0 must have shape 2x64x16x2, got 2x64x16}}
  gecko.ema_scan %u coeffs(%p, %q, %g) state(%h0)
      : tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<2x64x16xf32>
  return
}

// -----

func.func @ema_scan_grad_c1_rank(%dy: tensor<32x64xf32>, %u: tensor<32x64xf32>, %p: tensor<64x16xf32>, %q: tensor<64x16x2xf32>, %g: tensor<64x16x2xf32>) {
  // expected-error @+1 {{[C1] u must have rank 3, got 32x64}}
  gecko.ema_scan_grad %dy, %u coeffs(%p, %q, %g)
      : tensor<32x64xf32>, tensor<32x64xf32>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>
  return
}

// -----

func.func @ema_scan_grad_c2_p_channels(%dy: tensor<2x32x64xbf16>, %u: tensor<2x32x64xbf16>, %p: tensor<32x16xf32>, %q: tensor<64x16x2xf32>, %g: tensor<64x16x2xf32>) {
  // expected-error @+1 {{[C2] dimension 0 of p (32) must equal the channel dimension D of u (64)}}
  gecko.ema_scan_grad %dy, %u coeffs(%p, %q, %g)
      : tensor<2x32x64xbf16>, tensor<2x32x64xbf16>, tensor<32x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>
  return
}

// -----

func.func @ema_scan_grad_c2_no_states(%dy: tensor<2x32x64xbf16>, %u: tensor<2x32x64xbf16>, %p: tensor<64x0xf32>, %q: tensor<64x0x2xf32>, %g: tensor<64x0x2xf32>) {
  // expected-error @+1 {{[C2] p must have at least one EMA state (N >= 1), got N = 0}}
  gecko.ema_scan_grad %dy, %u coeffs(%p, %q, %g)
      : tensor<2x32x64xbf16>, tensor<2x32x64xbf16>, tensor<64x0xf32>, tensor<64x0x2xf32>, tensor<64x0x2xf32>
  return
}

// -----

func.func @ema_scan_grad_c3_q_shape(%dy: tensor<2x32x64xbf16>, %u: tensor<2x32x64xbf16>, %p: tensor<64x16xf32>, %q: tensor<64x8x2xf32>, %g: tensor<64x16x2xf32>) {
  // expected-error @+1 {{[C3] q must have shape 64x16x2, got 64x8x2}}
  gecko.ema_scan_grad %dy, %u coeffs(%p, %q, %g)
      : tensor<2x32x64xbf16>, tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x8x2xf32>, tensor<64x16x2xf32>
  return
}

// -----

func.func @ema_scan_grad_c4_gamma_dtype(%dy: tensor<2x32x64xbf16>, %u: tensor<2x32x64xbf16>, %p: tensor<64x16xf32>, %q: tensor<64x16x2xf32>, %g: tensor<64x16x2xf64>) {
  // expected-error @+1 {{[C4] gamma must have element type 'f32', got 'f64'}}
  gecko.ema_scan_grad %dy, %u coeffs(%p, %q, %g)
      : tensor<2x32x64xbf16>, tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf64>
  return
}

// -----

func.func @ema_scan_grad_c5_bos_shape(%dy: tensor<2x32x64xbf16>, %u: tensor<2x32x64xbf16>, %p: tensor<64x16xf32>, %q: tensor<64x16x2xf32>, %g: tensor<64x16x2xf32>, %bos: tensor<2x31xi1>) {
  // expected-error @+1 {{[C5] bos must have shape 2x32, got 2x31}}
  gecko.ema_scan_grad %dy, %u coeffs(%p, %q, %g) bos(%bos)
      : tensor<2x32x64xbf16>, tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<2x31xi1>
  return
}

// -----

func.func @ema_scan_grad_c6_h0_shape(%dy: tensor<2x32x64xbf16>, %u: tensor<2x32x64xbf16>, %p: tensor<64x16xf32>, %q: tensor<64x16x2xf32>, %g: tensor<64x16x2xf32>, %h0: tensor<2x64x16xf32>) {
  // expected-error @+1 {{[C6] h0 must have shape 2x64x16x2, got 2x64x16}}
  gecko.ema_scan_grad %dy, %u coeffs(%p, %q, %g) state(%h0)
      : tensor<2x32x64xbf16>, tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<2x64x16xf32>
  return
}

// -----

func.func @ema_scan_grad_c7_dy_dtype(%dy: tensor<2x32x64xf32>, %u: tensor<2x32x64xbf16>, %p: tensor<64x16xf32>, %q: tensor<64x16x2xf32>, %g: tensor<64x16x2xf32>) {
  // expected-error @+1 {{[C7] dy must have element type 'bf16', got 'f32'}}
  gecko.ema_scan_grad %dy, %u coeffs(%p, %q, %g)
      : tensor<2x32x64xf32>, tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>
  return
}

// -----

func.func @ema_scan_grad_c8_dh_out_dtype(%dy: tensor<2x32x64xbf16>, %u: tensor<2x32x64xbf16>, %p: tensor<64x16xf32>, %q: tensor<64x16x2xf32>, %g: tensor<64x16x2xf32>, %dh: tensor<2x64x16x2xf64>) {
  // expected-error @+1 {{[C8] dh_out must have element type 'f32', got 'f64'}}
  gecko.ema_scan_grad %dy, %u coeffs(%p, %q, %g) dstate(%dh)
      : tensor<2x32x64xbf16>, tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<2x64x16x2xf64>
  return
}
