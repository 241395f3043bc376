// RUN: gecko-opt %s --test-gecko-vjp | FileCheck %s

// math.exp reuses its result: d exp(a) = dy * exp(a).
// CHECK-LABEL: func.func @exp
// CHECK-SAME: (%[[A:[^:]+]]: tensor<4xf32>, %[[DY:[^:]+]]: tensor<4xf32>)
// CHECK: %[[E:.+]] = math.exp %[[A]]
// CHECK: %[[DA:.+]] = arith.mulf %[[DY]], %[[E]]
// CHECK: return %[[DA]]
func.func @exp(%a: tensor<4xf32>) -> tensor<4xf32> {
  %e = math.exp %a : tensor<4xf32>
  return %e : tensor<4xf32>
}

// linalg.broadcast: the input's cotangent sums dy over the added dimensions.
// CHECK-LABEL: func.func @broadcast
// CHECK: %[[FILL:.+]] = linalg.fill
// CHECK: %[[SUM:.+]] = linalg.reduce ins(%{{.+}} : tensor<2x3x4xf32>) outs(%[[FILL]] : tensor<4xf32>) dimensions = [0, 1]
// CHECK: arith.addf
// CHECK: return %[[SUM]]
func.func @broadcast(%w: tensor<4xf32>) -> tensor<2x3x4xf32> {
  %e = tensor.empty() : tensor<2x3x4xf32>
  %b = linalg.broadcast ins(%w : tensor<4xf32>) outs(%e : tensor<2x3x4xf32>) dimensions = [0, 1]
  return %b : tensor<2x3x4xf32>
}

// tensor.concat: each input gets its slice of dy.
// CHECK-LABEL: func.func @concat
// CHECK-SAME: %[[DY:[^:]+]]: tensor<5x8xf32>)
// CHECK: %[[DA:.+]] = tensor.extract_slice %[[DY]][0, 0] [2, 8] [1, 1]
// CHECK: %[[DB:.+]] = tensor.extract_slice %[[DY]][2, 0] [3, 8] [1, 1]
// CHECK: return %[[DA]], %[[DB]]
func.func @concat(%a: tensor<2x8xf32>, %b: tensor<3x8xf32>) -> tensor<5x8xf32> {
  %c = tensor.concat dim(0) %a, %b : (tensor<2x8xf32>, tensor<3x8xf32>) -> tensor<5x8xf32>
  return %c : tensor<5x8xf32>
}
