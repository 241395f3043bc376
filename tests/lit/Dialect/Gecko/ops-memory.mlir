// RUN: gecko-opt %s | gecko-opt | FileCheck %s
// RUN: gecko-opt %s --mlir-print-op-generic | gecko-opt | FileCheck %s

// Round trip of the memory family (docs/dialect.md#memory-family).

// Start of a stream: no state; the result state types are inferred
// (memory B x H x d_k x d_v in v's type, log-normaliser f32).
// CHECK-LABEL: func.func @working_memory_no_state
func.func @working_memory_no_state(%aq: tensor<2x64x32xf32>, %ak: tensor<2x64x32xf32>, %v: tensor<2x64x64xf32>) -> (tensor<2x64x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>) {
  // CHECK: %[[Y:.+]], %[[M:.+]], %[[L:.+]] = gecko.working_memory %{{.+}}, %{{.+}}, %{{.+}} heads(2) chunk(16) : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>
  %y, %m, %l = gecko.working_memory %aq, %ak, %v heads(2) chunk(16)
      : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>
  // CHECK: return %[[Y]], %[[M]], %[[L]] : tensor<2x64x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>
  return %y, %m, %l : tensor<2x64x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>
}

// The example of the op description: a first call, then a prefill that
// carries the state, with segments.
// CHECK-LABEL: func.func @working_memory_state_segments
func.func @working_memory_state_segments(%aq: tensor<2x64x32xf32>, %ak: tensor<2x64x32xf32>, %v: tensor<2x64x64xf32>, %s: tensor<2x64xi64>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>, %ps: tensor<2x16xi64>, %doc: tensor<2xi64>) -> (tensor<2x64x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2xi64>) {
  // CHECK: = gecko.working_memory %{{.+}}, %{{.+}}, %{{.+}} segments(%{{.+}}) state(%{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}) heads(2) chunk(16) : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>, tensor<2x64xi64>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16xi64>, tensor<2xi64>
  %y2, %m2, %l2, %doc2 = gecko.working_memory %aq, %ak, %v segments(%s)
      state(%m, %l, %pak, %pv, %ps, %doc) heads(2) chunk(16)
      : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>,
        tensor<2x64xi64>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>,
        tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16xi64>,
        tensor<2xi64>
  return %y2, %m2, %l2, %doc2 : tensor<2x64x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2xi64>
}

// Segments without a state: doc_mem is still returned.
// CHECK-LABEL: func.func @working_memory_segments_dynamic
func.func @working_memory_segments_dynamic(%aq: tensor<?x?x32xbf16>, %ak: tensor<?x?x32xbf16>, %v: tensor<?x?x64xbf16>, %s: tensor<?x?xi64>) -> (tensor<?x?x64xbf16>, tensor<?x4x8x16xbf16>, tensor<?x4x8xf32>, tensor<?xi64>) {
  // CHECK: = gecko.working_memory %{{.+}}, %{{.+}}, %{{.+}} segments(%{{.+}}) heads(4) chunk(2048) : tensor<?x?x32xbf16>, tensor<?x?x32xbf16>, tensor<?x?x64xbf16>, tensor<?x?xi64>
  %y, %m, %l, %doc = gecko.working_memory %aq, %ak, %v segments(%s) heads(4) chunk(2048)
      : tensor<?x?x32xbf16>, tensor<?x?x32xbf16>, tensor<?x?x64xbf16>, tensor<?x?xi64>
  return %y, %m, %l, %doc : tensor<?x?x64xbf16>, tensor<?x4x8x16xbf16>, tensor<?x4x8xf32>, tensor<?xi64>
}

// f64 activations get an f64 log-normaliser; a carried state keeps its type.
// CHECK-LABEL: func.func @working_memory_f64
func.func @working_memory_f64(%aq: tensor<1x8x4xf64>, %ak: tensor<1x8x4xf64>, %v: tensor<1x8x4xf64>, %pak: tensor<1x8x4xf64>, %pv: tensor<1x8x4xf64>) -> (tensor<1x1x4xf64>, tensor<1x1x4x4xf64>, tensor<1x1x4xf64>) {
  // CHECK: gecko.working_memory %{{.+}}, %{{.+}}, %{{.+}} heads(1) chunk(8) : tensor<1x8x4xf64>, tensor<1x8x4xf64>, tensor<1x8x4xf64>
  %y, %m, %l = gecko.working_memory %aq, %ak, %v heads(1) chunk(8)
      : tensor<1x8x4xf64>, tensor<1x8x4xf64>, tensor<1x8x4xf64>
  // CHECK: gecko.working_memory %{{.+}}, %{{.+}}, %{{.+}} state(%{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}) heads(1) chunk(8) : tensor<1x8x4xf64>, tensor<1x8x4xf64>, tensor<1x8x4xf64>, tensor<1x1x4x4xf64>, tensor<1x1x4xf64>, tensor<1x8x4xf64>, tensor<1x8x4xf64>
  %y2, %m2, %l2 = gecko.working_memory %aq, %ak, %v state(%m, %l, %pak, %pv) heads(1) chunk(8)
      : tensor<1x8x4xf64>, tensor<1x8x4xf64>, tensor<1x8x4xf64>, tensor<1x1x4x4xf64>, tensor<1x1x4xf64>, tensor<1x8x4xf64>, tensor<1x8x4xf64>
  return %l, %m2, %l2 : tensor<1x1x4xf64>, tensor<1x1x4x4xf64>, tensor<1x1x4xf64>
}

