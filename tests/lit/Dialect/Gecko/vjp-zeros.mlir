// RUN: gecko-opt %s --test-gecko-vjp=first-result-only | FileCheck %s

// Only the first result of each op gets a cotangent; the others are null
// (zero). A backward op that needs a value for them gets materialised zeros
// (GeckoVjpUtils.h zerosLike): a splat constant for static shapes,
// tensor.empty + linalg.fill for dynamic ones. Ops whose backward takes the
// state cotangents as optional operands simply omit them.

// CHECK-LABEL: func.func @ema_coeffs_static
// CHECK: %[[ZQ:.+]] = arith.constant dense<0.000000e+00> : tensor<64x4x2xf32>
// CHECK: %[[ZG:.+]] = arith.constant dense<0.000000e+00> : tensor<64x4x2xf32>
// CHECK: gecko.ema_coeffs_grad dp(%{{.+}}) dq(%[[ZQ]]) dgamma(%[[ZG]])
func.func @ema_coeffs_static(%a: tensor<64x4xf32>, %d: tensor<64x4xf32>, %t: tensor<64xf32>, %g: tensor<64x4x2xf32>) -> tensor<64x4xf32> {
  %p, %q, %gc = gecko.ema_coeffs alpha(%a) delta(%d) theta(%t) gamma(%g)
      : tensor<64x4xf32>, tensor<64x4xf32>, tensor<64xf32>, tensor<64x4x2xf32>
  return %p : tensor<64x4xf32>
}

// CHECK-LABEL: func.func @ema_coeffs_dynamic
// CHECK: %[[E:.+]] = tensor.empty(%{{.+}}) : tensor<?x4x2xf32>
// CHECK: %[[F:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%[[E]] : tensor<?x4x2xf32>)
// CHECK: gecko.ema_coeffs_grad dp(%{{.+}}) dq(%[[F]])
func.func @ema_coeffs_dynamic(%a: tensor<?x4xf32>, %d: tensor<?x4xf32>, %t: tensor<?xf32>, %g: tensor<?x4x2xf32>) -> tensor<?x4xf32> {
  %p, %q, %gc = gecko.ema_coeffs alpha(%a) delta(%d) theta(%t) gamma(%g)
      : tensor<?x4xf32>, tensor<?x4xf32>, tensor<?xf32>, tensor<?x4x2xf32>
  return %p : tensor<?x4xf32>
}

// CHECK-LABEL: func.func @tdn_state_cotangents_omitted
// CHECK: gecko.timestep_decay_norm_grad %{{.+}}, %{{.+}} weight(%{{.+}}) groups(4)
// CHECK-NOT: dstate
func.func @tdn_state_cotangents_omitted(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>) -> tensor<2x16x64xf32> {
  %y, %n, %m, %v = gecko.timestep_decay_norm %x weight(%w) bias(%b) groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>
  return %y : tensor<2x16x64xf32>
}
