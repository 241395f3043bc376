// RUN: gecko-opt %s -split-input-file -verify-diagnostics \
// RUN:   --pass-pipeline='builtin.module(gecko-gpu-check-kernel-params)'

// The limit comes from the kernel module's NVVM target: 4096 bytes without
// PTX ISA 8.1. A rank-4 memref is an 88-byte descriptor, so 47 of them
// (4136 bytes) are too many. The error names the kernel and the launch.
module attributes {gpu.container_module} {
  gpu.module @kernels [#nvvm.target<chip = "sm_90a">] {
    // expected-error @+1 {{kernel @many_buffers takes 4136 bytes of parameters (47 buffers, passed as memref descriptors, and 0 scalars), over the limit of 4096 bytes (sm_90a, features ''); the sequential code it runs touches too many buffers}}
    gpu.func @many_buffers(
      %a0: memref<2x2x2x2xf32>, %a1: memref<2x2x2x2xf32>, %a2: memref<2x2x2x2xf32>,
      %a3: memref<2x2x2x2xf32>, %a4: memref<2x2x2x2xf32>, %a5: memref<2x2x2x2xf32>,
      %a6: memref<2x2x2x2xf32>, %a7: memref<2x2x2x2xf32>, %a8: memref<2x2x2x2xf32>,
      %a9: memref<2x2x2x2xf32>, %a10: memref<2x2x2x2xf32>, %a11: memref<2x2x2x2xf32>,
      %a12: memref<2x2x2x2xf32>, %a13: memref<2x2x2x2xf32>, %a14: memref<2x2x2x2xf32>,
      %a15: memref<2x2x2x2xf32>, %a16: memref<2x2x2x2xf32>, %a17: memref<2x2x2x2xf32>,
      %a18: memref<2x2x2x2xf32>, %a19: memref<2x2x2x2xf32>, %a20: memref<2x2x2x2xf32>,
      %a21: memref<2x2x2x2xf32>, %a22: memref<2x2x2x2xf32>, %a23: memref<2x2x2x2xf32>,
      %a24: memref<2x2x2x2xf32>, %a25: memref<2x2x2x2xf32>, %a26: memref<2x2x2x2xf32>,
      %a27: memref<2x2x2x2xf32>, %a28: memref<2x2x2x2xf32>, %a29: memref<2x2x2x2xf32>,
      %a30: memref<2x2x2x2xf32>, %a31: memref<2x2x2x2xf32>, %a32: memref<2x2x2x2xf32>,
      %a33: memref<2x2x2x2xf32>, %a34: memref<2x2x2x2xf32>, %a35: memref<2x2x2x2xf32>,
      %a36: memref<2x2x2x2xf32>, %a37: memref<2x2x2x2xf32>, %a38: memref<2x2x2x2xf32>,
      %a39: memref<2x2x2x2xf32>, %a40: memref<2x2x2x2xf32>, %a41: memref<2x2x2x2xf32>,
      %a42: memref<2x2x2x2xf32>, %a43: memref<2x2x2x2xf32>, %a44: memref<2x2x2x2xf32>,
      %a45: memref<2x2x2x2xf32>, %a46: memref<2x2x2x2xf32>) kernel {
      gpu.return
    }
  }
  func.func @launch(%m: memref<2x2x2x2xf32>) {
    %c1 = arith.constant 1 : index
    // expected-note @+1 {{launched here}}
    gpu.launch_func @kernels::@many_buffers blocks in (%c1, %c1, %c1)
        threads in (%c1, %c1, %c1)
        args(%m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>, %m : memref<2x2x2x2xf32>)
    return
  }
}

// -----

// PTX ISA 8.1 on sm_70 or newer allows 32764 bytes.
module attributes {gpu.container_module} {
  gpu.module @kernels [#nvvm.target<chip = "sm_90a", features = "+ptx81">] {
    gpu.func @many_buffers(
      %a0: memref<2x2x2x2xf32>, %a1: memref<2x2x2x2xf32>, %a2: memref<2x2x2x2xf32>,
      %a3: memref<2x2x2x2xf32>, %a4: memref<2x2x2x2xf32>, %a5: memref<2x2x2x2xf32>,
      %a6: memref<2x2x2x2xf32>, %a7: memref<2x2x2x2xf32>, %a8: memref<2x2x2x2xf32>,
      %a9: memref<2x2x2x2xf32>, %a10: memref<2x2x2x2xf32>, %a11: memref<2x2x2x2xf32>,
      %a12: memref<2x2x2x2xf32>, %a13: memref<2x2x2x2xf32>, %a14: memref<2x2x2x2xf32>,
      %a15: memref<2x2x2x2xf32>, %a16: memref<2x2x2x2xf32>, %a17: memref<2x2x2x2xf32>,
      %a18: memref<2x2x2x2xf32>, %a19: memref<2x2x2x2xf32>, %a20: memref<2x2x2x2xf32>,
      %a21: memref<2x2x2x2xf32>, %a22: memref<2x2x2x2xf32>, %a23: memref<2x2x2x2xf32>,
      %a24: memref<2x2x2x2xf32>, %a25: memref<2x2x2x2xf32>, %a26: memref<2x2x2x2xf32>,
      %a27: memref<2x2x2x2xf32>, %a28: memref<2x2x2x2xf32>, %a29: memref<2x2x2x2xf32>,
      %a30: memref<2x2x2x2xf32>, %a31: memref<2x2x2x2xf32>, %a32: memref<2x2x2x2xf32>,
      %a33: memref<2x2x2x2xf32>, %a34: memref<2x2x2x2xf32>, %a35: memref<2x2x2x2xf32>,
      %a36: memref<2x2x2x2xf32>, %a37: memref<2x2x2x2xf32>, %a38: memref<2x2x2x2xf32>,
      %a39: memref<2x2x2x2xf32>, %a40: memref<2x2x2x2xf32>, %a41: memref<2x2x2x2xf32>,
      %a42: memref<2x2x2x2xf32>, %a43: memref<2x2x2x2xf32>, %a44: memref<2x2x2x2xf32>,
      %a45: memref<2x2x2x2xf32>, %a46: memref<2x2x2x2xf32>) kernel {
      gpu.return
    }
  }
}

