// RUN: gecko-opt %s --convert-gecko-to-linalg --split-input-file | FileCheck %s

// cross_entropy on bf16 logits: the row max (init -inf) and the shifted
// exp-sum are reduction generics over V in f32; one generic with two
// reduction iterators reads logits[b, t, clamp(target)] with tensor.extract,
// masks ignore_index (-100) and sums into a 0-d f32 tensor; the last generic
// divides by N = B*L = 6.
// CHECK-LABEL: func.func @cross_entropy_bf16
// CHECK:         %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK:         %[[MAXINIT:.*]] = linalg.fill ins(%[[NEGINF]] : f32)
// CHECK:         %[[MAX:.*]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME:      outs(%[[MAXINIT]] : tensor<2x3xf32>)
// CHECK:           arith.extf %{{.*}} : bf16 to f32
// CHECK:           arith.maximumf
// CHECK:         %[[SUM:.*]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME:      ins(%{{.*}}, %[[MAX]] : tensor<2x3x7xbf16>, tensor<2x3xf32>)
// CHECK:           arith.subf
// CHECK:           math.exp
// CHECK:           arith.addf
// CHECK:         %[[IGNORE:.*]] = arith.constant -100 : i64
// CHECK:         %[[TOTAL:.*]] = linalg.generic
// CHECK-SAME:      iterator_types = ["reduction", "reduction"]
// CHECK-SAME:      ins(%[[MAX]], %[[SUM]], %{{.*}} : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xi64>) outs(%{{.*}} : tensor<f32>)
// CHECK:           arith.maxsi
// CHECK:           arith.minsi
// CHECK:           tensor.extract %{{.*}} : tensor<2x3x7xbf16>
// CHECK:           math.log
// CHECK:           arith.cmpi eq, %{{.*}}, %[[IGNORE]] : i64
// CHECK:           arith.select
// CHECK:         %[[N:.*]] = arith.constant 6.000000e+00 : f32
// CHECK:         linalg.generic
// CHECK-SAME:      ins(%[[TOTAL]] : tensor<f32>)
// CHECK:           arith.divf %{{.*}}, %[[N]] : f32
// CHECK-NOT:     gecko.
func.func @cross_entropy_bf16(%logits: tensor<2x3x7xbf16>, %targets: tensor<2x3xi64>) -> tensor<f32> {
  %loss = gecko.cross_entropy %logits, %targets : tensor<2x3x7xbf16>, tensor<2x3xi64>
  return %loss : tensor<f32>
}

// -----

// f64 logits: everything in f64, f64 loss.
// CHECK-LABEL: func.func @cross_entropy_f64
// CHECK:         arith.maximumf {{.*}} : f64
// CHECK:         math.exp {{.*}} : f64
// CHECK:         math.log {{.*}} : f64
// CHECK:         arith.divf {{.*}} : f64
// CHECK:         return %{{.*}} : tensor<f64>
func.func @cross_entropy_f64(%logits: tensor<1x4x10xf64>, %targets: tensor<1x4xi64>) -> tensor<f64> {
  %loss = gecko.cross_entropy %logits, %targets ignore_index(0) : tensor<1x4x10xf64>, tensor<1x4xi64>
  return %loss : tensor<f64>
}

// -----

// cross_entropy_grad: the same two row statistics, dloss / N as a scalar,
// then one parallel generic over (b, t, v) forming
// scale * (softmax - onehot), zero on ignored rows, rounded to bf16.
// CHECK-LABEL: func.func @cross_entropy_grad_bf16
// CHECK:         %[[MAX:.*]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:         %[[SUM:.*]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:         %[[DLOSS:.*]] = tensor.extract %{{.*}}[] : tensor<f32>
// CHECK:         %[[SCALE:.*]] = arith.divf %[[DLOSS]], %{{.*}} : f32
// CHECK:         %[[IGNORE:.*]] = arith.constant 7 : i64
// CHECK:         linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME:      ins(%{{.*}}, %[[MAX]], %[[SUM]], %{{.*}} : tensor<2x3x9xbf16>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xi64>)
// CHECK:           math.exp
// CHECK:           arith.divf
// CHECK:           linalg.index 2
// CHECK:           arith.mulf %[[SCALE]], %{{.*}} : f32
// CHECK:           arith.cmpi eq, %{{.*}}, %[[IGNORE]] : i64
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK-NOT:     gecko.
func.func @cross_entropy_grad_bf16(%dloss: tensor<f32>, %logits: tensor<2x3x9xbf16>, %targets: tensor<2x3xi64>) -> tensor<2x3x9xbf16> {
  %g = gecko.cross_entropy_grad %dloss, %logits, %targets ignore_index(7) : tensor<f32>, tensor<2x3x9xbf16>, tensor<2x3xi64>
  return %g : tensor<2x3x9xbf16>
}

// -----

// adamw: the per-step scalars (bias corrections with math.powf, step size,
// decay factor) in f64, rounded to f32 once; then one f32 elementwise
// generic with three results (param', m', v').
// CHECK-LABEL: func.func @adamw
// CHECK:         %[[STEP:.*]] = arith.sitofp %{{.*}} : i64 to f64
// CHECK:         math.powf %{{.*}}, %[[STEP]] : f64
// CHECK:         math.powf %{{.*}}, %[[STEP]] : f64
// CHECK:         math.sqrt %{{.*}} : f64
// CHECK:         arith.truncf %{{.*}} : f64 to f32
// CHECK:         %[[R:.*]]:3 = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel"]
// CHECK:           math.sqrt %{{.*}} : f32
// CHECK:           linalg.yield %{{.*}}, %{{.*}}, %{{.*}} : f32, f32, f32
// CHECK:         return %[[R]]#0, %[[R]]#1, %[[R]]#2
func.func @adamw(%p: tensor<5x3xf32>, %g: tensor<5x3xf32>, %m: tensor<5x3xf32>, %v: tensor<5x3xf32>, %t: tensor<i64>, %lr: tensor<f32>, %s: tensor<f32>) -> (tensor<5x3xf32>, tensor<5x3xf32>, tensor<5x3xf32>) {
  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr) grad_scale(%s) betas(9.000000e-01, 9.800000e-01) eps(1.000000e-08) weight_decay(1.000000e-01) : tensor<5x3xf32>, tensor<5x3xf32>, tensor<5x3xf32>, tensor<5x3xf32>, tensor<i64>, tensor<f32>, tensor<f32>
  return %p2, %m2, %v2 : tensor<5x3xf32>, tensor<5x3xf32>, tensor<5x3xf32>
}
