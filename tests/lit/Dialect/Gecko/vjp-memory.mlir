// RUN: gecko-opt %s --test-gecko-vjp | FileCheck %s

// Each differentiable op of the memory family builds its backward op through
// DifferentiableOpInterface::buildVjp.

// Without a state: cotangents of y and of the final state flow into the
// backward op; aq, ak and v get cotangents.
// CHECK-LABEL: func.func @working_memory
// CHECK-SAME: (%[[AQ:[^:]+]]: tensor<2x32x32xf32>, %[[AK:[^:]+]]: tensor<2x32x32xf32>, %[[V:[^:]+]]: tensor<2x32x64xf32>, %[[DY:[^:]+]]: tensor<2x32x64xf32>, %[[DM:[^:]+]]: tensor<2x2x16x32xf32>, %[[DL:[^:]+]]: tensor<2x2x16xf32>)
func.func @working_memory(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>) -> tensor<2x32x64xf32> {
  // CHECK: %[[DAQ:.+]], %[[DAK:.+]], %[[DV:.+]] = gecko.working_memory_grad %[[DY]], %[[AQ]], %[[AK]], %[[V]] memory_grad(%[[DM]]) log_norm_grad(%[[DL]]) heads(2) chunk(16)
  // CHECK: return %[[DAQ]], %[[DAK]], %[[DV]] :
  %y, %m, %l = gecko.working_memory %aq, %ak, %v heads(2) chunk(16)
      : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>
  return %y : tensor<2x32x64xf32>
}

// With a state and segments: the state's float operands get cotangents, the
// segment ids and doc_mem (and the doc_mem result) none.
// CHECK-LABEL: func.func @working_memory_state
// CHECK-SAME: (%[[AQ:[^:]+]]: tensor<2x32x32xf32>, %[[AK:[^:]+]]: tensor<2x32x32xf32>, %[[V:[^:]+]]: tensor<2x32x64xf32>, %[[S:[^:]+]]: tensor<2x32xi64>, %[[M:[^:]+]]: tensor<2x2x16x32xf32>, %[[L:[^:]+]]: tensor<2x2x16xf32>, %[[PAK:[^:]+]]: tensor<2x16x32xf32>, %[[PV:[^:]+]]: tensor<2x16x64xf32>, %[[PS:[^:]+]]: tensor<2x16xi64>, %[[DOC:[^:]+]]: tensor<2xi64>, %[[DY:[^:]+]]: tensor<2x32x64xf32>, %[[DM:[^:]+]]: tensor<2x2x16x32xf32>, %[[DL:[^:]+]]: tensor<2x2x16xf32>)
func.func @working_memory_state(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %s: tensor<2x32xi64>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>, %ps: tensor<2x16xi64>, %doc: tensor<2xi64>) -> tensor<2x32x64xf32> {
  // CHECK: %[[DAQ:.+]], %[[DAK:.+]], %[[DV:.+]], %[[DS:.+]]:4 = gecko.working_memory_grad %[[DY]], %[[AQ]], %[[AK]], %[[V]] segments(%[[S]]) state(%[[M]], %[[L]], %[[PAK]], %[[PV]], %[[PS]], %[[DOC]]) memory_grad(%[[DM]]) log_norm_grad(%[[DL]]) heads(2) chunk(16)
  // CHECK: return %[[DAQ]], %[[DAK]], %[[DV]], %[[DS]]#0, %[[DS]]#1, %[[DS]]#2, %[[DS]]#3 : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  %y, %m2, %l2, %doc2 = gecko.working_memory %aq, %ak, %v segments(%s)
      state(%m, %l, %pak, %pv, %ps, %doc) heads(2) chunk(16)
      : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>,
        tensor<2x32xi64>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>,
        tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16xi64>,
        tensor<2xi64>
  return %y : tensor<2x32x64xf32>
}
