//===- GeckoNormOps.td - Normalisation ops -----------------*- tablegen -*-===//
//
// Group RMS norm, group layer norm, the timestep decay norm (Gecko) and the
// plain timestep norm (Megalodon), each with its backward op.
// docs/dialect.md#norm-family gives semantics and constraints.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKONORMOPS_TD
#define GECKO_DIALECT_GECKO_IR_GECKONORMOPS_TD

include "gecko/Dialect/Gecko/IR/GeckoBase.td"

//===----------------------------------------------------------------------===//
// rms_norm
//===----------------------------------------------------------------------===//

def Gecko_RmsNormOp : Gecko_DifferentiableOp<"rms_norm"> {
  let summary = "Group RMS normalisation over the last dimension";
  let description = [{
    Splits the last dimension F of `x` into `num_groups` groups of F/K
    consecutive channels and scales each group by the reciprocal of its root
    mean square (spec section 3.4):

      r_g = ((1/F_K) sum_{i in g} x_i^2 + eps)^(-1/2),  y_i = x_i r_g s_i

    with s_i = 1 + weight_i when `weight` is given (the "+1" convention) and
    s_i = 1 otherwise. Statistics accumulate in f32 (f64 for f64 inputs).

    ```mlir
    %y = gecko.rms_norm %x weight(%w) groups(1) eps(1.0e-05)
        : tensor<2x64x256xf32>, tensor<256xf32>
    %zn = gecko.rms_norm %z groups(2) eps(1.0e-05) : tensor<2x64x512xf32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$x,
                       Optional<Gecko_FloatTensor>:$weight,
                       I64Attr:$num_groups,
                       F64Attr:$eps);
  let results = (outs Gecko_FloatTensor:$y);
  let assemblyFormat = [{
    $x (`weight` `(` $weight^ `)`)? `groups` `(` $num_groups `)`
    `eps` `(` $eps `)` attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

def Gecko_RmsNormGradOp : Gecko_Op<"rms_norm_grad"> {
  let summary = "Backward of gecko.rms_norm";
  let description = [{
    Given the cotangent `dy` of `gecko.rms_norm`'s result and its inputs,
    returns dx and, when `weight` is present, dweight (spec section 3.4):

      dx_i = r s_i dy_i - x_i r^3 (1/F_K) sum_{j in g} dy_j s_j x_j
      dweight_i = sum over all leading positions of dy_i x_i r

    ```mlir
    %dx, %dw = gecko.rms_norm_grad %dy, %x weight(%w) groups(1) eps(1.0e-05)
        : tensor<2x64x256xf32>, tensor<2x64x256xf32>, tensor<256xf32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$dy,
                       Gecko_FloatTensor:$x,
                       Optional<Gecko_FloatTensor>:$weight,
                       I64Attr:$num_groups,
                       F64Attr:$eps);
  let results = (outs Gecko_FloatTensor:$dx,
                      Optional<Gecko_FloatTensor>:$dweight);
  let assemblyFormat = [{
    $dy `,` $x (`weight` `(` $weight^ `)`)? `groups` `(` $num_groups `)`
    `eps` `(` $eps `)` attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}


//===----------------------------------------------------------------------===//
// layer_norm
//===----------------------------------------------------------------------===//

def Gecko_LayerNormOp : Gecko_DifferentiableOp<"layer_norm",
    [AttrSizedOperandSegments]> {
  let summary = "Group layer normalisation over the last dimension";
  let description = [{
    Splits the last dimension F of `x` into `num_groups` groups of F/K
    consecutive channels, and standardises each group with its own mean and
    population variance, both computed in two passes (spec section 3.10):

      mu_g = (1/F_K) sum_{i in g} x_i
      var_g = (1/F_K) sum_{i in g} (x_i - mu_g)^2,  r_g = (var_g + eps)^(-1/2)
      y_i = (x_i - mu_g) r_g s_i + b_i

    with s_i = 1 + weight_i when `weight` is given (the "+1" convention) and
    1 otherwise, and b_i = bias_i when `bias` is given and 0 otherwise.
    Statistics accumulate in f32 (f64 for f64 inputs).

    ```mlir
    %n = gecko.layer_norm %x weight(%w) bias(%b) groups(1) eps(1.0e-05)
        : tensor<2x64x256xf32>, tensor<256xf32>, tensor<256xf32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$x,
                       Optional<Gecko_FloatTensor>:$weight,
                       Optional<Gecko_FloatTensor>:$bias,
                       I64Attr:$num_groups,
                       F64Attr:$eps);
  let results = (outs Gecko_FloatTensor:$y);
  let assemblyFormat = [{
    $x (`weight` `(` $weight^ `)`)? (`bias` `(` $bias^ `)`)?
    `groups` `(` $num_groups `)` `eps` `(` $eps `)` attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

def Gecko_LayerNormGradOp : Gecko_Op<"layer_norm_grad"> {
  let summary = "Backward of gecko.layer_norm";
  let description = [{
    Given the cotangent `dy` of `gecko.layer_norm`'s result, its input `x` and
    its optional `weight`, returns dx followed by the parameter cotangents
    `dparams`: dweight when `weight` is given, then dbias when `with_bias` is
    set (the forward had a bias; its value does not enter the backward).
    With xhat_i = (x_i - mu_g) r_g and s_i = 1 + weight_i (or 1), per group
    (spec section 3.10):

      dx_i = r_g [ s_i dy_i - mean_g(s dy) - xhat_i mean_g(s dy xhat) ]
      dweight_i = sum over all leading positions of dy_i xhat_i
      dbias_i = sum over all leading positions of dy_i

    ```mlir
    %dx, %dw, %db = gecko.layer_norm_grad %dy, %x weight(%w) with_bias
        groups(1) eps(1.0e-05)
        : tensor<2x64x256xf32>, tensor<2x64x256xf32>, tensor<256xf32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$dy,
                       Gecko_FloatTensor:$x,
                       Optional<Gecko_FloatTensor>:$weight,
                       UnitAttr:$with_bias,
                       I64Attr:$num_groups,
                       F64Attr:$eps);
  let results = (outs Gecko_FloatTensor:$dx,
                      Variadic<Gecko_FloatTensor>:$dparams);
  let assemblyFormat = [{
    $dy `,` $x (`weight` `(` $weight^ `)`)? (`with_bias` $with_bias^)?
    `groups` `(` $num_groups `)` `eps` `(` $eps `)` attr-dict `:` type(operands)
  }];
  let extraClassDeclaration = [{
    /// The cotangent of the forward's weight, or null without a weight.
    ::mlir::Value getDweight() {
      return getWeight() ? getDparams().front() : ::mlir::Value();
    }
    /// The cotangent of the forward's bias, or null without `with_bias`.
    ::mlir::Value getDbias() {
      return getWithBias() ? getDparams().back() : ::mlir::Value();
    }
  }];
  let hasVerifier = 1;
}


//===----------------------------------------------------------------------===//
// timestep_decay_norm
//===----------------------------------------------------------------------===//

def Gecko_TimestepDecayNormOp : Gecko_DifferentiableOp<"timestep_decay_norm",
    [AttrSizedOperandSegments]> {
  let summary = "Gecko's timestep decay norm (TDN) with streaming state";
  let description = [{
    Normalises every token of `x` (B x L x D, G = `num_groups` groups of
    D/G channels) with bias-corrected exponential moving averages, over
    time, of the per-token group means and within-group variances (spec
    sections 3.2 and 5). Per batch row b and group g, with the state
    (n, M, V) starting at the incoming `state(count, mean, var)` or at
    (0, 0, 0) without one:

      mu_t = mean_{i in g} x_{t,i};  s2_t = mean_{i in g} (x_{t,i} - mu_t)^2
      bos_t:  n = 1;   M = (1-beta1) mu_t;          V = (1-beta2) s2_t
      else:   n = n+1; M = beta1 M + (1-beta1) mu_t; V = beta2 V + (1-beta2) s2_t
      mhat_t = M / (1 - beta1^n);  r_t = (V / (1 - beta2^n) + eps)^(-1/2)
      y_{t,i} = (x_{t,i} - mhat_t) r_t (1 + weight_i) + bias_i

    The results are y and the state after the last token, (n, M, V), always
    (M and V raw, without bias correction, in x's element type). A `bos`
    token discards the state accumulated before it.

    ```mlir
    %y, %n, %m, %v = gecko.timestep_decay_norm %x weight(%w) bias(%b)
        bos(%bos) state(%n0, %m0, %v0) groups(4) betas(0.999, 0.9999)
        eps(1.0e-05)
        : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>,
          tensor<2x16xi1>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$x,
                       Gecko_FloatTensor:$weight,
                       Gecko_FloatTensor:$bias,
                       Optional<Gecko_BoolTensor>:$bos,
                       Optional<Gecko_I64Tensor>:$count,
                       Optional<Gecko_FloatTensor>:$mean,
                       Optional<Gecko_FloatTensor>:$var,
                       I64Attr:$num_groups,
                       F64Attr:$beta1,
                       F64Attr:$beta2,
                       F64Attr:$eps);
  let results = (outs Gecko_FloatTensor:$y,
                      Gecko_I64Tensor:$count_out,
                      Gecko_FloatTensor:$mean_out,
                      Gecko_FloatTensor:$var_out);
  let assemblyFormat = [{
    $x `weight` `(` $weight `)` `bias` `(` $bias `)`
    (`bos` `(` $bos^ `)`)? (`state` `(` $count^ `,` $mean `,` $var `)`)?
    `groups` `(` $num_groups `)` `betas` `(` $beta1 `,` $beta2 `)`
    `eps` `(` $eps `)` attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

def Gecko_TimestepDecayNormGradOp : Gecko_Op<"timestep_decay_norm_grad",
    [AttrSizedOperandSegments, SameVariadicResultSize]> {
  let summary = "Backward of gecko.timestep_decay_norm";
  let description = [{
    Given the cotangent `dy` of y and, optionally, `dstate(dmean_out,
    dvar_out)` of the outgoing (M, V) (absent = zero), together with the
    forward's `x`, `weight`, `bos` and incoming state, returns dx, dweight,
    dbias and, when a state was given, dmean_in and dvar_in (spec section
    3.2, Backward). The forward statistics (n_t, mhat_t, r_t) are
    recomputed. Per (b, g), with gamma = 1 + weight:

      ds_t = sum_{i in g} dy_{t,i} gamma_i (x_{t,i} - mhat_t)
      dc_t = sum_{i in g} dy_{t,i} gamma_i
      (gM, gV) = (dmean_out, dvar_out)
      for t = L-1 .. 0:
        hM = gM - r_t dc_t / (1 - beta1^n_t)
        hV = gV - r_t^3 ds_t / (2 (1 - beta2^n_t))
        dmu_t = (1-beta1) hM;  ds2_t = (1-beta2) hV
        (gM, gV) = bos_t ? (0, 0) : (beta1 hM, beta2 hV)
      dmean_in = gM;  dvar_in = gV
      dx_{t,i} = dy_{t,i} r_t gamma_i + (dmu_t + 2 ds2_t (x_{t,i} - mu_t)) / D_g
      dweight_i = sum_{b,t} dy_{t,i} (x_{t,i} - mhat_t) r_t
      dbias_i = sum_{b,t} dy_{t,i}

    ```mlir
    %dx, %dw, %db, %dm0, %dv0 = gecko.timestep_decay_norm_grad %dy, %x
        weight(%w) bos(%bos) state(%n0, %m0, %v0) dstate(%dm, %dv)
        groups(4) betas(0.999, 0.9999) eps(1.0e-05)
        : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>,
          tensor<2x16xi1>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>,
          tensor<2x4xf32>, tensor<2x4xf32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$dy,
                       Gecko_FloatTensor:$x,
                       Gecko_FloatTensor:$weight,
                       Optional<Gecko_BoolTensor>:$bos,
                       Optional<Gecko_I64Tensor>:$count,
                       Optional<Gecko_FloatTensor>:$mean,
                       Optional<Gecko_FloatTensor>:$var,
                       Optional<Gecko_FloatTensor>:$dmean_out,
                       Optional<Gecko_FloatTensor>:$dvar_out,
                       I64Attr:$num_groups,
                       F64Attr:$beta1,
                       F64Attr:$beta2,
                       F64Attr:$eps);
  let results = (outs Gecko_FloatTensor:$dx,
                      Gecko_FloatTensor:$dweight,
                      Gecko_FloatTensor:$dbias,
                      Optional<Gecko_FloatTensor>:$dmean_in,
                      Optional<Gecko_FloatTensor>:$dvar_in);
  let assemblyFormat = [{
    $dy `,` $x `weight` `(` $weight `)` (`bos` `(` $bos^ `)`)?
    (`state` `(` $count^ `,` $mean `,` $var `)`)?
    (`dstate` `(` $dmean_out^ `,` $dvar_out `)`)?
    `groups` `(` $num_groups `)` `betas` `(` $beta1 `,` $beta2 `)`
    `eps` `(` $eps `)` attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// timestep_norm
//===----------------------------------------------------------------------===//

def Gecko_TimestepNormOp : Gecko_DifferentiableOp<"timestep_norm",
    [AttrSizedOperandSegments]> {
  let summary = "Megalodon's cumulative timestep norm with streaming state";
  let description = [{
    Normalises every token of `x` (B x L x D, G = `num_groups` groups of
    D/G channels) with the pooled mean and population variance of its group
    over all tokens seen so far in the stream, each token weighing the same
    (spec section 9, "sequence norm"; Megalodon's TimestepNorm). Per batch
    row b and group g, with (n, m, v) starting at the incoming
    `state(count, mean, var)` or at (0, 0, 1) without one, a Chan merge of
    the token's (1, mu_t, s2_t):

      mu_t = mean_{i in g} x_{t,i};  s2_t = mean_{i in g} (x_{t,i} - mu_t)^2
      n = n + 1;  c = 1/n;  d = mu_t - m
      m = m + c d;  v = (1-c) v + c s2_t + c (1-c) d^2
      y_{t,i} = (x_{t,i} - m) (v + eps)^(-1/2) (1 + weight_i) + bias_i

    There is no decay, no bias correction and no reset at document
    boundaries. The results are y and the state after the last token.

    ```mlir
    %y, %n, %m, %v = gecko.timestep_norm %x weight(%w) bias(%b)
        state(%n0, %m0, %v0) groups(4) eps(1.0e-05)
        : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>,
          tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$x,
                       Gecko_FloatTensor:$weight,
                       Gecko_FloatTensor:$bias,
                       Optional<Gecko_I64Tensor>:$count,
                       Optional<Gecko_FloatTensor>:$mean,
                       Optional<Gecko_FloatTensor>:$var,
                       I64Attr:$num_groups,
                       F64Attr:$eps);
  let results = (outs Gecko_FloatTensor:$y,
                      Gecko_I64Tensor:$count_out,
                      Gecko_FloatTensor:$mean_out,
                      Gecko_FloatTensor:$var_out);
  let assemblyFormat = [{
    $x `weight` `(` $weight `)` `bias` `(` $bias `)`
    (`state` `(` $count^ `,` $mean `,` $var `)`)?
    `groups` `(` $num_groups `)` `eps` `(` $eps `)` attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

def Gecko_TimestepNormGradOp : Gecko_Op<"timestep_norm_grad",
    [AttrSizedOperandSegments, SameVariadicResultSize]> {
  let summary = "Backward of gecko.timestep_norm";
  let description = [{
    Given the cotangent `dy` of y and, optionally, `dstate(dmean_out,
    dvar_out)` of the outgoing (m, v) (absent = zero), together with the
    forward's `x`, `weight` and incoming state, returns dx, dweight, dbias
    and, when a state was given, dmean_in and dvar_in (derived; it agrees
    with Megalodon's kernel). The running statistics (n_t, m_t, v_t) and
    r_t = (v_t + eps)^(-1/2) are recomputed. Per (b, g), with
    gamma = 1 + weight and c_t = 1/n_t:

      ds_t = sum_{i in g} dy_{t,i} gamma_i (x_{t,i} - m_t)
      dc_t = sum_{i in g} dy_{t,i} gamma_i
      (gm, gv) = (dmean_out, dvar_out)
      for t = L-1 .. 0:
        hm = gm - r_t dc_t;  hv = gv - r_t^3 ds_t / 2
        e_t = 2 c_t (1 - c_t) (mu_t - m_{t-1}) hv
        dmu_t = c_t hm + e_t;  ds2_t = c_t hv
        gm = (1 - c_t) hm - e_t;  gv = (1 - c_t) hv
      dmean_in = gm;  dvar_in = gv
      dx_{t,i} = dy_{t,i} r_t gamma_i + (dmu_t + 2 ds2_t (x_{t,i} - mu_t)) / D_g
      dweight_i = sum_{b,t} dy_{t,i} (x_{t,i} - m_t) r_t
      dbias_i = sum_{b,t} dy_{t,i}

    ```mlir
    %dx, %dw, %db, %dm0, %dv0 = gecko.timestep_norm_grad %dy, %x weight(%w)
        state(%n0, %m0, %v0) dstate(%dm, %dv) groups(4) eps(1.0e-05)
        : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>,
          tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>,
          tensor<2x4xf32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$dy,
                       Gecko_FloatTensor:$x,
                       Gecko_FloatTensor:$weight,
                       Optional<Gecko_I64Tensor>:$count,
                       Optional<Gecko_FloatTensor>:$mean,
                       Optional<Gecko_FloatTensor>:$var,
                       Optional<Gecko_FloatTensor>:$dmean_out,
                       Optional<Gecko_FloatTensor>:$dvar_out,
                       I64Attr:$num_groups,
                       F64Attr:$eps);
  let results = (outs Gecko_FloatTensor:$dx,
                      Gecko_FloatTensor:$dweight,
                      Gecko_FloatTensor:$dbias,
                      Optional<Gecko_FloatTensor>:$dmean_in,
                      Optional<Gecko_FloatTensor>:$dvar_in);
  let assemblyFormat = [{
    $dy `,` $x `weight` `(` $weight `)`
    (`state` `(` $count^ `,` $mean `,` $var `)`)?
    (`dstate` `(` $dmean_out^ `,` $dvar_out `)`)?
    `groups` `(` $num_groups `)` `eps` `(` $eps `)` attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

#endif // GECKO_DIALECT_GECKO_IR_GECKONORMOPS_TD
