// RUN: gecko-opt %s -split-input-file -verify-diagnostics

// One case per constraint of the attention family (docs/dialect.md#attention-family).

func.func @chunk_attention_c1_q_rank(%q: tensor<2x64xf32>, %k: tensor<2x64xf32>, %v: tensor<2x64x64xf32>) -> tensor<2x64x64xf32> {
  // expected-error @+1 {{[C1] q must have rank 3, got 2x64}}
  %o = gecko.chunk_attention %q, %k, %v heads(2) chunk(16) : tensor<2x64xf32>, tensor<2x64xf32>, tensor<2x64x64xf32>
  return %o : tensor<2x64x64xf32>
}

// -----

func.func @chunk_attention_c2_k_shape(%q: tensor<2x64x32xf32>, %k: tensor<2x64x16xf32>, %v: tensor<2x64x64xf32>) -> tensor<2x64x64xf32> {
  // expected-error @+1 {{[C2] k must have shape 2x64x32, got 2x64x16}}
  %o = gecko.chunk_attention %q, %k, %v heads(2) chunk(16) : tensor<2x64x32xf32>, tensor<2x64x16xf32>, tensor<2x64x64xf32>
  return %o : tensor<2x64x64xf32>
}

// -----

func.func @chunk_attention_c2_v_length(%q: tensor<2x64x32xf32>, %k: tensor<2x64x32xf32>, %v: tensor<2x32x64xf32>) -> tensor<2x32x64xf32> {
  // expected-error @+1 {{[C2] dimension 1 of v (32) must equal the length of q (64)}}
  %o = gecko.chunk_attention %q, %k, %v heads(2) chunk(16) : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x32x64xf32>
  return %o : tensor<2x32x64xf32>
}

// -----

func.func @chunk_attention_c2_v_dtype(%q: tensor<2x64x32xf32>, %k: tensor<2x64x32xf32>, %v: tensor<2x64x64xbf16>) -> tensor<2x64x64xbf16> {
  // expected-error @+1 {{[C2] v must have element type 'f32', got 'bf16'}}
  %o = gecko.chunk_attention %q, %k, %v heads(2) chunk(16) : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xbf16>
  return %o : tensor<2x64x64xbf16>
}

// -----

func.func @chunk_attention_c3_heads_zero(%q: tensor<2x64x32xf32>, %k: tensor<2x64x32xf32>, %v: tensor<2x64x64xf32>) -> tensor<2x64x64xf32> {
  // expected-error @+1 {{[C3] num_heads must be positive, got 0}}
  %o = gecko.chunk_attention %q, %k, %v heads(0) chunk(16) : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>
  return %o : tensor<2x64x64xf32>
}

// -----

func.func @chunk_attention_c3_heads_not_divisor_of_s(%q: tensor<2x64x30xf32>, %k: tensor<2x64x30xf32>, %v: tensor<2x64x64xf32>) -> tensor<2x64x64xf32> {
  // expected-error @+1 {{[C3] num_heads (4) must divide the last dimension of q (30)}}
  %o = gecko.chunk_attention %q, %k, %v heads(4) chunk(16) : tensor<2x64x30xf32>, tensor<2x64x30xf32>, tensor<2x64x64xf32>
  return %o : tensor<2x64x64xf32>
}

// -----

func.func @chunk_attention_c3_heads_not_divisor_of_e(%q: tensor<2x64x32xf32>, %k: tensor<2x64x32xf32>, %v: tensor<2x64x66xf32>) -> tensor<2x64x66xf32> {
  // expected-error @+1 {{[C3] num_heads (4) must divide the last dimension of v (66)}}
  %o = gecko.chunk_attention %q, %k, %v heads(4) chunk(16) : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x66xf32>
  return %o : tensor<2x64x66xf32>
}

// -----

func.func @chunk_attention_c4_chunk_zero(%q: tensor<2x64x32xf32>, %k: tensor<2x64x32xf32>, %v: tensor<2x64x64xf32>) -> tensor<2x64x64xf32> {
  // expected-error @+1 {{[C4] chunk_size must be positive, got 0}}
  %o = gecko.chunk_attention %q, %k, %v heads(2) chunk(0) : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>
  return %o : tensor<2x64x64xf32>
}

