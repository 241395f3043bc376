// The CUDA pipeline splits a full reduction (a gradient's sum of squares in
// the global norm) into parallel kernels: 1048576 terms become 16384
// partials of 64 (64 blocks of 256 threads), then 256, then 4, and only
// the sum of those 4 (with the square root) runs in one thread. Without
// gecko-gpu-split-reductions the whole sum is one thread's loop over
// 1024 x 1024 elements.

// REQUIRES: ptxas
// RUN: gecko-opt %s --pass-pipeline='builtin.module(gecko-cuda-kernels)' \
// RUN:   | FileCheck %s

// CHECK-LABEL: func.func @sum_of_squares
// The squares.
// CHECK:         gpu.launch_func @gecko_kernels::@{{[a-z_0-9]+}} blocks in (%c4096, %c1, %c1) threads in (%c256, %c1, %c1)
// The zero init of the result.
// CHECK-NEXT:    gpu.launch_func @gecko_kernels::@{{[a-z_0-9]+}} blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
// 16384 partials: their fill and their sums of 64 squares each.
// CHECK-NEXT:    gpu.launch_func @gecko_kernels::@{{[a-z_0-9]+}} blocks in (%c64, %c1, %c1) threads in (%c256, %c1, %c1)
// CHECK-NEXT:    gpu.launch_func @gecko_kernels::@{{[a-z_0-9]+}} blocks in (%c64, %c1, %c1) threads in (%c256, %c1, %c1)
// 256 partials, then 4.
// CHECK-NEXT:    gpu.launch_func @gecko_kernels::@{{[a-z_0-9]+}} blocks in (%c1, %c1, %c1) threads in (%c256, %c1, %c1)
// CHECK-NEXT:    gpu.launch_func @gecko_kernels::@{{[a-z_0-9]+}} blocks in (%c1, %c1, %c1) threads in (%c256, %c1, %c1)
// CHECK-NEXT:    gpu.launch_func @gecko_kernels::@{{[a-z_0-9]+}} blocks in (%c1, %c1, %c1) threads in (%c256, %c1, %c1) args(%c4 : index,
// CHECK-NEXT:    gpu.launch_func @gecko_kernels::@{{[a-z_0-9]+}} blocks in (%c1, %c1, %c1) threads in (%c256, %c1, %c1) args(%c4 : index,
// The last 4 terms and the square root, in one thread.
// CHECK-NEXT:    gpu.launch_func @gecko_kernels::@[[LAST:[a-z_0-9]+]] blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
// CHECK-SAME:      %c4 : index
// CHECK-NOT:     gpu.launch_func
// CHECK:         return
func.func @sum_of_squares(%g: tensor<1024x1024xf32>) -> tensor<f32> {
  %sq = arith.mulf %g, %g : tensor<1024x1024xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %r = linalg.reduce ins(%sq : tensor<1024x1024xf32>) outs(%init : tensor<f32>) dimensions = [0, 1]
    (%x: f32, %acc: f32) {
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
  %n = math.sqrt %r : tensor<f32>
  return %n : tensor<f32>
}
