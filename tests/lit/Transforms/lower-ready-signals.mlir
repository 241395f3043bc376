// RUN: gecko-opt %s --gecko-lower-ready-signals --split-input-file --verify-diagnostics | FileCheck %s

// gecko-lower-ready-signals turns every gecko.ready_signal into a call of
// imports.signal(imports.context, id) (kernel ABI v2: the fourth field of
// gecko_host_imports, at offset 24), skipped while the field is NULL. A CPU
// module gets the exported, zero-initialized table.

// CHECK-LABEL: func.func @grad
// CHECK: linalg.copy
// CHECK-NEXT: %[[TABLE:.*]] = llvm.mlir.addressof @gecko_host_imports : !llvm.ptr
// CHECK-NEXT: %[[SLOT:.*]] = llvm.getelementptr %[[TABLE]][0, 3] : (!llvm.ptr) -> !llvm.ptr, !llvm.struct<(ptr, ptr, ptr, ptr)>
// CHECK-NEXT: %[[FN:.*]] = llvm.load %[[SLOT]] : !llvm.ptr -> !llvm.ptr
// CHECK-NEXT: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK-NEXT: %[[SET:.*]] = llvm.icmp "ne" %[[FN]], %[[NULL]] : !llvm.ptr
// CHECK-NEXT: scf.if %[[SET]] {
// CHECK-NEXT: %[[CTX:.*]] = llvm.load %[[TABLE]] : !llvm.ptr -> !llvm.ptr
// CHECK-NEXT: %[[ID:.*]] = llvm.mlir.constant(0 : i32) : i32
// CHECK-NEXT: llvm.call %[[FN]](%[[CTX]], %[[ID]]) : !llvm.ptr, (!llvm.ptr, i32) -> i32
// CHECK: llvm.mlir.constant(1 : i32) : i32
// CHECK-NOT: gecko.ready_signal
// CHECK: llvm.mlir.global external @gecko_host_imports() {addr_space = 0 : i32, alignment = 64 : i64} : !llvm.struct<(ptr, ptr, ptr, ptr)>
// CHECK-NEXT: llvm.mlir.zero : !llvm.struct<(ptr, ptr, ptr, ptr)>
func.func @grad(%x: memref<4xf32>, %a: memref<4xf32>, %b: memref<4xf32>) {
  linalg.copy ins(%x : memref<4xf32>) outs(%a : memref<4xf32>)
  gecko.ready_signal 0 ["grad.a"]
  linalg.copy ins(%x : memref<4xf32>) outs(%b : memref<4xf32>)
  gecko.ready_signal 1 ["grad.b"]
  return
}

// -----

// A CUDA module already has the table (gecko-convert-gpu-launch-to-runtime-
// calls made it): it is reused, not duplicated.
// CHECK: llvm.mlir.global external @gecko_host_imports()
// CHECK-LABEL: func.func @cuda
// CHECK: llvm.mlir.addressof @gecko_host_imports
// CHECK-NOT: llvm.mlir.global
llvm.mlir.global external @gecko_host_imports() {alignment = 64 : i64} : !llvm.struct<(ptr, ptr, ptr, ptr)> {
  %0 = llvm.mlir.zero : !llvm.struct<(ptr, ptr, ptr, ptr)>
  llvm.return %0 : !llvm.struct<(ptr, ptr, ptr, ptr)>
}
func.func @cuda() {
  gecko.ready_signal 0 ["grad.a"]
  return
}

// -----

// A table of the v1 layout cannot carry a signal.
// expected-error @+1 {{has type '!llvm.struct<(ptr, ptr, ptr)>'; the kernel ABI v2 host-imports table is '!llvm.struct<(ptr, ptr, ptr, ptr)>'}}
llvm.mlir.global external @gecko_host_imports() {alignment = 64 : i64} : !llvm.struct<(ptr, ptr, ptr)> {
  %0 = llvm.mlir.zero : !llvm.struct<(ptr, ptr, ptr)>
  llvm.return %0 : !llvm.struct<(ptr, ptr, ptr)>
}
func.func @old() {
  gecko.ready_signal 0 ["grad.a"]
  return
}

// -----

// Without signals the module is left alone (no table).
// CHECK-LABEL: func.func @none
// CHECK-NOT: gecko_host_imports
func.func @none() {
  return
}
