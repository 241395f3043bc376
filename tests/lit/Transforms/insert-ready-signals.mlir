// RUN: gecko-opt %s --gecko-insert-ready-signals --split-input-file | FileCheck %s

// gecko-insert-ready-signals puts a gecko.ready_signal after the last
// top-level op that uses (reads or writes) each out parameter marked with
// gecko.collective, or an alias of it, and at the end when a buffer escapes
// the analysis. The runtime reduces the buffer in place from the signal on.

#map = affine_map<(d0) -> (d0)>

// Two gradients: %a is final after its first write, %b after the second op.
// The signals follow program order and the markers are consumed.
// CHECK-LABEL: func.func @two
// CHECK-SAME: gecko.signals = {{\[}}["grad.a"], ["grad.b"]]
// CHECK-NOT: gecko.collective
// CHECK: linalg.copy ins(%arg0 : memref<4xf32>) outs(%arg1 : memref<4xf32>)
// CHECK-NEXT: gecko.ready_signal 0 ["grad.a"]
// CHECK-NEXT: linalg.copy ins(%arg0 : memref<4xf32>) outs(%arg2 : memref<4xf32>)
// CHECK-NEXT: gecko.ready_signal 1 ["grad.b"]
// CHECK-NEXT: linalg.copy ins(%arg0 : memref<4xf32>) outs(%arg3 : memref<4xf32>)
// CHECK-NEXT: return
func.func @two(%x: memref<4xf32>,
    %a: memref<4xf32> {gecko.collective = {group = "data", op = "all_reduce", reduction = "mean"}, gecko.output = "grad.a"},
    %b: memref<4xf32> {gecko.collective = {group = "data", op = "all_reduce", reduction = "mean"}, gecko.output = "grad.b"},
    %loss: memref<4xf32> {gecko.output = "output.other"}) {
  linalg.copy ins(%x : memref<4xf32>) outs(%a : memref<4xf32>)
  linalg.copy ins(%x : memref<4xf32>) outs(%b : memref<4xf32>)
  linalg.copy ins(%x : memref<4xf32>) outs(%loss : memref<4xf32>)
  return
}

// -----

// The last *use*, not the last write: %g is written first, then read to
// compute %other, so its signal follows the read.
// CHECK-LABEL: func.func @read_after_write
// CHECK: linalg.copy ins(%arg0 : memref<4xf32>) outs(%arg1 : memref<4xf32>)
// CHECK-NEXT: linalg.copy ins(%arg0 : memref<4xf32>) outs(%arg2 : memref<4xf32>)
// CHECK-NEXT: linalg.copy ins(%arg1 : memref<4xf32>) outs(%arg2 : memref<4xf32>)
// CHECK-NEXT: gecko.ready_signal 0 ["grad.g"]
// CHECK-NEXT: linalg.copy ins(%arg0 : memref<4xf32>) outs(%arg3 : memref<4xf32>)
// CHECK-NEXT: return
func.func @read_after_write(%x: memref<4xf32>,
    %g: memref<4xf32> {gecko.collective = {group = "data", op = "all_reduce", reduction = "mean"}, gecko.output = "grad.g"},
    %other: memref<4xf32>, %late: memref<4xf32>) {
  linalg.copy ins(%x : memref<4xf32>) outs(%g : memref<4xf32>)
  linalg.copy ins(%x : memref<4xf32>) outs(%other : memref<4xf32>)
  linalg.copy ins(%g : memref<4xf32>) outs(%other : memref<4xf32>)
  linalg.copy ins(%x : memref<4xf32>) outs(%late : memref<4xf32>)
  return
}

// -----

