// RUN: gecko-opt %s -split-input-file -verify-diagnostics

// One case per constraint of the memory family (docs/dialect.md#memory-family).

func.func @working_memory_c1_aq_rank(%aq: tensor<2x32xf32>, %ak: tensor<2x32xf32>, %v: tensor<2x32x64xf32>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C1] aq must have rank 3, got 2x32}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v heads(2) chunk(16) : tensor<2x32xf32>, tensor<2x32xf32>, tensor<2x32x64xf32>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c2_ak_shape(%aq: tensor<2x32x32xf32>, %ak: tensor<2x16x32xf32>, %v: tensor<2x32x64xf32>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C2] ak must have shape 2x32x32, got 2x16x32}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x16x32xf32>, tensor<2x32x64xf32>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c2_v_batch(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<3x32x64xf32>) -> tensor<3x32x64xf32> {
  // expected-error @+1 {{[C2] dimension 0 of v (3) must equal the batch size of aq (2)}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<3x32x64xf32>
  return %y : tensor<3x32x64xf32>
}

// -----

func.func @working_memory_c2_v_dtype(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf16>) -> tensor<2x32x64xf16> {
  // expected-error @+1 {{[C2] v must have element type 'f32', got 'f16'}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf16>
  return %y : tensor<2x32x64xf16>
}

// -----

func.func @working_memory_c3_heads_zero(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C3] num_heads must be positive, got 0}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v heads(0) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c3_heads_not_divisor_of_s(%aq: tensor<2x32x30xf32>, %ak: tensor<2x32x30xf32>, %v: tensor<2x32x64xf32>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C3] num_heads (4) must divide the last dimension of aq (30)}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v heads(4) chunk(16) : tensor<2x32x30xf32>, tensor<2x32x30xf32>, tensor<2x32x64xf32>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c3_heads_not_divisor_of_e(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x66xf32>) -> tensor<2x32x66xf32> {
  // expected-error @+1 {{[C3] num_heads (4) must divide the last dimension of v (66)}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v heads(4) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x66xf32>
  return %y : tensor<2x32x66xf32>
}

// -----

func.func @working_memory_c4_chunk_zero(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C4] chunk_size must be positive, got 0}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v heads(2) chunk(0) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c5_partial_chunk(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C5] the length of aq (32) must be a positive multiple of chunk_size (24)}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v heads(2) chunk(24) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c5_empty(%aq: tensor<2x0x32xf32>, %ak: tensor<2x0x32xf32>, %v: tensor<2x0x64xf32>) -> tensor<2x0x64xf32> {
  // expected-error @+1 {{[C5] the length of aq (0) must be a positive multiple of chunk_size (16)}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v heads(2) chunk(16) : tensor<2x0x32xf32>, tensor<2x0x32xf32>, tensor<2x0x64xf32>
  return %y : tensor<2x0x64xf32>
}

// -----

func.func @working_memory_c6_segments_shape(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %s: tensor<2x16xi64>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C6] segments must have shape 2x32, got 2x16}}
  %y, %m2, %l2, %d2 = gecko.working_memory %aq, %ak, %v segments(%s) heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x16xi64>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c7_partial_state(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %m: tensor<2x2x16x32xf32>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C7] memory, log_norm, prev_ak and prev_v must be given together}}
  %y, %m2, %l2 = "gecko.working_memory"(%aq, %ak, %v, %m) <{num_heads = 2 : i64, chunk_size = 16 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 0, 0, 0, 0, 0>}> : (tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x2x16x32xf32>) -> (tensor<2x32x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>)
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c8_memory_shape(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %m: tensor<2x2x32x16xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C8] memory must have shape 2x2x16x32, got 2x2x32x16}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v state(%m, %l, %pak, %pv) heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x2x32x16xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c8_memory_dtype(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %m: tensor<2x2x16x32xbf16>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C8] memory must have element type 'f32', got 'bf16'}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v state(%m, %l, %pak, %pv) heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x2x16x32xbf16>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c9_log_norm_shape(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x32xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C9] log_norm must have shape 2x2x16, got 2x2x32}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v state(%m, %l, %pak, %pv) heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x32xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c10_prev_ak_rows(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x8x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C10] prev_ak must have shape 2x16x32, got 2x8x32}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v state(%m, %l, %pak, %pv) heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x8x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c10_prev_v_width(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x32xf32>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C10] prev_v must have shape 2x16x64, got 2x16x32}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v state(%m, %l, %pak, %pv) heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x32xf32>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c10_prev_v_dtype(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xbf16>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C10] prev_v must have element type 'f32', got 'bf16'}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v state(%m, %l, %pak, %pv) heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xbf16>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c11_segment_state_missing(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %s: tensor<2x32xi64>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C11] prev_segments and doc_mem are required when segments and a state are given}}
  %y, %m2, %l2, %d2 = gecko.working_memory %aq, %ak, %v segments(%s) state(%m, %l, %pak, %pv) heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x32xi64>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c11_segment_state_without_segments(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>, %ps: tensor<2x16xi64>, %doc: tensor<2xi64>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C11] prev_segments and doc_mem require both segments and a state}}
  %y, %m2, %l2 = gecko.working_memory %aq, %ak, %v state(%m, %l, %pak, %pv, %ps, %doc) heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16xi64>, tensor<2xi64>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c11_prev_segments_shape(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %s: tensor<2x32xi64>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>, %ps: tensor<2x32xi64>, %doc: tensor<2xi64>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C11] prev_segments must have shape 2x16, got 2x32}}
  %y, %m2, %l2, %d2 = gecko.working_memory %aq, %ak, %v segments(%s) state(%m, %l, %pak, %pv, %ps, %doc) heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x32xi64>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x32xi64>, tensor<2xi64>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_c11_doc_mem_shape(%aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %s: tensor<2x32xi64>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>, %ps: tensor<2x16xi64>, %doc: tensor<2x1xi64>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C11] doc_mem must have shape 2, got 2x1}}
  %y, %m2, %l2, %d2 = gecko.working_memory %aq, %ak, %v segments(%s) state(%m, %l, %pak, %pv, %ps, %doc) heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x32xi64>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16xi64>, tensor<2x1xi64>
  return %y : tensor<2x32x64xf32>
}

