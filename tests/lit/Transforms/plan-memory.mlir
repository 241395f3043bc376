// RUN: gecko-opt %s --gecko-plan-memory --split-input-file | FileCheck %s

// gecko-plan-memory gives every static temporary of a public function an
// offset in one workspace (the function's new last argument), reusing memory
// between buffers whose lifetimes are disjoint.

// Two temporaries with disjoint lifetimes share offset 0; their deallocs go.
// CHECK-LABEL: func.func @disjoint
// CHECK-SAME:    %[[WS:[a-z0-9_]+]]: memref<64xi8> {gecko.workspace})
// CHECK-SAME:    gecko.buffers = [array<i64: 0, 64>, array<i64: 0, 64>]
// CHECK-SAME:    gecko.unplanned_allocs = 0 : i64
// CHECK-SAME:    gecko.workspace_alignment = 64 : i64
// CHECK-SAME:    gecko.workspace_bytes = 64 : i64
// CHECK:         %[[C0:.*]] = arith.constant 0 : index
// CHECK:         memref.view %[[WS]][%[[C0]]][] : memref<64xi8> to memref<16xf32>
// CHECK:         memref.view %[[WS]][%{{.*}}][] : memref<64xi8> to memref<16xf32>
// CHECK-NOT:     memref.alloc
// CHECK-NOT:     memref.dealloc
// CHECK:         return
func.func @disjoint(%in: memref<16xf32>, %out: memref<16xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  memref.copy %in, %a : memref<16xf32> to memref<16xf32>
  memref.copy %a, %out : memref<16xf32> to memref<16xf32>
  %b = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  memref.copy %out, %b : memref<16xf32> to memref<16xf32>
  memref.copy %b, %out : memref<16xf32> to memref<16xf32>
  memref.dealloc %a : memref<16xf32>
  memref.dealloc %b : memref<16xf32>
  return
}

// -----

// Overlapping lifetimes get disjoint ranges; the larger buffer goes first and
// every offset is 64-byte aligned (20 bytes at 64, not 24).
// CHECK-LABEL: func.func @overlapping
// CHECK-SAME:    memref<84xi8> {gecko.workspace})
// CHECK-SAME:    gecko.buffers = [array<i64: 64, 20>, array<i64: 0, 24>]
// CHECK-SAME:    gecko.workspace_bytes = 84 : i64
func.func @overlapping(%in: memref<5xf32>, %in2: memref<3xf64>, %out: memref<5xf32>, %out2: memref<3xf64>) {
  %a = memref.alloc() : memref<5xf32>
  %b = memref.alloc() : memref<3xf64>
  memref.copy %in, %a : memref<5xf32> to memref<5xf32>
  memref.copy %in2, %b : memref<3xf64> to memref<3xf64>
  memref.copy %a, %out : memref<5xf32> to memref<5xf32>
  memref.copy %b, %out2 : memref<3xf64> to memref<3xf64>
  return
}

// -----

// A larger requested alignment is kept, and becomes the workspace's.
// CHECK-LABEL: func.func @alignment
// CHECK-SAME:    memref<136xi8> {gecko.workspace})
// CHECK-SAME:    gecko.buffers = [array<i64: 0, 20>, array<i64: 128, 8>]
// CHECK-SAME:    gecko.workspace_alignment = 128 : i64
// CHECK-SAME:    gecko.workspace_bytes = 136 : i64
func.func @alignment(%in: memref<5xf32>, %in2: memref<2xf32>, %out: memref<5xf32>, %out2: memref<2xf32>) {
  %a = memref.alloc() : memref<5xf32>
  %b = memref.alloc() {alignment = 128 : i64} : memref<2xf32>
  memref.copy %in, %a : memref<5xf32> to memref<5xf32>
  memref.copy %in2, %b : memref<2xf32> to memref<2xf32>
  memref.copy %a, %out : memref<5xf32> to memref<5xf32>
  memref.copy %b, %out2 : memref<2xf32> to memref<2xf32>
  return
}

// -----

// %a is last touched through its subview, after %b is dead: they overlap.
// %c is last touched through its expand_shape, after %d: they overlap too,
// but %c reuses %a's memory and %d reuses %b's.
// CHECK-LABEL: func.func @aliases
// CHECK-SAME:    memref<128xi8> {gecko.workspace})
// CHECK-SAME:    gecko.buffers = [array<i64: 0, 64>, array<i64: 64, 64>, array<i64: 0, 64>, array<i64: 64, 64>]
// CHECK:         memref.subview
// CHECK:         memref.expand_shape
func.func @aliases(%in: memref<16xf32>, %out: memref<8xf32>, %out2: memref<4x4xf32>) {
  %a = memref.alloc() : memref<16xf32>
  memref.copy %in, %a : memref<16xf32> to memref<16xf32>
  %s = memref.subview %a[0] [8] [1] : memref<16xf32> to memref<8xf32, strided<[1]>>
  %b = memref.alloc() : memref<16xf32>
  memref.copy %in, %b : memref<16xf32> to memref<16xf32>
  memref.copy %b, %in : memref<16xf32> to memref<16xf32>
  memref.copy %s, %out : memref<8xf32, strided<[1]>> to memref<8xf32>
  %c = memref.alloc() : memref<16xf32>
  %e = memref.expand_shape %c [[0, 1]] output_shape [4, 4] : memref<16xf32> into memref<4x4xf32>
  %d = memref.alloc() : memref<16xf32>
  memref.copy %in, %d : memref<16xf32> to memref<16xf32>
  memref.copy %d, %in : memref<16xf32> to memref<16xf32>
  memref.copy %e, %out2 : memref<4x4xf32> to memref<4x4xf32>
  return
}

