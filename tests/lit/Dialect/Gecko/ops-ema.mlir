// RUN: gecko-opt %s | gecko-opt | FileCheck %s
// RUN: gecko-opt %s --mlir-print-op-generic | gecko-opt | FileCheck %s

// Round trip of the EMA family (docs/dialect.md#ema-family).

// CHECK-LABEL: func.func @ema_coeffs
func.func @ema_coeffs(%a: tensor<64x16xf32>, %dl: tensor<64x16xf32>, %th: tensor<64xf32>, %gm: tensor<64x16x2xf32>) -> (tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>) {
  // CHECK: %[[P:.+]], %[[Q:.+]], %[[G:.+]] = gecko.ema_coeffs alpha(%{{.+}}) delta(%{{.+}}) theta(%{{.+}}) gamma(%{{.+}}) : tensor<64x16xf32>, tensor<64x16xf32>, tensor<64xf32>, tensor<64x16x2xf32>
  // CHECK: return %[[P]], %[[Q]], %[[G]]
  %p, %q, %g = gecko.ema_coeffs alpha(%a) delta(%dl) theta(%th) gamma(%gm)
      : tensor<64x16xf32>, tensor<64x16xf32>, tensor<64xf32>,
        tensor<64x16x2xf32>
  return %p, %q, %g : tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>
}

// bf16 parameters give f32 coefficients; theta may be D x 1.
// CHECK-LABEL: func.func @ema_coeffs_bf16_theta_column
func.func @ema_coeffs_bf16_theta_column(%a: tensor<64x16xbf16>, %dl: tensor<64x16xbf16>, %th: tensor<64x1xbf16>, %gm: tensor<64x16x2xbf16>) -> (tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>) {
  // CHECK: gecko.ema_coeffs alpha(%{{.+}}) delta(%{{.+}}) theta(%{{.+}}) gamma(%{{.+}}) : tensor<64x16xbf16>, tensor<64x16xbf16>, tensor<64x1xbf16>, tensor<64x16x2xbf16>
  %p, %q, %g = gecko.ema_coeffs alpha(%a) delta(%dl) theta(%th) gamma(%gm)
      : tensor<64x16xbf16>, tensor<64x16xbf16>, tensor<64x1xbf16>,
        tensor<64x16x2xbf16>
  return %p, %q, %g : tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>
}

// CHECK-LABEL: func.func @ema_coeffs_grad
func.func @ema_coeffs_grad(%dp: tensor<64x16xf32>, %dq: tensor<64x16x2xf32>, %dgc: tensor<64x16x2xf32>, %a: tensor<64x16xbf16>, %dl: tensor<64x16xbf16>, %th: tensor<64xbf16>) -> (tensor<64x16xbf16>, tensor<64x16xbf16>, tensor<64xbf16>, tensor<64x16x2xbf16>) {
  // CHECK: %[[DA:.+]], %[[DD:.+]], %[[DT:.+]], %[[DG:.+]] = gecko.ema_coeffs_grad dp(%{{.+}}) dq(%{{.+}}) dgamma(%{{.+}}) alpha(%{{.+}}) delta(%{{.+}}) theta(%{{.+}}) : tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<64x16xbf16>, tensor<64x16xbf16>, tensor<64xbf16>
  // CHECK: return %[[DA]], %[[DD]], %[[DT]], %[[DG]]
  %da, %dd, %dt, %dg = gecko.ema_coeffs_grad dp(%dp) dq(%dq) dgamma(%dgc)
      alpha(%a) delta(%dl) theta(%th)
      : tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>,
        tensor<64x16xbf16>, tensor<64x16xbf16>, tensor<64xbf16>
  return %da, %dd, %dt, %dg : tensor<64x16xbf16>, tensor<64x16xbf16>, tensor<64xbf16>, tensor<64x16x2xbf16>
}

