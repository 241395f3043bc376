// RUN: gecko-opt %s -split-input-file \
// RUN:   --pass-pipeline='builtin.module(func.func(gecko-gpu-parallelize-loops))' \
// RUN:   | FileCheck %s

// The timestep norm's statistics: a loop over groups around a recurrence
// over time. Each group reads its own column of the input and writes its
// own column of the output (workspace views at disjoint offsets): the group
// loop becomes parallel, the time loop stays inside it.
// CHECK-LABEL: func.func @group_recurrence
// CHECK:         scf.parallel (%[[G:.*]]) = (%c0) to (%c4) step (%c1)
// CHECK:           memref.load %{{.*}}[%[[G]]] : memref<4xf32>
// CHECK:           scf.for %[[T:.*]] = %c0 to %c16 step %c1 iter_args(
// CHECK:             memref.load %{{.*}}[%[[T]], %[[G]]] : memref<16x4xf32>
// CHECK:             memref.store %{{.*}}, %{{.*}}[%[[T]], %[[G]]] : memref<16x4xf32>
// CHECK-NOT:     scf.for %{{.*}} = %c0 to %c4
func.func @group_recurrence(%init: memref<4xf32>,
                            %ws: memref<1024xi8> {gecko.workspace}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c16 = arith.constant 16 : index
  %c256 = arith.constant 256 : index
  %beta = arith.constant 0.5 : f32
  %x = memref.view %ws[%c0][] : memref<1024xi8> to memref<16x4xf32>
  %y = memref.view %ws[%c256][] : memref<1024xi8> to memref<16x4xf32>
  scf.for %g = %c0 to %c4 step %c1 {
    %h0 = memref.load %init[%g] : memref<4xf32>
    %h = scf.for %t = %c0 to %c16 step %c1 iter_args(%s = %h0) -> f32 {
      %v = memref.load %x[%t, %g] : memref<16x4xf32>
      %d = arith.mulf %s, %beta : f32
      %n = arith.addf %d, %v : f32
      memref.store %n, %y[%t, %g] : memref<16x4xf32>
      scf.yield %n : f32
    }
  }
  return
}

// -----

// An iteration that reads another iteration's column stays sequential.
// CHECK-LABEL: func.func @reads_neighbour
// CHECK:         scf.for
// CHECK-NOT:     scf.parallel
func.func @reads_neighbour(%ws: memref<1024xi8> {gecko.workspace}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %y = memref.view %ws[%c0][] : memref<1024xi8> to memref<4xf32>
  scf.for %g = %c0 to %c3 step %c1 {
    %n = arith.addi %g, %c1 : index
    %v = memref.load %y[%n] : memref<4xf32>
    memref.store %v, %y[%g] : memref<4xf32>
  }
  return
}

// -----

// Two views of overlapping workspace bytes, or two arguments (which the
// runtime may bind to one buffer), may alias: the loops stay sequential.
// CHECK-LABEL: func.func @may_alias
// CHECK:         scf.for
// CHECK:         scf.for
// CHECK-NOT:     scf.parallel
func.func @may_alias(%a: memref<4xf32>, %b: memref<4xf32>,
                     %ws: memref<1024xi8> {gecko.workspace}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %x = memref.view %ws[%c0][] : memref<1024xi8> to memref<4xf32>
  %y = memref.view %ws[%c8][] : memref<1024xi8> to memref<4xf32>
  scf.for %g = %c0 to %c4 step %c1 {
    %v = memref.load %x[%c0] : memref<4xf32>
    memref.store %v, %y[%g] : memref<4xf32>
  }
  scf.for %g = %c0 to %c4 step %c1 {
    %v = memref.load %a[%c0] : memref<4xf32>
    memref.store %v, %b[%g] : memref<4xf32>
  }
  return
}
