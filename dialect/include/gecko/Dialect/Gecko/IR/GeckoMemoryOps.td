//===- GeckoMemoryOps.td - Adaptive working memory ---------*- tablegen -*-===//
//
// The adaptive working memory (AWM): the chunked training/prefill op, its
// backward op and the tail/decode step.
// docs/dialect.md#memory-family gives semantics and constraints.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKOMEMORYOPS_TD
#define GECKO_DIALECT_GECKO_IR_GECKOMEMORYOPS_TD

include "gecko/Dialect/Gecko/IR/GeckoBase.td"

//===----------------------------------------------------------------------===//
// working_memory
//===----------------------------------------------------------------------===//

def Gecko_WorkingMemoryOp : Gecko_DifferentiableOp<"working_memory",
    [AttrSizedOperandSegments]> {
  let summary = "Adaptive working memory over whole chunks (training/prefill)";
  let description = [{
    Per-head linear-attention memory that holds the chunks at least two
    chunks behind the query (spec section 3.8). `aq`, `ak` are B x L x S
    (not rotated), `v` is B x L x E, L = n_c * C. Per (b, h) and call chunk
    c = 0 .. n_c-1, with P_t = softmax_feat(aq_t), F_j = softmax_feat(ak_j)
    and, for the absorbed chunk kappa (chunk c-1, or the cached chunk
    `prev_ak`/`prev_v` when c = 0), A = softmax over the valid rows of kappa
    along time and l = logsumexp over the same rows (valid: segment equal to
    that of kappa's last token):

      no state yet:  Y_c = 0; M = 0; Lambda = -inf (nothing absorbed)
      otherwise:     Y_c = P_c M, rows with seg != doc_mem zeroed;
                     d = seg(last of kappa); if d != doc_mem: M = 0,
                     Lambda = -inf; Lambda' = lae(l, Lambda);
                     rho = exp(l - Lambda');
                     M += rho * (A (V_kappa - F_kappa M) - M);
                     Lambda = Lambda'; doc_mem = d

    The incoming state (`memory`, `log_norm`, `prev_ak`, `prev_v`, and with
    segments `prev_segments`, `doc_mem`) is optional: absent means "M is
    None" (start of the stream). Results: y (B x L x E), the memory after
    the call (B x H x d_k x d_v), the log-normaliser (B x H x d_k, f32 or
    f64) and, with segments, doc_mem (B). The call's last chunk is not
    absorbed: the builder slices it off `ak`, `v` and `segments` as the
    next call's `prev_*`.

    ```mlir
    %y, %m, %l = gecko.working_memory %aq, %ak, %v heads(2) chunk(16)
        : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>
    %y2, %m2, %l2, %doc2 = gecko.working_memory %aq, %ak, %v segments(%s)
        state(%m, %l, %pak, %pv, %ps, %doc) heads(2) chunk(16)
        : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>,
          tensor<2x64xi64>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>,
          tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16xi64>,
          tensor<2xi64>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$aq,
                       Gecko_FloatTensor:$ak,
                       Gecko_FloatTensor:$v,
                       Optional<Gecko_I64Tensor>:$segments,
                       Optional<Gecko_FloatTensor>:$memory,
                       Optional<Gecko_WideFloatTensor>:$log_norm,
                       Optional<Gecko_FloatTensor>:$prev_ak,
                       Optional<Gecko_FloatTensor>:$prev_v,
                       Optional<Gecko_I64Tensor>:$prev_segments,
                       Optional<Gecko_I64Tensor>:$doc_mem,
                       I64Attr:$num_heads,
                       I64Attr:$chunk_size);
  let results = (outs Gecko_FloatTensor:$y,
                      Gecko_FloatTensor:$memory_out,
                      Gecko_WideFloatTensor:$log_norm_out,
                      Optional<Gecko_I64Tensor>:$doc_mem_out);
  let assemblyFormat = [{
    $aq `,` $ak `,` $v (`segments` `(` $segments^ `)`)?
    (`state` `(` $memory^ `,` $log_norm `,` $prev_ak `,` $prev_v
       (`,` $prev_segments^ `,` $doc_mem)? `)`)?
    `heads` `(` $num_heads `)` `chunk` `(` $chunk_size `)`
    attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

def Gecko_WorkingMemoryGradOp : Gecko_Op<"working_memory_grad",
    [AttrSizedOperandSegments]> {
  let summary = "Backward of gecko.working_memory";
  let description = [{
    Given the cotangent `dy` of `gecko.working_memory`'s output, optional
    cotangents `dmemory_out`, `dlog_norm_out` of its final state (absent =
    zero) and the forward's inputs, returns daq, dak, dv and, when a state
    was given, `dstate` = (dmemory_in, dlog_norm_in, dprev_ak, dprev_v)
    (spec section 3.8, Backward). The forward loop is recomputed, then the
    chunks run in reverse with adjoints G_M, G_Lambda seeded by the final
    state's cotangents; for chunk c, absorbing kappa = c-1:

      g_rho = sum_e G_M (U - M~) ; a = G_Lambda - g_rho rho
      dl = a rho + g_rho rho ; dLambda~ = a (1 - rho)
      dU = rho G_M ; dM~ = (1 - rho) G_M ; dR = A^T dU ; dA = dU R^T
      dF = -dR M~^T ; dM~ -= F^T dR ; dV_kappa += dR
      dK_kappa += sbwd_time(dA, A)^T + sbwd_feat(dF, F) + dl A
      (invalid rows of kappa zeroed); a reset zeroes (dM~, dLambda~);
      dM += P_c^T dY_c ; daq_c = sbwd_feat(dY_c M^T, P_c)

    The call's last chunk gets zero dak and no memory part of dv.

    ```mlir
    %daq, %dak, %dv = gecko.working_memory_grad %dy, %aq, %ak, %v
        heads(2) chunk(16)
        : tensor<2x64x64xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>,
          tensor<2x64x64xf32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$dy,
                       Gecko_FloatTensor:$aq,
                       Gecko_FloatTensor:$ak,
                       Gecko_FloatTensor:$v,
                       Optional<Gecko_I64Tensor>:$segments,
                       Optional<Gecko_FloatTensor>:$memory,
                       Optional<Gecko_WideFloatTensor>:$log_norm,
                       Optional<Gecko_FloatTensor>:$prev_ak,
                       Optional<Gecko_FloatTensor>:$prev_v,
                       Optional<Gecko_I64Tensor>:$prev_segments,
                       Optional<Gecko_I64Tensor>:$doc_mem,
                       Optional<Gecko_FloatTensor>:$dmemory_out,
                       Optional<Gecko_WideFloatTensor>:$dlog_norm_out,
                       I64Attr:$num_heads,
                       I64Attr:$chunk_size);
  let results = (outs Gecko_FloatTensor:$daq,
                      Gecko_FloatTensor:$dak,
                      Gecko_FloatTensor:$dv,
                      Variadic<Gecko_FloatTensor>:$dstate);
  let assemblyFormat = [{
    $dy `,` $aq `,` $ak `,` $v (`segments` `(` $segments^ `)`)?
    (`state` `(` $memory^ `,` $log_norm `,` $prev_ak `,` $prev_v
       (`,` $prev_segments^ `,` $doc_mem)? `)`)?
    (`memory_grad` `(` $dmemory_out^ `)`)?
    (`log_norm_grad` `(` $dlog_norm_out^ `)`)?
    `heads` `(` $num_heads `)` `chunk` `(` $chunk_size `)`
    attr-dict `:` type(operands)
  }];
  let extraClassDeclaration = [{
    /// Cotangents of the incoming state (null without a state).
    ::mlir::Value getDmemoryIn() { return getDstateAt(0); }
    ::mlir::Value getDlogNormIn() { return getDstateAt(1); }
    ::mlir::Value getDprevAk() { return getDstateAt(2); }
    ::mlir::Value getDprevV() { return getDstateAt(3); }
    ::mlir::Value getDstateAt(unsigned i) {
      return i < getDstate().size() ? getDstate()[i] : ::mlir::Value();
    }
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// working_memory_step
//===----------------------------------------------------------------------===//

def Gecko_WorkingMemoryStepOp : Gecko_Op<"working_memory_step",
    [AttrSizedOperandSegments]> {
  let summary = "Tail/decode step of the adaptive working memory";
  let description = [{
    The streaming form of `gecko.working_memory` for calls of 1 <= L <= C
    tokens that stay inside one chunk (spec section 4.3 step 3, tail and
    decode). `aq`, `ak` are B x L x S and `v` is B x L x E; the cache
    `prev_ak`, `prev_v` (and `prev_segments` with segments) holds the P
    tokens before the call since the last roll, so P + L <= 2C. The memory
    state (`memory`, `log_norm`, and `doc_mem` with segments) is required:
    before chunk 0 completes there is no memory and the builder emits zeros.

      1. y_t = P_t M, rows with seg[t] != doc_mem zeroed (read first);
      2. if P + L = 2C: absorb the first C rows of [prev ; call] (the
         previous chunk) exactly as gecko.working_memory absorbs a chunk,
         using the first C ids of [prev_segments ; segments] and doc_mem;
         otherwise the state passes through unchanged.

    Rolling the cache is the builder's job (tensor ops). The op is for
    inference and has no VJP.

    ```mlir
    %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v
        state(%m, %l) cache(%pak, %pv) heads(2) chunk(16)
        : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>,
          tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x?x32xf32>,
          tensor<2x?x64xf32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$aq,
                       Gecko_FloatTensor:$ak,
                       Gecko_FloatTensor:$v,
                       Optional<Gecko_I64Tensor>:$segments,
                       Gecko_FloatTensor:$memory,
                       Gecko_WideFloatTensor:$log_norm,
                       Optional<Gecko_I64Tensor>:$doc_mem,
                       Gecko_FloatTensor:$prev_ak,
                       Gecko_FloatTensor:$prev_v,
                       Optional<Gecko_I64Tensor>:$prev_segments,
                       I64Attr:$num_heads,
                       I64Attr:$chunk_size);
  let results = (outs Gecko_FloatTensor:$y,
                      Gecko_FloatTensor:$memory_out,
                      Gecko_WideFloatTensor:$log_norm_out,
                      Optional<Gecko_I64Tensor>:$doc_mem_out);
  let assemblyFormat = [{
    $aq `,` $ak `,` $v (`segments` `(` $segments^ `)`)?
    `state` `(` $memory `,` $log_norm (`,` $doc_mem^)? `)`
    `cache` `(` $prev_ak `,` $prev_v (`,` $prev_segments^)? `)`
    `heads` `(` $num_heads `)` `chunk` `(` $chunk_size `)`
    attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

#endif // GECKO_DIALECT_GECKO_IR_GECKOMEMORYOPS_TD