// -----

// ... but not before sm_70.
module attributes {gpu.container_module} {
  gpu.module @kernels [#nvvm.target<chip = "sm_60", features = "+ptx81">] {
    // expected-error @+1 {{over the limit of 4096 bytes (sm_60, features '+ptx81')}}
    gpu.func @many_buffers(
      %a0: memref<2x2x2x2xf32>, %a1: memref<2x2x2x2xf32>, %a2: memref<2x2x2x2xf32>,
      %a3: memref<2x2x2x2xf32>, %a4: memref<2x2x2x2xf32>, %a5: memref<2x2x2x2xf32>,
      %a6: memref<2x2x2x2xf32>, %a7: memref<2x2x2x2xf32>, %a8: memref<2x2x2x2xf32>,
      %a9: memref<2x2x2x2xf32>, %a10: memref<2x2x2x2xf32>, %a11: memref<2x2x2x2xf32>,
      %a12: memref<2x2x2x2xf32>, %a13: memref<2x2x2x2xf32>, %a14: memref<2x2x2x2xf32>,
      %a15: memref<2x2x2x2xf32>, %a16: memref<2x2x2x2xf32>, %a17: memref<2x2x2x2xf32>,
      %a18: memref<2x2x2x2xf32>, %a19: memref<2x2x2x2xf32>, %a20: memref<2x2x2x2xf32>,
      %a21: memref<2x2x2x2xf32>, %a22: memref<2x2x2x2xf32>, %a23: memref<2x2x2x2xf32>,
      %a24: memref<2x2x2x2xf32>, %a25: memref<2x2x2x2xf32>, %a26: memref<2x2x2x2xf32>,
      %a27: memref<2x2x2x2xf32>, %a28: memref<2x2x2x2xf32>, %a29: memref<2x2x2x2xf32>,
      %a30: memref<2x2x2x2xf32>, %a31: memref<2x2x2x2xf32>, %a32: memref<2x2x2x2xf32>,
      %a33: memref<2x2x2x2xf32>, %a34: memref<2x2x2x2xf32>, %a35: memref<2x2x2x2xf32>,
      %a36: memref<2x2x2x2xf32>, %a37: memref<2x2x2x2xf32>, %a38: memref<2x2x2x2xf32>,
      %a39: memref<2x2x2x2xf32>, %a40: memref<2x2x2x2xf32>, %a41: memref<2x2x2x2xf32>,
      %a42: memref<2x2x2x2xf32>, %a43: memref<2x2x2x2xf32>, %a44: memref<2x2x2x2xf32>,
      %a45: memref<2x2x2x2xf32>, %a46: memref<2x2x2x2xf32>) kernel {
      gpu.return
    }
  }
}

// -----

// Modules without an NVVM target are not checked.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @many_buffers(
      %a0: memref<2x2x2x2xf32>, %a1: memref<2x2x2x2xf32>, %a2: memref<2x2x2x2xf32>,
      %a3: memref<2x2x2x2xf32>, %a4: memref<2x2x2x2xf32>, %a5: memref<2x2x2x2xf32>,
      %a6: memref<2x2x2x2xf32>, %a7: memref<2x2x2x2xf32>, %a8: memref<2x2x2x2xf32>,
      %a9: memref<2x2x2x2xf32>, %a10: memref<2x2x2x2xf32>, %a11: memref<2x2x2x2xf32>,
      %a12: memref<2x2x2x2xf32>, %a13: memref<2x2x2x2xf32>, %a14: memref<2x2x2x2xf32>,
      %a15: memref<2x2x2x2xf32>, %a16: memref<2x2x2x2xf32>, %a17: memref<2x2x2x2xf32>,
      %a18: memref<2x2x2x2xf32>, %a19: memref<2x2x2x2xf32>, %a20: memref<2x2x2x2xf32>,
      %a21: memref<2x2x2x2xf32>, %a22: memref<2x2x2x2xf32>, %a23: memref<2x2x2x2xf32>,
      %a24: memref<2x2x2x2xf32>, %a25: memref<2x2x2x2xf32>, %a26: memref<2x2x2x2xf32>,
      %a27: memref<2x2x2x2xf32>, %a28: memref<2x2x2x2xf32>, %a29: memref<2x2x2x2xf32>,
      %a30: memref<2x2x2x2xf32>, %a31: memref<2x2x2x2xf32>, %a32: memref<2x2x2x2xf32>,
      %a33: memref<2x2x2x2xf32>, %a34: memref<2x2x2x2xf32>, %a35: memref<2x2x2x2xf32>,
      %a36: memref<2x2x2x2xf32>, %a37: memref<2x2x2x2xf32>, %a38: memref<2x2x2x2xf32>,
      %a39: memref<2x2x2x2xf32>, %a40: memref<2x2x2x2xf32>, %a41: memref<2x2x2x2xf32>,
      %a42: memref<2x2x2x2xf32>, %a43: memref<2x2x2x2xf32>, %a44: memref<2x2x2x2xf32>,
      %a45: memref<2x2x2x2xf32>, %a46: memref<2x2x2x2xf32>) kernel {
      gpu.return
    }
  }
}
