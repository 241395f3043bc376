// RUN: gecko-opt %s | gecko-opt | FileCheck %s
// RUN: gecko-opt %s --mlir-print-op-generic | gecko-opt | FileCheck %s

// Round trip of the basic family (docs/dialect.md#basic-family).

// CHECK-LABEL: func.func @embedding
func.func @embedding(%table: tensor<32000x4096xbf16>, %tokens: tensor<2x64xi64>) -> (tensor<2x64x4096xbf16>, tensor<2x64x4096xbf16>) {
  // CHECK: gecko.embedding %{{.+}}, %{{.+}} : tensor<32000x4096xbf16>, tensor<2x64xi64>
  %x = gecko.embedding %table, %tokens : tensor<32000x4096xbf16>, tensor<2x64xi64>
  // CHECK: gecko.embedding %{{.+}}, %{{.+}} scale_emb : tensor<32000x4096xbf16>, tensor<2x64xi64>
  %xs = gecko.embedding %table, %tokens scale_emb : tensor<32000x4096xbf16>, tensor<2x64xi64>
  return %x, %xs : tensor<2x64x4096xbf16>, tensor<2x64x4096xbf16>
}

// CHECK-LABEL: func.func @embedding_dynamic
func.func @embedding_dynamic(%table: tensor<?x?xf32>, %tokens: tensor<?x?xi64>) -> tensor<?x?x?xf32> {
  // CHECK: gecko.embedding %{{.+}}, %{{.+}} : tensor<?x?xf32>, tensor<?x?xi64>
  %x = gecko.embedding %table, %tokens : tensor<?x?xf32>, tensor<?x?xi64>
  return %x : tensor<?x?x?xf32>
}

// CHECK-LABEL: func.func @embedding_grad
func.func @embedding_grad(%dx: tensor<2x64x4096xf32>, %tokens: tensor<2x64xi64>) -> (tensor<32000x4096xf32>, tensor<32000x4096xf32>) {
  // CHECK: gecko.embedding_grad %{{.+}}, %{{.+}} vocab(32000) : tensor<2x64x4096xf32>, tensor<2x64xi64>
  %dt = gecko.embedding_grad %dx, %tokens vocab(32000) : tensor<2x64x4096xf32>, tensor<2x64xi64>
  // CHECK: gecko.embedding_grad %{{.+}}, %{{.+}} vocab(32000) scale_emb : tensor<2x64x4096xf32>, tensor<2x64xi64>
  %dts = gecko.embedding_grad %dx, %tokens vocab(32000) scale_emb : tensor<2x64x4096xf32>, tensor<2x64xi64>
  return %dt, %dts : tensor<32000x4096xf32>, tensor<32000x4096xf32>
}

// CHECK-LABEL: func.func @linear
func.func @linear(%mx: tensor<2x64x4096xbf16>, %wz: tensor<1024x4096xbf16>, %bz: tensor<1024xbf16>,
                  %a: tensor<2x64x8192xbf16>, %wh2: tensor<4096x8192xbf16>) -> (tensor<2x64x1024xbf16>, tensor<2x64x4096xbf16>) {
  // CHECK: gecko.linear %{{.+}}, %{{.+}} bias(%{{.+}}) : tensor<2x64x4096xbf16>, tensor<1024x4096xbf16>, tensor<1024xbf16>
  %z = gecko.linear %mx, %wz bias(%bz) : tensor<2x64x4096xbf16>, tensor<1024x4096xbf16>, tensor<1024xbf16>
  // CHECK: gecko.linear %{{.+}}, %{{.+}} : tensor<2x64x8192xbf16>, tensor<4096x8192xbf16>
  %h2 = gecko.linear %a, %wh2 : tensor<2x64x8192xbf16>, tensor<4096x8192xbf16>
  return %z, %h2 : tensor<2x64x1024xbf16>, tensor<2x64x4096xbf16>
}

// CHECK-LABEL: func.func @linear_2d_dynamic
func.func @linear_2d_dynamic(%x: tensor<?x512xf32>, %w: tensor<?x512xf32>) -> tensor<?x?xf32> {
  // CHECK: gecko.linear %{{.+}}, %{{.+}} : tensor<?x512xf32>, tensor<?x512xf32>
  %y = gecko.linear %x, %w : tensor<?x512xf32>, tensor<?x512xf32>
  return %y : tensor<?x?xf32>
}

