// RUN: gecko-opt %s | gecko-opt | FileCheck %s
// RUN: gecko-opt %s --mlir-print-op-generic | gecko-opt | FileCheck %s

// CHECK-LABEL: func.func @ready_signal
// CHECK: gecko.ready_signal 0 ["grad.a", "grad.b"]
// CHECK-NEXT: gecko.ready_signal 1 ["grad.c"]
func.func @ready_signal() {
  gecko.ready_signal 0 ["grad.a", "grad.b"]
  gecko.ready_signal 1 ["grad.c"]
  return
}

// The op reads and writes memory for other passes: canonicalization keeps
// it although nothing uses it.
// RUN: gecko-opt %s --canonicalize | FileCheck %s --check-prefix=KEEP
// KEEP: gecko.ready_signal 0
// KEEP: gecko.ready_signal 1
