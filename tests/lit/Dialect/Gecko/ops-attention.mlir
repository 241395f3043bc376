// RUN: gecko-opt %s | gecko-opt | FileCheck %s
// RUN: gecko-opt %s --mlir-print-op-generic | gecko-opt | FileCheck %s

// Round trip of the attention family (docs/dialect.md#attention-family).

// CHECK-LABEL: func.func @chunk_attention_training
func.func @chunk_attention_training(%q: tensor<2x64x32xf32>, %k: tensor<2x64x32xf32>, %v: tensor<2x64x64xf32>) -> tensor<2x64x64xf32> {
  // CHECK: %[[O:.+]] = gecko.chunk_attention %{{.+}}, %{{.+}}, %{{.+}} heads(2) chunk(16) : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>
  %o = gecko.chunk_attention %q, %k, %v heads(2) chunk(16)
      : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>
  // CHECK: return %[[O]]
  return %o : tensor<2x64x64xf32>
}

// CHECK-LABEL: func.func @chunk_attention_segments_bf16
func.func @chunk_attention_segments_bf16(%q: tensor<?x?x32xbf16>, %k: tensor<?x?x32xbf16>, %v: tensor<?x?x48xbf16>, %s: tensor<?x?xi64>) -> tensor<?x?x48xbf16> {
  // CHECK: gecko.chunk_attention %{{.+}}, %{{.+}}, %{{.+}} segments(%{{.+}}) heads(4) chunk(2048) : tensor<?x?x32xbf16>, tensor<?x?x32xbf16>, tensor<?x?x48xbf16>, tensor<?x?xi64>
  %o = gecko.chunk_attention %q, %k, %v segments(%s) heads(4) chunk(2048)
      : tensor<?x?x32xbf16>, tensor<?x?x32xbf16>, tensor<?x?x48xbf16>, tensor<?x?xi64>
  return %o : tensor<?x?x48xbf16>
}

// Prefill after a previous chunk: the cache holds exactly C tokens and the
// call starts on a chunk boundary, so start may be left out.
// CHECK-LABEL: func.func @chunk_attention_prefill_cache
func.func @chunk_attention_prefill_cache(%q: tensor<2x32x32xf32>, %k: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %pk: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>) -> tensor<2x32x64xf32> {
  // CHECK: gecko.chunk_attention %{{.+}}, %{{.+}}, %{{.+}} cache(%{{.+}}, %{{.+}}) heads(2) chunk(16) : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  %o = gecko.chunk_attention %q, %k, %v cache(%pk, %pv) heads(2) chunk(16)
      : tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>, tensor<2x16x32xf32>, tensor<2x16x64xf32>
  return %o : tensor<2x32x64xf32>
}

// Decode (the second example of the op description): one token, a cache of
// dynamic length, segments and an explicit stream position.
// CHECK-LABEL: func.func @chunk_attention_decode
func.func @chunk_attention_decode(%q1: tensor<2x1x32xf32>, %k1: tensor<2x1x32xf32>, %v1: tensor<2x1x64xf32>, %s1: tensor<2x1xi64>, %pk: tensor<2x?x32xf32>, %pv: tensor<2x?x64xf32>, %ps: tensor<2x?xi64>, %pos: tensor<i64>) -> tensor<2x1x64xf32> {
  // CHECK: gecko.chunk_attention %{{.+}}, %{{.+}}, %{{.+}} segments(%{{.+}}) cache(%{{.+}}, %{{.+}}, %{{.+}}) start(%{{.+}}) heads(2) chunk(16) : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>, tensor<2x1xi64>, tensor<2x?x32xf32>, tensor<2x?x64xf32>, tensor<2x?xi64>, tensor<i64>
  %od = gecko.chunk_attention %q1, %k1, %v1 segments(%s1)
      cache(%pk, %pv, %ps) start(%pos) heads(2) chunk(16)
      : tensor<2x1x32xf32>, tensor<2x1x32xf32>, tensor<2x1x64xf32>,
        tensor<2x1xi64>, tensor<2x?x32xf32>, tensor<2x?x64xf32>,
        tensor<2x?xi64>, tensor<i64>
  return %od : tensor<2x1x64xf32>
}

