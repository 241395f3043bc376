//===- Passes.td - gecko training passes -------------------*- tablegen -*-===//
//
// Passes that turn a loss function into training functions: reverse-mode
// differentiation and the optimizer step. One pass per file under
// passes/lib/Training/.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_TRAINING_PASSES
#define GECKO_TRAINING_PASSES

include "mlir/Pass/PassBase.td"

def GeckoAutodiff : Pass<"gecko-autodiff", "ModuleOp"> {
  let summary = "Build the gradient function of a scalar loss function";
  let description = [{
    Reverse-mode differentiation over DifferentiableOpInterface. From the
    function `source` (one result: a 0-d float loss) it builds the function
    `target` with the same arguments, returning the loss followed by the
    gradient of the loss with respect to every trainable parameter:
    arguments named by `gecko.param` with a float element type and without
    `gecko.buffer`. Each gradient result is named `grad.<param name>`
    (`gecko.output`), the names of the golden files.

    The forward ops are kept as they are; after them the pass walks the
    ops in reverse, asks each op whose results carry a cotangent for its
    vector-Jacobian product (`buildVjp`), and sums the cotangents of values
    with several uses (`arith.addf`). Only values that depend on a trainable
    parameter get cotangents, so integer inputs and buffers (norm priors)
    need no VJP. An op on that path without the interface is an error
    naming the op. A parameter the loss does not depend on gets a zero
    gradient. The seed is d loss = 1.

    With `remat=block`, ops tagged `gecko.block = l` (the IR builder tags
    each model block) are cloned, in forward order, right before the
    backward of block l, and their VJPs are built on the clones: block l's
    activations are then only live between its recomputation and its
    backward, instead of from the forward to the backward. The values are
    bit-identical; the cost is one more forward per block.

    With `wrt-state=true` (chunk parallelism, docs/distributed.md) the
    source may return, after the loss, `next:<s>` results of its
    `gecko.state` arguments (the `chunk_loss` function). Float state
    arguments then become differentiation sources too, and the target
    takes seed inputs appended to the arguments: `cotangent.<loss name>`
    (0-d; the loss's cotangent, e.g. 1/P for one of P pieces) and
    `cotangent.<s>` for every float `next:<s>` result (the cotangent of the
    next state, passed back from the following piece; zero for the last).
    It returns the loss, `grad.<p>` for every trainable parameter, then
    `grad.<s>` for every float state argument s (the cotangent passed to
    the previous piece); the `next:` results are dropped. Integer state
    (positions, segment and document ids) gets no cotangent.
  }];
  let options = [
    Option<"source", "source", "std::string", /*default=*/"\"loss\"",
           "The scalar loss function to differentiate">,
    Option<"target", "target", "std::string", /*default=*/"\"grad\"",
           "The name of the gradient function to create">,
    Option<"remat", "remat", "std::string", /*default=*/"\"none\"",
           "Activation memory: none (keep every forward value for the "
           "backward) or block (recompute each model block's forward right "
           "before its backward, from the block's input)">,
    Option<"wrtState", "wrt-state", "bool", /*default=*/"false",
           "Also differentiate with respect to the float gecko.state "
           "arguments, with seed inputs for the loss and every `next:` "
           "result (chunk parallelism)">,
  ];
  let dependentDialects = [
    "mlir::arith::ArithDialect", "mlir::linalg::LinalgDialect",
    "mlir::tensor::TensorDialect"
  ];
}

def GeckoBuildTrainStep : Pass<"gecko-build-train-step", "ModuleOp"> {
  let summary = "Build an AdamW training step from a gradient function";
  let description = [{
    From the gradient function `source` (made by gecko-autodiff: loss, then
    `grad.<p>` for every trainable parameter p) it builds `target`, one
    optimizer step inside compiled code:

      args:    source's arguments, then per parameter p the AdamW moments
               `opt.m.<p>` and `opt.v.<p>` (`gecko.state`, zero at the
               start), then `input.lr` (f32, 0-d, this step's learning rate)
               and `input.step` (i64, 0-d, the 1-based AdamW step)
      results: `output.loss`, `output.grad_norm` (the global L2 norm of all
               gradients before clipping), then `next:<p>`,
               `next:opt.m.<p>`, `next:opt.v.<p>` for every p: the runtime
               writes each `next:<name>` result back to argument <name>

    Gradients are clipped by global norm (scale = min(1, max-grad-norm /
    (norm + 1e-6)), passed to gecko.adamw as grad_scale; max-grad-norm <= 0
    disables clipping). Weight decay applies to parameters of rank >= 2
    (matrices and embeddings), not to norms, biases or EMA parameters, the
    usual practice the reference's training code (Megalodon) follows.

    With gradients-as-inputs (data parallelism, docs/distributed.md) the
    target does not compute gradients: it is the optimizer half alone,

      args:    per parameter p the param, then per p an input `grad.<p>`
               carrying `gecko.collective = {op = "all_reduce", reduction =
               "mean", group = "data"}` (the runtime averages it over the
               data-parallel ranks before the call), then the moments,
               `input.lr` and `input.step` as above
      results: `output.grad_norm` and the `next:` results as above

    so `grad` on every rank, the all-reduce, then this function give the
    same update as the train step on the global batch. The source's
    results `grad.<p>` get the same `gecko.collective` attribute, so that
    the lowering signals each one as soon as it is final
    (`gecko-insert-ready-signals`) and the runtime can reduce it while the
    backward still runs.

    `collective-group` and `collective-reduction` name the collective's
    group and reduction: chunk parallelism (`gecko-compile --mode
    chunk-train`) builds apply_gradients from `chunk_grad` with group
    `chunk` and reduction `sum` (each rank's gradients are its piece's
    share of the sequence's). Results `grad.<s>` of the source for a
    `gecko.state` argument s (chunk_grad's state cotangents) are not
    parameter gradients and are skipped.
  }];
  let options = [
    Option<"source", "source", "std::string", /*default=*/"\"grad\"",
           "The gradient function (from gecko-autodiff)">,
    Option<"gradientsAsInputs", "gradients-as-inputs", "bool",
           /*default=*/"false",
           "Take the gradients as all-reduced inputs instead of computing "
           "them (the apply_gradients function of data parallelism)">,
    Option<"target", "target", "std::string", /*default=*/"\"train_step\"",
           "The name of the training-step function to create">,
    Option<"beta1", "beta1", "double", /*default=*/"0.9", "AdamW beta1">,
    Option<"beta2", "beta2", "double", /*default=*/"0.95", "AdamW beta2">,
    Option<"eps", "eps", "double", /*default=*/"1e-8", "AdamW epsilon">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"0.1",
           "Decoupled weight decay of rank >= 2 parameters">,
    Option<"maxGradNorm", "max-grad-norm", "double", /*default=*/"1.0",
           "Global-norm gradient clipping threshold (<= 0: off)">,
    Option<"collectiveGroup", "collective-group", "std::string",
           /*default=*/"\"data\"",
           "With gradients-as-inputs: the group of the gradient all-reduce "
           "(data or chunk)">,
    Option<"collectiveReduction", "collective-reduction", "std::string",
           /*default=*/"\"mean\"",
           "With gradients-as-inputs: the reduction of the gradient "
           "all-reduce (mean or sum)">,
  ];
  let dependentDialects = [
    "mlir::arith::ArithDialect", "mlir::linalg::LinalgDialect",
    "mlir::math::MathDialect", "mlir::tensor::TensorDialect"
  ];
}

#endif // GECKO_TRAINING_PASSES
