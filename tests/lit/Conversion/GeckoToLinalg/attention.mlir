// RUN: gecko-opt %s --convert-gecko-to-linalg --split-input-file | FileCheck %s

// Training form: an scf.for over the L / C chunks. Chunk c reads its C
// queries and the key window [max(c-1,0) C, +2C) through extract_slice views,
// splits heads with expand_shape, and computes a B x H x C x 2C score block
// (contraction generic accumulating in f32 from bf16), a masked row max, exp,
// row sum, normalisation and the P V contraction; the bf16 result is written
// into the chunk's rows of the loop-carried output.
// CHECK-LABEL: func.func @sca_training_bf16
// CHECK:         scf.for %{{.*}} iter_args(%{{.*}} = %{{.*}}) -> (tensor<2x64x32xbf16>)
// CHECK:           tensor.extract_slice %{{.*}} [2, 16, 16] [1, 1, 1] : tensor<2x64x16xbf16> to tensor<2x16x16xbf16>
// CHECK:           tensor.extract_slice %{{.*}} [2, 32, 16] [1, 1, 1] : tensor<2x64x16xbf16> to tensor<2x32x16xbf16>
// CHECK:           linalg.generic
// CHECK-SAME:        outs(%{{.*}} : tensor<2x16x32xi1>)
// CHECK:             arith.floordivsi
// CHECK:             arith.cmpi eq
// CHECK:           tensor.expand_shape %{{.*}} {{\[\[}}0], [1], [2, 3]] output_shape [2, 16, 2, 8]
// CHECK:           linalg.generic
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME:        outs(%{{.*}} : tensor<2x2x16x32xf32>)
// CHECK:             arith.extf %{{.*}} : bf16 to f32
// CHECK:           linalg.generic
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK:             arith.maximumf
// CHECK:           linalg.generic
// CHECK:             math.exp
// CHECK:           linalg.generic
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK:           linalg.generic
// CHECK:             arith.divf
// CHECK:           linalg.generic
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME:        outs(%{{.*}} : tensor<2x16x2x16xf32>)
// CHECK:           linalg.generic
// CHECK:             arith.truncf %{{.*}} : f32 to bf16
// CHECK:           tensor.collapse_shape
// CHECK:           tensor.insert_slice
// CHECK-NOT:     gecko.
func.func @sca_training_bf16(%q: tensor<2x64x16xbf16>, %k: tensor<2x64x16xbf16>, %v: tensor<2x64x32xbf16>, %s: tensor<2x64xi64>) -> tensor<2x64x32xbf16> {
  %o = gecko.chunk_attention %q, %k, %v segments(%s) heads(2) chunk(16)
      : tensor<2x64x16xbf16>, tensor<2x64x16xbf16>, tensor<2x64x32xbf16>, tensor<2x64xi64>
  return %o : tensor<2x64x32xbf16>
}

// -----

// General form (decode with a dynamic cache and start): [cache ; call] is
// gathered with an scf.if per element (no out-of-bounds index, P may be 0),
// the start position is read from the 0-d tensor, and one block of all
// queries against the P + L keys is computed with the same masked softmax.
// CHECK-LABEL: func.func @sca_decode
// CHECK:         tensor.extract %{{.*}}[] : tensor<i64>
// CHECK:         linalg.generic
// CHECK-SAME:      outs(%{{.*}} : tensor<2x?x32xf32>)
// CHECK:           scf.if
// CHECK:             tensor.extract
// CHECK:           } else {
// CHECK:             tensor.extract
// CHECK:         linalg.generic {{.*}} outs(%{{.*}} : tensor<2x1x?xi1>)
// CHECK:         linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME:      outs(%{{.*}} : tensor<2x4x1x?xf32>)
// CHECK:         math.exp
// CHECK-NOT:     scf.for
// CHECK-NOT:     gecko.
func.func @sca_decode(%q: tensor<2x1x32xf32>, %k: tensor<2x1x32xf32>, %v: tensor<2x1x32xf32>, %s: tensor<2x1xi64>,
                      %pk: tensor<2x?x32xf32>, %pv: tensor<2x?x32xf32>, %ps: tensor<2x?xi64>, %st: tensor<i64>) -> tensor<2x1x32xf32> {
  %o = gecko.chunk_attention %q, %k, %v segments(%s) cache(%pk, %pv, %ps) start(%st) heads(4) chunk(16)
      : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1xi64>, tensor<2x?x32xf32>, tensor<2x?x32xf32>, tensor<2x?xi64>, tensor<i64>
  return %o : tensor<2x1x32xf32>
}

// -----

// Backward, training form: the chunk loop carries dq, dk, dv accumulators
// in f32; chunk c recomputes P, then dV, dP, dQ and dK are contractions
// (dK and dV added into its key window, chunks c-1 and c).
// CHECK-LABEL: func.func @sca_grad_training
// CHECK:         scf.for %{{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (tensor<2x64x16xf32>, tensor<2x64x16xf32>, tensor<2x64x32xf32>)
// CHECK:           math.exp
// CHECK-COUNT-4:   iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK:           tensor.insert_slice
// CHECK:           tensor.insert_slice
// CHECK:           tensor.insert_slice
// CHECK:           scf.yield
// CHECK:         arith.truncf %{{.*}} : f32 to bf16
// CHECK-NOT:     gecko.
func.func @sca_grad_training(%do: tensor<2x64x32xbf16>, %q: tensor<2x64x16xbf16>, %k: tensor<2x64x16xbf16>, %v: tensor<2x64x32xbf16>)
    -> (tensor<2x64x16xbf16>, tensor<2x64x16xbf16>, tensor<2x64x32xbf16>) {
  %dq, %dk, %dv = gecko.chunk_attention_grad %do, %q, %k, %v heads(2) chunk(16)
      : tensor<2x64x32xbf16>, tensor<2x64x16xbf16>, tensor<2x64x16xbf16>, tensor<2x64x32xbf16>
  return %dq, %dk, %dv : tensor<2x64x16xbf16>, tensor<2x64x16xbf16>, tensor<2x64x32xbf16>
}
