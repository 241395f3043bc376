// RUN: gecko-opt %s --convert-gecko-to-linalg --split-input-file | FileCheck %s

// Chunked working memory without a state, 4 chunks: the feature softmax of
// aq and the time statistics (max, sum, A) of the absorbed chunks 0..2 are
// parallel linalg.generics over the whole call; chunk 1 (read + absorb of
// chunk 0) is peeled; chunks 2..3 run in an scf.for carrying y, M and
// Lambda, each step a read contraction, the F M and A R contractions and
// the in-place M / Lambda updates.
// CHECK-LABEL: func.func @wm_f32
// CHECK-NOT:     gecko.
// CHECK:         tensor.expand_shape %{{.*}} {{\[\[}}0], [1], [2, 3]] output_shape [2, 16, 2, 2]
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK:           arith.maximumf
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel"]
// CHECK-SAME:      tensor<2x3x4x2x2xf32>
// CHECK:         %[[LOOP:.*]]:3 = scf.for %{{.*}} = %c1 to %c3 step %c1{{.*}} iter_args(%[[Y:.*]] = %{{.*}}, %[[M:.*]] = %{{.*}}, %[[L:.*]] = %{{.*}}) -> (tensor<2x16x2x3xf32>, tensor<2x2x2x3xf32>, tensor<2x2x2xf32>)
// CHECK:           linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]{{.*}} ins(%{{.*}}, %[[M]] :
// CHECK:           tensor.insert_slice %{{.*}} into %[[Y]]
// CHECK:           linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]{{.*}} ins(%{{.*}}, %[[M]] :
// CHECK:           linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK:           %[[MN:.*]] = linalg.generic {{.*}} outs(%[[M]] : tensor<2x2x2x3xf32>)
// CHECK:             math.log
// CHECK:             math.exp
// CHECK:           %[[LN:.*]] = linalg.generic {{.*}} outs(%[[L]] : tensor<2x2x2xf32>)
// CHECK:           scf.yield %{{.*}}, %[[MN]], %[[LN]]
// CHECK:         tensor.collapse_shape %[[LOOP]]#0 {{\[\[}}0], [1], [2, 3]]
// CHECK:         return
func.func @wm_f32(%aq: tensor<2x16x4xf32>, %ak: tensor<2x16x4xf32>, %v: tensor<2x16x6xf32>) -> (tensor<2x16x6xf32>, tensor<2x2x2x3xf32>, tensor<2x2x2xf32>) {
  %y, %m, %l = gecko.working_memory %aq, %ak, %v heads(2) chunk(4) : tensor<2x16x4xf32>, tensor<2x16x4xf32>, tensor<2x16x6xf32>
  return %y, %m, %l : tensor<2x16x6xf32>, tensor<2x2x2x3xf32>, tensor<2x2x2xf32>
}

// -----

// bf16 with a state and segments: softmaxes and contractions accumulate in
// f32, A, F, R and M are rounded to bf16, Lambda stays f32. The cached
// chunk is absorbed first (its valid rows compare its ids with the id of
// its last token, gathered with tensor.extract); masks and resets compare
// i64 ids; doc_mem_out is gathered from the segments. The incoming M and
// Lambda are copied (linalg.copy) before the in-place updates, so the
// caller's buffers are never written.
// CHECK-LABEL: func.func @wm_bf16_state
// CHECK-NOT:     gecko.
// CHECK:         %[[M0:.*]] = linalg.copy ins(%arg4 : tensor<2x2x2x3xbf16>)
// CHECK:         %[[L0:.*]] = linalg.copy ins(%arg5 : tensor<2x2x2xf32>)
// CHECK:         arith.extf %{{.*}} : bf16 to f32
// CHECK:         arith.truncf %{{.*}} : f32 to bf16
// CHECK:         linalg.index 0
// CHECK:         tensor.extract %arg8[
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel"]{{.*}}tensor<2x1x4x2x2xbf16>, tensor<2x1x4xi64>, tensor<2x1xi64>
// CHECK:           arith.cmpi eq, %{{.*}}, %{{.*}} : i64
// CHECK:         linalg.generic {{.*}} outs(%[[M0]] : tensor<2x2x2x3xbf16>)
// CHECK:           arith.cmpi ne, %{{.*}}, %{{.*}} : i64
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK:         linalg.generic {{.*}} outs(%[[L0]] : tensor<2x2x2xf32>)
// CHECK:         %[[DOC:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<2xi64>)
// CHECK:           tensor.extract %arg3[%{{.*}}, %c7{{.*}}] : tensor<2x12xi64>
// CHECK:         return %{{.*}}, %{{.*}}, %{{.*}}, %[[DOC]] :
func.func @wm_bf16_state(%aq: tensor<2x12x4xbf16>, %ak: tensor<2x12x4xbf16>, %v: tensor<2x12x6xbf16>, %s: tensor<2x12xi64>, %m: tensor<2x2x2x3xbf16>, %l: tensor<2x2x2xf32>, %pk: tensor<2x4x4xbf16>, %pv: tensor<2x4x6xbf16>, %ps: tensor<2x4xi64>, %doc: tensor<2xi64>) -> (tensor<2x12x6xbf16>, tensor<2x2x2x3xbf16>, tensor<2x2x2xf32>, tensor<2xi64>) {
  %y, %mo, %lo, %do = gecko.working_memory %aq, %ak, %v segments(%s) state(%m, %l, %pk, %pv, %ps, %doc) heads(2) chunk(4) : tensor<2x12x4xbf16>, tensor<2x12x4xbf16>, tensor<2x12x6xbf16>, tensor<2x12xi64>, tensor<2x2x2x3xbf16>, tensor<2x2x2xf32>, tensor<2x4x4xbf16>, tensor<2x4x6xbf16>, tensor<2x4xi64>, tensor<2xi64>
  return %y, %mo, %lo, %do : tensor<2x12x6xbf16>, tensor<2x2x2x3xbf16>, tensor<2x2x2xf32>, tensor<2xi64>
}

