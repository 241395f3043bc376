// RUN: gecko-opt %s | gecko-opt | FileCheck %s
// RUN: gecko-opt %s --mlir-print-op-generic | gecko-opt | FileCheck %s

// Round trip of the training family (docs/dialect.md#training-family).

// CHECK-LABEL: func.func @cross_entropy
func.func @cross_entropy(%logits: tensor<2x64x32000xf32>, %targets: tensor<2x64xi64>) -> (tensor<f32>, tensor<f32>) {
  // CHECK: gecko.cross_entropy %{{.+}}, %{{.+}} : tensor<2x64x32000xf32>, tensor<2x64xi64>
  %loss = gecko.cross_entropy %logits, %targets
      : tensor<2x64x32000xf32>, tensor<2x64xi64>
  // CHECK: gecko.cross_entropy %{{.+}}, %{{.+}} ignore_index(0) : tensor<2x64x32000xf32>, tensor<2x64xi64>
  %loss0 = gecko.cross_entropy %logits, %targets ignore_index(0)
      : tensor<2x64x32000xf32>, tensor<2x64xi64>
  return %loss, %loss0 : tensor<f32>, tensor<f32>
}

// The default ignore_index is elided when printed.
// CHECK-LABEL: func.func @cross_entropy_default_elided
func.func @cross_entropy_default_elided(%logits: tensor<?x?x?xbf16>, %targets: tensor<?x?xi64>) -> tensor<f32> {
  // CHECK: gecko.cross_entropy %{{.+}}, %{{.+}} : tensor<?x?x?xbf16>, tensor<?x?xi64>
  %loss = gecko.cross_entropy %logits, %targets ignore_index(-100) : tensor<?x?x?xbf16>, tensor<?x?xi64>
  return %loss : tensor<f32>
}

// CHECK-LABEL: func.func @cross_entropy_f64
func.func @cross_entropy_f64(%logits: tensor<1x4x10xf64>, %targets: tensor<1x4xi64>) -> tensor<f64> {
  // CHECK: gecko.cross_entropy %{{.+}}, %{{.+}} : tensor<1x4x10xf64>, tensor<1x4xi64>
  %loss = gecko.cross_entropy %logits, %targets : tensor<1x4x10xf64>, tensor<1x4xi64>
  return %loss : tensor<f64>
}

// CHECK-LABEL: func.func @cross_entropy_grad
func.func @cross_entropy_grad(%dloss: tensor<f32>, %logits: tensor<2x64x32000xf32>, %targets: tensor<2x64xi64>)
    -> (tensor<2x64x32000xf32>, tensor<2x64x32000xf32>) {
  // CHECK: gecko.cross_entropy_grad %{{.+}}, %{{.+}}, %{{.+}} : tensor<f32>, tensor<2x64x32000xf32>, tensor<2x64xi64>
  %dlogits = gecko.cross_entropy_grad %dloss, %logits, %targets
      : tensor<f32>, tensor<2x64x32000xf32>, tensor<2x64xi64>
  // CHECK: gecko.cross_entropy_grad %{{.+}}, %{{.+}}, %{{.+}} ignore_index(7) : tensor<f32>, tensor<2x64x32000xf32>, tensor<2x64xi64>
  %dlogits7 = gecko.cross_entropy_grad %dloss, %logits, %targets ignore_index(7)
      : tensor<f32>, tensor<2x64x32000xf32>, tensor<2x64xi64>
  return %dlogits, %dlogits7 : tensor<2x64x32000xf32>, tensor<2x64x32000xf32>
}

// CHECK-LABEL: func.func @adamw
func.func @adamw(%p: tensor<1024x4096xf32>, %g: tensor<1024x4096xf32>, %m: tensor<1024x4096xf32>,
                 %v: tensor<1024x4096xf32>, %t: tensor<i64>, %lr: tensor<f32>)
    -> (tensor<1024x4096xf32>, tensor<1024x4096xf32>, tensor<1024x4096xf32>) {
  // CHECK: %[[P:.+]], %[[M:.+]], %[[V:.+]] = gecko.adamw %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} step(%{{.+}}) lr(%{{.+}}) betas(9.000000e-01, 0.97999999999999998) eps(1.000000e-08) weight_decay(1.000000e-01) : tensor<1024x4096xf32>, tensor<1024x4096xf32>, tensor<1024x4096xf32>, tensor<1024x4096xf32>, tensor<i64>, tensor<f32>
  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr)
      betas(9.000000e-01, 9.800000e-01) eps(1.000000e-08)
      weight_decay(1.000000e-01)
      : tensor<1024x4096xf32>, tensor<1024x4096xf32>, tensor<1024x4096xf32>,
        tensor<1024x4096xf32>, tensor<i64>, tensor<f32>
  return %p2, %m2, %v2 : tensor<1024x4096xf32>, tensor<1024x4096xf32>, tensor<1024x4096xf32>
}

// CHECK-LABEL: func.func @adamw_clipped
func.func @adamw_clipped(%p: tensor<?xf32>, %g: tensor<?xf32>, %m: tensor<?xf32>, %v: tensor<?xf32>,
                         %t: tensor<i64>, %lr: tensor<f32>, %s: tensor<f32>) -> (tensor<?xf32>, tensor<?xf32>, tensor<?xf32>) {
  // CHECK: gecko.adamw %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} step(%{{.+}}) lr(%{{.+}}) grad_scale(%{{.+}}) betas(0.000000e+00, 0.99899999999999999) eps(1.000000e-08) weight_decay(0.000000e+00) : tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<i64>, tensor<f32>, tensor<f32>
  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr) grad_scale(%s)
      betas(0.0, 0.999) eps(1.0e-08) weight_decay(0.0)
      : tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<i64>, tensor<f32>, tensor<f32>
  return %p2, %m2, %v2 : tensor<?xf32>, tensor<?xf32>, tensor<?xf32>
}