// CHECK-LABEL: func.func @ema_scan_streaming
func.func @ema_scan_streaming(%u: tensor<2x32x64xbf16>, %p: tensor<64x16xf32>, %q: tensor<64x16x2xf32>, %g: tensor<64x16x2xf32>, %bos: tensor<2x32xi1>, %h0: tensor<2x64x16x2xf32>) -> (tensor<2x32x64xbf16>, tensor<2x64x16x2xf32>) {
  // CHECK: %[[Y:.+]], %[[H:.+]] = gecko.ema_scan %{{.+}} coeffs(%{{.+}}, %{{.+}}, %{{.+}}) bos(%{{.+}}) state(%{{.+}}) : tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<2x32xi1>, tensor<2x64x16x2xf32>
  // CHECK: return %[[Y]], %[[H]]
  %y, %h = gecko.ema_scan %u coeffs(%p, %q, %g) bos(%bos) state(%h0)
      : tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x16x2xf32>,
        tensor<64x16x2xf32>, tensor<2x32xi1>, tensor<2x64x16x2xf32>
  return %y, %h : tensor<2x32x64xbf16>, tensor<2x64x16x2xf32>
}

// CHECK-LABEL: func.func @ema_scan_fresh_dynamic
func.func @ema_scan_fresh_dynamic(%u: tensor<?x?x64xf32>, %p: tensor<64x?xf32>, %q: tensor<64x?x2xf32>, %g: tensor<64x?x2xf32>) -> (tensor<?x?x64xf32>, tensor<?x64x?x2xf32>) {
  // CHECK: gecko.ema_scan %{{.+}} coeffs(%{{.+}}, %{{.+}}, %{{.+}}) : tensor<?x?x64xf32>, tensor<64x?xf32>, tensor<64x?x2xf32>, tensor<64x?x2xf32>
  %y, %h = gecko.ema_scan %u coeffs(%p, %q, %g)
      : tensor<?x?x64xf32>, tensor<64x?xf32>, tensor<64x?x2xf32>,
        tensor<64x?x2xf32>
  return %y, %h : tensor<?x?x64xf32>, tensor<?x64x?x2xf32>
}

// CHECK-LABEL: func.func @ema_scan_grad
func.func @ema_scan_grad(%dy: tensor<2x32x64xbf16>, %u: tensor<2x32x64xbf16>, %p: tensor<64x16xf32>, %q: tensor<64x16x2xf32>, %g: tensor<64x16x2xf32>, %bos: tensor<2x32xi1>, %h0: tensor<2x64x16x2xf32>, %dh: tensor<2x64x16x2xf32>) -> (tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<2x64x16x2xf32>, tensor<2x32x64xbf16>) {
  // CHECK: %[[DU:.+]], %[[DP:.+]], %[[DQ:.+]], %[[DG:.+]], %[[DH0:.+]] = gecko.ema_scan_grad %{{.+}}, %{{.+}} coeffs(%{{.+}}, %{{.+}}, %{{.+}}) bos(%{{.+}}) state(%{{.+}}) dstate(%{{.+}})
  %du, %dp, %dq, %dg, %dh0 = gecko.ema_scan_grad %dy, %u
      coeffs(%p, %q, %g) bos(%bos) state(%h0) dstate(%dh)
      : tensor<2x32x64xbf16>, tensor<2x32x64xbf16>, tensor<64x16xf32>,
        tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<2x32xi1>,
        tensor<2x64x16x2xf32>, tensor<2x64x16x2xf32>
  // CHECK: gecko.ema_scan_grad %{{.+}}, %{{.+}} coeffs(%{{.+}}, %{{.+}}, %{{.+}}) : tensor<2x32x64xbf16>, tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>
  %du2, %dp2, %dq2, %dg2 = gecko.ema_scan_grad %dy, %u coeffs(%p, %q, %g)
      : tensor<2x32x64xbf16>, tensor<2x32x64xbf16>, tensor<64x16xf32>,
        tensor<64x16x2xf32>, tensor<64x16x2xf32>
  return %du, %dp, %dq, %dg, %dh0, %du2 : tensor<2x32x64xbf16>, tensor<64x16xf32>, tensor<64x16x2xf32>, tensor<64x16x2xf32>, tensor<2x64x16x2xf32>, tensor<2x32x64xbf16>
}
