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

// -----

// silu_grad is one elementwise generic computing dy * sigma(x)(1 + x(1 - sigma(x))) in f32.
// CHECK-LABEL: func.func @silu_grad_bf16
// CHECK:         linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel"]
// CHECK-COUNT-2:   arith.extf %{{.*}} : bf16 to f32
// CHECK:           math.exp
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK-NOT:     gecko.
func.func @silu_grad_bf16(%dy: tensor<4x8xbf16>, %x: tensor<4x8xbf16>) -> tensor<4x8xbf16> {
  %dx = gecko.silu_grad %dy, %x : tensor<4x8xbf16>, tensor<4x8xbf16>
  return %dx : tensor<4x8xbf16>
}

// -----

// swiglu: one elementwise generic silu(a) * b in f32.
// CHECK-LABEL: func.func @swiglu_bf16
// CHECK:         linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "parallel"]
// CHECK:           math.exp {{.*}} : f32
// CHECK:           arith.mulf {{.*}} : f32
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK-NOT:     gecko.
func.func @swiglu_bf16(%a: tensor<2x3x8xbf16>, %b: tensor<2x3x8xbf16>) -> tensor<2x3x8xbf16> {
  %y = gecko.swiglu %a, %b : tensor<2x3x8xbf16>, tensor<2x3x8xbf16>
  return %y : tensor<2x3x8xbf16>
}

// -----

// swiglu_grad: one elementwise generic with two results (da, db).
// CHECK-LABEL: func.func @swiglu_grad
// CHECK:         %[[R:.*]]:2 = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel"]
// CHECK:           linalg.yield %{{.*}}, %{{.*}} : f32, f32
// CHECK:         return %[[R]]#0, %[[R]]#1
func.func @swiglu_grad(%dy: tensor<3x4xf32>, %a: tensor<3x4xf32>, %b: tensor<3x4xf32>) -> (tensor<3x4xf32>, tensor<3x4xf32>) {
  %da, %db = gecko.swiglu_grad %dy, %a, %b : tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>
  return %da, %db : tensor<3x4xf32>, tensor<3x4xf32>
}

// -----

// embedding: one gather generic over (b, t, d); the token is clamped into
// [0, V-1] and the row read with tensor.extract; the scale is applied in f32.
// CHECK-LABEL: func.func @embedding_bf16
// CHECK:         %[[VMAX:.*]] = arith.subi
// CHECK:         %[[SCALE:.*]] = arith.constant 2.44948983 : f32
// CHECK:         linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME:      ins(%{{.*}} : tensor<2x3xi64>)
// CHECK:           arith.maxsi
// CHECK:           arith.minsi %{{.*}}, %[[VMAX]] : i64
// CHECK:           linalg.index 2
// CHECK:           tensor.extract %{{.*}} : tensor<10x6xbf16>
// CHECK:           arith.extf %{{.*}} : bf16 to f32
// CHECK:           arith.mulf %{{.*}}, %[[SCALE]] : f32
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK-NOT:     gecko.
func.func @embedding_bf16(%t: tensor<10x6xbf16>, %tok: tensor<2x3xi64>) -> tensor<2x3x6xbf16> {
  %x = gecko.embedding %t, %tok scale_emb : tensor<10x6xbf16>, tensor<2x3xi64>
  return %x : tensor<2x3x6xbf16>
}

// -----

