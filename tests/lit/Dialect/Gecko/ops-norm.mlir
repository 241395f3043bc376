// RUN: gecko-opt %s | gecko-opt | FileCheck %s
// RUN: gecko-opt %s --mlir-print-op-generic | gecko-opt | FileCheck %s

// Round trip of the norm family (docs/dialect.md#norm-family).

// CHECK-LABEL: func.func @rms_norm_affine
func.func @rms_norm_affine(%x: tensor<2x64x256xf32>, %w: tensor<256xf32>) -> tensor<2x64x256xf32> {
  // CHECK: gecko.rms_norm %{{.+}} weight(%{{.+}}) groups(1) eps(1.000000e-05) : tensor<2x64x256xf32>, tensor<256xf32>
  %y = gecko.rms_norm %x weight(%w) groups(1) eps(1.0e-05) : tensor<2x64x256xf32>, tensor<256xf32>
  return %y : tensor<2x64x256xf32>
}

// CHECK-LABEL: func.func @rms_norm_heads_dynamic
func.func @rms_norm_heads_dynamic(%z: tensor<?x?x512xbf16>) -> tensor<?x?x512xbf16> {
  // CHECK: gecko.rms_norm %{{.+}} groups(2) eps(1.000000e-05) : tensor<?x?x512xbf16>
  %y = gecko.rms_norm %z groups(2) eps(1.0e-05) : tensor<?x?x512xbf16>
  return %y : tensor<?x?x512xbf16>
}

// CHECK-LABEL: func.func @rms_norm_grad
func.func @rms_norm_grad(%dy: tensor<2x64x256xf32>, %x: tensor<2x64x256xf32>, %w: tensor<256xf32>) -> (tensor<2x64x256xf32>, tensor<256xf32>, tensor<2x64x256xf32>) {
  // CHECK: %[[DX:.+]], %[[DW:.+]] = gecko.rms_norm_grad %{{.+}}, %{{.+}} weight(%{{.+}}) groups(1)
  %dx, %dw = gecko.rms_norm_grad %dy, %x weight(%w) groups(1) eps(1.0e-05) : tensor<2x64x256xf32>, tensor<2x64x256xf32>, tensor<256xf32>
  // CHECK: gecko.rms_norm_grad %{{.+}}, %{{.+}} groups(4) eps(1.000000e-05) : tensor<2x64x256xf32>, tensor<2x64x256xf32>
  %dx2 = gecko.rms_norm_grad %dy, %x groups(4) eps(1.0e-05) : tensor<2x64x256xf32>, tensor<2x64x256xf32>
  return %dx, %dw, %dx2 : tensor<2x64x256xf32>, tensor<256xf32>, tensor<2x64x256xf32>
}

// CHECK-LABEL: func.func @layer_norm_affine
func.func @layer_norm_affine(%x: tensor<2x64x256xf32>, %w: tensor<256xf32>, %b: tensor<256xf32>) -> tensor<2x64x256xf32> {
  // CHECK: gecko.layer_norm %{{.+}} weight(%{{.+}}) bias(%{{.+}}) groups(1) eps(1.000000e-05) : tensor<2x64x256xf32>, tensor<256xf32>, tensor<256xf32>
  %n = gecko.layer_norm %x weight(%w) bias(%b) groups(1) eps(1.0e-05)
      : tensor<2x64x256xf32>, tensor<256xf32>, tensor<256xf32>
  return %n : tensor<2x64x256xf32>
}

// CHECK-LABEL: func.func @layer_norm_plain_dynamic
func.func @layer_norm_plain_dynamic(%x: tensor<?x?x256xbf16>, %b: tensor<256xbf16>) -> (tensor<?x?x256xbf16>, tensor<?x?x256xbf16>) {
  // CHECK: gecko.layer_norm %{{.+}} groups(4) eps(1.000000e-05) : tensor<?x?x256xbf16>
  %n = gecko.layer_norm %x groups(4) eps(1.0e-05) : tensor<?x?x256xbf16>
  // CHECK: gecko.layer_norm %{{.+}} bias(%{{.+}}) groups(4) eps(1.000000e-05) : tensor<?x?x256xbf16>, tensor<256xbf16>
  %nb = gecko.layer_norm %x bias(%b) groups(4) eps(1.0e-05) : tensor<?x?x256xbf16>, tensor<256xbf16>
  return %n, %nb : tensor<?x?x256xbf16>, tensor<?x?x256xbf16>
}

