//===- Passes.td - gecko conversion passes -----------------*- tablegen -*-===//
//
// Conversions out of the gecko dialect. Each pass lives in its own directory
// under passes/lib/Conversion/.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_CONVERSION_PASSES
#define GECKO_CONVERSION_PASSES

include "mlir/Pass/PassBase.td"

def ConvertGeckoToLinalg : Pass<"convert-gecko-to-linalg", "ModuleOp"> {
  let summary = "Lower gecko ops to linalg, tensor, scf, arith and math";
  let description = [{
    Rewrites every gecko op into upstream value-semantic IR: `linalg`
    structured ops for elementwise work, reductions and contractions, and
    `scf.for` loops over tensors (with `tensor.extract`/`tensor.insert`,
    which one-shot bufferization turns into in-place loads and stores) for
    the recurrences (norm statistics, EMA scan, working memory). The result
    is target independent: the CPU pipeline and, later, the CUDA pipeline
    start from it.

    Patterns are grouped by op family (one file each under
    `passes/lib/Conversion/GeckoToLinalg/`), and exposed through
    `populateGecko<Family>LoweringPatterns` so that other pipelines can
    choose their own mix. An op without a lowering is reported by name and
    the pass fails; nothing is silently left behind.

    Numerics follow docs/dialect.md: reductions and statistics accumulate in
    f32 (f64 for f64 tensors) and results are rounded to the op's type.
  }];
  let dependentDialects = [
    "mlir::arith::ArithDialect", "mlir::func::FuncDialect",
    "mlir::linalg::LinalgDialect", "mlir::math::MathDialect",
    "mlir::scf::SCFDialect", "mlir::tensor::TensorDialect"
  ];
}

#endif // GECKO_CONVERSION_PASSES
