// One Gecko block (spec section 2) written in the gecko dialect, at the
// dimensions of models/tiny.json: B=2, L=64, D=256, S=512, E=128, H=2
// (d_k=256, d_v=64), N=4, C=16, G=4, F=128, with document boundaries.
// Parameters are arguments named like the reference's state_dict entries.
//
//   gecko-compile examples/gecko_block.mlir --emit=mlir
//   gecko-opt examples/gecko_block.mlir --test-gecko-vjp   (every backward op)

func.func @gecko_block(
    %x: tensor<2x64x256xf32>, %bos: tensor<2x64xi1>, %segments: tensor<2x64xi64>,
    %tn_w: tensor<256xf32> {gecko.param = "layers.0.mega.timenorm.weight"},
    %tn_b: tensor<256xf32> {gecko.param = "layers.0.mega.timenorm.bias"},
    %alpha: tensor<256x4xf32> {gecko.param = "layers.0.mega.cema.alpha"},
    %delta: tensor<256x4xf32> {gecko.param = "layers.0.mega.cema.delta"},
    %theta: tensor<256x1xf32> {gecko.param = "layers.0.mega.cema.theta"},
    %gamma: tensor<256x4x2xf32> {gecko.param = "layers.0.mega.cema.gamma"},
    %rms_w: tensor<256xf32> {gecko.param = "layers.0.mega.rmsnorm.weight"},
    %wz: tensor<512x256xf32> {gecko.param = "layers.0.mega.wz.weight"},
    %bz: tensor<512xf32> {gecko.param = "layers.0.mega.wz.bias"},
    %qk_g: tensor<4x512xf32> {gecko.param = "layers.0.mega.gamma"},
    %qk_b: tensor<4x512xf32> {gecko.param = "layers.0.mega.beta"},
    %wv: tensor<128x256xf32> {gecko.param = "layers.0.mega.wv.weight"},
    %bv: tensor<128xf32> {gecko.param = "layers.0.mega.wv.bias"},
    %wr: tensor<128x256xf32> {gecko.param = "layers.0.mega.wr.weight"},
    %br: tensor<128xf32> {gecko.param = "layers.0.mega.wr.bias"},
    %wh1: tensor<256x256xf32> {gecko.param = "layers.0.mega.wh1.weight"},
    %bh1: tensor<256xf32> {gecko.param = "layers.0.mega.wh1.bias"},
    %wh2: tensor<256x128xf32> {gecko.param = "layers.0.mega.wh2.weight"},
    %ln_w: tensor<256xf32> {gecko.param = "layers.0.nffn.norm.weight"},
    %ln_b: tensor<256xf32> {gecko.param = "layers.0.nffn.norm.bias"},
    %fc1: tensor<128x256xf32> {gecko.param = "layers.0.nffn.fc1.weight"},
    %fc3: tensor<128x256xf32> {gecko.param = "layers.0.nffn.fc3.weight"},
    %fc2: tensor<256x128xf32> {gecko.param = "layers.0.nffn.fc2.weight"})
    -> tensor<2x64x256xf32> {
  // 1. Timestep decay norm, resetting at BOS (a fresh stream: no state in).
  %xn, %n, %mean, %var = gecko.timestep_decay_norm %x weight(%tn_w) bias(%tn_b)
      bos(%bos) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x64x256xf32>, tensor<256xf32>, tensor<256xf32>, tensor<2x64xi1>
  // 2. Complex EMA (includes the residual x̂).
  %p, %q, %g = gecko.ema_coeffs alpha(%alpha) delta(%delta) theta(%theta) gamma(%gamma)
      : tensor<256x4xf32>, tensor<256x4xf32>, tensor<256x1xf32>, tensor<256x4x2xf32>
  %e, %h = gecko.ema_scan %xn coeffs(%p, %q, %g) bos(%bos)
      : tensor<2x64x256xf32>, tensor<256x4xf32>, tensor<256x4x2xf32>,
        tensor<256x4x2xf32>, tensor<2x64xi1>
  // 3. mx = RMSNorm(e).
  %mx = gecko.rms_norm %e weight(%rms_w) groups(1) eps(1.0e-05)
      : tensor<2x64x256xf32>, tensor<256xf32>
  // 4-5. Shared z, per-head RMS norm, four affine views.
  %z = gecko.linear %mx, %wz bias(%bz)
      : tensor<2x64x256xf32>, tensor<512x256xf32>, tensor<512xf32>
  %zn = gecko.rms_norm %z groups(2) eps(1.0e-05) : tensor<2x64x512xf32>
  %qv, %kv, %aq, %ak = gecko.z_affine %zn, %qk_g, %qk_b head_dim(256)
      : tensor<2x64x512xf32>, tensor<4x512xf32>, tensor<4x512xf32>
  // 6-7. Value (from x̂) and gate (from mx).
  %pv = gecko.linear %xn, %wv bias(%bv)
      : tensor<2x64x256xf32>, tensor<128x256xf32>, tensor<128xf32>
  %v = gecko.silu %pv : tensor<2x64x128xf32>
  %pr = gecko.linear %mx, %wr bias(%br)
      : tensor<2x64x256xf32>, tensor<128x256xf32>, tensor<128xf32>
  %r = gecko.silu %pr : tensor<2x64x128xf32>
  // 8. Sliding chunk attention on rotated q, k.
  %qr = gecko.rope %qv heads(2) rope_heads(2) base(5.000000e+05) : tensor<2x64x512xf32>
  %kr = gecko.rope %kv heads(2) rope_heads(2) base(5.000000e+05) : tensor<2x64x512xf32>
  %os = gecko.chunk_attention %qr, %kr, %v segments(%segments) heads(2) chunk(16)
      : tensor<2x64x512xf32>, tensor<2x64x512xf32>, tensor<2x64x128xf32>, tensor<2x64xi64>
  // 9. Adaptive working memory (chunks at least two behind).
  %om, %mem, %lognorm, %doc = gecko.working_memory %aq, %ak, %v segments(%segments)
      heads(2) chunk(16)
      : tensor<2x64x512xf32>, tensor<2x64x512xf32>, tensor<2x64x128xf32>, tensor<2x64xi64>
  // 10-12. a = o_s * r + o_m ; h = mx Wh1 + bh1 + a Wh2 ; y = x + h.
  %gated = arith.mulf %os, %r : tensor<2x64x128xf32>
  %a = arith.addf %gated, %om : tensor<2x64x128xf32>
  %h1 = gecko.linear %mx, %wh1 bias(%bh1)
      : tensor<2x64x256xf32>, tensor<256x256xf32>, tensor<256xf32>
  %h2 = gecko.linear %a, %wh2 : tensor<2x64x128xf32>, tensor<256x128xf32>
  %hsum = arith.addf %h1, %h2 : tensor<2x64x256xf32>
  %y = arith.addf %x, %hsum : tensor<2x64x256xf32>
  // 13. Normalized SwiGLU FFN with residual y.
  %u = gecko.layer_norm %y weight(%ln_w) bias(%ln_b) groups(1) eps(1.0e-05)
      : tensor<2x64x256xf32>, tensor<256xf32>, tensor<256xf32>
  %f1 = gecko.linear %u, %fc1 : tensor<2x64x256xf32>, tensor<128x256xf32>
  %f3 = gecko.linear %u, %fc3 : tensor<2x64x256xf32>, tensor<128x256xf32>
  %hid = gecko.swiglu %f1, %f3 : tensor<2x64x128xf32>, tensor<2x64x128xf32>
  %f = gecko.linear %hid, %fc2 : tensor<2x64x128xf32>, tensor<256x128xf32>
  %out = arith.addf %f, %y : tensor<2x64x256xf32>
  return %out : tensor<2x64x256xf32>
}