// CHECK-LABEL: func.func @linear_grad
func.func @linear_grad(%dy: tensor<2x64x1024xbf16>, %mx: tensor<2x64x4096xbf16>, %wz: tensor<1024x4096xbf16>)
    -> (tensor<2x64x4096xbf16>, tensor<1024x4096xbf16>, tensor<1024xbf16>, tensor<2x64x4096xbf16>, tensor<1024x4096xbf16>) {
  // CHECK: %[[DX:.+]], %[[DW:.+]], %[[DB:.+]] = gecko.linear_grad %{{.+}}, %{{.+}}, %{{.+}} with_bias : tensor<2x64x1024xbf16>, tensor<2x64x4096xbf16>, tensor<1024x4096xbf16>
  %dx, %dw, %db = gecko.linear_grad %dy, %mx, %wz with_bias : tensor<2x64x1024xbf16>, tensor<2x64x4096xbf16>, tensor<1024x4096xbf16>
  // CHECK: %[[DX2:.+]], %[[DW2:.+]] = gecko.linear_grad %{{.+}}, %{{.+}}, %{{.+}} : tensor<2x64x1024xbf16>, tensor<2x64x4096xbf16>, tensor<1024x4096xbf16>
  %dx2, %dw2 = gecko.linear_grad %dy, %mx, %wz : tensor<2x64x1024xbf16>, tensor<2x64x4096xbf16>, tensor<1024x4096xbf16>
  return %dx, %dw, %db, %dx2, %dw2 : tensor<2x64x4096xbf16>, tensor<1024x4096xbf16>, tensor<1024xbf16>, tensor<2x64x4096xbf16>, tensor<1024x4096xbf16>
}

// CHECK-LABEL: func.func @z_affine
func.func @z_affine(%zn: tensor<2x64x1024xbf16>, %gamma: tensor<4x1024xbf16>, %beta: tensor<4x1024xbf16>)
    -> (tensor<2x64x1024xbf16>, tensor<2x64x1024xbf16>, tensor<2x64x1024xbf16>, tensor<2x64x1024xbf16>) {
  // CHECK: %[[Q:.+]], %[[K:.+]], %[[AQ:.+]], %[[AK:.+]] = gecko.z_affine %{{.+}}, %{{.+}}, %{{.+}} head_dim(256) : tensor<2x64x1024xbf16>, tensor<4x1024xbf16>, tensor<4x1024xbf16>
  %q, %k, %aq, %ak = gecko.z_affine %zn, %gamma, %beta head_dim(256)
      : tensor<2x64x1024xbf16>, tensor<4x1024xbf16>, tensor<4x1024xbf16>
  return %q, %k, %aq, %ak : tensor<2x64x1024xbf16>, tensor<2x64x1024xbf16>, tensor<2x64x1024xbf16>, tensor<2x64x1024xbf16>
}

// CHECK-LABEL: func.func @z_affine_grad
func.func @z_affine_grad(%zn: tensor<2x64x1024xbf16>, %gamma: tensor<4x1024xbf16>, %dq: tensor<2x64x1024xbf16>,
                         %dk: tensor<2x64x1024xbf16>, %dak: tensor<2x64x1024xbf16>)
    -> (tensor<2x64x1024xbf16>, tensor<4x1024xbf16>, tensor<4x1024xbf16>, tensor<2x64x1024xbf16>) {
  // CHECK: gecko.z_affine_grad %{{.+}}, %{{.+}} dq(%{{.+}}) dk(%{{.+}}) dak(%{{.+}}) head_dim(256) : tensor<2x64x1024xbf16>, tensor<4x1024xbf16>, tensor<2x64x1024xbf16>, tensor<2x64x1024xbf16>, tensor<2x64x1024xbf16>
  %dz, %dg, %db = gecko.z_affine_grad %zn, %gamma dq(%dq) dk(%dk) dak(%dak)
      head_dim(256)
      : tensor<2x64x1024xbf16>, tensor<4x1024xbf16>, tensor<2x64x1024xbf16>,
        tensor<2x64x1024xbf16>, tensor<2x64x1024xbf16>
  // CHECK: gecko.z_affine_grad %{{.+}}, %{{.+}} daq(%{{.+}}) head_dim(256) : tensor<2x64x1024xbf16>, tensor<4x1024xbf16>, tensor<2x64x1024xbf16>
  %dz2, %dg2, %db2 = gecko.z_affine_grad %zn, %gamma daq(%dq) head_dim(256)
      : tensor<2x64x1024xbf16>, tensor<4x1024xbf16>, tensor<2x64x1024xbf16>
  return %dz, %dg, %db, %dz2 : tensor<2x64x1024xbf16>, tensor<4x1024xbf16>, tensor<4x1024xbf16>, tensor<2x64x1024xbf16>
}

