// RUN: gecko-opt %s --gecko-cpu-lowering | FileCheck %s

// The CPU pipeline ends in the LLVM dialect with buffers as bare pointers,
// results as out parameters and a kernel-ABI entry wrapper that unpacks the
// pointer array (gecko/abi/kernel_abi.h).
// CHECK:       llvm.func @f(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK:       llvm.func @gecko_entry_f(%[[ARGV:.*]]: !llvm.ptr)
// CHECK:         %[[S0:.*]] = llvm.getelementptr %[[ARGV]][0]
// CHECK:         %[[P0:.*]] = llvm.load %[[S0]] : !llvm.ptr -> !llvm.ptr
// CHECK:         %[[S1:.*]] = llvm.getelementptr %[[ARGV]][1]
// CHECK:         %[[P1:.*]] = llvm.load %[[S1]] : !llvm.ptr -> !llvm.ptr
// CHECK:         llvm.call @f(%[[P0]], %[[P1]])
// CHECK-NOT:   llvm.call @malloc
func.func @f(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %y = gecko.silu %x : tensor<4x8xf32>
  %z = gecko.silu %y : tensor<4x8xf32>
  return %z : tensor<4x8xf32>
}
