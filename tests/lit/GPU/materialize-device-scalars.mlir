// RUN: gecko-opt %s -split-input-file \
// RUN:   --pass-pipeline='builtin.module(func.func(gecko-gpu-materialize-device-scalars))' \
// RUN:   | FileCheck %s

// The optimizer's shape: scalars read from 0-d tensors (learning rate,
// step) and computed from them, used by elementwise updates. The element of
// a 0-d tensor is read from that tensor; a computed scalar goes through a
// tensor.from_elements. Scalar code between the updates (%decay) is
// hoisted above the first of them, with its tensor.
#id = affine_map<(d0) -> (d0)>
// CHECK-DAG:   #[[ID:.+]] = affine_map<(d0) -> (d0)>
// CHECK-DAG:   #[[SCALAR:.+]] = affine_map<(d0) -> ()>
// CHECK-LABEL: func.func @optimizer_scalars
// CHECK-SAME:    (%[[LR:.+]]: tensor<f32>, %[[STEP:.+]]: tensor<i64>, %[[P:.+]]: tensor<64xf32>, %[[Q:.+]]: tensor<64xf32>)
// CHECK:         %[[L:.+]] = tensor.extract %[[LR]][]
// CHECK:         %[[CORR:.+]] = arith.truncf
// CHECK:         %[[CORR_T:.+]] = tensor.from_elements %[[CORR]] : tensor<f32>
// CHECK:         %[[DECAY:.+]] = arith.mulf %[[L]]
// CHECK:         %[[DECAY_T:.+]] = tensor.from_elements %[[DECAY]] : tensor<f32>
// CHECK:         linalg.generic {indexing_maps = [#[[ID]], #[[SCALAR]], #[[SCALAR]], #[[ID]]]
// CHECK-SAME:      ins(%[[P]], %[[LR]], %[[CORR_T]] : tensor<64xf32>, tensor<f32>, tensor<f32>)
// CHECK:         ^bb0(%[[X:.+]]: f32, %[[L_ARG:.+]]: f32, %[[CORR_ARG:.+]]: f32, %{{.+}}: f32):
// CHECK:           %[[A:.+]] = arith.mulf %[[X]], %[[L_ARG]]
// CHECK:           arith.divf %[[A]], %[[CORR_ARG]]
// CHECK:         linalg.generic {indexing_maps = [#[[ID]], #[[SCALAR]], #[[ID]]]
// CHECK-SAME:      ins(%[[Q]], %[[DECAY_T]] : tensor<64xf32>, tensor<f32>)
func.func @optimizer_scalars(%lr: tensor<f32>, %step: tensor<i64>,
                             %p: tensor<64xf32>, %q: tensor<64xf32>)
    -> (tensor<64xf32>, tensor<64xf32>) {
  %one = arith.constant 1.0 : f64
  %beta = arith.constant 0.9 : f64
  %wd = arith.constant 0.1 : f32
  %s = tensor.extract %step[] : tensor<i64>
  %sf = arith.sitofp %s : i64 to f64
  %pow = math.powf %beta, %sf : f64
  %corr = arith.subf %one, %pow : f64
  %corr32 = arith.truncf %corr : f64 to f32
  %l = tensor.extract %lr[] : tensor<f32>
  %e = tensor.empty() : tensor<64xf32>
  %r0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%p : tensor<64xf32>) outs(%e : tensor<64xf32>) {
  ^bb0(%x: f32, %o: f32):
    %a = arith.mulf %x, %l : f32
    %b = arith.divf %a, %corr32 : f32
    linalg.yield %b : f32
  } -> tensor<64xf32>
  %decay = arith.mulf %l, %wd : f32
  %r1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%q : tensor<64xf32>) outs(%e : tensor<64xf32>) {
  ^bb0(%x: f32, %o: f32):
    %a = arith.mulf %x, %decay : f32
    linalg.yield %a : f32
  } -> tensor<64xf32>
  return %r0, %r1 : tensor<64xf32>, tensor<64xf32>
}

// -----

