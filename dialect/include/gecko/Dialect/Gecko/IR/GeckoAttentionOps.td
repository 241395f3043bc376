//===- GeckoAttentionOps.td - Sliding chunk attention ------*- tablegen -*-===//
//
// Sliding chunk attention (SCA) and its backward op.
// docs/dialect.md#attention-family gives semantics and constraints.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKOATTENTIONOPS_TD
#define GECKO_DIALECT_GECKO_IR_GECKOATTENTIONOPS_TD

include "gecko/Dialect/Gecko/IR/GeckoBase.td"

//===----------------------------------------------------------------------===//
// chunk_attention
//===----------------------------------------------------------------------===//

def Gecko_ChunkAttentionOp : Gecko_DifferentiableOp<"chunk_attention",
    [AttrSizedOperandSegments]> {
  let summary = "Sliding chunk attention over the current and previous chunk";
  let description = [{
    Multi-head softmax attention (scale 1.0) in which a query sees the keys
    of its own chunk causally plus the whole previous chunk (spec section
    3.7). `q` and `k` are B x L x S (after RoPE, S = H * d_k), `v` is
    B x L x E (E = H * d_v); head h uses channels h*d .. h*d+d-1.

    Keys are the concatenation [cache ; call] of the optional cache of the
    P tokens immediately preceding the call (`prev_k`, `prev_v`, and
    `prev_segments` when segments are used) and the call's own tokens.
    With `start` the absolute stream position of the call's first token
    (0 when absent), query t sits at tau = start + t and cached key p at
    pi = start - P + p. Key pi is visible from query tau iff

      floor(tau / C) * C - C <= pi <= tau   and   seg(pi) == seg(tau)

    (the segment test only with `segments`). With `local` (Megalodon's
    block-diagonal attention) the lower bound is floor(tau / C) * C: each
    chunk sees only itself, causally. Per head,
      o_tau = sum_{pi visible} softmax_pi(q_tau . k_pi) v_pi
    and a row with no visible key is zero. The same rule covers training,
    prefill, tail and decode calls. The op does not build the next cache:
    the streaming builder concatenates and rolls it with tensor ops.

    ```mlir
    %o = gecko.chunk_attention %q, %k, %v heads(2) chunk(16)
        : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>
    %od = gecko.chunk_attention %q1, %k1, %v1 segments(%s1)
        cache(%pk, %pv, %ps) start(%pos) heads(2) chunk(16)
        : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>,
          tensor<2x1xi64>, tensor<2x?x32xf32>, tensor<2x?x64xf32>,
          tensor<2x?xi64>, tensor<i64>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$q,
                       Gecko_FloatTensor:$k,
                       Gecko_FloatTensor:$v,
                       Optional<Gecko_I64Tensor>:$segments,
                       Optional<Gecko_FloatTensor>:$prev_k,
                       Optional<Gecko_FloatTensor>:$prev_v,
                       Optional<Gecko_I64Tensor>:$prev_segments,
                       Optional<Gecko_I64Tensor>:$start,
                       I64Attr:$num_heads,
                       I64Attr:$chunk_size,
                       UnitAttr:$local);
  let results = (outs Gecko_FloatTensor:$o);
  let assemblyFormat = [{
    $q `,` $k `,` $v (`segments` `(` $segments^ `)`)?
    (`cache` `(` $prev_k^ `,` $prev_v (`,` $prev_segments^)? `)`)?
    (`start` `(` $start^ `)`)?
    `heads` `(` $num_heads `)` `chunk` `(` $chunk_size `)` (`local` $local^)?
    attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

def Gecko_ChunkAttentionGradOp : Gecko_Op<"chunk_attention_grad",
    [AttrSizedOperandSegments]> {
  let summary = "Backward of gecko.chunk_attention";
  let description = [{
    Given the cotangent `dout` of `gecko.chunk_attention`'s result and the
    forward's inputs, returns dq, dk, dv and, when a cache was given,
    `dcache` = (dprev_k, dprev_v) (spec section 3.7, Backward). Per head,
    over the same visible set as the forward (masked entries of P are 0):

      P = softmax(q k^T) ; dP = dout v^T ; dS = P * (dP - rowsum(P * dP))
      dv = P^T dout ; dq = dS k ; dk = dS^T q

    where k and v are [cache ; call]; the rows of dk/dv that belong to the
    cache are returned as dprev_k/dprev_v. P is recomputed from q and k
    (flash style, spec section 6) rather than saved by the forward.

    ```mlir
    %dq, %dk, %dv = gecko.chunk_attention_grad %do, %q, %k, %v
        heads(2) chunk(16)
        : tensor<2x64x64xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>,
          tensor<2x64x64xf32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$dout,
                       Gecko_FloatTensor:$q,
                       Gecko_FloatTensor:$k,
                       Gecko_FloatTensor:$v,
                       Optional<Gecko_I64Tensor>:$segments,
                       Optional<Gecko_FloatTensor>:$prev_k,
                       Optional<Gecko_FloatTensor>:$prev_v,
                       Optional<Gecko_I64Tensor>:$prev_segments,
                       Optional<Gecko_I64Tensor>:$start,
                       I64Attr:$num_heads,
                       I64Attr:$chunk_size,
                       UnitAttr:$local);
  let results = (outs Gecko_FloatTensor:$dq,
                      Gecko_FloatTensor:$dk,
                      Gecko_FloatTensor:$dv,
                      Variadic<Gecko_FloatTensor>:$dcache);
  let assemblyFormat = [{
    $dout `,` $q `,` $k `,` $v (`segments` `(` $segments^ `)`)?
    (`cache` `(` $prev_k^ `,` $prev_v (`,` $prev_segments^)? `)`)?
    (`start` `(` $start^ `)`)?
    `heads` `(` $num_heads `)` `chunk` `(` $chunk_size `)` (`local` $local^)?
    attr-dict `:` type(operands)
  }];
  let extraClassDeclaration = [{
    /// Cotangent of `prev_k` (null without a cache).
    ::mlir::Value getDprevK() {
      return getDcache().empty() ? ::mlir::Value() : getDcache()[0];
    }
    /// Cotangent of `prev_v` (null without a cache).
    ::mlir::Value getDprevV() {
      return getDcache().size() < 2 ? ::mlir::Value() : getDcache()[1];
    }
  }];
  let hasVerifier = 1;
}

#endif // GECKO_DIALECT_GECKO_IR_GECKOATTENTIONOPS_TD