// CHECK-LABEL: func.func @working_memory_grad
func.func @working_memory_grad(%dy: tensor<2x64x64xf32>, %aq: tensor<2x64x32xf32>, %ak: tensor<2x64x32xf32>, %v: tensor<2x64x64xf32>) -> (tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>) {
  // CHECK: %[[DAQ:.+]], %[[DAK:.+]], %[[DV:.+]] = gecko.working_memory_grad %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} heads(2) chunk(16) : tensor<2x64x64xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>
  %daq, %dak, %dv = gecko.working_memory_grad %dy, %aq, %ak, %v
      heads(2) chunk(16)
      : tensor<2x64x64xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>,
        tensor<2x64x64xf32>
  // CHECK: return %[[DAQ]], %[[DAK]], %[[DV]]
  return %daq, %dak, %dv : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>
}

// CHECK-LABEL: func.func @working_memory_grad_state
func.func @working_memory_grad_state(%dy: tensor<2x64x64xf32>, %aq: tensor<2x64x32xf32>, %ak: tensor<2x64x32xf32>, %v: tensor<2x64x64xf32>, %s: tensor<2x64xi64>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>, %ps: tensor<2x16xi64>, %doc: tensor<2xi64>, %dm: tensor<2x2x16x32xf32>, %dl: tensor<2x2x16xf32>) -> (tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>) {
  // CHECK: = gecko.working_memory_grad %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} segments(%{{.+}}) state(%{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}) memory_grad(%{{.+}}) log_norm_grad(%{{.+}}) heads(2) chunk(16)
  %daq, %dak, %dv, %dm0, %dl0, %dpak, %dpv = gecko.working_memory_grad %dy, %aq, %ak, %v segments(%s)
      state(%m, %l, %pak, %pv, %ps, %doc) memory_grad(%dm) log_norm_grad(%dl) heads(2) chunk(16)
      : tensor<2x64x64xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>,
        tensor<2x64xi64>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>,
        tensor<2x16x64xf32>, tensor<2x16xi64>, tensor<2xi64>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>
  return %dm0, %dl0, %dpak, %dpv : tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
}

// Only the final log-normaliser has a cotangent.
// CHECK-LABEL: func.func @working_memory_grad_log_norm_only
func.func @working_memory_grad_log_norm_only(%dy: tensor<2x64x64xf32>, %aq: tensor<2x64x32xf32>, %ak: tensor<2x64x32xf32>, %v: tensor<2x64x64xf32>, %dl: tensor<2x2x16xf32>) -> tensor<2x64x32xf32> {
  // CHECK: gecko.working_memory_grad %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} log_norm_grad(%{{.+}}) heads(2) chunk(16)
  %daq, %dak, %dv = gecko.working_memory_grad %dy, %aq, %ak, %v log_norm_grad(%dl) heads(2) chunk(16)
      : tensor<2x64x64xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>, tensor<2x2x16xf32>
  return %daq : tensor<2x64x32xf32>
}

// Decode step (the example of the op description): a cache of dynamic length.
// CHECK-LABEL: func.func @working_memory_step_decode
func.func @working_memory_step_decode(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x?x32xf32>, %pv: tensor<2x?x64xf32>) -> (tensor<2x1x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>) {
  // CHECK: %[[Y:.+]], %[[M:.+]], %[[L:.+]] = gecko.working_memory_step %{{.+}}, %{{.+}}, %{{.+}} state(%{{.+}}, %{{.+}}) cache(%{{.+}}, %{{.+}}) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x?x32xf32>, tensor<2x?x64xf32>
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v
      state(%m, %l) cache(%pak, %pv) heads(2) chunk(16)
      : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>,
        tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x?x32xf32>,
        tensor<2x?x64xf32>
  // CHECK: return %[[Y]], %[[M]], %[[L]]
  return %y, %m2, %l2 : tensor<2x1x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>
}

// Tail step with segments: a 5-token call after a rolled cache of C tokens.
// CHECK-LABEL: func.func @working_memory_step_tail_segments
func.func @working_memory_step_tail_segments(%aq: tensor<2x5x32xbf16>, %ak: tensor<2x5x32xbf16>, %v: tensor<2x5x64xbf16>, %s: tensor<2x5xi64>, %m: tensor<2x2x16x32xbf16>, %l: tensor<2x2x16xf32>, %doc: tensor<2xi64>, %pak: tensor<2x16x32xbf16>, %pv: tensor<2x16x64xbf16>, %ps: tensor<2x16xi64>) -> (tensor<2x5x64xbf16>, tensor<2xi64>) {
  // CHECK: gecko.working_memory_step %{{.+}}, %{{.+}}, %{{.+}} segments(%{{.+}}) state(%{{.+}}, %{{.+}}, %{{.+}}) cache(%{{.+}}, %{{.+}}, %{{.+}}) heads(2) chunk(16) : tensor<2x5x32xbf16>, tensor<2x5x32xbf16>, tensor<2x5x64xbf16>, tensor<2x5xi64>, tensor<2x2x16x32xbf16>, tensor<2x2x16xf32>, tensor<2xi64>, tensor<2x16x32xbf16>, tensor<2x16x64xbf16>, tensor<2x16xi64>
  %y, %m2, %l2, %doc2 = gecko.working_memory_step %aq, %ak, %v segments(%s)
      state(%m, %l, %doc) cache(%pak, %pv, %ps) heads(2) chunk(16)
      : tensor<2x5x32xbf16>, tensor<2x5x32xbf16>, tensor<2x5x64xbf16>, tensor<2x5xi64>,
        tensor<2x2x16x32xbf16>, tensor<2x2x16xf32>, tensor<2xi64>,
        tensor<2x16x32xbf16>, tensor<2x16x64xbf16>, tensor<2x16xi64>
  return %y, %doc2 : tensor<2x5x64xbf16>, tensor<2xi64>
}
