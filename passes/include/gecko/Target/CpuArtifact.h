//===- CpuArtifact.h - Compile a gecko module into a CPU artifact -*- C++
//-*-===//
//
// The last stage of gecko-compile for `--target cpu`: describe every public
// function for the execution plan (names, kinds, shapes, ranges from the
// frontend contract), lower with the CPU pipeline, compile the LLVM IR for
// the host architecture, link a shared object and write the .gkm container
// (docs/artifact-format.md).
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_TARGET_CPUARTIFACT_H
#define GECKO_TARGET_CPUARTIFACT_H

#include "gecko/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir::gecko {

struct CpuArtifactOptions {
  /// "cpu": kernels run on the host. "cuda": the host object launches the
  /// kernels of an embedded device image (docs/cuda.md); `cuda` configures
  /// that pipeline.
  std::string target = "cpu";
  CudaPipelineOptions cuda;
  /// The arithmetic of matrix products on either target (its
  /// `cuda.precision` is ignored); recorded as the plan's "precision".
  Precision precision = Precision::Fp32;
  /// LLVM CPU name; "native" compiles for this machine. The default runs on
  /// every x86-64 server since 2015 (AVX2, FMA).
  std::string cpu = "x86-64-v3";
  /// LLVM optimization level of the generated code (0-3).
  unsigned optLevel = 2;
  /// The linker; empty: ld.lld-22, then ld.lld, on PATH or in
  /// /usr/lib/llvm-22/bin.
  std::string linker;
  /// Written into the plan's "model" field when not empty (JSON object).
  std::string modelJson;
};

/// Compiles `module` (gecko IR, consumed: it is lowered in place) and writes
/// the artifact to `path` atomically. Diagnostics go to the module's
/// context; returns failure after reporting.
LogicalResult emitCpuArtifact(ModuleOp module,
                              const CpuArtifactOptions &options,
                              StringRef path);

} // namespace mlir::gecko

#endif // GECKO_TARGET_CPUARTIFACT_H
