// RUN: gecko-opt %s --gecko-autodiff --split-input-file --verify-diagnostics | FileCheck %s
// RUN: gecko-opt %s --gecko-autodiff --gecko-build-train-step="max-grad-norm=1.0 weight-decay=0.1" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=STEP

// The gradient function keeps the forward ops, then runs the reverse sweep:
// each op's VJP, cotangents of multiply-used values summed, the seed 1.0.
// Buffers (gecko.buffer) and integer inputs get no gradient.
// CHECK-LABEL: func.func @loss(
// CHECK-LABEL: func.func @grad(
// CHECK-SAME: -> (tensor<f32> {gecko.output = "output.loss"}, tensor<3x4xf32> {gecko.output = "grad.emb"}, tensor<4xf32> {gecko.output = "grad.w"})
// CHECK: %[[X:.+]] = gecko.embedding
// CHECK: %[[Y:.+]] = arith.mulf %[[X]], %[[X]]
// CHECK: %[[L:.+]] = gecko.cross_entropy
// CHECK: %[[ONE:.+]] = arith.constant dense<1.000000e+00> : tensor<f32>
// CHECK: gecko.cross_entropy_grad %[[ONE]]
// CHECK: gecko.rms_norm_grad
// CHECK: %[[D1:.+]] = arith.mulf %{{.+}}, %[[X]]
// CHECK: %[[D2:.+]] = arith.mulf %{{.+}}, %[[X]]
// CHECK: %[[SUM:.+]] = arith.addf %[[D1]], %[[D2]]
// CHECK: %[[DEMB:.+]] = gecko.embedding_grad %[[SUM]]
// CHECK: return %[[L]], %[[DEMB]], %{{.+}} :

// The training step: moments as state, lr and step inputs, global-norm
// clipping and one gecko.adamw per parameter; weight decay on matrices only.
// STEP-LABEL: func.func @train_step(
// STEP-SAME: %{{.+}}: tensor<3x4xf32> {gecko.state = "opt.m.emb"}, %{{.+}}: tensor<3x4xf32> {gecko.state = "opt.v.emb"}
// STEP-SAME: %[[LR:[^:]+]]: tensor<f32> {gecko.input = "input.lr"}, %[[T:[^:]+]]: tensor<i64> {gecko.input = "input.step"})
// STEP-SAME: -> (tensor<f32> {gecko.output = "output.loss"}, tensor<f32> {gecko.output = "output.grad_norm"}, tensor<3x4xf32> {gecko.output = "next:emb"}, tensor<3x4xf32> {gecko.output = "next:opt.m.emb"}, tensor<3x4xf32> {gecko.output = "next:opt.v.emb"}, tensor<4xf32> {gecko.output = "next:w"}
// STEP: linalg.reduce
// STEP: %[[NORM:.+]] = math.sqrt
// STEP: %[[SCALE:.+]] = arith.minimumf
// STEP: gecko.adamw %{{.+}} step(%[[T]]) lr(%[[LR]]) grad_scale(%[[SCALE]]) betas(9.000000e-01, {{[^)]+}}) eps(1.000000e-08) weight_decay(1.000000e-01)
// STEP: gecko.adamw %{{.+}} weight_decay(0.000000e+00)
func.func @loss(%tok: tensor<2x3xi64> {gecko.input = "input.tokens"},
                %tgt: tensor<2x3xi64> {gecko.input = "input.targets"},
                %emb: tensor<3x4xf32> {gecko.param = "emb"},
                %w: tensor<4xf32> {gecko.param = "w"},
                %prior: tensor<4xf32> {gecko.param = "prior", gecko.buffer})
    -> (tensor<f32> {gecko.output = "output.loss"}) {
  %x = gecko.embedding %emb, %tok : tensor<3x4xf32>, tensor<2x3xi64>
  %y = arith.mulf %x, %x : tensor<2x3x4xf32>
  %n = gecko.rms_norm %y weight(%w) groups(1) eps(1.0e-05) : tensor<2x3x4xf32>, tensor<4xf32>
  %l = gecko.cross_entropy %n, %tgt : tensor<2x3x4xf32>, tensor<2x3xi64>
  return %l : tensor<f32>
}

// -----

// expected-error @+1 {{gecko-autodiff: @loss must return exactly one 0-d float tensor (the loss)}}
func.func @loss(%x: tensor<4xf32> {gecko.param = "x"}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

func.func @loss(%x: tensor<1xf32> {gecko.param = "x"}) -> tensor<f32> {
  // expected-error @+1 {{gecko-autodiff: 'tensor.collapse_shape' lies on the path from a parameter to the loss but has no VJP}}
  %r = tensor.collapse_shape %x [] : tensor<1xf32> into tensor<f32>
  return %r : tensor<f32>
}