// -----

func.func @working_memory_grad_c5_partial_chunk(%dy: tensor<2x32x64xf32>, %aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>) -> tensor<2x32x32xf32> {
  // expected-error @+1 {{[C5] the length of aq (32) must be a positive multiple of chunk_size (24)}}
  %y, %dak, %dv = gecko.working_memory_grad %dy, %aq, %ak, %v heads(2) chunk(24) : tensor<2x32x64xf32>, tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>
  return %y : tensor<2x32x32xf32>
}

// -----

func.func @working_memory_grad_c12_dy_shape(%dy: tensor<2x32x32xf32>, %aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>) -> tensor<2x32x32xf32> {
  // expected-error @+1 {{[C12] dy must have shape 2x32x64, got 2x32x32}}
  %y, %dak, %dv = gecko.working_memory_grad %dy, %aq, %ak, %v heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>
  return %y : tensor<2x32x32xf32>
}

// -----

func.func @working_memory_grad_c12_dy_dtype(%dy: tensor<2x32x64xbf16>, %aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>) -> tensor<2x32x32xf32> {
  // expected-error @+1 {{[C12] dy must have element type 'f32', got 'bf16'}}
  %y, %dak, %dv = gecko.working_memory_grad %dy, %aq, %ak, %v heads(2) chunk(16) : tensor<2x32x64xbf16>, tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>
  return %y : tensor<2x32x32xf32>
}

// -----

func.func @working_memory_grad_c13_dmemory_shape(%dy: tensor<2x32x64xf32>, %aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %dm: tensor<2x2x32x16xf32>) -> tensor<2x32x32xf32> {
  // expected-error @+1 {{[C13] dmemory_out must have shape 2x2x16x32, got 2x2x32x16}}
  %y, %dak, %dv = gecko.working_memory_grad %dy, %aq, %ak, %v memory_grad(%dm) heads(2) chunk(16) : tensor<2x32x64xf32>, tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x2x32x16xf32>
  return %y : tensor<2x32x32xf32>
}

// -----

func.func @working_memory_grad_c13_dlog_norm_dtype(%dy: tensor<2x32x64xf32>, %aq: tensor<2x32x32xf32>, %ak: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %dl: tensor<2x2x16xf64>) -> tensor<2x32x32xf32> {
  // expected-error @+1 {{[C13] dlog_norm_out must have element type 'f32', got 'f64'}}
  %y, %dak, %dv = gecko.working_memory_grad %dy, %aq, %ak, %v log_norm_grad(%dl) heads(2) chunk(16) : tensor<2x32x64xf32>, tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x2x16xf64>
  return %y : tensor<2x32x32xf32>
}

// -----