// -----

// One chunk, no state: nothing is absorbed, so no loop and no statistics:
// y = 0, M = 0, Lambda = -inf (f64 for f64 activations), doc = seg[:, 0].
// CHECK-LABEL: func.func @wm_one_chunk_f64
// CHECK-NOT:     scf.for
// CHECK-DAG:     arith.constant 0xFFF0000000000000 : f64
// CHECK-DAG:     tensor.extract %arg3[%{{.*}}, %c0{{.*}}] : tensor<2x4xi64>
// CHECK:         return
func.func @wm_one_chunk_f64(%aq: tensor<2x4x4xf64>, %ak: tensor<2x4x4xf64>, %v: tensor<2x4x6xf64>, %s: tensor<2x4xi64>) -> (tensor<2x4x6xf64>, tensor<2x2x2x3xf64>, tensor<2x2x2xf64>, tensor<2xi64>) {
  %y, %m, %l, %d = gecko.working_memory %aq, %ak, %v segments(%s) heads(2) chunk(4) : tensor<2x4x4xf64>, tensor<2x4x4xf64>, tensor<2x4x6xf64>, tensor<2x4xi64>
  return %y, %m, %l, %d : tensor<2x4x6xf64>, tensor<2x2x2x3xf64>, tensor<2x2x2xf64>, tensor<2xi64>
}

// -----

// Decode step with a static cache of 2C-1 rows: P + L = 2C, so the first C
// cache rows are absorbed unconditionally (no scf.if).
// CHECK-LABEL: func.func @step_static_absorb
// CHECK-NOT:     scf.if
// CHECK:         tensor.extract_slice %arg5[0, 0, 0] [2, 4, 4] [1, 1, 1] : tensor<2x7x4xf32> to tensor<2x4x4xf32>
// CHECK:         %[[M0:.*]] = linalg.copy ins(%arg3 : tensor<2x2x2x3xf32>)
// CHECK:         linalg.generic {{.*}} outs(%[[M0]] : tensor<2x2x2x3xf32>)
// CHECK:         return
func.func @step_static_absorb(%aq: tensor<2x1x4xf32>, %ak: tensor<2x1x4xf32>, %v: tensor<2x1x6xf32>, %m: tensor<2x2x2x3xf32>, %l: tensor<2x2x2xf32>, %pk: tensor<2x7x4xf32>, %pv: tensor<2x7x6xf32>) -> (tensor<2x1x6xf32>, tensor<2x2x2x3xf32>, tensor<2x2x2xf32>) {
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pk, %pv) heads(2) chunk(4) : tensor<2x1x4xf32>, tensor<2x1x4xf32>, tensor<2x1x6xf32>, tensor<2x2x2x3xf32>, tensor<2x2x2xf32>, tensor<2x7x4xf32>, tensor<2x7x6xf32>
  return %y, %m2, %l2 : tensor<2x1x6xf32>, tensor<2x2x2x3xf32>, tensor<2x2x2xf32>
}

// -----

