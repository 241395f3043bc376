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
