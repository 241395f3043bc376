// RUN: gecko-opt %s --gecko-autodiff="source=chunk_loss target=chunk_grad wrt-state=true" --split-input-file --verify-diagnostics | FileCheck %s

// wrt-state (chunk parallelism): float state arguments are differentiation
// sources, each float result gets a `cotangent.*` seed input (the loss's
// too), the state cotangents are returned as grad.<state>, `next:` results
// are dropped, and integer state gets nothing.
// CHECK-LABEL: func.func @chunk_grad(
// CHECK-SAME: {gecko.state = "stream.h"}
// CHECK-SAME: {gecko.state = "stream.pos"}
// CHECK-SAME: %[[SL:[^:]+]]: tensor<f32> {gecko.input = "cotangent.output.loss"}
// CHECK-SAME: %[[SH:[^:]+]]: tensor<f32> {gecko.input = "cotangent.stream.h"}
// CHECK-SAME: -> (tensor<f32> {gecko.output = "output.loss"}, tensor<f32> {gecko.output = "grad.w"}, tensor<f32> {gecko.output = "grad.stream.h"})
// CHECK-NOT: cotangent.stream.pos
// CHECK: return
func.func @chunk_loss(%w: tensor<f32> {gecko.param = "w"},
                      %h: tensor<f32> {gecko.state = "stream.h"},
                      %pos: tensor<i64> {gecko.state = "stream.pos"})
    -> (tensor<f32> {gecko.output = "output.loss"},
        tensor<f32> {gecko.output = "next:stream.h"},
        tensor<i64> {gecko.output = "next:stream.pos"}) {
  %hn = arith.mulf %w, %h : tensor<f32>
  %l = arith.mulf %hn, %hn : tensor<f32>
  return %l, %hn, %pos : tensor<f32>, tensor<f32>, tensor<i64>
}

// -----

// expected-error @+1 {{gecko-autodiff: result 1 of @chunk_loss is not `next:<state>` of a gecko.state argument of its type (wrt-state)}}
func.func @chunk_loss(%w: tensor<4xf32> {gecko.param = "w"})
    -> (tensor<f32> {gecko.output = "output.loss"},
        tensor<4xf32> {gecko.output = "output.other"}) {
  %c = arith.constant dense<0.0> : tensor<f32>
  return %c, %w : tensor<f32>, tensor<4xf32>
}
