// The CUDA pipeline's front half on the shape CSE gives a train step (issue
// #8): a scalar read from a buffer (a timestep norm's prior count and its
// powers of beta) used before and after a contraction. Without
// gecko-gpu-rematerialize-scalars the second use keeps the first read alive
// across the contraction, which then stays a generated loop nest inside one
// single-thread kernel; with it, the read is repeated and the contraction
// becomes a library GEMM between two short single-thread kernels.
// RUN: gecko-opt %s --pass-pipeline='builtin.module(cse,func.func(gecko-gpu-rematerialize-scalars),canonicalize,gecko-prepare-bufferization,one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},buffer-results-to-out-params{hoist-static-allocs modify-public-functions},canonicalize,gecko-plan-memory,buffer-deallocation-pipeline,gecko-lower-memref-copy,gecko-gpu-contractions-to-gemm,func.func(convert-linalg-to-parallel-loops),canonicalize,func.func(gecko-gpu-wrap-host-compute))' \
// RUN:   | FileCheck %s
// RUN: gecko-opt %s --pass-pipeline='builtin.module(cse,canonicalize,gecko-prepare-bufferization,one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},buffer-results-to-out-params{hoist-static-allocs modify-public-functions},canonicalize,gecko-plan-memory,buffer-deallocation-pipeline,gecko-lower-memref-copy,gecko-gpu-contractions-to-gemm,func.func(convert-linalg-to-parallel-loops),canonicalize,func.func(gecko-gpu-wrap-host-compute))' \
// RUN:   | FileCheck %s --check-prefix=NOREMAT

// CHECK-LABEL: func.func @use_across_contraction
// CHECK:         scf.parallel (%{{.*}}) = (%{{.*}}) to (%[[ONE:.*]]) step (%[[ONE]])
// CHECK:           memref.load %arg0[]
// CHECK:           scf.reduce
// CHECK-NOT:     scf.for
// CHECK:         call @gecko_import_gemm(
// CHECK:         scf.parallel (%{{.*}}) = (%{{.*}}) to (%[[ONE2:.*]]) step (%[[ONE2]])
// CHECK:           memref.load %arg0[]
// CHECK:         return

// NOREMAT-LABEL: func.func @use_across_contraction
// NOREMAT-NOT:   gecko_import_gemm
// NOREMAT:       return
#mk = affine_map<(m, n, k) -> (m, k)>
#kn = affine_map<(m, n, k) -> (k, n)>
#mn = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i) -> (i)>
func.func @use_across_contraction(%count: tensor<i64>, %a: tensor<8x4xf32>,
                                  %b: tensor<4x8xf32>, %x: tensor<8xf32>)
    -> (tensor<8xf32>, tensor<8x8xf32>, tensor<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %one = arith.constant 1.0 : f32
  %beta = arith.constant 0.5 : f32
  %zero = arith.constant 0.0 : f32
  %n64 = tensor.extract %count[] : tensor<i64>
  %n = arith.index_cast %n64 : i64 to index
  %pow = scf.for %i = %c0 to %n step %c1 iter_args(%p = %one) -> (f32) {
    %q = arith.mulf %p, %beta : f32
    scf.yield %q : f32
  }
  %e = tensor.empty() : tensor<8xf32>
  %y0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.mulf %in, %pow : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %e2 = tensor.empty() : tensor<8x8xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e2 : tensor<8x8xf32>) -> tensor<8x8xf32>
  %mm = linalg.generic {indexing_maps = [#mk, #kn, #mn],
                        iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : tensor<8x4xf32>, tensor<4x8xf32>) outs(%init : tensor<8x8xf32>) {
  ^bb0(%l: f32, %r: f32, %o: f32):
    %p = arith.mulf %l, %r : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  } -> tensor<8x8xf32>
  %y1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %in, %pow : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %y0, %mm, %y1 : tensor<8xf32>, tensor<8x8xf32>, tensor<8xf32>
}