// Static cache of C rows with a 3-token tail: P + L < 2C, the state passes
// through and only the read remains.
// CHECK-LABEL: func.func @step_static_read_only
// CHECK-NOT:     scf.if
// CHECK-NOT:     math.log
// CHECK:         return %{{.*}}, %arg3, %arg4
func.func @step_static_read_only(%aq: tensor<2x3x4xf32>, %ak: tensor<2x3x4xf32>, %v: tensor<2x3x6xf32>, %m: tensor<2x2x2x3xf32>, %l: tensor<2x2x2xf32>, %pk: tensor<2x4x4xf32>, %pv: tensor<2x4x6xf32>) -> (tensor<2x3x6xf32>, tensor<2x2x2x3xf32>, tensor<2x2x2xf32>) {
  %y, %m2, %l2 = gecko.working_memory_step %aq, %ak, %v state(%m, %l) cache(%pk, %pv) heads(2) chunk(4) : tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x6xf32>, tensor<2x2x2x3xf32>, tensor<2x2x2xf32>, tensor<2x4x4xf32>, tensor<2x4x6xf32>
  return %y, %m2, %l2 : tensor<2x3x6xf32>, tensor<2x2x2x3xf32>, tensor<2x2x2xf32>
}

// -----

// Dynamic cache length with segments: the absorption is an scf.if on
// P + L == 2C, inside which the first C rows are sliced; the else branch
// forwards copies of the state (so that both branches yield new buffers).
// CHECK-LABEL: func.func @step_dynamic
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK:         %[[P:.*]] = tensor.dim %arg7, %c1
// CHECK:         %[[T:.*]] = arith.addi %[[P]], %c1
// CHECK:         %[[FULL:.*]] = arith.cmpi eq, %[[T]], %c8
// CHECK:         scf.if %[[FULL]] -> (tensor<2x2x2x3xf32>, tensor<2x2x2xf32>, tensor<2xi64>)
// CHECK-DAG:       tensor.extract_slice %arg7[0, 0, 0] [2, 4, 4] [1, 1, 1] : tensor<2x?x4xf32> to tensor<2x4x4xf32>
// CHECK-DAG:       tensor.extract_slice %arg9[0, 0] [2, 4] [1, 1] : tensor<2x?xi64> to tensor<2x4xi64>
// CHECK:           scf.yield
// CHECK:         } else {
// CHECK:           linalg.copy ins(%arg4 : tensor<2x2x2x3xf32>)
// CHECK:           linalg.copy ins(%arg5 : tensor<2x2x2xf32>)
// CHECK:           linalg.copy ins(%arg6 : tensor<2xi64>)
// CHECK:           scf.yield
func.func @step_dynamic(%aq: tensor<2x1x4xf32>, %ak: tensor<2x1x4xf32>, %v: tensor<2x1x6xf32>, %s: tensor<2x1xi64>, %m: tensor<2x2x2x3xf32>, %l: tensor<2x2x2xf32>, %doc: tensor<2xi64>, %pk: tensor<2x?x4xf32>, %pv: tensor<2x?x6xf32>, %ps: tensor<2x?xi64>) -> (tensor<2x1x6xf32>, tensor<2x2x2x3xf32>, tensor<2x2x2xf32>, tensor<2xi64>) {
  %y, %m2, %l2, %d2 = gecko.working_memory_step %aq, %ak, %v segments(%s) state(%m, %l, %doc) cache(%pk, %pv, %ps) heads(2) chunk(4) : tensor<2x1x4xf32>, tensor<2x1x4xf32>, tensor<2x1x6xf32>, tensor<2x1xi64>, tensor<2x2x2x3xf32>, tensor<2x2x2xf32>, tensor<2xi64>, tensor<2x?x4xf32>, tensor<2x?x6xf32>, tensor<2x?xi64>
  return %y, %m2, %l2, %d2 : tensor<2x1x6xf32>, tensor<2x2x2x3xf32>, tensor<2x2x2xf32>, tensor<2xi64>
}

// -----

