//===- GeckoEmaOps.td - Multi-head complex EMA ops ---------*- tablegen -*-===//
//
// The coefficients of the multi-head complex EMA (CEMA) and its scan along
// the sequence, each with its backward op. docs/dialect.md#ema-family gives
// semantics and constraints.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKOEMAOPS_TD
#define GECKO_DIALECT_GECKO_IR_GECKOEMAOPS_TD

include "gecko/Dialect/Gecko/IR/GeckoBase.td"

//===----------------------------------------------------------------------===//
// ema_coeffs
//===----------------------------------------------------------------------===//

def Gecko_EmaCoeffsOp : Gecko_DifferentiableOp<"ema_coeffs"> {
  let summary = "Complex EMA coefficients from the raw parameters";
  let description = [{
    Maps the raw CEMA parameters to the coefficients of the recurrence
    h_t = q h_{t-1} + p u_t (spec section 3.3, "Coefficients"). For channel
    d and state n = 1..N (stored at index n-1), with sigma the logistic
    function:

      p_{d,n} = sigma(alpha_{d,n})
      q_{d,n} = (1 - sigma(alpha_{d,n}) sigma(delta_{d,n})) e^{i phi_{d,n}},
      phi_{d,n} = n sigma(theta_d) 2 pi / N
      gamma_c_{d,n} = gamma_{d,n,0} + i gamma_{d,n,1}

    Complex values are a trailing dimension of size 2 (re, im). The results
    are f32 (f64 when the parameters are f64), whatever the parameters'
    type. `theta` is D or D x 1. When `gamma` already has the coefficient
    type, canonicalization replaces uses of `gamma_c` by `gamma`.

    ```mlir
    %p, %q, %g = gecko.ema_coeffs alpha(%a) delta(%dl) theta(%th) gamma(%gm)
        : tensor<64x16xf32>, tensor<64x16xf32>, tensor<64xf32>,
          tensor<64x16x2xf32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$alpha,
                       Gecko_FloatTensor:$delta,
                       Gecko_FloatTensor:$theta,
                       Gecko_FloatTensor:$gamma);
  let results = (outs Gecko_WideFloatTensor:$p,
                      Gecko_WideFloatTensor:$q,
                      Gecko_WideFloatTensor:$gamma_c);
  let assemblyFormat = [{
    `alpha` `(` $alpha `)` `delta` `(` $delta `)` `theta` `(` $theta `)`
    `gamma` `(` $gamma `)` attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
  // gamma_c is gamma when gamma already has the coefficient type.
  let hasCanonicalizer = 1;
}

def Gecko_EmaCoeffsGradOp : Gecko_Op<"ema_coeffs_grad"> {
  let summary = "Backward of gecko.ema_coeffs";
  let description = [{
    Given the cotangents `dp`, `dq`, `dgamma` of `gecko.ema_coeffs`'s results
    and its `alpha`, `delta`, `theta`, returns dalpha, ddelta, dtheta and
    dgamma_raw in the parameters' types (spec section 3.3, chain rule). With
    a = sigma(alpha), e = sigma(delta), s = sigma(theta), rho = 1 - a e and
    phi as in the forward:

      drho = Re(dq) cos phi + Im(dq) sin phi
      dphi = rho (Im(dq) cos phi - Re(dq) sin phi)
      dalpha = a (1 - a) (dp - e drho);  ddelta = -e (1 - e) a drho
      dtheta_d = s_d (1 - s_d) (2 pi / N) sum_n n dphi_{d,n}
      dgamma_raw = dgamma

    ```mlir
    %da, %dd, %dt, %dg = gecko.ema_coeffs_grad dp(%dp) dq(%dq) dgamma(%dgc)
        alpha(%a) delta(%dl) theta(%th)
        : tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>,
          tensor<64x16xf32>, tensor<64x16xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins Gecko_WideFloatTensor:$dp,
                       Gecko_WideFloatTensor:$dq,
                       Gecko_WideFloatTensor:$dgamma,
                       Gecko_FloatTensor:$alpha,
                       Gecko_FloatTensor:$delta,
                       Gecko_FloatTensor:$theta);
  let results = (outs Gecko_FloatTensor:$dalpha,
                      Gecko_FloatTensor:$ddelta,
                      Gecko_FloatTensor:$dtheta,
                      Gecko_FloatTensor:$dgamma_raw);
  let assemblyFormat = [{
    `dp` `(` $dp `)` `dq` `(` $dq `)` `dgamma` `(` $dgamma `)`
    `alpha` `(` $alpha `)` `delta` `(` $delta `)` `theta` `(` $theta `)`
    attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// ema_scan
//===----------------------------------------------------------------------===//

def Gecko_EmaScanOp : Gecko_DifferentiableOp<"ema_scan",
    [AttrSizedOperandSegments]> {
  let summary = "Multi-head complex EMA along the sequence, with residual";
  let description = [{
    Runs the complex EMA of every channel of `u` (B x L x D) with N complex
    states per channel (spec section 3.3, forward). With the coefficients
    p (D x N, real), q and gamma (D x N x 2, complex) of `gecko.ema_coeffs`,
    per (b, d, n), starting from the incoming `state(h0)` (B x D x N x 2) or
    from 0:

      h_t = [not bos_t] q h_{t-1} + p u_t
      y_t = sum_n Re(gamma_n h_{t,n}) + u_t

    The scan runs in the coefficients' type (f32, or f64); the EMA term is
    rounded to u's type before the residual u_t is added. The results are
    y (B x L x D, u's type) and the state after the last token, h_out
    (B x D x N x 2). This is the EMA in B x L x D layout; the reference runs
    it on the B x D x L transpose. The reference CUDA scan also requires
    N <= 16, a kernel limit the op does not impose.

    ```mlir
    %y, %h = gecko.ema_scan %u coeffs(%p, %q, %g) bos(%bos) state(%h0)
        : tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x16x2xf32>,
          tensor<64x16x2xf32>, tensor<2x32xi1>, tensor<2x64x16x2xf32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$u,
                       Gecko_WideFloatTensor:$p,
                       Gecko_WideFloatTensor:$q,
                       Gecko_WideFloatTensor:$gamma,
                       Optional<Gecko_BoolTensor>:$bos,
                       Optional<Gecko_WideFloatTensor>:$h0);
  let results = (outs Gecko_FloatTensor:$y,
                      Gecko_WideFloatTensor:$h_out);
  let assemblyFormat = [{
    $u `coeffs` `(` $p `,` $q `,` $gamma `)` (`bos` `(` $bos^ `)`)?
    (`state` `(` $h0^ `)`)? attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

def Gecko_EmaScanGradOp : Gecko_Op<"ema_scan_grad",
    [AttrSizedOperandSegments]> {
  let summary = "Backward of gecko.ema_scan";
  let description = [{
    Given the cotangent `dy` of y and, optionally, `dstate(dh_out)` of the
    outgoing state (absent = zero), together with the forward's operands,
    returns du, dp, dq, dgamma and, when `state(h0)` was given, dh0 (spec
    section 3.3, Backward). The states h_t are recomputed. With the complex
    adjoint G_t = dl/dRe h_t + i dl/dIm h_t (h_{-1} = h0, or 0):

      G_{L-1} = conj(gamma) dy_{L-1} + dh_out
      G_t = conj(gamma) dy_t + [not bos_(t+1)] conj(q) G_{t+1}
      du_t = dy_t + sum_n p_n Re G_{t,n}
      dp = sum_{b,t} u_t Re G_t
      dq = sum_{b,t} [not bos_t] conj(h_{t-1}) G_t
      dgamma = sum_{b,t} dy_t conj(h_t)
      dh0 = [not bos_0] conj(q) G_0

    ```mlir
    %du, %dp, %dq, %dg, %dh0 = gecko.ema_scan_grad %dy, %u
        coeffs(%p, %q, %g) bos(%bos) state(%h0) dstate(%dh)
        : tensor<2x32x64xbf16>, tensor<2x32x64xbf16>, tensor<64x16xf32>,
          tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<2x32xi1>,
          tensor<2x64x16x2xf32>, tensor<2x64x16x2xf32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$dy,
                       Gecko_FloatTensor:$u,
                       Gecko_WideFloatTensor:$p,
                       Gecko_WideFloatTensor:$q,
                       Gecko_WideFloatTensor:$gamma,
                       Optional<Gecko_BoolTensor>:$bos,
                       Optional<Gecko_WideFloatTensor>:$h0,
                       Optional<Gecko_WideFloatTensor>:$dh_out);
  let results = (outs Gecko_FloatTensor:$du,
                      Gecko_WideFloatTensor:$dp,
                      Gecko_WideFloatTensor:$dq,
                      Gecko_WideFloatTensor:$dgamma,
                      Optional<Gecko_WideFloatTensor>:$dh0);
  let assemblyFormat = [{
    $dy `,` $u `coeffs` `(` $p `,` $q `,` $gamma `)` (`bos` `(` $bos^ `)`)?
    (`state` `(` $h0^ `)`)? (`dstate` `(` $dh_out^ `)`)?
    attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

#endif // GECKO_DIALECT_GECKO_IR_GECKOEMAOPS_TD