// embedding_grad: an f32 zero table, an scf.for over the B*L tokens that adds
// each dx row into its table row (skipped when the token is out of range),
// then one scale-and-round generic.
// CHECK-LABEL: func.func @embedding_grad_bf16
// CHECK:         tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]] : tensor<2x3x6xbf16> into tensor<6x6xbf16>
// CHECK:         %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<10x6xf32>)
// CHECK:         %[[LOOP:.*]] = scf.for %{{.*}} iter_args(%[[ACC:.*]] = %[[ZERO]]) -> (tensor<10x6xf32>)
// CHECK:           tensor.extract %{{.*}} : tensor<6xi64>
// CHECK:           scf.if %{{.*}} -> (tensor<10x6xf32>)
// CHECK:             tensor.extract_slice %[[ACC]]
// CHECK:             linalg.generic
// CHECK:               arith.extf %{{.*}} : bf16 to f32
// CHECK:               arith.addf
// CHECK:             tensor.insert_slice %{{.*}} into %[[ACC]]
// CHECK:           } else {
// CHECK:             scf.yield %[[ACC]]
// CHECK:         linalg.generic
// CHECK-SAME:      ins(%[[LOOP]] : tensor<10x6xf32>)
// CHECK:           arith.mulf
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK-NOT:     gecko.
func.func @embedding_grad_bf16(%dx: tensor<2x3x6xbf16>, %tok: tensor<2x3xi64>) -> tensor<10x6xbf16> {
  %g = gecko.embedding_grad %dx, %tok vocab(10) scale_emb : tensor<2x3x6xbf16>, tensor<2x3xi64>
  return %g : tensor<10x6xbf16>
}

// -----

// linear: x collapsed to M x IN, the bias broadcast into an f32 init, one
// contraction generic over (m, o, i) reading W[o, i] (transposed by its
// map), a rounding generic and the expand_shape back.
// CHECK-DAG:   #[[BIAS:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG:   #[[X:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG:   #[[W:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG:   #[[Y:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @linear_bf16
// CHECK:         %[[X2:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]] : tensor<2x3x4xbf16> into tensor<6x4xbf16>
// CHECK:         %[[INIT:.*]] = linalg.generic {indexing_maps = [#[[BIAS]], {{.*}}]
// CHECK-SAME:      ins(%{{.*}} : tensor<5xbf16>) outs(%{{.*}} : tensor<6x5xf32>)
// CHECK:         %[[ACC:.*]] = linalg.generic {indexing_maps = [#[[X]], #[[W]], #[[Y]]], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%[[X2]], %{{.*}} : tensor<6x4xbf16>, tensor<5x4xbf16>) outs(%[[INIT]] : tensor<6x5xf32>)
// CHECK:           arith.extf
// CHECK:           arith.extf
// CHECK:           arith.mulf {{.*}} : f32
// CHECK:           arith.addf {{.*}} : f32
// CHECK:         %[[ROUND:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[ACC]] : tensor<6x5xf32>) outs(%{{.*}} : tensor<6x5xbf16>)
// CHECK:           arith.truncf
// CHECK:         tensor.expand_shape %[[ROUND]] {{\[}}[0, 1], [2]] output_shape [2, 3, 5] : tensor<6x5xbf16> into tensor<2x3x5xbf16>
// CHECK-NOT:     gecko.
func.func @linear_bf16(%x: tensor<2x3x4xbf16>, %w: tensor<5x4xbf16>, %b: tensor<5xbf16>) -> tensor<2x3x5xbf16> {
  %y = gecko.linear %x, %w bias(%b) : tensor<2x3x4xbf16>, tensor<5x4xbf16>, tensor<5xbf16>
  return %y : tensor<2x3x5xbf16>
}

// -----

// linear without bias, f32: a zero init and no rounding generic.
// CHECK-LABEL: func.func @linear_f32
// CHECK:         linalg.fill
// CHECK:         %[[Y:.*]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-NOT:     linalg.generic
// CHECK:         return %[[Y]]
func.func @linear_f32(%x: tensor<7x4xf32>, %w: tensor<5x4xf32>) -> tensor<7x5xf32> {
  %y = gecko.linear %x, %w : tensor<7x4xf32>, tensor<5x4xf32>
  return %y : tensor<7x5xf32>
}

// -----

