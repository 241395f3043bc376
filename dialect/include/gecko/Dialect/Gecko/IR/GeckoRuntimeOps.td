//===- GeckoRuntimeOps.td - Ops of the lowered IR -----------*- tablegen -*-===//
//
// The gecko ops of the bufferized, memref-level IR: calls back into the
// runtime that the host code makes (kernel_abi.h). Kept apart from the
// tensor-level families (GeckoOps.td) because only the late passes and
// their lowering use them. docs/dialect.md#runtime-ops gives their
// semantics.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKORUNTIMEOPS_TD
#define GECKO_DIALECT_GECKO_IR_GECKORUNTIMEOPS_TD

include "gecko/Dialect/Gecko/IR/GeckoBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// ready_signal
//===----------------------------------------------------------------------===//

// Not a Gecko_Op: it is neither pure nor typed.
def Gecko_ReadySignalOp
    : Op<Gecko_Dialect, "ready_signal",
         [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "Tells the runtime that some results of the call are final";
  let description = [{
    Marks the point of a bufferized function after which the result buffers
    named by `tensors` (plan names of the function's results) are neither
    read nor written again: when the host code reaches it, every operation
    on those buffers has been issued (on the CPU: executed; on CUDA: queued
    on the call's stream) and the runtime may start a collective on them
    in place (docs/distributed.md, section 3). `id` numbers the signals of
    a function in program order, 0, 1, ...; the plan lists the tensors of
    each id (docs/artifact-format.md, section 2.4).

    It lowers to a call of `imports.signal(imports.context, id)` of the
    host-imports table (kernel ABI v2, `kernel_abi.h`). It reads and writes
    memory as far as other passes are concerned, so no buffer access moves
    across it and it is never erased. It must be a top-level op of a
    function body, executed exactly once per call.

    ```mlir
    gecko.ready_signal 0 ["grad.embed.weight", "grad.layers.0.w"]
    ```
  }];
  let arguments = (ins I32Attr:$id, StrArrayAttr:$tensors);
  let assemblyFormat = "$id $tensors attr-dict";
  let hasVerifier = 1;
}

#endif // GECKO_DIALECT_GECKO_IR_GECKORUNTIMEOPS_TD
