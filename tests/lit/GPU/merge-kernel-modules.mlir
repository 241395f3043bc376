// RUN: gecko-opt %s -split-input-file -verify-diagnostics -gecko-gpu-merge-kernel-modules | FileCheck %s

// Outlining names both kernels @f_kernel; each is renamed after its (unique)
// module, the identical constant global is kept once, and the launches and
// the kernel list follow.
// CHECK: module attributes {gecko.gpu_kernels = ["f_kernel", "f_kernel_0"]
// CHECK:   gpu.module @gecko_kernels {
// CHECK-COUNT-1: memref.global "private" constant @table
// CHECK:     gpu.func @f_kernel(
// CHECK:     gpu.func @f_kernel_0(
// CHECK-NOT: gpu.module
// CHECK:     gpu.launch_func  @gecko_kernels::@f_kernel blocks
// CHECK:     gpu.launch_func  @gecko_kernels::@f_kernel_0 blocks
module attributes {gpu.container_module} {
  gpu.module @f_kernel {
    memref.global "private" constant @table : memref<2xf32> = dense<[1.0, 2.0]>
    gpu.func @f_kernel(%a: memref<2xf32>) kernel {
      %c0 = arith.constant 0 : index
      %g = memref.get_global @table : memref<2xf32>
      %x = memref.load %g[%c0] : memref<2xf32>
      memref.store %x, %a[%c0] : memref<2xf32>
      gpu.return
    }
  }
  gpu.module @f_kernel_0 {
    memref.global "private" constant @table : memref<2xf32> = dense<[1.0, 2.0]>
    gpu.func @f_kernel(%a: memref<2xf32>) kernel {
      %c1 = arith.constant 1 : index
      %g = memref.get_global @table : memref<2xf32>
      %x = memref.load %g[%c1] : memref<2xf32>
      memref.store %x, %a[%c1] : memref<2xf32>
      gpu.return
    }
  }
  func.func @f(%a: memref<2xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @f_kernel::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<2xf32>)
    gpu.launch_func @f_kernel_0::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<2xf32>)
    return
  }
}

// -----

// The same symbol defined differently by two kernel modules is an error.
module attributes {gpu.container_module} {
  gpu.module @g_kernel {
    memref.global "private" constant @table : memref<2xf32> = dense<[1.0, 2.0]>
    gpu.func @g_kernel(%a: memref<2xf32>) kernel {
      gpu.return
    }
  }
  gpu.module @g_kernel_0 {
    // expected-error @below {{defines @table, which another kernel module defines differently}}
    memref.global "private" constant @table : memref<2xf32> = dense<[3.0, 4.0]>
    gpu.func @g_kernel(%a: memref<2xf32>) kernel {
      gpu.return
    }
  }
}

// -----

// A kernel whose location names a model step (the frontend's NameLoc, kept
// through lowering) carries the step in its name, made an identifier; the
// first NameLoc found wins inside a fused location.
// CHECK-LABEL: module attributes {gecko.gpu_kernels = ["h_kernel__layers_0_mega_cema", "h_kernel_0__layers_1_nffn"]
// CHECK: gpu.func @h_kernel__layers_0_mega_cema(
// CHECK: gpu.func @h_kernel_0__layers_1_nffn(
// CHECK: gpu.launch_func  @gecko_kernels::@h_kernel__layers_0_mega_cema blocks
// CHECK: gpu.launch_func  @gecko_kernels::@h_kernel_0__layers_1_nffn blocks
module attributes {gpu.container_module} {
  gpu.module @h_kernel {
    gpu.func @h_kernel(%a: memref<2xf32>) kernel {
      gpu.return
    } loc("layers.0.mega.cema"("model.json":0:0))
  }
  gpu.module @h_kernel_0 {
    gpu.func @h_kernel(%a: memref<2xf32>) kernel {
      gpu.return
    } loc(fused["x.mlir":1:1, "layers.1.nffn"("model.json":0:0), "layers.1.other"("m":0:0)])
  }
  func.func @h(%a: memref<2xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @h_kernel::@h_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<2xf32>)
    gpu.launch_func @h_kernel_0::@h_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<2xf32>)
    return
  }
}