// linear_grad: dx = dy W over (m, i, o), dW = dy^T x over (o, i, m) and
// db = column sums of dy over (o, m), all in f32.
// CHECK-DAG:   #[[DY_MIO:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG:   #[[W_MIO:.*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-DAG:   #[[DY_OIM:.*]] = affine_map<(d0, d1, d2) -> (d2, d0)>
// CHECK-DAG:   #[[DY_OM:.*]] = affine_map<(d0, d1) -> (d1, d0)>
// CHECK-LABEL: func.func @linear_grad
// CHECK:         %[[DX:.*]] = linalg.generic {indexing_maps = [#[[DY_MIO]], #[[W_MIO]], {{.*}}], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK:         %[[DW:.*]] = linalg.generic {indexing_maps = [#[[DY_OIM]], #[[W_MIO]], {{.*}}], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK:         %[[DB:.*]] = linalg.generic {indexing_maps = [#[[DY_OM]], {{.*}}], iterator_types = ["parallel", "reduction"]}
// CHECK:         return %[[DX]], %[[DW]], %[[DB]]
func.func @linear_grad(%dy: tensor<7x5xf32>, %x: tensor<7x4xf32>, %w: tensor<5x4xf32>) -> (tensor<7x4xf32>, tensor<5x4xf32>, tensor<5xf32>) {
  %dx, %dw, %db = gecko.linear_grad %dy, %x, %w with_bias : tensor<7x5xf32>, tensor<7x4xf32>, tensor<5x4xf32>
  return %dx, %dw, %db : tensor<7x4xf32>, tensor<5x4xf32>, tensor<5xf32>
}

// -----

// z_affine: g = fl_bf16(1 + gamma) / sqrt(d_k) as a 4 x S f32 tensor, then one
// generic over (b, t, s) with the four results.
// CHECK-LABEL: func.func @z_affine_bf16
// CHECK:         %[[G:.*]] = linalg.generic
// CHECK:           arith.addf {{.*}} : f32
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK:           arith.extf %{{.*}} : bf16 to f32
// CHECK:           arith.divf {{.*}} : f32
// CHECK:         tensor.extract_slice %[[G]][0, 0] [1, 8] [1, 1] : tensor<4x8xf32> to tensor<8xf32>
// CHECK:         %[[R:.*]]:4 = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "parallel"]
// CHECK:           linalg.yield {{.*}} : bf16, bf16, bf16, bf16
// CHECK:         return %[[R]]#0, %[[R]]#1, %[[R]]#2, %[[R]]#3
func.func @z_affine_bf16(%z: tensor<2x3x8xbf16>, %g: tensor<4x8xbf16>, %b: tensor<4x8xbf16>) -> (tensor<2x3x8xbf16>, tensor<2x3x8xbf16>, tensor<2x3x8xbf16>, tensor<2x3x8xbf16>) {
  %q, %k, %aq, %ak = gecko.z_affine %z, %g, %b head_dim(4) : tensor<2x3x8xbf16>, tensor<4x8xbf16>, tensor<4x8xbf16>
  return %q, %k, %aq, %ak : tensor<2x3x8xbf16>, tensor<2x3x8xbf16>, tensor<2x3x8xbf16>, tensor<2x3x8xbf16>
}

// -----

