// RUN: gecko-opt %s -split-input-file \
// RUN:   --pass-pipeline='builtin.module(func.func(gecko-gpu-rematerialize-scalars))' \
// RUN:   | FileCheck %s

// The shape CSE gives a train step: a scalar read from a tensor (and a
// loop over it, like the timestep norm's powers of beta) is used before and
// after a contraction. The second use gets its own copy of the computation,
// after the contraction; the first keeps the original.
#mk = affine_map<(m, n, k) -> (m, k)>
#kn = affine_map<(m, n, k) -> (k, n)>
#mn = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i) -> (i)>
// CHECK-LABEL: func.func @use_across_contraction
// CHECK:         %[[READ:.*]] = tensor.extract %arg0[]
// CHECK:         %[[POW:.*]] = scf.for {{.*}} iter_args(%{{.*}} = %{{.*}}) -> (f32)
// CHECK:         linalg.generic {{.*}} ins(%arg3 :
// CHECK:           arith.mulf %{{.*}}, %[[POW]]
// CHECK:         %[[MM:.*]] = linalg.generic {{.*}} ins(%arg1, %arg2 :
// CHECK:         %[[READ2:.*]] = tensor.extract %arg0[]
// CHECK:         %[[N2:.*]] = arith.index_cast %[[READ2]]
// CHECK:         %[[POW2:.*]] = scf.for %{{.*}} = %{{.*}} to %[[N2]]
// CHECK:         linalg.generic {{.*}} ins(%arg3 :
// CHECK:           arith.addf %{{.*}}, %[[POW2]]
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

// -----

// A use right after the computation (no tensor work in between) and a
// scalar that is not read from a tensor are left alone.
#id = affine_map<(i) -> (i)>
// CHECK-LABEL: func.func @near_use
// CHECK:         tensor.extract
// CHECK-NOT:     tensor.extract
func.func @near_use(%count: tensor<f32>, %x: tensor<8xf32>, %y: tensor<8xf32>)
    -> (tensor<8xf32>, tensor<8xf32>) {
  %c = tensor.extract %count[] : tensor<f32>
  %k = arith.constant 2.0 : f32
  %e = tensor.empty() : tensor<8xf32>
  %y0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.mulf %in, %c : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %y1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%y : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.mulf %in, %k : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %y0, %y1 : tensor<8xf32>, tensor<8xf32>
}

// -----

// Inside a host loop over tensor work (chunks), a scalar read before the
// loop is recomputed next to its use in the loop body.
#id = affine_map<(i) -> (i)>
// CHECK-LABEL: func.func @use_in_host_loop
// CHECK:         scf.for
// CHECK:           linalg.generic
// CHECK:           tensor.extract %arg0[]
// CHECK-NEXT:      linalg.generic
func.func @use_in_host_loop(%s: tensor<f32>, %x: tensor<8xf32>) -> tensor<8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %v = tensor.extract %s[] : tensor<f32>
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %x) -> tensor<8xf32> {
    %e = tensor.empty() : tensor<8xf32>
    %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
        ins(%acc : tensor<8xf32>) outs(%e : tensor<8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %m = arith.mulf %in, %in : f32
      linalg.yield %m : f32
    } -> tensor<8xf32>
    %u = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
        ins(%t : tensor<8xf32>) outs(%e : tensor<8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %m = arith.addf %in, %v : f32
      linalg.yield %m : f32
    } -> tensor<8xf32>
    scf.yield %u : tensor<8xf32>
  }
  return %r : tensor<8xf32>
}

// -----

// A scalar recurrence (a timestep norm's loop over time, writing with
// tensor.insert) far from the read is one user: the read is recomputed
// before the loop, not inside it.
#mk = affine_map<(m, n, k) -> (m, k)>
#kn = affine_map<(m, n, k) -> (k, n)>
#mn = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func.func @use_in_scalar_recurrence
// CHECK:         linalg.generic
// CHECK:         %[[READ:.*]] = tensor.extract %arg0[]
// CHECK-NEXT:    scf.for
// CHECK-NOT:       tensor.extract %arg0
// CHECK:           arith.addi %{{.*}}, %[[READ]]
func.func @use_in_scalar_recurrence(%count: tensor<i64>, %a: tensor<8x4xf32>,
                                    %b: tensor<4x8xf32>, %init: tensor<8x8xf32>,
                                    %out: tensor<16xi64>)
    -> (tensor<8x8xf32>, tensor<16xi64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %n = tensor.extract %count[] : tensor<i64>
  %mm = linalg.generic {indexing_maps = [#mk, #kn, #mn],
                        iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : tensor<8x4xf32>, tensor<4x8xf32>) outs(%init : tensor<8x8xf32>) {
  ^bb0(%l: f32, %r: f32, %o: f32):
    %p = arith.mulf %l, %r : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  } -> tensor<8x8xf32>
  %r = scf.for %t = %c0 to %c16 step %c1 iter_args(%acc = %out) -> tensor<16xi64> {
    %ti = arith.index_cast %t : index to i64
    %v = arith.addi %ti, %n : i64
    %u = tensor.insert %v into %acc[%t] : tensor<16xi64>
    scf.yield %u : tensor<16xi64>
  }
  return %mm, %r : tensor<8x8xf32>, tensor<16xi64>
}
