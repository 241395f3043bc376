// RUN: gecko-opt %s --test-gecko-vjp | FileCheck %s

// Each differentiable op of the attention family builds its backward op
// through DifferentiableOpInterface::buildVjp.

// CHECK-LABEL: func.func @chunk_attention
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<2x32x32xf32>, %[[K:[^:]+]]: tensor<2x32x32xf32>, %[[V:[^:]+]]: tensor<2x32x64xf32>, %[[DO:[^:]+]]: tensor<2x32x64xf32>)
func.func @chunk_attention(%q: tensor<2x32x32xf32>, %k: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>) -> tensor<2x32x64xf32> {
  // CHECK: %[[DQ:.+]], %[[DK:.+]], %[[DV:.+]] = gecko.chunk_attention_grad %[[DO]], %[[Q]], %[[K]], %[[V]] heads(2) chunk(16)
  // CHECK: return %[[DQ]], %[[DK]], %[[DV]] :
  %o = gecko.chunk_attention %q, %k, %v heads(2) chunk(16)
      : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>
  return %o : tensor<2x32x64xf32>
}

// Segment ids and the stream position are integers: no cotangent. The cache
// gets one.
// CHECK-LABEL: func.func @chunk_attention_cache
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<2x1x32xf32>, %[[K:[^:]+]]: tensor<2x1x32xf32>, %[[V:[^:]+]]: tensor<2x1x64xf32>, %[[S:[^:]+]]: tensor<2x1xi64>, %[[PK:[^:]+]]: tensor<2x?x32xf32>, %[[PV:[^:]+]]: tensor<2x?x64xf32>, %[[PS:[^:]+]]: tensor<2x?xi64>, %[[POS:[^:]+]]: tensor<i64>, %[[DO:[^:]+]]: tensor<2x1x64xf32>)
func.func @chunk_attention_cache(%q: tensor<2x1x32xf32>, %k: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %s: tensor<2x1xi64>, %pk: tensor<2x?x32xf32>, %pv: tensor<2x?x64xf32>, %ps: tensor<2x?xi64>, %pos: tensor<i64>) -> tensor<2x1x64xf32> {
  // CHECK: %[[DQ:.+]], %[[DK:.+]], %[[DV:.+]], %[[DC:.+]]:2 = gecko.chunk_attention_grad %[[DO]], %[[Q]], %[[K]], %[[V]] segments(%[[S]]) cache(%[[PK]], %[[PV]], %[[PS]]) start(%[[POS]]) heads(2) chunk(16)
  // CHECK: return %[[DQ]], %[[DK]], %[[DV]], %[[DC]]#0, %[[DC]]#1 : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x?x32xf32>, tensor<2x?x64xf32>
  %o = gecko.chunk_attention %q, %k, %v segments(%s) cache(%pk, %pv, %ps)
      start(%pos) heads(2) chunk(16)
      : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>,
        tensor<2x1xi64>, tensor<2x?x32xf32>, tensor<2x?x64xf32>,
        tensor<2x?xi64>, tensor<i64>
  return %o : tensor<2x1x64xf32>
}

// The block-diagonal form keeps its attribute in the backward.
// CHECK-LABEL: func.func @chunk_attention_local
// CHECK: gecko.chunk_attention_grad %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} heads(2) chunk(16) local
func.func @chunk_attention_local(%q: tensor<2x32x32xf32>, %k: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>) -> tensor<2x32x64xf32> {
  %o = gecko.chunk_attention %q, %k, %v heads(2) chunk(16) local
      : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>
  return %o : tensor<2x32x64xf32>
}
