//===- GeckoTrainingOps.td - Loss and optimizer ops --------*- tablegen -*-===//
//
// The token cross-entropy loss with its backward op, and the AdamW
// optimizer update. docs/dialect.md#training-family
// gives semantics and constraints.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKOTRAININGOPS_TD
#define GECKO_DIALECT_GECKO_IR_GECKOTRAININGOPS_TD

include "gecko/Dialect/Gecko/IR/GeckoBase.td"

//===----------------------------------------------------------------------===//
// cross_entropy
//===----------------------------------------------------------------------===//

def Gecko_CrossEntropyOp : Gecko_DifferentiableOp<"cross_entropy"> {
  let summary = "Mean token cross-entropy over all B*L positions";
  let description = [{
    Per-position cross entropy of the B×L×V `logits` against the B×L
    `targets`, averaged over **all** B*L positions (spec section 3.12):

      l[b,t] = logsumexp_v(logits[b,t,:]) - logits[b,t,targets[b,t]]
      loss   = (1 / (B*L)) sum_{(b,t): targets[b,t] != ignore_index} l[b,t]

    Positions whose target equals `ignore_index` (default -100) contribute 0
    but still count in the divisor, as the reference's `.mean()` does. Every
    other target must lie in [0, V); an out-of-range target is a run-time
    error. No z-loss, no label smoothing. The logsumexp is max-shifted and
    evaluated in f32 (f64 for f64 logits); the loss is a 0-d f32 tensor (f64
    for f64 logits).

    ```mlir
    %loss = gecko.cross_entropy %logits, %targets
        : tensor<2x64x32000xf32>, tensor<2x64xi64>
    %loss0 = gecko.cross_entropy %logits, %targets ignore_index(0)
        : tensor<2x64x32000xf32>, tensor<2x64xi64>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$logits,
                       Gecko_I64Tensor:$targets,
                       DefaultValuedAttr<I64Attr, "-100">:$ignore_index);
  let results = (outs Gecko_WideFloatTensor:$loss);
  let assemblyFormat = [{
    $logits `,` $targets (`ignore_index` `(` $ignore_index^ `)`)? attr-dict
    `:` type(operands)
  }];
  let hasVerifier = 1;
}

def Gecko_CrossEntropyGradOp : Gecko_Op<"cross_entropy_grad"> {
  let summary = "Backward of gecko.cross_entropy";
  let description = [{
    Given the 0-d cotangent `dloss` of `gecko.cross_entropy`'s loss, its
    `logits` and `targets`, returns dlogits of the logits' type (spec
    section 3.12):

      dlogits[b,t,:] = dloss * (softmax(logits[b,t,:]) - onehot(targets[b,t])) / (B*L)

    and dlogits[b,t,:] = 0 where targets[b,t] == `ignore_index`. The divisor
    is B*L, the same as the forward mean. The softmax is recomputed
    (max-shifted, f32; f64 for f64 logits).

    ```mlir
    %dlogits = gecko.cross_entropy_grad %dloss, %logits, %targets
        : tensor<f32>, tensor<2x64x32000xf32>, tensor<2x64xi64>
    ```
  }];
  let arguments = (ins Gecko_WideFloatTensor:$dloss,
                       Gecko_FloatTensor:$logits,
                       Gecko_I64Tensor:$targets,
                       DefaultValuedAttr<I64Attr, "-100">:$ignore_index);
  let results = (outs Gecko_FloatTensor:$dlogits);
  let assemblyFormat = [{
    $dloss `,` $logits `,` $targets (`ignore_index` `(` $ignore_index^ `)`)?
    attr-dict `:` type(operands)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// adamw
//===----------------------------------------------------------------------===//

def Gecko_AdamWOp : Gecko_Op<"adamw"> {
  let summary = "AdamW parameter update (decoupled weight decay)";
  let description = [{
    One AdamW step with PyTorch `torch.optim.AdamW` semantics, elementwise in
    f32 on a parameter tensor and its moments. With t = `step` (1-based),
    lr = `lr`, and s = `grad_scale` (1 when absent):

      g  = s * grad
      p1 = param * (1 - lr * weight_decay)
      m' = beta1 * m + (1 - beta1) * g
      v' = beta2 * v + (1 - beta2) * g^2
      param' = p1 - (lr / (1 - beta1^t)) * m' / (sqrt(v') / sqrt(1 - beta2^t) + eps)

    and returns (param', m', v'). `lr` comes from the schedule, `grad_scale`
    from global-norm clipping (min(1, max_norm / (||g|| + 1e-6))). `step`
    must be >= 1 at run time. Not differentiable.

    ```mlir
    %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr)
        betas(9.000000e-01, 9.800000e-01) eps(1.000000e-08)
        weight_decay(1.000000e-01)
        : tensor<1024x4096xf32>, tensor<1024x4096xf32>, tensor<1024x4096xf32>,
          tensor<1024x4096xf32>, tensor<i64>, tensor<f32>
    ```
  }];
  let arguments = (ins Gecko_FloatTensor:$param,
                       Gecko_FloatTensor:$grad,
                       Gecko_FloatTensor:$m,
                       Gecko_FloatTensor:$v,
                       Gecko_I64Tensor:$step,
                       Gecko_FloatTensor:$lr,
                       Optional<Gecko_FloatTensor>:$grad_scale,
                       F64Attr:$beta1,
                       F64Attr:$beta2,
                       F64Attr:$eps,
                       F64Attr:$weight_decay);
  let results = (outs Gecko_FloatTensor:$new_param,
                      Gecko_FloatTensor:$new_m,
                      Gecko_FloatTensor:$new_v);
  let assemblyFormat = [{
    $param `,` $grad `,` $m `,` $v `step` `(` $step `)` `lr` `(` $lr `)`
    (`grad_scale` `(` $grad_scale^ `)`)? `betas` `(` $beta1 `,` $beta2 `)`
    `eps` `(` $eps `)` `weight_decay` `(` $weight_decay `)` attr-dict
    `:` type(operands)
  }];
  let hasVerifier = 1;
}

#endif // GECKO_DIALECT_GECKO_IR_GECKOTRAININGOPS_TD
