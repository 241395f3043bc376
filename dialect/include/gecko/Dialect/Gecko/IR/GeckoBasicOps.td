//===- GeckoBasicOps.td - Basic ops ------------------------*- tablegen -*-===//
//
// Token embedding, linear projections, the shared-z affine, RoPE and the
// silu / swiglu gates, each with its backward op.
// docs/dialect.md#basic-family gives semantics and
// constraints.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKOBASICOPS_TD
#define GECKO_DIALECT_GECKO_IR_GECKOBASICOPS_TD

include "gecko/Dialect/Gecko/IR/GeckoBase.td"

//===----------------------------------------------------------------------===//
// embedding
//===----------------------------------------------------------------------===//

def Gecko_EmbeddingOp : Gecko_DifferentiableOp<"embedding"> {
  let summary = "Token embedding lookup";
  let description = [{
    Gathers one row of the V×D `table` per token of the B×L `tokens` tensor
    and returns the B×L×D embeddings (spec section 3.1):

      x[b,t,:] = table[tokens[b,t], :] * (sqrt(D) if scale_emb)

    Every token must lie in [0, V); an out-of-range token is a run-time error
    (the lowering checks it; it is never an out-of-bounds read). The result
    has the table's element type.

    ```mlir
    %x = gecko.embedding %table, %tokens
        : tensor<32000x4096xbf16>, tensor<2x64xi64>
    %xs = gecko.embedding %table, %tokens scale_emb
        : tensor<32000x4096xbf16>, tensor<2x64xi64>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$table,
                       Gecko_I64Tensor:$tokens,
                       UnitAttr:$scale_emb);
  let results = (outs Gecko_FloatTensor:$x);
  let assemblyFormat = [{
    $table `,` $tokens (`scale_emb` $scale_emb^)? attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

def Gecko_EmbeddingGradOp : Gecko_Op<"embedding_grad"> {
  let summary = "Backward of gecko.embedding (scatter-add into the table)";
  let description = [{
    Given the cotangent `dx` (B×L×D) of `gecko.embedding`'s result, returns
    the V×D table cotangent, V = `vocab_size` (spec section 3.1):

      dtable[v, :] = sum_{(b,t): tokens[b,t] = v} dx[b,t,:] * (sqrt(D) if scale_emb)

    Rows of tokens that do not occur are zero. The sum accumulates in f32
    (f64 for f64 inputs) and is stored in `dx`'s element type. A token
    outside [0, V) is a run-time error, as in the forward op.

    ```mlir
    %dt = gecko.embedding_grad %dx, %tokens vocab(32000)
        : tensor<2x64x4096xf32>, tensor<2x64xi64>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$dx,
                       Gecko_I64Tensor:$tokens,
                       I64Attr:$vocab_size,
                       UnitAttr:$scale_emb);
  let results = (outs Gecko_FloatTensor:$dtable);
  let assemblyFormat = [{
    $dx `,` $tokens `vocab` `(` $vocab_size `)` (`scale_emb` $scale_emb^)?
    attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// linear
//===----------------------------------------------------------------------===//

def Gecko_LinearOp : Gecko_DifferentiableOp<"linear"> {
  let summary = "Affine projection y = x W^T + b over the last dimension";
  let description = [{
    `Linear(in, out)` of the spec (section 0, "Linear layers"): for every
    leading position of `x` ([..., in]) and `weight` W of shape [out, in],

      y[..., o] = sum_i x[..., i] W[o, i] + bias[o]

    with the bias term only when `bias` ([out]) is given. The result is
    [..., out] in `x`'s element type; products accumulate in f32 (f64 for f64
    inputs). This is a GEMM with M = the product of the leading dimensions.

    ```mlir
    %z = gecko.linear %mx, %wz bias(%bz)
        : tensor<2x64x4096xbf16>, tensor<1024x4096xbf16>, tensor<1024xbf16>
    %h2 = gecko.linear %a, %wh2 : tensor<2x64x8192xbf16>, tensor<4096x8192xbf16>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$x,
                       Gecko_FloatTensor:$weight,
                       Optional<Gecko_FloatTensor>:$bias);
  let results = (outs Gecko_FloatTensor:$y);
  let assemblyFormat = [{
    $x `,` $weight (`bias` `(` $bias^ `)`)? attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

def Gecko_LinearGradOp : Gecko_Op<"linear_grad"> {
  let summary = "Backward of gecko.linear";
  let description = [{
    Given the cotangent `dy` ([..., out]) of `gecko.linear`'s result, its
    input `x` ([..., in]) and `weight` ([out, in]), returns (spec section 0)

      dx = dy W                      [..., in]
      dweight = dy^T x               [out, in], summed over all leading dims
      dbias = sum_{leading} dy       [out], only with `with_bias`

    i.e. two GEMMs and a column reduction, accumulated in f32 (f64 for f64
    inputs).

    ```mlir
    %dx, %dw, %db = gecko.linear_grad %dy, %mx, %wz with_bias
        : tensor<2x64x1024xbf16>, tensor<2x64x4096xbf16>, tensor<1024x4096xbf16>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$dy,
                       Gecko_FloatTensor:$x,
                       Gecko_FloatTensor:$weight,
                       UnitAttr:$with_bias);
  let results = (outs Gecko_FloatTensor:$dx,
                      Gecko_FloatTensor:$dweight,
                      Optional<Gecko_FloatTensor>:$dbias);
  let assemblyFormat = [{
    $dy `,` $x `,` $weight (`with_bias` $with_bias^)? attr-dict
    `:` type(operands)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// z_affine
//===----------------------------------------------------------------------===//

def Gecko_ZAffineOp : Gecko_DifferentiableOp<"z_affine"> {
  let summary = "Shared-z affine: q, k, aq, ak from the normalised z";
  let description = [{
    Derives the four heads-views of the shared projection from the per-head
    RMS-normalised `z` (B×L×S) and the parameters `gamma`, `beta` (4×S, rows
    in the order q, k, aq, ak; spec section 3.5):

      zeta_i = z * (1 + gamma[i]) / sqrt(head_dim) + beta[i],   i = 0..3

    broadcast over B and L. `head_dim` is d_k = S/H; the 1/sqrt(d_k) factor
    makes ||q|| = ||k|| = 1 per head at initialisation (attention scale 1).
    "1 + gamma" is formed in the compute dtype (spec section 5).

    ```mlir
    %q, %k, %aq, %ak = gecko.z_affine %zn, %gamma, %beta head_dim(256)
        : tensor<2x64x1024xbf16>, tensor<4x1024xbf16>, tensor<4x1024xbf16>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$z,
                       Gecko_FloatTensor:$gamma,
                       Gecko_FloatTensor:$beta,
                       I64Attr:$head_dim);
  let results = (outs Gecko_FloatTensor:$q,
                      Gecko_FloatTensor:$k,
                      Gecko_FloatTensor:$aq,
                      Gecko_FloatTensor:$ak);
  let assemblyFormat = [{
    $z `,` $gamma `,` $beta `head_dim` `(` $head_dim `)` attr-dict
    `:` type(operands)
  }];
  let hasVerifier = 1;
}

def Gecko_ZAffineGradOp
    : Gecko_Op<"z_affine_grad", [AttrSizedOperandSegments]> {
  let summary = "Backward of gecko.z_affine";
  let description = [{
    Given the cotangents of `gecko.z_affine`'s four results (each optional:
    an absent one is zero), `z` and `gamma`, returns (spec section 3.5),
    with g_i = (1 + gamma[i]) / sqrt(head_dim):

      dz        = sum_i dzeta_i * g_i
      dgamma[i] = sum_{b,t} dzeta_i * z / sqrt(head_dim)
      dbeta[i]  = sum_{b,t} dzeta_i

    Row i of dgamma and dbeta is zero when cotangent i is absent. Sums
    accumulate in f32 (f64 for f64 inputs). `beta` does not enter the
    backward, so it is not an operand.

    ```mlir
    %dz, %dg, %db = gecko.z_affine_grad %zn, %gamma dq(%dq) dk(%dk) dak(%dak)
        head_dim(256)
        : tensor<2x64x1024xbf16>, tensor<4x1024xbf16>, tensor<2x64x1024xbf16>,
          tensor<2x64x1024xbf16>, tensor<2x64x1024xbf16>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$z,
                       Gecko_FloatTensor:$gamma,
                       Optional<Gecko_FloatTensor>:$dq,
                       Optional<Gecko_FloatTensor>:$dk,
                       Optional<Gecko_FloatTensor>:$daq,
                       Optional<Gecko_FloatTensor>:$dak,
                       I64Attr:$head_dim);
  let results = (outs Gecko_FloatTensor:$dz,
                      Gecko_FloatTensor:$dgamma,
                      Gecko_FloatTensor:$dbeta);
  let assemblyFormat = [{
    $z `,` $gamma (`dq` `(` $dq^ `)`)? (`dk` `(` $dk^ `)`)?
    (`daq` `(` $daq^ `)`)? (`dak` `(` $dak^ `)`)? `head_dim` `(` $head_dim `)`
    attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// rope
//===----------------------------------------------------------------------===//

def Gecko_RopeOp : Gecko_DifferentiableOp<"rope"> {
  let summary = "Rotary position embedding on the first num_rope_heads heads";
  let description = [{
    Views the last dimension S of `x` (B×L×S) as H = `num_heads` heads of
    d = S/H channels (channel s = h*d + j) and rotates every interleaved pair
    (2j, 2j+1) of heads 0..R-1, R = `num_rope_heads`, by the angle of its
    absolute stream position (spec section 3.6):

      w_j   = fl32(1 / fl32(base^(2j/d)))         j = 0..d/2-1
      a     = fl32(tau * w_j),   tau = start + t  t = 0..L-1 (tau in f32)
      x'_2j + i x'_2j+1 = (x_2j + i x_2j+1) * e^(+i a)   (e^(-i a) if inverse)

    Heads R..H-1 pass through unchanged; R = 0 makes the op the identity
    (it folds to `x`). `start` is a 0-d i64 tensor holding the absolute
    position of token 0 (absent = 0); positions never reset per document or
    chunk, unless `restart` = P is given (Megalodon): then positions are
    (start + t) mod P, restarting at every chunk. The computation is in f32
    (f64 for f64 inputs) and the result has `x`'s type.

    Rotation is orthogonal, so the VJP is the same op with `inverse` toggled
    (dx = R(-a) dy); there is no separate backward op.

    ```mlir
    %qr = gecko.rope %q heads(4) rope_heads(4) base(5.000000e+05)
        : tensor<2x64x1024xbf16>
    %kr = gecko.rope %k start(%pos) heads(4) rope_heads(2) base(5.000000e+05)
        : tensor<2x1x1024xbf16>, tensor<i64>
    %dq = gecko.rope %dqr heads(4) rope_heads(4) base(5.000000e+05) inverse
        : tensor<2x64x1024xbf16>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$x,
                       Optional<Gecko_I64Tensor>:$start,
                       I64Attr:$num_heads,
                       I64Attr:$num_rope_heads,
                       F64Attr:$base,
                       UnitAttr:$inverse,
                       OptionalAttr<I64Attr>:$restart);
  let results = (outs Gecko_FloatTensor:$y);
  let assemblyFormat = [{
    $x (`start` `(` $start^ `)`)? `heads` `(` $num_heads `)`
    `rope_heads` `(` $num_rope_heads `)` `base` `(` $base `)`
    (`restart` `(` $restart^ `)`)? (`inverse` $inverse^)? attr-dict
    `:` type(operands)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// silu / swiglu
//===----------------------------------------------------------------------===//

def Gecko_SiluOp : Gecko_DifferentiableOp<"silu"> {
  let summary = "Elementwise SiLU gate x * sigmoid(x)";
  let description = [{
    y = silu(x) = x * sigmoid(x), elementwise on a tensor of any shape
    (spec sections 0, 3.5 and 3.10). Evaluated in f32 (f64 for f64 inputs)
    and rounded to `x`'s type.

    ```mlir
    %v = gecko.silu %pv : tensor<2x64x8192xbf16>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$x);
  let results = (outs Gecko_FloatTensor:$y);
  let assemblyFormat = "$x attr-dict `:` type(operands)";
}

def Gecko_SiluGradOp : Gecko_Op<"silu_grad"> {
  let summary = "Backward of gecko.silu";
  let description = [{
    dx = dy * silu'(x), silu'(x) = sigmoid(x) (1 + x (1 - sigmoid(x)))
    (spec section 0), elementwise.

    ```mlir
    %dpv = gecko.silu_grad %dv, %pv : tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$dy, Gecko_FloatTensor:$x);
  let results = (outs Gecko_FloatTensor:$dx);
  let assemblyFormat = "$dy `,` $x attr-dict `:` type(operands)";
  let hasVerifier = 1;
}

def Gecko_SwigluOp : Gecko_DifferentiableOp<"swiglu"> {
  let summary = "Elementwise SwiGLU gate silu(a) * b";
  let description = [{
    y = silu(a) * b elementwise, with `b` of `a`'s type: the gated FFN hidden
    layer silu(n W1^T) * (n W3^T) of spec section 3.10. Evaluated in f32
    (f64 for f64 inputs) and rounded to `a`'s type.

    ```mlir
    %hid = gecko.swiglu %h1, %h3 : tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$a, Gecko_FloatTensor:$b);
  let results = (outs Gecko_FloatTensor:$y);
  let assemblyFormat = "$a `,` $b attr-dict `:` type(operands)";
  let hasVerifier = 1;
}

def Gecko_SwigluGradOp : Gecko_Op<"swiglu_grad"> {
  let summary = "Backward of gecko.swiglu";
  let description = [{
    Given the cotangent `dy` of `gecko.swiglu`'s result, returns

      da = dy * b * silu'(a),   db = dy * silu(a)

    elementwise, with silu'(a) = sigmoid(a) (1 + a (1 - sigmoid(a))).

    ```mlir
    %da, %db = gecko.swiglu_grad %dhid, %h1, %h3
        : tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$dy, Gecko_FloatTensor:$a,
                       Gecko_FloatTensor:$b);
  let results = (outs Gecko_FloatTensor:$da, Gecko_FloatTensor:$db);
  let assemblyFormat = "$dy `,` $a `,` $b attr-dict `:` type(operands)";
  let hasVerifier = 1;
}


//===----------------------------------------------------------------------===//
// segments
//===----------------------------------------------------------------------===//

def Gecko_SegmentsOp : Gecko_Op<"segments"> {
  let summary = "Document boundaries and segment ids of a token batch";
  let description = [{
    Marks the tokens that start a document and numbers the documents of the
    B×L `tokens` (spec sections 0 and 4.4, `multi_segments`):

      bos[b,t] = (tokens[b,t] == bos_id)
      seg[b,t] = offset[b] + sum_{s <= t} bos[b,s]

    `offset` (B, i64) is the segment id of the last token of the previous
    call of a stream (absent = 0), so ids continue across calls and the
    attention and memory caches compare them correctly. Only equality of ids
    matters to the ops that consume them. Not differentiable (integer
    results).

    ```mlir
    %bos, %seg = gecko.segments %tokens bos_id(1) : tensor<2x64xi64>
    %bos1, %seg1 = gecko.segments %tok offset(%last) bos_id(1)
        : tensor<2x1xi64>, tensor<2xi64>
    ```
  }];
  let arguments = (ins Gecko_I64Tensor:$tokens,
                       Optional<Gecko_I64Tensor>:$offset,
                       I64Attr:$bos_id);
  let results = (outs Gecko_BoolTensor:$bos, Gecko_I64Tensor:$segment_ids);
  let assemblyFormat = [{
    $tokens (`offset` `(` $offset^ `)`)? `bos_id` `(` $bos_id `)` attr-dict
    `:` type(operands)
  }];
  let hasVerifier = 1;
}

#endif // GECKO_DIALECT_GECKO_IR_GECKOBASICOPS_TD