// CHECK-LABEL: func.func @layer_norm_grad
func.func @layer_norm_grad(%dy: tensor<2x64x256xf32>, %x: tensor<2x64x256xf32>, %w: tensor<256xf32>) -> (tensor<2x64x256xf32>, tensor<256xf32>, tensor<256xf32>, tensor<2x64x256xf32>, tensor<256xf32>, tensor<2x64x256xf32>) {
  // CHECK: %[[DX:.+]], %[[DP:.+]]:2 = gecko.layer_norm_grad %{{.+}}, %{{.+}} weight(%{{.+}}) with_bias groups(1) eps(1.000000e-05) : tensor<2x64x256xf32>, tensor<2x64x256xf32>, tensor<256xf32>
  %dx, %dw, %db = gecko.layer_norm_grad %dy, %x weight(%w) with_bias
      groups(1) eps(1.0e-05)
      : tensor<2x64x256xf32>, tensor<2x64x256xf32>, tensor<256xf32>
  // CHECK: gecko.layer_norm_grad %{{.+}}, %{{.+}} with_bias groups(2) eps(1.000000e-05) : tensor<2x64x256xf32>, tensor<2x64x256xf32>
  %dx2, %db2 = gecko.layer_norm_grad %dy, %x with_bias groups(2) eps(1.0e-05)
      : tensor<2x64x256xf32>, tensor<2x64x256xf32>
  // CHECK: gecko.layer_norm_grad %{{.+}}, %{{.+}} groups(2) eps(1.000000e-05) : tensor<2x64x256xf32>, tensor<2x64x256xf32>
  %dx3 = gecko.layer_norm_grad %dy, %x groups(2) eps(1.0e-05)
      : tensor<2x64x256xf32>, tensor<2x64x256xf32>
  return %dx, %dw, %db, %dx2, %db2, %dx3 : tensor<2x64x256xf32>, tensor<256xf32>, tensor<256xf32>, tensor<2x64x256xf32>, tensor<256xf32>, tensor<2x64x256xf32>
}

// CHECK-LABEL: func.func @timestep_decay_norm_streaming
func.func @timestep_decay_norm_streaming(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>, %bos: tensor<2x16xi1>, %n0: tensor<2xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x4xf32>) -> (tensor<2x16x64xf32>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>) {
  // CHECK: %[[Y:.+]], %[[N:.+]], %[[M:.+]], %[[V:.+]] = gecko.timestep_decay_norm %{{.+}} weight(%{{.+}}) bias(%{{.+}}) bos(%{{.+}}) state(%{{.+}}, %{{.+}}, %{{.+}}) groups(4) betas(0.99899999999999999, 9.999000e-01) eps(1.000000e-05) : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<2x16xi1>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>
  // CHECK: return %[[Y]], %[[N]], %[[M]], %[[V]]
  %y, %n, %m, %v = gecko.timestep_decay_norm %x weight(%w) bias(%b)
      bos(%bos) state(%n0, %m0, %v0) groups(4) betas(0.999, 0.9999)
      eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>,
        tensor<2x16xi1>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>
  return %y, %n, %m, %v : tensor<2x16x64xf32>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>
}