// A named op taking a device scalar as an operand is generalized first.
// CHECK-LABEL: func.func @fill_with_element
// CHECK:         %[[X:.+]] = tensor.extract %{{.+}}[%{{.+}}] : tensor<8xf32>
// CHECK:         %[[X_T:.+]] = tensor.from_elements %[[X]] : tensor<f32>
// CHECK-NOT:     linalg.fill
// CHECK:         linalg.generic
// CHECK-SAME:      ins(%[[X_T]] : tensor<f32>)
func.func @fill_with_element(%t: tensor<8xf32>) -> tensor<16xf32> {
  %c3 = arith.constant 3 : index
  %x = tensor.extract %t[%c3] : tensor<8xf32>
  %e = tensor.empty() : tensor<16xf32>
  %f = linalg.fill ins(%x : f32) outs(%e : tensor<16xf32>) -> tensor<16xf32>
  return %f : tensor<16xf32>
}

// -----

// Scalars the host computes (arguments, loop counters) stay captured, and
// so does a device scalar in an op without loops (a single-thread kernel
// anyway).
#id = affine_map<(d0) -> (d0)>
// CHECK-LABEL: func.func @host_scalars
// CHECK-NOT:     tensor.from_elements
// CHECK:         scf.for
// CHECK:           linalg.generic
// CHECK-SAME:        ins(%{{.+}} : tensor<4xf32>)
// CHECK:         linalg.generic
// CHECK-SAME:      iterator_types = []
// CHECK-SAME:      outs(%{{.+}} : tensor<f32>)
func.func @host_scalars(%a: tensor<4xf32>, %s: f32, %z: tensor<f32>)
    -> (tensor<4xf32>, tensor<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %a) -> tensor<4xf32> {
    %fi = arith.index_cast %i : index to i32
    %f = arith.sitofp %fi : i32 to f32
    %n = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                         iterator_types = ["parallel"]}
        ins(%acc : tensor<4xf32>) outs(%acc : tensor<4xf32>) {
    ^bb0(%x: f32, %o: f32):
      %y = arith.addf %x, %f : f32
      %w = arith.mulf %y, %s : f32
      linalg.yield %w : f32
    } -> tensor<4xf32>
    scf.yield %n : tensor<4xf32>
  }
  %v = tensor.extract %a[%c0] : tensor<4xf32>
  %e = tensor.empty() : tensor<f32>
  %z2 = linalg.generic {indexing_maps = [affine_map<() -> ()>], iterator_types = []}
      outs(%e : tensor<f32>) {
  ^bb0(%o: f32):
    linalg.yield %v : f32
  } -> tensor<f32>
  return %r, %z2 : tensor<4xf32>, tensor<f32>
}

// -----

// A scalar carried by a host loop and updated from tensor contents is a
// device scalar inside the loop; its tensor is made at the start of the
// loop body.
#id = affine_map<(d0) -> (d0)>
// CHECK-LABEL: func.func @loop_carried
// CHECK:         scf.for {{.*}} iter_args(%[[ACC:.+]] = %{{.+}}, %[[S:.+]] = %{{.+}})
// CHECK-NEXT:      %[[S_T:.+]] = tensor.from_elements %[[S]] : tensor<f32>
// CHECK:           linalg.generic
// CHECK-SAME:        ins(%[[ACC]], %[[S_T]] : tensor<4xf32>, tensor<f32>)
func.func @loop_carried(%a: tensor<4xf32>) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %zero = arith.constant 0.0 : f32
  %r:2 = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %a, %s = %zero)
      -> (tensor<4xf32>, f32) {
    %n = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
        ins(%acc : tensor<4xf32>) outs(%acc : tensor<4xf32>) {
    ^bb0(%x: f32, %o: f32):
      %y = arith.addf %x, %s : f32
      linalg.yield %y : f32
    } -> tensor<4xf32>
    %next = tensor.extract %n[%c0] : tensor<4xf32>
    scf.yield %n, %next : tensor<4xf32>, f32
  }
  return %r#0 : tensor<4xf32>
}