// -----

// %a and %b are used in the loop: they live across the whole loop, and so
// does %t, allocated in its body. %c, after the loop, reuses offset 0.
// CHECK-LABEL: func.func @loop
// CHECK-SAME:    %[[WS:[a-z0-9_]+]]: memref<192xi8> {gecko.workspace})
// CHECK-SAME:    gecko.buffers = [array<i64: 0, 64>, array<i64: 64, 64>, array<i64: 128, 64>, array<i64: 0, 64>]
// CHECK:         scf.for
// CHECK:           memref.view %[[WS]]
// CHECK-NOT:       memref.dealloc
// CHECK:         }
func.func @loop(%in: memref<16xf32>, %out: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %a = memref.alloc() : memref<16xf32>
  %b = memref.alloc() : memref<16xf32>
  memref.copy %in, %a : memref<16xf32> to memref<16xf32>
  scf.for %i = %c0 to %c4 step %c1 {
    memref.copy %a, %b : memref<16xf32> to memref<16xf32>
    %t = memref.alloc() : memref<16xf32>
    memref.copy %b, %t : memref<16xf32> to memref<16xf32>
    memref.copy %t, %a : memref<16xf32> to memref<16xf32>
    memref.dealloc %t : memref<16xf32>
  }
  %c = memref.alloc() : memref<16xf32>
  memref.copy %in, %c : memref<16xf32> to memref<16xf32>
  memref.copy %c, %out : memref<16xf32> to memref<16xf32>
  return
}

// -----

// %a flows through the loop's iter_args into %r, used at the end: it
// overlaps %b.
// CHECK-LABEL: func.func @iter_args
// CHECK-SAME:    gecko.buffers = [array<i64: 0, 64>, array<i64: 64, 64>]
func.func @iter_args(%in: memref<16xf32>, %out: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %a = memref.alloc() : memref<16xf32>
  memref.copy %in, %a : memref<16xf32> to memref<16xf32>
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%x = %a) -> (memref<16xf32>) {
    scf.yield %x : memref<16xf32>
  }
  %b = memref.alloc() : memref<16xf32>
  memref.copy %in, %b : memref<16xf32> to memref<16xf32>
  memref.copy %b, %in : memref<16xf32> to memref<16xf32>
  memref.copy %r, %out : memref<16xf32> to memref<16xf32>
  return
}

// -----

// Left as heap allocations: a dynamic size, a returned buffer, a buffer
// allocated in a loop body and yielded to the next iteration. The loop's
// init buffer lives over the loop and up to the copy of its result. allocas
// are not planned.
// CHECK-LABEL: func.func @unplanned
// CHECK-SAME:    %[[WS:[a-z0-9_]+]]: memref<16xi8> {gecko.workspace})
// CHECK-SAME:    gecko.buffers = [array<i64: 0, 16>]
// CHECK-SAME:    gecko.unplanned_allocs = 3 : i64
// CHECK:         %[[DYN:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK:         memref.dealloc %[[DYN]]
// CHECK:         %[[RET:.*]] = memref.alloc() : memref<4xf32>
// CHECK:         memref.alloca() : memref<4xf32>
// CHECK:         %[[INIT:.*]] = memref.view %[[WS]]
// CHECK:         scf.for {{.*}} iter_args(%{{.*}} = %[[INIT]])
// CHECK:           memref.alloc() : memref<4xf32>
// CHECK:         return %[[RET]]
func.func @unplanned(%in: memref<?xf32>, %n: index) -> memref<4xf32> {
  %a = memref.alloc(%n) : memref<?xf32>
  memref.copy %in, %a : memref<?xf32> to memref<?xf32>
  memref.copy %a, %in : memref<?xf32> to memref<?xf32>
  memref.dealloc %a : memref<?xf32>
  %r = memref.alloc() : memref<4xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %s = memref.alloca() : memref<4xf32>
  %z = memref.alloc() : memref<4xf32>
  %l = scf.for %i = %c0 to %c4 step %c1 iter_args(%x = %z) -> (memref<4xf32>) {
    %y = memref.alloc() : memref<4xf32>
    memref.copy %x, %y : memref<4xf32> to memref<4xf32>
    scf.yield %y : memref<4xf32>
  }
  memref.copy %l, %s : memref<4xf32> to memref<4xf32>
  return %r : memref<4xf32>
}

// -----

// No temporaries: no workspace argument.
// CHECK-LABEL: func.func @no_temporaries
// CHECK-SAME:    (%{{[^:]*}}: memref<16xf32>, %{{[^:]*}}: memref<16xf32>) attributes
// CHECK-SAME:    gecko.buffers = []
// CHECK-SAME:    gecko.workspace_bytes = 0 : i64
func.func @no_temporaries(%in: memref<16xf32>, %out: memref<16xf32>) {
  memref.copy %in, %out : memref<16xf32> to memref<16xf32>
  return
}