// CHECK-LABEL: func.func @rope
func.func @rope(%q: tensor<2x64x1024xbf16>, %k: tensor<2x1x1024xbf16>, %pos: tensor<i64>, %dqr: tensor<2x64x1024xbf16>)
    -> (tensor<2x64x1024xbf16>, tensor<2x1x1024xbf16>, tensor<2x64x1024xbf16>) {
  // CHECK: gecko.rope %{{.+}} heads(4) rope_heads(4) base(5.000000e+05) : tensor<2x64x1024xbf16>
  %qr = gecko.rope %q heads(4) rope_heads(4) base(5.000000e+05)
      : tensor<2x64x1024xbf16>
  // CHECK: gecko.rope %{{.+}} start(%{{.+}}) heads(4) rope_heads(2) base(5.000000e+05) : tensor<2x1x1024xbf16>, tensor<i64>
  %kr = gecko.rope %k start(%pos) heads(4) rope_heads(2) base(5.000000e+05)
      : tensor<2x1x1024xbf16>, tensor<i64>
  // CHECK: gecko.rope %{{.+}} heads(4) rope_heads(4) base(5.000000e+05) inverse : tensor<2x64x1024xbf16>
  %dq = gecko.rope %dqr heads(4) rope_heads(4) base(5.000000e+05) inverse
      : tensor<2x64x1024xbf16>
  return %qr, %kr, %dq : tensor<2x64x1024xbf16>, tensor<2x1x1024xbf16>, tensor<2x64x1024xbf16>
}

// CHECK-LABEL: func.func @rope_dynamic
func.func @rope_dynamic(%q: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  // CHECK: gecko.rope %{{.+}} heads(2) rope_heads(1) base(1.000000e+04) : tensor<?x?x?xf32>
  %qr = gecko.rope %q heads(2) rope_heads(1) base(1.0e+04) : tensor<?x?x?xf32>
  return %qr : tensor<?x?x?xf32>
}

// CHECK-LABEL: func.func @silu
func.func @silu(%pv: tensor<2x64x8192xbf16>, %dv: tensor<2x64x8192xbf16>) -> (tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>) {
  // CHECK: gecko.silu %{{.+}} : tensor<2x64x8192xbf16>
  %v = gecko.silu %pv : tensor<2x64x8192xbf16>
  // CHECK: gecko.silu_grad %{{.+}}, %{{.+}} : tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>
  %dpv = gecko.silu_grad %dv, %pv : tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>
  return %v, %dpv : tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>
}

// CHECK-LABEL: func.func @swiglu
func.func @swiglu(%h1: tensor<2x64x8192xbf16>, %h3: tensor<2x64x8192xbf16>, %dhid: tensor<2x64x8192xbf16>)
    -> (tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>) {
  // CHECK: gecko.swiglu %{{.+}}, %{{.+}} : tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>
  %hid = gecko.swiglu %h1, %h3 : tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>
  // CHECK: %[[DA:.+]], %[[DB:.+]] = gecko.swiglu_grad %{{.+}}, %{{.+}}, %{{.+}} : tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>
  %da, %db = gecko.swiglu_grad %dhid, %h1, %h3
      : tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>
  return %hid, %da, %db : tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>, tensor<2x64x8192xbf16>
}

// CHECK-LABEL: func.func @segments
func.func @segments(%t: tensor<2x64xi64>, %tok: tensor<2x1xi64>, %last: tensor<2xi64>)
    -> (tensor<2x64xi1>, tensor<2x64xi64>, tensor<2x1xi64>) {
  // CHECK: gecko.segments %{{.+}} bos_id(1) : tensor<2x64xi64>
  %bos, %seg = gecko.segments %t bos_id(1) : tensor<2x64xi64>
  // CHECK: gecko.segments %{{.+}} offset(%{{.+}}) bos_id(1) : tensor<2x1xi64>, tensor<2xi64>
  %bos1, %seg1 = gecko.segments %tok offset(%last) bos_id(1) : tensor<2x1xi64>, tensor<2xi64>
  return %bos, %seg, %seg1 : tensor<2x64xi1>, tensor<2x64xi64>, tensor<2x1xi64>
}

// CHECK-LABEL: func.func @rope_restart
func.func @rope_restart(%q: tensor<2x64x32xf32>) -> tensor<2x64x32xf32> {
  // CHECK: gecko.rope %{{.+}} heads(2) rope_heads(2) base(1.000000e+04) restart(16) : tensor<2x64x32xf32>
  %y = gecko.rope %q heads(2) rope_heads(2) base(1.0e+04) restart(16) : tensor<2x64x32xf32>
  return %y : tensor<2x64x32xf32>
}
