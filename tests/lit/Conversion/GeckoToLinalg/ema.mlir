// RUN: gecko-opt %s --convert-gecko-to-linalg --split-input-file | FileCheck %s

// ema_coeffs: p, q and gamma_c are linalg.generics computing in f32 from
// bf16 parameters; q iterates over (d, n, re/im) and selects cos or sin.
// CHECK-LABEL: func.func @ema_coeffs_bf16
// CHECK:         linalg.generic
// CHECK:           arith.extf %{{.*}} : bf16 to f32
// CHECK:           math.exp
// CHECK:         linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "parallel"]
// CHECK:           linalg.index 1
// CHECK:           math.cos
// CHECK:           math.sin
// CHECK:           linalg.index 2
// CHECK:           arith.select
// CHECK:         linalg.generic
// CHECK:           arith.extf %{{.*}} : bf16 to f32
// CHECK-NOT:     gecko.
func.func @ema_coeffs_bf16(%a: tensor<8x4xbf16>, %d: tensor<8x4xbf16>, %t: tensor<8x1xbf16>, %g: tensor<8x4x2xbf16>)
    -> (tensor<8x4xf32>, tensor<8x4x2xf32>, tensor<8x4x2xf32>) {
  %p, %q, %gc = gecko.ema_coeffs alpha(%a) delta(%d) theta(%t) gamma(%g)
      : tensor<8x4xbf16>, tensor<8x4xbf16>, tensor<8x1xbf16>, tensor<8x4x2xbf16>
  return %p, %q, %gc : tensor<8x4xf32>, tensor<8x4x2xf32>, tensor<8x4x2xf32>
}

// -----

// ema_scan: an scf.for over time carrying the split complex state (B x D x N
// re and im) and a B x L x D f32 stack of the EMA terms; each step is one
// parallel generic (bos select) and one reduction over n. The bf16 rounding
// and residual add happen once after the loop.
// CHECK-LABEL: func.func @ema_scan_bf16
// CHECK:         scf.for %{{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (tensor<2x16x4xf32>, tensor<2x16x4xf32>, tensor<2x8x16xf32>)
// CHECK:           tensor.extract_slice %{{.*}} : tensor<2x8x16xbf16> to tensor<2x16xbf16>
// CHECK:           tensor.extract_slice %{{.*}} : tensor<2x8xi1> to tensor<2xi1>
// CHECK:           linalg.generic
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "parallel"]
// CHECK:             arith.select
// CHECK:           linalg.fill
// CHECK:           linalg.generic
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:           tensor.insert_slice
// CHECK:           scf.yield
// CHECK:         linalg.generic
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK:           arith.addf %{{.*}} : bf16
// CHECK-NOT:     gecko.
func.func @ema_scan_bf16(%u: tensor<2x8x16xbf16>, %p: tensor<16x4xf32>, %q: tensor<16x4x2xf32>, %g: tensor<16x4x2xf32>, %bos: tensor<2x8xi1>, %h0: tensor<2x16x4x2xf32>)
    -> (tensor<2x8x16xbf16>, tensor<2x16x4x2xf32>) {
  %y, %h = gecko.ema_scan %u coeffs(%p, %q, %g) bos(%bos) state(%h0)
      : tensor<2x8x16xbf16>, tensor<16x4xf32>, tensor<16x4x2xf32>, tensor<16x4x2xf32>, tensor<2x8xi1>, tensor<2x16x4x2xf32>
  return %y, %h : tensor<2x8x16xbf16>, tensor<2x16x4x2xf32>
}

// -----

// Dynamic batch, length and channels are supported.
// CHECK-LABEL: func.func @ema_scan_dynamic
// CHECK:         tensor.dim
// CHECK:         scf.for
// CHECK-NOT:     gecko.
func.func @ema_scan_dynamic(%u: tensor<?x?x?xf64>, %p: tensor<?x3xf64>, %q: tensor<?x3x2xf64>, %g: tensor<?x3x2xf64>)
    -> (tensor<?x?x?xf64>, tensor<?x?x3x2xf64>) {
  %y, %h = gecko.ema_scan %u coeffs(%p, %q, %g)
      : tensor<?x?x?xf64>, tensor<?x3xf64>, tensor<?x3x2xf64>, tensor<?x3x2xf64>
  return %y, %h : tensor<?x?x?xf64>, tensor<?x?x3x2xf64>
}

// -----

// ema_scan_grad: a forward scf.for recomputing the states into an
// (L+1)-slot stack, then a reverse scf.for carrying the adjoint, with the
// parameter gradients reduced over the batch (d, n, b) in place.
// CHECK-LABEL: func.func @ema_scan_grad
// CHECK:         scf.for
// CHECK:           linalg.generic
// CHECK:         scf.for
// CHECK:           arith.subi
// CHECK:           linalg.generic
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "parallel"]
// CHECK:           linalg.generic
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:           linalg.generic
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-NOT:     gecko.
func.func @ema_scan_grad(%dy: tensor<2x8x16xf32>, %u: tensor<2x8x16xf32>, %p: tensor<16x4xf32>, %q: tensor<16x4x2xf32>, %g: tensor<16x4x2xf32>, %bos: tensor<2x8xi1>, %h0: tensor<2x16x4x2xf32>, %dh: tensor<2x16x4x2xf32>)
    -> (tensor<2x8x16xf32>, tensor<16x4xf32>, tensor<16x4x2xf32>, tensor<16x4x2xf32>, tensor<2x16x4x2xf32>) {
  %du, %dp, %dq, %dg, %dh0 = gecko.ema_scan_grad %dy, %u coeffs(%p, %q, %g) bos(%bos) state(%h0) dstate(%dh)
      : tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<16x4xf32>, tensor<16x4x2xf32>, tensor<16x4x2xf32>, tensor<2x8xi1>, tensor<2x16x4x2xf32>, tensor<2x16x4x2xf32>
  return %du, %dp, %dq, %dg, %dh0 : tensor<2x8x16xf32>, tensor<16x4xf32>, tensor<16x4x2xf32>, tensor<16x4x2xf32>, tensor<2x16x4x2xf32>
}

// -----

// ema_coeffs_grad: one parallel generic per (d, n), then dtheta reduced
// over n.
// CHECK-LABEL: func.func @ema_coeffs_grad
// CHECK:         linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel"]
// CHECK:         linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "reduction"]
// CHECK-NOT:     gecko.
func.func @ema_coeffs_grad(%dp: tensor<8x4xf32>, %dq: tensor<8x4x2xf32>, %dg: tensor<8x4x2xf32>, %a: tensor<8x4xf32>, %d: tensor<8x4xf32>, %t: tensor<8xf32>)
    -> (tensor<8x4xf32>, tensor<8x4xf32>, tensor<8xf32>, tensor<8x4x2xf32>) {
  %r:4 = gecko.ema_coeffs_grad dp(%dp) dq(%dq) dgamma(%dg) alpha(%a) delta(%d) theta(%t)
      : tensor<8x4xf32>, tensor<8x4x2xf32>, tensor<8x4x2xf32>, tensor<8x4xf32>, tensor<8x4xf32>, tensor<8xf32>
  return %r#0, %r#1, %r#2, %r#3 : tensor<8x4xf32>, tensor<8x4xf32>, tensor<8xf32>, tensor<8x4x2xf32>
}
