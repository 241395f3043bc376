// RUN: gecko-opt %s --gecko-fuse-elementwise --split-input-file | FileCheck %s

// gecko-fuse-elementwise is upstream's elementwise fusion, except that a
// producer reading its own `outs` fuses only into a consumer that visits
// each of its elements once (docs/lowering.md, "Bufferization hazards").

// y = out + x into a zero-filled tensor, read by a contraction with one
// more loop (o). Upstream linalg-fuse-elementwise-ops fuses it, keeping the
// producer's `outs` as an `outs` of the contraction with the map (m, i):
// its `out + x` then runs once per o, so the contraction reads k * x in its
// k-th column (the working memory's y read by the output projection in a
// one-chunk chunk_loss/prefill). The producer must stay a separate op.
// CHECK-LABEL: func.func @rmw_producer_into_contraction
// CHECK:       %[[FILL:.+]] = linalg.fill
// CHECK:       %[[Y:.+]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel"]
// CHECK-SAME:      outs(%[[FILL]] : tensor<4x8xf32>)
// CHECK:         arith.addf
// CHECK:       %[[C:.+]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME:      ins(%[[Y]], %{{.+}} : tensor<4x8xf32>, tensor<16x8xf32>)
// CHECK-SAME:      outs(%{{.+}} : tensor<4x16xf32>)
// CHECK-NOT:   linalg.generic
// CHECK:       return %[[C]]
#id2 = affine_map<(m, i) -> (m, i)>
#lhs = affine_map<(m, o, i) -> (m, i)>
#rhs = affine_map<(m, o, i) -> (o, i)>
#res = affine_map<(m, o, i) -> (m, o)>
func.func @rmw_producer_into_contraction(%x: tensor<4x8xf32>,
    %w: tensor<16x8xf32>) -> tensor<4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [#id2, #id2],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%z : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %out, %in : f32
    linalg.yield %s : f32
  } -> tensor<4x8xf32>
  %e2 = tensor.empty() : tensor<4x16xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x16xf32>) -> tensor<4x16xf32>
  %c = linalg.generic {indexing_maps = [#lhs, #rhs, #res],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%y, %w : tensor<4x8xf32>, tensor<16x8xf32>)
      outs(%z2 : tensor<4x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<4x16xf32>
  return %c : tensor<4x16xf32>
}

// -----

// A producer that only writes its `outs` (y = 2x) fuses into the same
// contraction, as upstream does: the fused body recomputes 2x per o.
// CHECK-LABEL: func.func @write_only_producer_into_contraction
// CHECK:       %[[C:.+]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME:      ins(%{{.+}}, %{{.+}} : tensor<4x8xf32>, tensor<16x8xf32>)
// CHECK:         arith.mulf
// CHECK:         arith.mulf
// CHECK:         arith.addf
// CHECK-NOT:   linalg.generic
// CHECK:       return %[[C]]
#id2 = affine_map<(m, i) -> (m, i)>
#lhs = affine_map<(m, o, i) -> (m, i)>
#rhs = affine_map<(m, o, i) -> (o, i)>
#res = affine_map<(m, o, i) -> (m, o)>
func.func @write_only_producer_into_contraction(%x: tensor<4x8xf32>,
    %w: tensor<16x8xf32>) -> tensor<4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %two = arith.constant 2.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [#id2, #id2],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.mulf %in, %two : f32
    linalg.yield %s : f32
  } -> tensor<4x8xf32>
  %e2 = tensor.empty() : tensor<4x16xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x16xf32>) -> tensor<4x16xf32>
  %c = linalg.generic {indexing_maps = [#lhs, #rhs, #res],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%y, %w : tensor<4x8xf32>, tensor<16x8xf32>)
      outs(%z2 : tensor<4x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<4x16xf32>
  return %c : tensor<4x16xf32>
}

// -----

// The read-modify-write producer fuses into an elementwise consumer that
// reads it through a permutation (here transposed): each element is still
// updated once. Its `outs` stays an `outs` of the fused op.
// CHECK-LABEL: func.func @rmw_producer_into_transpose
// CHECK:       %[[FILL:.+]] = linalg.fill
// CHECK:       %[[F:.+]]:2 = linalg.generic
// CHECK-SAME:      outs(%[[FILL]], %{{.+}} : tensor<4x8xf32>, tensor<8x4xf32>)
// CHECK:         arith.addf
// CHECK:         math.exp
// CHECK-NOT:   linalg.generic
// CHECK:       return %[[F]]#1
#id2 = affine_map<(m, i) -> (m, i)>
#tr = affine_map<(i, m) -> (m, i)>
#out = affine_map<(i, m) -> (i, m)>
func.func @rmw_producer_into_transpose(%x: tensor<4x8xf32>) -> tensor<8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [#id2, #id2],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%z : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %out, %in : f32
    linalg.yield %s : f32
  } -> tensor<4x8xf32>
  %e2 = tensor.empty() : tensor<8x4xf32>
  %t = linalg.generic {indexing_maps = [#tr, #out],
                       iterator_types = ["parallel", "parallel"]}
      ins(%y : tensor<4x8xf32>) outs(%e2 : tensor<8x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = math.exp %in : f32
    linalg.yield %s : f32
  } -> tensor<8x4xf32>
  return %t : tensor<8x4xf32>
}
