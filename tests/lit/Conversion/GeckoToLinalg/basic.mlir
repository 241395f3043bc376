// RUN: gecko-opt %s --convert-gecko-to-linalg --split-input-file | FileCheck %s

// silu is one elementwise linalg.generic, computed in f32 for bf16 inputs.
// CHECK-LABEL: func.func @silu_bf16
// CHECK:         linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel"]
// CHECK:           arith.extf %{{.*}} : bf16 to f32
// CHECK:           math.exp
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK-NOT:     gecko.
func.func @silu_bf16(%x: tensor<4x8xbf16>) -> tensor<4x8xbf16> {
  %y = gecko.silu %x : tensor<4x8xbf16>
  return %y : tensor<4x8xbf16>
}