// -----

func.func @chunk_attention_c5_segments_shape(%q: tensor<2x64x32xf32>, %k: tensor<2x64x32xf32>, %v: tensor<2x64x64xf32>, %s: tensor<2x32xi64>) -> tensor<2x64x64xf32> {
  // expected-error @+1 {{[C5] segments must have shape 2x64, got 2x32}}
  %o = gecko.chunk_attention %q, %k, %v segments(%s) heads(2) chunk(16) : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>, tensor<2x32xi64>
  return %o : tensor<2x64x64xf32>
}

// -----

func.func @chunk_attention_c6_cache_alone(%q: tensor<2x16x32xf32>, %k: tensor<2x16x32xf32>, %v: tensor<2x16x64xf32>, %pk: tensor<2x16x32xf32>) -> tensor<2x16x64xf32> {
  // expected-error @+1 {{[C6] prev_k and prev_v must be given together}}
  %o = "gecko.chunk_attention"(%q, %k, %v, %pk) <{num_heads = 2 : i64, chunk_size = 16 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 0, 0, 0>}> : (tensor<2x16x32xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16x32xf32>) -> tensor<2x16x64xf32>
  return %o : tensor<2x16x64xf32>
}

// -----

func.func @chunk_attention_c6_cache_lengths(%q: tensor<2x16x32xf32>, %k: tensor<2x16x32xf32>, %v: tensor<2x16x64xf32>, %pk: tensor<2x16x32xf32>, %pv: tensor<2x8x64xf32>) -> tensor<2x16x64xf32> {
  // expected-error @+1 {{[C6] prev_v must have shape 2x16x64, got 2x8x64}}
  %o = gecko.chunk_attention %q, %k, %v cache(%pk, %pv) heads(2) chunk(16) : tensor<2x16x32xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16x32xf32>, tensor<2x8x64xf32>
  return %o : tensor<2x16x64xf32>
}

// -----