// The first tail call of a stream has no cache; it passes start explicitly.
// CHECK-LABEL: func.func @chunk_attention_tail_no_cache
func.func @chunk_attention_tail_no_cache(%q: tensor<1x5x8xf16>, %k: tensor<1x5x8xf16>, %v: tensor<1x5x8xf16>, %pos: tensor<i64>) -> tensor<1x5x8xf16> {
  // CHECK: gecko.chunk_attention %{{.+}}, %{{.+}}, %{{.+}} start(%{{.+}}) heads(1) chunk(16) : tensor<1x5x8xf16>, tensor<1x5x8xf16>, tensor<1x5x8xf16>, tensor<i64>
  %o = gecko.chunk_attention %q, %k, %v start(%pos) heads(1) chunk(16)
      : tensor<1x5x8xf16>, tensor<1x5x8xf16>, tensor<1x5x8xf16>, tensor<i64>
  return %o : tensor<1x5x8xf16>
}

// CHECK-LABEL: func.func @chunk_attention_grad
func.func @chunk_attention_grad(%do: tensor<2x64x64xf32>, %q: tensor<2x64x32xf32>, %k: tensor<2x64x32xf32>, %v: tensor<2x64x64xf32>) -> (tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>) {
  // CHECK: %[[DQ:.+]], %[[DK:.+]], %[[DV:.+]] = gecko.chunk_attention_grad %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} heads(2) chunk(16) : tensor<2x64x64xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>
  %dq, %dk, %dv = gecko.chunk_attention_grad %do, %q, %k, %v
      heads(2) chunk(16)
      : tensor<2x64x64xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>,
        tensor<2x64x64xf32>
  // CHECK: return %[[DQ]], %[[DK]], %[[DV]]
  return %dq, %dk, %dv : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>
}

// CHECK-LABEL: func.func @chunk_attention_grad_cache
func.func @chunk_attention_grad_cache(%do: tensor<2x32x64xf32>, %q: tensor<2x32x32xf32>, %k: tensor<2x32x32xf32>, %v: tensor<2x32x64xf32>, %s: tensor<2x32xi64>, %pk: tensor<2x16x32xf32>, %pv: tensor<2x16x64xf32>, %ps: tensor<2x16xi64>, %pos: tensor<i64>) -> (tensor<2x16x32xf32>, tensor<2x16x64xf32>) {
  // CHECK: = gecko.chunk_attention_grad %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} segments(%{{.+}}) cache(%{{.+}}, %{{.+}}, %{{.+}}) start(%{{.+}}) heads(2) chunk(16)
  %dq, %dk, %dv, %dpk, %dpv = gecko.chunk_attention_grad %do, %q, %k, %v segments(%s)
      cache(%pk, %pv, %ps) start(%pos) heads(2) chunk(16)
      : tensor<2x32x64xf32>, tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x64xf32>,
        tensor<2x32xi64>, tensor<2x16x32xf32>, tensor<2x16x64xf32>, tensor<2x16xi64>, tensor<i64>
  return %dpk, %dpv : tensor<2x16x32xf32>, tensor<2x16x64xf32>
}

// CHECK-LABEL: func.func @chunk_attention_local
func.func @chunk_attention_local(%q: tensor<2x64x32xf32>, %v: tensor<2x64x64xf32>) -> tensor<2x64x64xf32> {
  // CHECK: gecko.chunk_attention %{{.+}}, %{{.+}}, %{{.+}} heads(2) chunk(16) local : tensor<2x64x32xf32>
  %o = gecko.chunk_attention %q, %q, %v heads(2) chunk(16) local
      : tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x64xf32>
  return %o : tensor<2x64x64xf32>
}