func.func @working_memory_step_c1_aq_rank(%aq: tensor<2x32xf32>, %ak: tensor<2x32xf32>, %v: tensor<2x1x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C1] aq must have rank 3, got 2x32}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(2) chunk(16) : tensor<2x32xf32>, tensor<2x32xf32>, tensor<2x1x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c2_ak_shape(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x16xf32>, %v: tensor<2x1x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C2] ak must have shape 2x1x32, got 2x1x16}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x16xf32>, tensor<2x1x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c2_v_dtype(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf16>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x1x64xf16> {
  // expected-error @+1 {{[C2] v must have element type 'f32', got 'f16'}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf16>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x1x64xf16>
}

// -----

func.func @working_memory_step_c3_heads_zero(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C3] num_heads must be positive, got 0}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(0) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c3_heads_not_divisor_of_s(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C3] num_heads (3) must divide the last dimension of aq (32)}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(3) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c3_heads_not_divisor_of_e(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x63xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x63xf32>) -> tensor<2x1x63xf32> {
  // expected-error @+1 {{[C3] num_heads (2) must divide the last dimension of v (63)}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x63xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x63xf32>
  return %y : tensor<2x1x63xf32>
}

// -----

func.func @working_memory_step_c4_chunk_zero(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C4] chunk_size must be positive, got 0}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(2) chunk(0) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c5_longer_than_chunk(%aq: tensor<2x20x32xf32>, %ak: tensor<2x20x32xf32>, %v: tensor<2x20x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x0x32xf32>, %pv: tensor<2x0x64xf32>) -> tensor<2x20x64xf32> {
  // expected-error @+1 {{[C5] the length of aq (20) must be between 1 and chunk_size (16)}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(2) chunk(16) : tensor<2x20x32xf32>, tensor<2x20x32xf32>, tensor<2x20x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x0x32xf32>, tensor<2x0x64xf32>
  return %y : tensor<2x20x64xf32>
}

// -----

func.func @working_memory_step_c5_empty(%aq: tensor<2x0x32xf32>, %ak: tensor<2x0x32xf32>, %v: tensor<2x0x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x0x64xf32> {
  // expected-error @+1 {{[C5] the length of aq (0) must be between 1 and chunk_size (16)}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(2) chunk(16) : tensor<2x0x32xf32>, tensor<2x0x32xf32>, tensor<2x0x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x0x64xf32>
}

// -----

func.func @working_memory_step_c6_segments_shape(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %s: tensor<2x2xi64>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %doc: tensor<2xi64>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>, %ps: tensor<2x16xi64>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C6] segments must have shape 2x1, got 2x2}}
  %y, %m2, %l2, %d2 = gecko.working_memory_step %aq, %ak, %v segments(%s) state(%m, %l, %doc) cache(%pak, %pv, %ps) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x2xi64>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2xi64>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16xi64>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c7_memory_shape(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %m: tensor<2x4x8x16xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C7] memory must have shape 2x2x16x32, got 2x4x8x16}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x4x8x16xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c7_memory_dtype(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %m: tensor<2x2x16x32xbf16>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C7] memory must have element type 'f32', got 'bf16'}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x2x16x32xbf16>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c8_log_norm_shape(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C8] log_norm must have shape 2x2x16, got 2x16}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x2x16x32xf32>, tensor<2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c9_prev_ak_rank(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C9] prev_ak must have rank 3, got 2x16}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c9_cache_lengths(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x15x64xf32>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C9] prev_v must have shape 2x16x64, got 2x15x64}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x15x64xf32>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c9_cache_dtype(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xbf16>, %pv: tensor<2x16x64xf32>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C9] prev_ak must have element type 'f32', got 'bf16'}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xbf16>, tensor<2x16x64xf32>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c10_over_two_chunks(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x32x32xf32>, %pv: tensor<2x32x64xf32>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C10] the cache (32) and the call (1) must not exceed two chunks (32)}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pak, %pv) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c11_segment_state_missing(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %s: tensor<2x1xi64>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C11] prev_segments and doc_mem are required with segments}}
  %y, %m2, %l2, %d2 = gecko.working_memory_step %aq, %ak, %v segments(%s) state(%m, %l) cache(%pak, %pv) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x1xi64>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c11_segment_state_without_segments(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %doc: tensor<2xi64>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>, %ps: tensor<2x16xi64>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C11] prev_segments and doc_mem require segments}}
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l, %doc) cache(%pak, %pv, %ps) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2xi64>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16xi64>
  return %y : tensor<2x1x64xf32>
}

// -----

func.func @working_memory_step_c11_prev_segments_shape(%aq: tensor<2x1x32xf32>, %ak: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %s: tensor<2x1xi64>, %m: tensor<2x2x16x32xf32>, %l: tensor<2x2x16xf32>, %doc: tensor<2xi64>, %pak: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>, %ps: tensor<2x8xi64>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C11] prev_segments must have shape 2x16, got 2x8}}
  %y, %m2, %l2, %d2 = gecko.working_memory_step %aq, %ak, %v segments(%s) state(%m, %l, %doc) cache(%pak, %pv, %ps) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x1xi64>, tensor<2x2x16x32xf32>, tensor<2x2x16xf32>, tensor<2xi64>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x8xi64>
  return %y : tensor<2x1x64xf32>
}
