//===- Pipelines.h - gecko compilation pipelines ----------------*- C++ -*-===//
//
// Named pass pipelines from gecko IR to target code, shared by gecko-opt
// (as registered pipelines) and gecko-compile.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_PIPELINES_PIPELINES_H
#define GECKO_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace mlir::gecko {

/// gecko IR (tensors) -> LLVM dialect for the host CPU:
///   convert-gecko-to-linalg, elementwise fusion, one-shot bufferization with
///   identity layouts at function boundaries, results as out parameters,
///   deallocation, loops, LLVM with the bare-pointer calling convention and
///   the kernel-ABI entry wrappers (gecko-emit-entry-points).
/// Fails (with diagnostics) if the textual pipeline does not parse, which
/// only happens if upstream renamed a pass.
LogicalResult buildCpuLoweringPipeline(OpPassManager &pm);

/// The stage of buildCpuLoweringPipeline that stops at bufferized loops
/// (memrefs, scf), before LLVM: what `--emit=loops` shows.
LogicalResult buildCpuLoopsPipeline(OpPassManager &pm);

/// Registers `gecko-cpu-lowering` and `gecko-cpu-loops` with the pass
/// registry (for gecko-opt --pass-pipeline).
void registerGeckoPipelines();

} // namespace mlir::gecko

#endif // GECKO_PIPELINES_PIPELINES_H