// Uses through aliases (a subview, a cast of it, an expand_shape), one of
// them nested in a loop: the signal follows the loop, the last top-level op
// that holds a use.
// CHECK-LABEL: func.func @aliases
// CHECK: scf.for
// CHECK: memref.store
// CHECK-NEXT: }
// CHECK-NEXT: gecko.ready_signal 0 ["grad.w"]
// CHECK-NEXT: linalg.copy
// CHECK-NEXT: return
func.func @aliases(%x: memref<8xf32>,
    %w: memref<2x4xf32> {gecko.collective = {group = "data", op = "all_reduce", reduction = "mean"}, gecko.output = "grad.w"},
    %out: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %f = arith.constant 1.0 : f32
  %row = memref.subview %w[1, 0] [1, 4] [1, 1] : memref<2x4xf32> to memref<4xf32, strided<[1], offset: 4>>
  %cast = memref.cast %row : memref<4xf32, strided<[1], offset: 4>> to memref<4xf32, strided<[?], offset: ?>>
  %flat = memref.collapse_shape %w [[0, 1]] : memref<2x4xf32> into memref<8xf32>
  linalg.copy ins(%x : memref<8xf32>) outs(%flat : memref<8xf32>)
  scf.for %i = %c0 to %c4 step %c1 {
    memref.store %f, %cast[%i] : memref<4xf32, strided<[?], offset: ?>>
  }
  linalg.copy ins(%x : memref<8xf32>) outs(%out : memref<8xf32>)
  return
}

// -----

// Buffers whose last uses are the same op share one signal; a buffer handed
// to a call escapes the analysis and is signalled at the end, even though
// the call comes first.
// CHECK-LABEL: func.func @escape
// CHECK-SAME: gecko.signals = {{\[}}["grad.p", "grad.q"], ["grad.e"]]
// CHECK: call @opaque(%arg3)
// CHECK-NEXT: linalg.generic
// CHECK: linalg.yield
// CHECK-NEXT: }
// CHECK-NEXT: gecko.ready_signal 0 ["grad.p", "grad.q"]
// CHECK-NEXT: linalg.copy
// CHECK-NEXT: gecko.ready_signal 1 ["grad.e"]
// CHECK-NEXT: return
#map1 = affine_map<(d0) -> (d0)>
func.func private @opaque(memref<4xf32>)
func.func @escape(%x: memref<4xf32>,
    %p: memref<4xf32> {gecko.collective = {group = "data", op = "all_reduce", reduction = "mean"}, gecko.output = "grad.p"},
    %q: memref<4xf32> {gecko.collective = {group = "data", op = "all_reduce", reduction = "mean"}, gecko.output = "grad.q"},
    %e: memref<4xf32> {gecko.collective = {group = "data", op = "all_reduce", reduction = "mean"}, gecko.output = "grad.e"},
    %out: memref<4xf32>) {
  call @opaque(%e) : (memref<4xf32>) -> ()
  linalg.generic {indexing_maps = [#map1, #map1, #map1], iterator_types = ["parallel"]}
      ins(%x : memref<4xf32>) outs(%p, %q : memref<4xf32>, memref<4xf32>) {
  ^bb0(%in: f32, %o1: f32, %o2: f32):
    linalg.yield %in, %in : f32, f32
  }
  linalg.copy ins(%x : memref<4xf32>) outs(%out : memref<4xf32>)
  return
}

// -----

// A buffer turned into a pointer escapes too.
// CHECK-LABEL: func.func @pointer
// CHECK: memref.extract_aligned_pointer_as_index
// CHECK-NEXT: linalg.copy
// CHECK-NEXT: gecko.ready_signal 0 ["grad.g"]
// CHECK-NEXT: return
func.func @pointer(%x: memref<4xf32>,
    %g: memref<4xf32> {gecko.collective = {group = "data", op = "all_reduce", reduction = "mean"}, gecko.output = "grad.g"},
    %out: memref<4xf32>) -> () {
  linalg.copy ins(%x : memref<4xf32>) outs(%g : memref<4xf32>)
  %p = memref.extract_aligned_pointer_as_index %g : memref<4xf32> -> index
  linalg.copy ins(%x : memref<4xf32>) outs(%out : memref<4xf32>)
  return
}

// -----

// Functions without collectives on out parameters are untouched, inputs
// that carry a collective (apply_gradients') included.
// CHECK-LABEL: func.func @untouched
// CHECK-SAME: gecko.collective
// CHECK-NOT: gecko.signals
// CHECK-NOT: gecko.ready_signal
// CHECK: return
func.func @untouched(%g: memref<4xf32> {gecko.collective = {group = "data", op = "all_reduce", reduction = "mean"}, gecko.input = "grad.w"},
    %out: memref<4xf32> {gecko.output = "output.x"}) {
  linalg.copy ins(%g : memref<4xf32>) outs(%out : memref<4xf32>)
  return
}
