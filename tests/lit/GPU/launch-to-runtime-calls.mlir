// RUN: gecko-opt %s -split-input-file -verify-diagnostics -gecko-convert-gpu-launch-to-runtime-calls | FileCheck %s

// The binary becomes the exported image constants, launches call
// imports.launch with the kernel's index in gecko.gpu_kernels (k1 -> 1) and
// a parameter array of the memref's descriptor fields, and the gemm call
// fills a gecko_gemm_desc and calls imports.gemm.
// CHECK:     module attributes {gecko.gpu_chip = "sm_90a", gecko.gpu_image_format = "cubin", gecko.gpu_kernels = ["k0", "k1"]}
// CHECK-NOT: gpu.binary
// CHECK-NOT: func.func private @gecko_import_gemm
// CHECK-LABEL: func.func @f
// CHECK:       %[[DESC:.*]] = llvm.alloca %{{.*}} x !llvm.struct<(i32, i32, i64, i64, i64, i64, f64, f64, ptr, array<3 x i64>, ptr, array<3 x i64>, ptr, array<3 x i64>)>
// CHECK:       %[[PARAMS:.*]] = llvm.alloca %{{.*}} x !llvm.ptr
// CHECK:       %[[T1:.*]] = llvm.mlir.addressof @gecko_host_imports
// CHECK:       %[[CTX1:.*]] = llvm.load %[[T1]] : !llvm.ptr -> !llvm.ptr
// CHECK:       %[[S1:.*]] = llvm.getelementptr %[[T1]][0, 1] : (!llvm.ptr) -> !llvm.ptr, !llvm.struct<(ptr, ptr, ptr, ptr)>
// CHECK:       %[[LAUNCH:.*]] = llvm.load %[[S1]]
// CHECK:       %[[K1:.*]] = llvm.mlir.constant(1 : i32) : i32
// CHECK:       llvm.call %[[LAUNCH]](%[[CTX1]], %[[K1]], {{.*}}, %[[PARAMS]]) : !llvm.ptr, (!llvm.ptr, i32, i32, i32, i32, i32, i32, i32, i32, !llvm.ptr) -> i32
// CHECK:       %[[T2:.*]] = llvm.mlir.addressof @gecko_host_imports
// CHECK:       %[[CTX2:.*]] = llvm.load %[[T2]]
// CHECK:       %[[S2:.*]] = llvm.getelementptr %[[T2]][0, 2]
// CHECK:       %[[GEMM:.*]] = llvm.load %[[S2]]
// CHECK:       llvm.call %[[GEMM]](%[[CTX2]], %[[DESC]]) : !llvm.ptr, (!llvm.ptr, !llvm.ptr) -> i32
// CHECK-DAG:   llvm.mlir.global external constant @gecko_device_image("FAKEIMAGE")
// CHECK-DAG:   llvm.mlir.global external constant @gecko_device_image_size(9 : i64)
// CHECK-DAG:   llvm.mlir.global external @gecko_host_imports()
module attributes {gecko.gpu_kernels = ["k0", "k1"], gpu.container_module} {
  gpu.binary @gecko_kernels [#gpu.object<#nvvm.target<chip = "sm_90a">, bin = "FAKEIMAGE">]
  func.func private @gecko_import_gemm(i32, i64, i64, i64, i64, f64, f64, index, i64, i64, i64, index, i64, i64, i64, index, i64, i64, i64)
  func.func @f(%a: memref<8xf32>, %p: index) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    gpu.launch_func @gecko_kernels::@k1 blocks in (%c2, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<8xf32>)
    %i0 = arith.constant 0 : i32
    %one = arith.constant 1 : i64
    %f1 = arith.constant 1.0 : f64
    func.call @gecko_import_gemm(%i0, %one, %one, %one, %one, %f1, %f1, %p, %one, %one, %one, %p, %one, %one, %one, %p, %one, %one, %one) {gecko.gpu_import = "gemm"} : (i32, i64, i64, i64, i64, f64, f64, index, i64, i64, i64, index, i64, i64, i64, index, i64, i64, i64) -> ()
    return
  }
}

// -----

// Launches without the merged, compiled kernel module are an error.
// expected-error @below {{expected one gpu.binary @gecko_kernels}}
module attributes {gpu.container_module} {
  gpu.module @k {
    gpu.func @k() kernel {
      gpu.return
    }
  }
  func.func @g() {
    %c1 = arith.constant 1 : index
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    return
  }
}
