// RUN: gecko-opt %s -split-input-file \
// RUN:   --pass-pipeline='builtin.module(func.func(gecko-gpu-sink-reduction-loops))' \
// RUN:   | FileCheck %s
// RUN: gecko-opt %s -split-input-file \
// RUN:   --pass-pipeline='builtin.module(func.func(gecko-gpu-sink-reduction-loops,convert-linalg-to-parallel-loops))' \
// RUN:   | FileCheck %s --check-prefix=LOOPS

// A norm's weight gradient: the sum over (b, t) of each channel. The
// reductions move inside, so the loops become one parallel loop over the
// channels with the (b, t) sum inside it, in the same order.
#in = affine_map<(b, t, c) -> (b, t, c)>
#out = affine_map<(b, t, c) -> (c)>
// CHECK-DAG:   #[[IN:.*]] = affine_map<(d0, d1, d2) -> (d1, d2, d0)>
// CHECK-DAG:   #[[OUT:.*]] = affine_map<(d0, d1, d2) -> (d0)>
// CHECK-LABEL: func.func @weight_grad
// CHECK:         linalg.generic {indexing_maps = [#[[IN]], #[[OUT]]], iterator_types = ["parallel", "reduction", "reduction"]}
// LOOPS-LABEL: func.func @weight_grad
// LOOPS:         scf.parallel (%[[C:.*]]) =
// LOOPS-NEXT:      scf.for %[[B:.*]] =
// LOOPS-NEXT:        scf.for %[[T:.*]] =
// LOOPS-NEXT:          memref.load %arg0[%[[B]], %[[T]], %[[C]]]
func.func @weight_grad(%dy: memref<2x16x8xf32>, %dw: memref<8xf32>) {
  linalg.generic {indexing_maps = [#in, #out],
                  iterator_types = ["reduction", "reduction", "parallel"]}
      ins(%dy : memref<2x16x8xf32>) outs(%dw : memref<8xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %s = arith.addf %acc, %x : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A maximum over time per (chunk, head, channel): all three parallel
// dimensions end up in the kernel, not only the chunk.
#in = affine_map<(c, t, h, k) -> (c, t, h, k)>
#out = affine_map<(c, t, h, k) -> (c, h, k)>
// LOOPS-LABEL: func.func @chunk_max
// LOOPS:         scf.parallel (%{{.*}}, %{{.*}}, %{{.*}}) =
// LOOPS-NEXT:      scf.for
// LOOPS-NEXT:        memref.load
func.func @chunk_max(%x: memref<3x64x4x16xf32>, %m: memref<3x4x16xf32>) {
  linalg.generic {indexing_maps = [#in, #out],
                  iterator_types = ["parallel", "reduction", "parallel", "parallel"]}
      ins(%x : memref<3x64x4x16xf32>) outs(%m : memref<3x4x16xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %r = arith.maximumf %acc, %v : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// Ops already in that order are left alone.
// CHECK-LABEL: func.func @row_sum
// CHECK:         iterator_types = ["parallel", "reduction"]
func.func @row_sum(%x: memref<4x8xf32>, %s: memref<4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x8xf32>) outs(%s : memref<4xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %r = arith.addf %acc, %v : f32
    linalg.yield %r : f32
  }
  return
}
