// RUN: gecko-compile %s --emit=mlir | FileCheck %s
// RUN: gecko-compile %s --emit=mlir -o %t.mlir && gecko-opt %t.mlir | FileCheck %s
// RUN: gecko-compile %s --pass-pipeline='builtin.module(canonicalize)' | FileCheck %s
// RUN: gecko-compile --help | FileCheck %s --check-prefix=HELP
// RUN: not gecko-compile %S/Inputs/malformed.mlir 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not gecko-compile %t.does-not-exist 2>&1 | FileCheck %s --check-prefix=MISSING

// HELP: gecko-compile: compile Gecko models and IR
// HELP: --emit=
// BAD: error:
// MISSING: gecko-compile: {{.*}}does-not-exist

// CHECK-LABEL: func.func @mx_norm
// CHECK: gecko.rms_norm
func.func @mx_norm(%x: tensor<2x64x256xf32>, %w: tensor<256xf32>) -> tensor<2x64x256xf32> {
  %y = gecko.rms_norm %x weight(%w) groups(1) eps(1.0e-05) : tensor<2x64x256xf32>, tensor<256xf32>
  return %y : tensor<2x64x256xf32>
}
