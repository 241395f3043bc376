//===- Passes.td - gecko transformation passes -------------*- tablegen -*-===//
//
// Passes that transform gecko (or, late in the pipeline, lowered) IR. One
// pass per file under passes/lib/Transforms/.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_TRANSFORMS_PASSES
#define GECKO_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def GeckoEmitEntryPoints : Pass<"gecko-emit-entry-points", "ModuleOp"> {
  let summary = "Add the kernel-ABI entry wrapper of every public function";
  let description = [{
    Runs on the LLVM dialect, after `convert-func-to-llvm` with the bare
    pointer calling convention, where every public function takes one
    `!llvm.ptr` per buffer (arguments, then results turned into out
    parameters). For each such function `@f` it adds

        llvm.func @gecko_entry_f(%args: !llvm.ptr)

    which loads the i-th pointer of the array `%args` and calls `@f` with
    them: the calling convention of `gecko/abi/kernel_abi.h`, shared by the
    artifact's runtime and the test JIT. A public function with a
    non-pointer parameter or a result cannot be called this way and is an
    error.
  }];
  let dependentDialects = ["mlir::LLVM::LLVMDialect"];
}

def GeckoVerifyFrontendContract
    : Pass<"gecko-verify-frontend-contract", "ModuleOp"> {
  let summary = "Check that a module follows the frontend contract";
  let description = [{
    Verifies what every producer of gecko modules (the IR builder of
    `gecko-compile --model`, or a hand-written module) must emit before
    the compiler binds tensors by name, differentiates and lowers it: the
    labelled rules F1-F8 of docs/frontend.md (module attributes, named
    statically shaped arguments and results, parameter types consistent
    across functions, integer input ranges, and only the ops that the
    lowering and autodiff handle). Each violation is reported with its
    label, e.g. `[F2] argument 3 of @forward has neither gecko.param nor
    gecko.input`; the pass fails if there is any. It changes nothing.
  }];
}

def GeckoLowerMemrefCopy : Pass<"gecko-lower-memref-copy"> {
  let summary = "Rewrite memref.copy into linalg.copy";
  let description = [{
    `memref.copy` between buffers that are not both contiguous lowers to a
    call of the MLIR runtime's `memrefCopy`, which compiled artifacts do not
    link (they depend on nothing but libc and libm). Rewriting every copy
    into `linalg.copy` before `convert-linalg-to-loops` turns it into plain
    loops, which LLVM vectorizes or recognizes as memcpy when contiguous.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect"];
}

#endif // GECKO_TRANSFORMS_PASSES
