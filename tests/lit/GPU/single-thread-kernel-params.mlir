// The CUDA pipeline's kernel stages on an optimizer-shaped function: one
// scalar computed from 0-d tensors (a learning rate and a step) scales
// many tensors. Without gecko-gpu-materialize-device-scalars every update
// joins the single-thread kernel that computes the scalar, which takes
// every tensor as a parameter: with a parameter limit of 256 bytes here
// (32764 for sm_90a with PTX ISA 8.1; the 128M-parameter model's optimizer
// took 113720 bytes) gecko-gpu-check-kernel-params rejects it. With the
// pass the scalar reaches each update through a 0-d buffer: one small
// single-thread kernel, then one parallel kernel per tensor.

// RUN: not gecko-opt %s --pass-pipeline='builtin.module(canonicalize,gecko-prepare-bufferization,one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},buffer-results-to-out-params{hoist-static-allocs modify-public-functions},canonicalize,gecko-plan-memory,buffer-deallocation-pipeline,gecko-lower-memref-copy,func.func(convert-linalg-to-parallel-loops),canonicalize,func.func(gecko-gpu-wrap-host-compute,gecko-gpu-map-parallel-loops,convert-parallel-loops-to-gpu),lower-affine,canonicalize,gpu-kernel-outlining,gecko-gpu-merge-kernel-modules,nvvm-attach-target{chip=sm_90a features=+ptx81},gecko-gpu-check-kernel-params{max-bytes=256})' \
// RUN:   -o /dev/null 2>&1 | FileCheck %s --check-prefix=FUSED
// RUN: gecko-opt %s --pass-pipeline='builtin.module(func.func(gecko-gpu-materialize-device-scalars),canonicalize,gecko-prepare-bufferization,one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},buffer-results-to-out-params{hoist-static-allocs modify-public-functions},canonicalize,gecko-plan-memory,buffer-deallocation-pipeline,gecko-lower-memref-copy,func.func(convert-linalg-to-parallel-loops),canonicalize,func.func(gecko-gpu-wrap-host-compute,gecko-gpu-map-parallel-loops,convert-parallel-loops-to-gpu),lower-affine,canonicalize,gpu-kernel-outlining,gecko-gpu-merge-kernel-modules,nvvm-attach-target{chip=sm_90a features=+ptx81},gecko-gpu-check-kernel-params{max-bytes=256})' \
// RUN:   | FileCheck %s

// FUSED: error: kernel @update_kernel takes 560 bytes of parameters (14 buffers, passed as memref descriptors, and 4 scalars), over the limit of 256 bytes (max-bytes)
// FUSED: note: launched here

// CHECK-LABEL: func.func @update
// CHECK:         gpu.launch_func @gecko_kernels::@update_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
// CHECK-SAME:      args(%[[WS:.+]] : memref<4xi8>,
// CHECK-COUNT-6: gpu.launch_func @gecko_kernels::@update_kernel_{{[0-9]+}} blocks in (%c4, %c1, %c1) threads in (%c256, %c1, %c1) args(%c256 : index, %[[WS]] : memref<4xi8>, %c0 : index, %{{.+}} : memref<1024xf32>, %{{.+}} : memref<1024xf32>)
// CHECK:         gpu.module @gecko_kernels
// CHECK:         gpu.func @update_kernel(
// CHECK:           memref.load %{{.+}}[] : memref<i64>
// CHECK:           memref.load %{{.+}}[] : memref<f32>
// CHECK:           arith.divf
// CHECK:           memref.store %{{.+}}, %{{.+}}[] : memref<f32>
// CHECK:         gpu.func @update_kernel_0(
// CHECK:           %[[SCALE:.+]] = memref.load %{{.+}}[] : memref<f32>
// CHECK:           arith.mulf %{{.+}}, %[[SCALE]] : f32
#id = affine_map<(d0) -> (d0)>
func.func @update(%lr: tensor<f32>, %step: tensor<i64>,
                  %p0: tensor<1024xf32>,
                  %p1: tensor<1024xf32>,
                  %p2: tensor<1024xf32>,
                  %p3: tensor<1024xf32>,
                  %p4: tensor<1024xf32>,
                  %p5: tensor<1024xf32>)
    -> (tensor<1024xf32>, tensor<1024xf32>, tensor<1024xf32>, tensor<1024xf32>, tensor<1024xf32>, tensor<1024xf32>) {
  %one = arith.constant 1.0 : f32
  %l = tensor.extract %lr[] : tensor<f32>
  %s = tensor.extract %step[] : tensor<i64>
  %sf = arith.sitofp %s : i64 to f32
  %t = arith.addf %sf, %one : f32
  %scale = arith.divf %l, %t : f32
  %e = tensor.empty() : tensor<1024xf32>
  %r0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%p0 : tensor<1024xf32>) outs(%e : tensor<1024xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = arith.mulf %x, %scale : f32
    linalg.yield %y : f32
  } -> tensor<1024xf32>
  %r1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%p1 : tensor<1024xf32>) outs(%e : tensor<1024xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = arith.mulf %x, %scale : f32
    linalg.yield %y : f32
  } -> tensor<1024xf32>
  %r2 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%p2 : tensor<1024xf32>) outs(%e : tensor<1024xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = arith.mulf %x, %scale : f32
    linalg.yield %y : f32
  } -> tensor<1024xf32>
  %r3 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%p3 : tensor<1024xf32>) outs(%e : tensor<1024xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = arith.mulf %x, %scale : f32
    linalg.yield %y : f32
  } -> tensor<1024xf32>
  %r4 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%p4 : tensor<1024xf32>) outs(%e : tensor<1024xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = arith.mulf %x, %scale : f32
    linalg.yield %y : f32
  } -> tensor<1024xf32>
  %r5 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%p5 : tensor<1024xf32>) outs(%e : tensor<1024xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = arith.mulf %x, %scale : f32
    linalg.yield %y : f32
  } -> tensor<1024xf32>
  return %r0, %r1, %r2, %r3, %r4, %r5 : tensor<1024xf32>, tensor<1024xf32>, tensor<1024xf32>, tensor<1024xf32>, tensor<1024xf32>, tensor<1024xf32>
}
