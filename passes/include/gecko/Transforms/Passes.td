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

#endif // GECKO_TRANSFORMS_PASSES
