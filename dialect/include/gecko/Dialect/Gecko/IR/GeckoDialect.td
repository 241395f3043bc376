//===- GeckoDialect.td - The gecko dialect -----------------*- tablegen -*-===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKODIALECT_TD
#define GECKO_DIALECT_GECKO_IR_GECKODIALECT_TD

include "mlir/IR/OpBase.td"

def Gecko_Dialect : Dialect {
  let name = "gecko";
  let cppNamespace = "::mlir::gecko";
  let summary = "High-level operators of the Gecko / Megalodon sequence models";
  let description = [{
    The `gecko` dialect expresses a Gecko language model at the level a model
    author thinks in: timestep decay norms, the multi-head complex EMA scan,
    sliding chunk attention, the adaptive working memory, group norms,
    projections, the loss and the optimizer update, each with its backward.

    Every op works on ranked tensors with value semantics and infers its
    result types. Streaming state (norm statistics, EMA hidden state, the
    previous chunk's keys and values, the working memory and its
    log-normaliser) is passed in and returned as ordinary values, so training,
    prefill, decode and chunk parallelism use the same ops.

    Where it sits in the lowering chain:

    ```
    frontend (JSON config) --> gecko (forward)  --gecko-autodiff-->
    gecko (train step)     --gecko-fuse-*--> gecko + linalg/tensor/scf
                           --bufferize, plan--> LLVM (CPU) | gpu/nvvm + cuBLASLt (CUDA)
                           --> .gkm artifact --> runtime
    ```

    Semantics and the labelled constraints (C1, C2, ...) that each verifier
    checks are documented in docs/dialect.md, citing the sections of the Gecko
    math specification they implement.
  }];
  let useDefaultAttributePrinterParser = 0;
  let useDefaultTypePrinterParser = 0;
}

#endif // GECKO_DIALECT_GECKO_IR_GECKODIALECT_TD