// Backward with a state, segments and both state cotangents: the absorbed
// sequence [prev ; call] is gathered with tensor.extract (no strided
// copies); a forward scf.for recomputes the recurrence and stacks M and
// Lambda before each absorption (n_a-major, contiguous entries); a reverse
// scf.for carries G_M, G_Lambda, daq, dK, dV, with the softmax backwards as
// reductions over time (A, dA) and features (F, dF).
// CHECK-LABEL: func.func @grad_state
// CHECK-NOT:     gecko.
// CHECK:         linalg.index 1
// CHECK:         arith.cmpi slt
// CHECK:         tensor.extract %arg7[
// CHECK:         tensor.extract %arg2[
// CHECK:         %[[FWD:.*]]:4 = scf.for %[[K:.*]] = %c0 to %c3 step %c1 iter_args(%[[MS:.*]] = %{{.*}}, %[[LS:.*]] = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (tensor<3x2x2x2x3xf64>, tensor<3x2x2x2xf64>, tensor<2x2x2x3xf64>, tensor<2x2x2xf64>)
// CHECK:           tensor.insert_slice %{{.*}} into %[[MS]][%[[K]], 0, 0, 0, 0] [1, 2, 2, 2, 3]
// CHECK:           tensor.insert_slice %{{.*}} into %[[LS]][%[[K]], 0, 0, 0] [1, 2, 2, 2]
// CHECK:         %[[GM0:.*]] = linalg.copy ins(%arg11 : tensor<2x2x2x3xf64>)
// CHECK:         %[[GL0:.*]] = linalg.copy ins(%arg12 : tensor<2x2x2xf64>)
// CHECK:         %[[BWD:.*]]:5 = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[GM:.*]] = %[[GM0]], %[[GL:.*]] = %[[GL0]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (tensor<2x2x2x3xf64>, tensor<2x2x2xf64>, tensor<2x12x2x2xf64>, tensor<2x12x2x2xf64>, tensor<2x12x2x3xf64>)
// CHECK:           arith.subi %{{.*}}, %[[I]]
// CHECK:           tensor.extract_slice %[[FWD]]#0[%{{.*}}, 0, 0, 0, 0] [1, 2, 2, 2, 3]
// CHECK:           linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]{{.*}} ins(%{{.*}}, %{{.*}} : tensor<2x4x2x2xf64>
// CHECK:           %[[GMN:.*]] = linalg.generic {{.*}} outs(%[[GM]] : tensor<2x2x2x3xf64>)
// CHECK:           %[[GLN:.*]] = linalg.generic {{.*}} outs(%[[GL]] : tensor<2x2x2xf64>)
// CHECK:           scf.yield %[[GMN]], %[[GLN]],
// CHECK:         return
func.func @grad_state(%dy: tensor<2x12x6xf64>, %aq: tensor<2x12x4xf64>, %ak: tensor<2x12x4xf64>, %v: tensor<2x12x6xf64>, %s: tensor<2x12xi64>, %m: tensor<2x2x2x3xf64>, %l: tensor<2x2x2xf64>, %pk: tensor<2x4x4xf64>, %pv: tensor<2x4x6xf64>, %ps: tensor<2x4xi64>, %doc: tensor<2xi64>, %dm: tensor<2x2x2x3xf64>, %dl: tensor<2x2x2xf64>) -> (tensor<2x12x4xf64>, tensor<2x12x4xf64>, tensor<2x12x6xf64>, tensor<2x2x2x3xf64>, tensor<2x2x2xf64>, tensor<2x4x4xf64>, tensor<2x4x6xf64>) {
  %a, %b, %c, %d, %e, %f, %g = gecko.working_memory_grad %dy, %aq, %ak, %v segments(%s) state(%m, %l, %pk, %pv, %ps, %doc) memory_grad(%dm) log_norm_grad(%dl) heads(2) chunk(4) : tensor<2x12x6xf64>, tensor<2x12x4xf64>, tensor<2x12x4xf64>, tensor<2x12x6xf64>, tensor<2x12xi64>, tensor<2x2x2x3xf64>, tensor<2x2x2xf64>, tensor<2x4x4xf64>, tensor<2x4x6xf64>, tensor<2x4xi64>, tensor<2xi64>, tensor<2x2x2x3xf64>, tensor<2x2x2xf64>
  return %a, %b, %c, %d, %e, %f, %g : tensor<2x12x4xf64>, tensor<2x12x4xf64>, tensor<2x12x6xf64>, tensor<2x2x2x3xf64>, tensor<2x2x2xf64>, tensor<2x4x4xf64>, tensor<2x4x6xf64>
}

// -----

// Backward without a state over one chunk: nothing was absorbed, three
// distinct zero tensors (identical fills would be merged by CSE and a
// buffer returned twice crashes buffer-results-to-out-params).
// CHECK-LABEL: func.func @grad_one_chunk
// CHECK-NOT:     scf.for
// CHECK-COUNT-3: linalg.index
// CHECK:         return
func.func @grad_one_chunk(%dy: tensor<2x4x4xf32>, %aq: tensor<2x4x4xf32>, %ak: tensor<2x4x4xf32>, %v: tensor<2x4x4xf32>) -> (tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>) {
  %a, %b, %c = gecko.working_memory_grad %dy, %aq, %ak, %v heads(2) chunk(4) : tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>
  return %a, %b, %c : tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>
}