// CHECK-LABEL: func.func @timestep_decay_norm_fresh_dynamic
func.func @timestep_decay_norm_fresh_dynamic(%x: tensor<?x?x4096xbf16>, %w: tensor<4096xbf16>, %b: tensor<4096xbf16>) -> (tensor<?x?x4096xbf16>, tensor<?xi64>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  // CHECK: gecko.timestep_decay_norm %{{.+}} weight(%{{.+}}) bias(%{{.+}}) groups(64) betas(0.99899999999999999, 9.999000e-01) eps(1.000000e-05) : tensor<?x?x4096xbf16>, tensor<4096xbf16>, tensor<4096xbf16>
  %y, %n, %m, %v = gecko.timestep_decay_norm %x weight(%w) bias(%b) groups(64)
      betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<?x?x4096xbf16>, tensor<4096xbf16>, tensor<4096xbf16>
  return %y, %n, %m, %v : tensor<?x?x4096xbf16>, tensor<?xi64>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// CHECK-LABEL: func.func @timestep_decay_norm_grad
func.func @timestep_decay_norm_grad(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %bos: tensor<2x16xi1>, %n0: tensor<2xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x4xf32>, %dm: tensor<2x4xf32>, %dv: tensor<2x4xf32>) -> (tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x16x64xf32>) {
  // CHECK: %[[DX:.+]], %[[DW:.+]], %[[DB:.+]], %[[DM0:.+]], %[[DV0:.+]] = gecko.timestep_decay_norm_grad %{{.+}}, %{{.+}} weight(%{{.+}}) bos(%{{.+}}) state(%{{.+}}, %{{.+}}, %{{.+}}) dstate(%{{.+}}, %{{.+}}) groups(4)
  %dx, %dw, %db, %dm0, %dv0 = gecko.timestep_decay_norm_grad %dy, %x
      weight(%w) bos(%bos) state(%n0, %m0, %v0) dstate(%dm, %dv)
      groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>,
        tensor<2x16xi1>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>,
        tensor<2x4xf32>, tensor<2x4xf32>
  // CHECK: gecko.timestep_decay_norm_grad %{{.+}}, %{{.+}} weight(%{{.+}}) groups(4) betas(0.99899999999999999, 9.999000e-01) eps(1.000000e-05) : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>
  %dx2, %dw2, %db2 = gecko.timestep_decay_norm_grad %dy, %x weight(%w)
      groups(4) betas(0.999, 0.9999) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>
  return %dx, %dw, %db, %dm0, %dv0, %dx2 : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x16x64xf32>
}

// CHECK-LABEL: func.func @timestep_norm
func.func @timestep_norm(%x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>, %n0: tensor<2xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x4xf32>) -> (tensor<2x16x64xf32>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x16x64xf32>) {
  // CHECK: %[[Y:.+]], %[[N:.+]], %[[M:.+]], %[[V:.+]] = gecko.timestep_norm %{{.+}} weight(%{{.+}}) bias(%{{.+}}) state(%{{.+}}, %{{.+}}, %{{.+}}) groups(4) eps(1.000000e-05) : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>
  %y, %n, %m, %v = gecko.timestep_norm %x weight(%w) bias(%b)
      state(%n0, %m0, %v0) groups(4) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>,
        tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>
  // CHECK: gecko.timestep_norm %{{.+}} weight(%{{.+}}) bias(%{{.+}}) groups(64) eps(1.000000e-05) : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>
  %y2, %n2, %m2, %v2 = gecko.timestep_norm %x weight(%w) bias(%b) groups(64)
      eps(1.0e-05) : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>
  return %y, %n, %m, %v, %y2 : tensor<2x16x64xf32>, tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x16x64xf32>
}

// CHECK-LABEL: func.func @timestep_norm_grad
func.func @timestep_norm_grad(%dy: tensor<2x16x64xf32>, %x: tensor<2x16x64xf32>, %w: tensor<64xf32>, %n0: tensor<2xi64>, %m0: tensor<2x4xf32>, %v0: tensor<2x4xf32>, %dm: tensor<2x4xf32>, %dv: tensor<2x4xf32>) -> (tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  // CHECK: %[[DX:.+]], %[[DW:.+]], %[[DB:.+]], %[[DM0:.+]], %[[DV0:.+]] = gecko.timestep_norm_grad %{{.+}}, %{{.+}} weight(%{{.+}}) state(%{{.+}}, %{{.+}}, %{{.+}}) dstate(%{{.+}}, %{{.+}}) groups(4) eps(1.000000e-05)
  %dx, %dw, %db, %dm0, %dv0 = gecko.timestep_norm_grad %dy, %x weight(%w)
      state(%n0, %m0, %v0) dstate(%dm, %dv) groups(4) eps(1.0e-05)
      : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>,
        tensor<2xi64>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>,
        tensor<2x4xf32>
  return %dx, %dw, %db, %dm0, %dv0 : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}
