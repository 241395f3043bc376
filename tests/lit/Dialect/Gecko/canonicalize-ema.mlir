// RUN: gecko-opt %s -canonicalize | FileCheck %s

// gamma_c of gecko.ema_coeffs is gamma itself when gamma already has the
// coefficient type (docs/dialect.md#ema-family).

// CHECK-LABEL: func.func @ema_coeffs_gamma_f32
// CHECK-SAME: %[[G:[^:]+]]: tensor<8x4x2xf32>)
func.func @ema_coeffs_gamma_f32(%a: tensor<8x4xf32>, %d: tensor<8x4xf32>, %th: tensor<8xf32>, %g: tensor<8x4x2xf32>) -> (tensor<8x4xf32>, tensor<8x4x2xf32>, tensor<8x4x2xf32>) {
  // CHECK: %[[P:.+]], %[[Q:.+]], %{{.+}} = gecko.ema_coeffs
  // CHECK: return %[[P]], %[[Q]], %[[G]]
  %p, %q, %gc = gecko.ema_coeffs alpha(%a) delta(%d) theta(%th) gamma(%g) : tensor<8x4xf32>, tensor<8x4xf32>, tensor<8xf32>, tensor<8x4x2xf32>
  return %p, %q, %gc : tensor<8x4xf32>, tensor<8x4x2xf32>, tensor<8x4x2xf32>
}

// bf16 parameters: gamma_c is a conversion to f32 and stays.
// CHECK-LABEL: func.func @ema_coeffs_gamma_bf16
func.func @ema_coeffs_gamma_bf16(%a: tensor<8x4xbf16>, %d: tensor<8x4xbf16>, %th: tensor<8xbf16>, %g: tensor<8x4x2xbf16>) -> tensor<8x4x2xf32> {
  // CHECK: %{{.+}}, %{{.+}}, %[[GC:.+]] = gecko.ema_coeffs
  // CHECK: return %[[GC]]
  %p, %q, %gc = gecko.ema_coeffs alpha(%a) delta(%d) theta(%th) gamma(%g) : tensor<8x4xbf16>, tensor<8x4xbf16>, tensor<8xbf16>, tensor<8x4x2xbf16>
  return %gc : tensor<8x4x2xf32>
}
