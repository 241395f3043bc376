// RUN: gecko-opt %s --gecko-truncate-contraction-operands --split-input-file | FileCheck %s

// gecko-truncate-contraction-operands (--precision=bf16): the inputs of
// every f32 matrix product on tensors are rounded to bf16 tensors, and the
// product accumulates their f32 extensions in f32.

#x = affine_map<(b, l, f, d) -> (b, l, d)>
#w = affine_map<(b, l, f, d) -> (f, d)>
#o = affine_map<(b, l, f, d) -> (b, l, f)>

// A linear layer x W^T: both inputs become bf16 tensors (W stays an f32
// argument: the master weights), the maps, iterators and the f32 init are
// kept.
// CHECK-LABEL: func.func @linear
// CHECK-SAME:    (%[[X:.*]]: tensor<2x8x16xf32>, %[[W:.*]]: tensor<32x16xf32>, %[[O:.*]]: tensor<2x8x32xf32>)
// CHECK:         %[[XE:.*]] = tensor.empty() : tensor<2x8x16xbf16>
// CHECK:         %[[XB:.*]] = linalg.generic
// CHECK-SAME:        ins(%[[X]] : tensor<2x8x16xf32>) outs(%[[XE]] : tensor<2x8x16xbf16>)
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK:         %[[WE:.*]] = tensor.empty() : tensor<32x16xbf16>
// CHECK:         %[[WB:.*]] = linalg.generic
// CHECK-SAME:        ins(%[[W]] : tensor<32x16xf32>) outs(%[[WE]] : tensor<32x16xbf16>)
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK:         %[[R:.*]] = linalg.generic
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME:        ins(%[[XB]], %[[WB]] : tensor<2x8x16xbf16>, tensor<32x16xbf16>) outs(%[[O]] : tensor<2x8x32xf32>)
// CHECK-NEXT:    ^bb0(%[[A:.*]]: bf16, %[[B:.*]]: bf16, %[[C:.*]]: f32):
// CHECK-NEXT:      %[[EA:.*]] = arith.extf %[[A]] : bf16 to f32
// CHECK-NEXT:      %[[EB:.*]] = arith.extf %[[B]] : bf16 to f32
// CHECK-NEXT:      %[[P:.*]] = arith.mulf %[[EA]], %[[EB]] : f32
// CHECK-NEXT:      %[[S:.*]] = arith.addf %[[C]], %[[P]] : f32
// CHECK-NEXT:      linalg.yield %[[S]] : f32
// CHECK:         return %[[R]] : tensor<2x8x32xf32>
func.func @linear(%x: tensor<2x8x16xf32>, %w: tensor<32x16xf32>, %o: tensor<2x8x32xf32>) -> tensor<2x8x32xf32> {
  %r = linalg.generic {indexing_maps = [#x, #w, #o],
                       iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<2x8x16xf32>, tensor<32x16xf32>) outs(%o : tensor<2x8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %b, %a : f32
    %s = arith.addf %p, %c : f32
    linalg.yield %s : f32
  } -> tensor<2x8x32xf32>
  return %r : tensor<2x8x32xf32>
}

// -----

// A named op (batched, as attention's QK^T per head) is rewritten too, and
// values read by two products (q and k, by both) are rounded once each.
// CHECK-LABEL: func.func @shared_operand
// CHECK-COUNT-2: arith.truncf
// CHECK-NOT:     arith.truncf
// CHECK:         linalg.generic
// CHECK-SAME:        ins(%{{.*}}, %{{.*}} : tensor<4x8x16xbf16>, tensor<4x16x8xbf16>)
// CHECK:         linalg.generic
// CHECK-SAME:        ins(%{{.*}}, %{{.*}} : tensor<4x8x16xbf16>, tensor<4x16x8xbf16>)
// CHECK-NOT:     linalg.batch_matmul
func.func @shared_operand(%q: tensor<4x8x16xf32>, %k: tensor<4x16x8xf32>, %s: tensor<4x8x8xf32>) -> (tensor<4x8x8xf32>, tensor<4x8x8xf32>) {
  %r = linalg.batch_matmul ins(%q, %k : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%s : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %t = linalg.batch_matmul ins(%q, %k : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%r : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  return %r, %t : tensor<4x8x8xf32>, tensor<4x8x8xf32>
}

// -----

// A product inside a loop over chunks reading a loop-invariant weight: the
// weight is rounded once, before the loop; the chunk inside it.
// CHECK-LABEL: func.func @in_loop
// CHECK-SAME:    (%[[X:.*]]: tensor<4x8x16xf32>, %[[W:.*]]: tensor<16x32xf32>
// CHECK:         %[[WB:.*]] = linalg.generic
// CHECK-SAME:        ins(%[[W]] : tensor<16x32xf32>)
// CHECK:         scf.for
// CHECK:           %[[XC:.*]] = tensor.extract_slice %[[X]]
// CHECK:           %[[XB:.*]] = linalg.generic
// CHECK-SAME:          ins(%[[XC]] : tensor<8x16xf32>)
// CHECK:           linalg.generic
// CHECK-SAME:          ins(%[[XB]], %[[WB]] : tensor<8x16xbf16>, tensor<16x32xbf16>)
// CHECK:           tensor.insert_slice
func.func @in_loop(%x: tensor<4x8x16xf32>, %w: tensor<16x32xf32>, %init: tensor<4x8x32xf32>) -> tensor<4x8x32xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %zero = arith.constant 0.0 : f32
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %init) -> tensor<4x8x32xf32> {
    %xc = tensor.extract_slice %x[%i, 0, 0] [1, 8, 16] [1, 1, 1] : tensor<4x8x16xf32> to tensor<8x16xf32>
    %e = tensor.empty() : tensor<8x32xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x32xf32>) -> tensor<8x32xf32>
    %m = linalg.matmul ins(%xc, %w : tensor<8x16xf32>, tensor<16x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32>
    %u = tensor.insert_slice %m into %acc[%i, 0, 0] [1, 8, 32] [1, 1, 1] : tensor<8x32xf32> into tensor<4x8x32xf32>
    scf.yield %u : tensor<4x8x32xf32>
  }
  return %r : tensor<4x8x32xf32>
}

// -----

#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (k, n)>
#o = affine_map<(m, n, k) -> (m, n)>

// A contraction whose body transforms an input (a fused silu, an exp) is
// not a GEMM: it is left alone.
// CHECK-LABEL: func.func @transformed_input
// CHECK-NOT:     bf16
// CHECK:         math.exp
// CHECK-NOT:     bf16
func.func @transformed_input(%x: tensor<8x16xf32>, %w: tensor<16x32xf32>, %o: tensor<8x32xf32>) -> tensor<8x32xf32> {
  %r = linalg.generic {indexing_maps = [#x, #w, #o],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<8x16xf32>, tensor<16x32xf32>) outs(%o : tensor<8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %e = math.exp %a : f32
    %p = arith.mulf %e, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<8x32xf32>
  return %r : tensor<8x32xf32>
}

// -----

// f64 and integer products, f32 matrix-vector products and elementwise
// products (no reduction) are left alone.
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT:     bf16
// CHECK:         linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<8x16xf64>, tensor<16x32xf64>)
// CHECK:         linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<8x16xi32>, tensor<16x32xi32>)
// CHECK:         linalg.matvec
// CHECK:         linalg.generic
// CHECK-NOT:     bf16
func.func @left_alone(%a64: tensor<8x16xf64>, %b64: tensor<16x32xf64>, %c64: tensor<8x32xf64>,
                      %ai: tensor<8x16xi32>, %bi: tensor<16x32xi32>, %ci: tensor<8x32xi32>,
                      %m: tensor<8x16xf32>, %v: tensor<16xf32>, %y: tensor<8xf32>,
                      %p: tensor<8x16xf32>, %q: tensor<8x16xf32>)
    -> (tensor<8x32xf64>, tensor<8x32xi32>, tensor<8xf32>, tensor<8x16xf32>) {
  %r64 = linalg.matmul ins(%a64, %b64 : tensor<8x16xf64>, tensor<16x32xf64>) outs(%c64 : tensor<8x32xf64>) -> tensor<8x32xf64>
  %ri = linalg.matmul ins(%ai, %bi : tensor<8x16xi32>, tensor<16x32xi32>) outs(%ci : tensor<8x32xi32>) -> tensor<8x32xi32>
  %rv = linalg.matvec ins(%m, %v : tensor<8x16xf32>, tensor<16xf32>) outs(%y : tensor<8xf32>) -> tensor<8xf32>
  %rp = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%p, %q : tensor<8x16xf32>, tensor<8x16xf32>) outs(%p : tensor<8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %t = arith.mulf %a, %b : f32
    %s = arith.addf %c, %t : f32
    linalg.yield %s : f32
  } -> tensor<8x16xf32>
  return %r64, %ri, %rv, %rp : tensor<8x32xf64>, tensor<8x32xi32>, tensor<8xf32>, tensor<8x16xf32>
}
