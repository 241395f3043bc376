// RUN: gecko-opt %s --gecko-interchange-contractions --split-input-file | FileCheck %s

// gecko-interchange-contractions moves a contiguous parallel loop innermost
// in reductions (so LLVM vectorizes it without reordering any sum) and
// lowers such generics to loops with the work that does not depend on the
// innermost loop hoisted out of it.

// y[m, o] += silu(x[m, i]) * wt[i, o]: loops (m, o, i) become (m, i, o);
// the silu is computed once per (m, i), outside the loop over o.
// CHECK-LABEL: func.func @linear
// CHECK:       scf.for %[[M:.*]] = %{{.*}} to %{{.*}} step
// CHECK:         scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step
// CHECK:           %[[X:.*]] = memref.load %{{.*}}[%[[M]], %[[I]]] : memref<4x32xf32>
// CHECK:           math.exp
// CHECK:           arith.divf
// CHECK:           scf.for %[[O:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NOT:         math.exp
// CHECK:             memref.load %{{.*}}[%[[I]], %[[O]]] : memref<32x16xf32>
// CHECK:             memref.load %{{.*}}[%[[M]], %[[O]]] : memref<4x16xf32>
// CHECK:             arith.mulf
// CHECK:             arith.addf
// CHECK:             memref.store %{{.*}}, %{{.*}}[%[[M]], %[[O]]] : memref<4x16xf32>
// CHECK-NOT:   linalg.generic
func.func @linear(%x: memref<4x32xf32>, %wt: memref<32x16xf32>,
                  %y: memref<4x16xf32>) {
  %one = arith.constant 1.0 : f32
  linalg.generic {
      indexing_maps = [affine_map<(m, o, i) -> (m, i)>,
                       affine_map<(m, o, i) -> (i, o)>,
                       affine_map<(m, o, i) -> (m, o)>],
      iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %wt : memref<4x32xf32>, memref<32x16xf32>)
      outs(%y : memref<4x16xf32>) {
  ^bb0(%a: f32, %w: f32, %acc: f32):
    %n = arith.negf %a : f32
    %e = math.exp %n : f32
    %d = arith.addf %e, %one : f32
    %s = arith.divf %a, %d : f32
    %p = arith.mulf %s, %w : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// y = x W^T with W untransposed: W[o, i] is strided along o, so the
// reduction stays innermost and the generic is left to
// convert-linalg-to-loops.
// CHECK-LABEL: func.func @dot_form
// CHECK:       linalg.generic
// CHECK-SAME:    iterator_types = ["parallel", "parallel", "reduction"]
func.func @dot_form(%x: memref<4x32xf32>, %w: memref<16x32xf32>,
                    %y: memref<4x16xf32>) {
  linalg.generic {
      indexing_maps = [affine_map<(m, o, i) -> (m, i)>,
                       affine_map<(m, o, i) -> (o, i)>,
                       affine_map<(m, o, i) -> (m, o)>],
      iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<4x32xf32>, memref<16x32xf32>)
      outs(%y : memref<4x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// An elementwise generic whose rsqrt depends only on the outer loop: the
// rsqrt is computed once per row.
// CHECK-LABEL: func.func @norm_scale
// CHECK:       scf.for %[[R:.*]] = %{{.*}} to %{{.*}} step
// CHECK:         memref.load %{{.*}}[%[[R]]] : memref<8xf32>
// CHECK:         math.rsqrt
// CHECK:         scf.for %[[C:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NOT:       math.rsqrt
// CHECK:           memref.store %{{.*}}, %{{.*}}[%[[R]], %[[C]]] : memref<8x64xf32>
func.func @norm_scale(%x: memref<8x64xf32>, %var: memref<8xf32>,
                      %y: memref<8x64xf32>) {
  linalg.generic {
      indexing_maps = [affine_map<(r, c) -> (r, c)>,
                       affine_map<(r, c) -> (r)>,
                       affine_map<(r, c) -> (r, c)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%x, %var : memref<8x64xf32>, memref<8xf32>)
      outs(%y : memref<8x64xf32>) {
  ^bb0(%a: f32, %v: f32, %out: f32):
    %s = math.rsqrt %v : f32
    %r = arith.mulf %a, %s : f32
    linalg.yield %r : f32
  }
  return
}