// z_affine_grad with dq and dak: dz elementwise over the two cotangents; the
// column sums over (b, t) in one generic with reduction iterators; the 4 x S
// results assembled by row selection (rows 1 and 2 zero).
// CHECK-LABEL: func.func @z_affine_grad
// CHECK:         linalg.generic
// CHECK-SAME:      ins(%{{.*}} : tensor<4x8xf32>)
// CHECK:         %[[DZ:.*]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME:      ins(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x3x8xf32>, tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>)
// CHECK:         %[[SUMS:.*]]:4 = linalg.generic
// CHECK-SAME:      iterator_types = ["reduction", "reduction", "parallel"]
// CHECK:         %[[OUT:.*]]:2 = linalg.generic
// CHECK-SAME:      ins(%[[SUMS]]#0, %[[SUMS]]#1, %[[SUMS]]#2, %[[SUMS]]#3 :
// CHECK:           linalg.index 0
// CHECK:           arith.select
// CHECK:         return %[[DZ]], %[[OUT]]#0, %[[OUT]]#1
func.func @z_affine_grad(%z: tensor<2x3x8xf32>, %g: tensor<4x8xf32>, %dq: tensor<2x3x8xf32>, %dak: tensor<2x3x8xf32>) -> (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %dz, %dg, %db = gecko.z_affine_grad %z, %g dq(%dq) dak(%dak) head_dim(4) : tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>
  return %dz, %dg, %db : tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// rope on 2 of 3 heads (d = 4): the f32 frequencies folded into a constant,
// one generic over (b, t, s) reading the pair through floordiv maps; the
// f32 angle fl32(fl32(start + t) * w), cos/sin in f32 for bf16, channels of
// heads >= 2 (s >= 8) pass through.
// CHECK-DAG:   #[[RE:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, (d2 floordiv 2) * 2)>
// CHECK-DAG:   #[[IM:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, (d2 floordiv 2) * 2 + 1)>
// CHECK-DAG:   #[[OMEGA:.*]] = affine_map<(d0, d1, d2) -> ((d2 mod 4) floordiv 2)>
// CHECK-LABEL: func.func @rope_bf16
// CHECK:         %[[W:.*]] = arith.constant dense<[1.000000e+00, 0.00141421345]> : tensor<2xf32>
// CHECK:         %[[START:.*]] = tensor.extract %{{.*}}[] : tensor<i64>
// CHECK:         linalg.generic {indexing_maps = [#[[RE]], #[[IM]], #[[OMEGA]], {{.*}}], iterator_types = ["parallel", "parallel", "parallel"]}
// CHECK:           arith.addi %[[START]], %{{.*}} : i64
// CHECK:           arith.sitofp %{{.*}} : i64 to f32
// CHECK:           arith.mulf {{.*}} : f32
// CHECK:           arith.cmpi ult, %{{.*}}, %c8
// CHECK:           math.cos %{{.*}} : f32
// CHECK:           math.sin %{{.*}} : f32
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK:           arith.select
// CHECK-NOT:     gecko.
func.func @rope_bf16(%x: tensor<2x3x12xbf16>, %p: tensor<i64>) -> tensor<2x3x12xbf16> {
  %y = gecko.rope %x start(%p) heads(3) rope_heads(2) base(5.000000e+05) : tensor<2x3x12xbf16>, tensor<i64>
  return %y : tensor<2x3x12xbf16>
}

// -----

// rope on f64 inputs with inverse: the angle is still the f32 recipe, then
// extended to f64 for cos/sin and the rotation; sin is negated.
// CHECK-LABEL: func.func @rope_f64_inverse
// CHECK:         linalg.generic
// CHECK:           arith.mulf {{.*}} : f32
// CHECK:           arith.extf %{{.*}} : f32 to f64
// CHECK:           math.cos %{{.*}} : f64
// CHECK:           math.sin %{{.*}} : f64
// CHECK:           arith.negf %{{.*}} : f64
func.func @rope_f64_inverse(%x: tensor<1x4x8xf64>) -> tensor<1x4x8xf64> {
  %y = gecko.rope %x heads(2) rope_heads(2) base(1.000000e+04) inverse : tensor<1x4x8xf64>
  return %y : tensor<1x4x8xf64>
}

// -----

// Dynamic leading dimensions: collapse, contraction on ? x IN, and the
// expand_shape takes its output shape from tensor.dim of x.
// CHECK-LABEL: func.func @linear_dynamic
// CHECK:         tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]] : tensor<?x?x8xf32> into tensor<?x8xf32>
// CHECK:         linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:         %[[B:.*]] = tensor.dim %arg0, %{{.*}} : tensor<?x?x8xf32>
// CHECK:         %[[L:.*]] = tensor.dim %arg0, %{{.*}} : tensor<?x?x8xf32>
// CHECK:         tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2]] output_shape [%[[B]], %[[L]], 3] : tensor<?x3xf32> into tensor<?x?x3xf32>
func.func @linear_dynamic(%x: tensor<?x?x8xf32>, %w: tensor<3x8xf32>) -> tensor<?x?x3xf32> {
  %y = gecko.linear %x, %w : tensor<?x?x8xf32>, tensor<3x8xf32>
  return %y : tensor<?x?x3xf32>
}