func.func @chunk_attention_c6_cache_width(%q: tensor<2x16x32xf32>, %k: tensor<2x16x32xf32>, %v: tensor<2x16x64xf32>, %pk: tensor<2x16x16xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x16x64xf32> {
  // expected-error @+1 {{[C6] prev_k must have shape 2x16x32, got 2x16x16}}
  %o = gecko.chunk_attention %q, %k, %v cache(%pk, %pv) heads(2) chunk(16) : tensor<2x16x32xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16x16xf32>, tensor<2x16x64xf32>
  return %o : tensor<2x16x64xf32>
}

// -----

func.func @chunk_attention_c6_cache_dtype(%q: tensor<2x16x32xf32>, %k: tensor<2x16x32xf32>, %v: tensor<2x16x64xf32>, %pk: tensor<2x16x32xbf16>, %pv: tensor<2x16x64xbf16>) -> tensor<2x16x64xf32> {
  // expected-error @+1 {{[C6] prev_k must have element type 'f32', got 'bf16'}}
  %o = gecko.chunk_attention %q, %k, %v cache(%pk, %pv) heads(2) chunk(16) : tensor<2x16x32xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16x32xbf16>, tensor<2x16x64xbf16>
  return %o : tensor<2x16x64xf32>
}

// -----

func.func @chunk_attention_c7_prev_segments_missing(%q: tensor<2x16x32xf32>, %k: tensor<2x16x32xf32>, %v: tensor<2x16x64xf32>, %s: tensor<2x16xi64>, %pk: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x16x64xf32> {
  // expected-error @+1 {{[C7] prev_segments is required when segments and a cache are given}}
  %o = gecko.chunk_attention %q, %k, %v segments(%s) cache(%pk, %pv) heads(2) chunk(16) : tensor<2x16x32xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16xi64>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %o : tensor<2x16x64xf32>
}

// -----

func.func @chunk_attention_c7_prev_segments_without_segments(%q: tensor<2x16x32xf32>, %k: tensor<2x16x32xf32>, %v: tensor<2x16x64xf32>, %pk: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>, %ps: tensor<2x16xi64>) -> tensor<2x16x64xf32> {
  // expected-error @+1 {{[C7] prev_segments requires both segments and a cache}}
  %o = gecko.chunk_attention %q, %k, %v cache(%pk, %pv, %ps) heads(2) chunk(16) : tensor<2x16x32xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16xi64>
  return %o : tensor<2x16x64xf32>
}

// -----

func.func @chunk_attention_c7_prev_segments_shape(%q: tensor<2x16x32xf32>, %k: tensor<2x16x32xf32>, %v: tensor<2x16x64xf32>, %s: tensor<2x16xi64>, %pk: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>, %ps: tensor<2x8xi64>) -> tensor<2x16x64xf32> {
  // expected-error @+1 {{[C7] prev_segments must have shape 2x16, got 2x8}}
  %o = gecko.chunk_attention %q, %k, %v segments(%s) cache(%pk, %pv, %ps) heads(2) chunk(16) : tensor<2x16x32xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16xi64>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x8xi64>
  return %o : tensor<2x16x64xf32>
}

// -----

func.func @chunk_attention_c8_start_rank(%q: tensor<2x1x32xf32>, %k: tensor<2x1x32xf32>, %v: tensor<2x1x64xf32>, %pos: tensor<1xi64>) -> tensor<2x1x64xf32> {
  // expected-error @+1 {{[C8] start must have rank 0, got 1}}
  %o = gecko.chunk_attention %q, %k, %v start(%pos) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<1xi64>
  return %o : tensor<2x1x64xf32>
}

// -----

func.func @chunk_attention_c9_partial_chunk(%q: tensor<2x24x32xf32>, %k: tensor<2x24x32xf32>, %v: tensor<2x24x64xf32>) -> tensor<2x24x64xf32> {
  // expected-error @+1 {{[C9] without a cache or start, the length of q (24) must be a multiple of chunk_size (16)}}
  %o = gecko.chunk_attention %q, %k, %v heads(2) chunk(16) : tensor<2x24x32xf32>, tensor<2x24x32xf32>, tensor<2x24x64xf32>
  return %o : tensor<2x24x64xf32>
}

// -----

func.func @chunk_attention_grad_c9_partial_chunk(%do: tensor<2x24x64xf32>, %q: tensor<2x24x32xf32>, %k: tensor<2x24x32xf32>, %v: tensor<2x24x64xf32>) -> tensor<2x24x32xf32> {
  // expected-error @+1 {{[C9] without a cache or start, the length of q (24) must be a multiple of chunk_size (16)}}
  %dq, %dk, %dv = gecko.chunk_attention_grad %do, %q, %k, %v heads(2) chunk(16) : tensor<2x24x64xf32>, tensor<2x24x32xf32>, tensor<2x24x32xf32>, tensor<2x24x64xf32>
  return %dq : tensor<2x24x32xf32>
}

// -----

func.func @chunk_attention_grad_c10_dout_shape(%do: tensor<2x16x32xf32>, %q: tensor<2x16x32xf32>, %k: tensor<2x16x32xf32>, %v: tensor<2x16x64xf32>) -> tensor<2x16x32xf32> {
  // expected-error @+1 {{[C10] dout must have shape 2x16x64, got 2x16x32}}
  %dq, %dk, %dv = gecko.chunk_attention_grad %do, %q, %k, %v heads(2) chunk(16) : tensor<2x16x32xf32>, tensor<2x16x32xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %dq : tensor<2x16x32xf32>
}

// -----

func.func @chunk_attention_grad_c10_dout_dtype(%do: tensor<2x16x64xbf16>, %q: tensor<2x16x32xf32>, %k: tensor<2x16x32xf32>, %v: tensor<2x16x64xf32>) -> tensor<2x16x32xf32> {
  // expected-error @+1 {{[C10] dout must have element type 'f32', got 'bf16'}}
  %dq, %dk, %dv = gecko.chunk_attention_grad %do, %q, %k, %v heads(2) chunk(16) : tensor<2x16x64xbf16>, tensor<2x16x32xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %dq : tensor<2x16x32xf32>
}
