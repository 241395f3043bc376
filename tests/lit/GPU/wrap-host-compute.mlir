// RUN: gecko-opt %s -split-input-file -verify-diagnostics \
// RUN:   --pass-pipeline='builtin.module(func.func(gecko-gpu-wrap-host-compute))' \
// RUN:   | FileCheck %s

// A scalar recurrence between two kernels runs as a one-iteration parallel
// loop (a single-thread kernel); the view it reads is recomputed inside it.
// CHECK-LABEL: func.func @scalar_between_kernels
// CHECK:         scf.parallel (%{{.*}}) = (%c0) to (%c64) step (%c1)
// CHECK:         %[[ONE:.*]] = arith.constant 1 : index
// CHECK:         scf.parallel (%{{.*}}) = (%{{.*}}) to (%[[ONE]]) step (%[[ONE]])
// CHECK:           %[[VIEW:.*]] = memref.view %arg1
// CHECK:           scf.for
// CHECK:             memref.load %[[VIEW]]
// CHECK:         scf.parallel (%{{.*}}) = (%c0) to (%c64) step (%c1)
// CHECK:         return
func.func @scalar_between_kernels(%a: memref<64xf32>, %ws: memref<512xi8>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %cst = arith.constant 0.0 : f32
  %v = memref.view %ws[%c0][] : memref<512xi8> to memref<64xf32>
  scf.parallel (%i) = (%c0) to (%c64) step (%c1) {
    %x = memref.load %a[%i] : memref<64xf32>
    memref.store %x, %v[%i] : memref<64xf32>
    scf.reduce
  }
  %sum = scf.for %t = %c0 to %c64 step %c1 iter_args(%acc = %cst) -> f32 {
    %x = memref.load %v[%t] : memref<64xf32>
    %y = arith.addf %acc, %x : f32
    memref.store %y, %v[%t] : memref<64xf32>
    scf.yield %y : f32
  }
  scf.parallel (%i) = (%c0) to (%c64) step (%c1) {
    %x = memref.load %v[%i] : memref<64xf32>
    memref.store %x, %a[%i] : memref<64xf32>
    scf.reduce
  }
  return
}

// -----

// A host loop of kernels stays on the host; the loads inside the kernel
// are untouched and the constant global is cloned into the kernel.
memref.global "private" constant @table : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
// CHECK-LABEL: func.func @host_loop
// CHECK:         scf.for
// CHECK-NEXT:      scf.parallel
// CHECK-NEXT:        memref.get_global @table
func.func @host_loop(%a: memref<4x4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %g = memref.get_global @table : memref<4xf32>
  scf.for %t = %c0 to %c4 step %c1 {
    scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
      %x = memref.load %g[%i] : memref<4xf32>
      memref.store %x, %a[%t, %i] : memref<4x4xf32>
      scf.reduce
    }
  }
  return
}

// -----

// A host loop whose trip count is read from a buffer cannot stay on the
// host; it becomes part of a single-thread kernel.
// CHECK-LABEL: func.func @data_dependent_bound
// CHECK:         scf.parallel
// CHECK:           memref.load
// CHECK:           scf.for
// CHECK:             scf.parallel
func.func @data_dependent_bound(%n: memref<index>, %a: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %cst = arith.constant 1.0 : f32
  %bound = memref.load %n[] : memref<index>
  scf.for %t = %c0 to %bound step %c1 {
    scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
      memref.store %cst, %a[%i] : memref<8xf32>
      scf.reduce
    }
  }
  return
}

// -----

// Allocations must have been planned into the workspace.
func.func @unplanned(%a: memref<8xf32>) {
  // expected-error @below {{buffer allocation left after gecko-plan-memory}}
  %b = memref.alloc() : memref<8xf32>
  memref.copy %a, %b : memref<8xf32> to memref<8xf32>
  return
}

// -----

// A row update guarded by a value read from a read-only input (the
// embedding gradient: one row per token) keeps its parallel loop: the read
// and the guard are repeated in every thread instead of running the loop
// sequentially in a single-thread kernel.
// CHECK-LABEL: func.func @guarded_row_update
// CHECK:         scf.for %[[R:.*]] =
// CHECK-NEXT:      scf.parallel (%[[D:.*]]) = (%{{.*}}) to (%c64)
// CHECK:             %[[TOK:.*]] = memref.load %arg0[%[[R]]]
// CHECK:             %[[OK:.*]] = arith.cmpi slt, %[[TOK]]
// CHECK:             scf.if %[[OK]] {
// CHECK:               %[[ROW:.*]] = arith.index_cast %[[TOK]]
// CHECK:               memref.load %arg1[%[[R]], %[[D]]]
// CHECK:               memref.store %{{.*}}, %arg2[%[[ROW]], %[[D]]]
// CHECK-NOT:     scf.parallel
// CHECK:         return
func.func @guarded_row_update(%tokens: memref<8xi64>, %dx: memref<8x64xf32>,
                              %acc: memref<16x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %vocab = arith.constant 16 : i64
  scf.for %r = %c0 to %c8 step %c1 {
    %tok = memref.load %tokens[%r] : memref<8xi64>
    %ok = arith.cmpi slt, %tok, %vocab : i64
    scf.if %ok {
      %row = arith.index_cast %tok : i64 to index
      scf.parallel (%d) = (%c0) to (%c64) step (%c1) {
        %g = memref.load %dx[%r, %d] : memref<8x64xf32>
        %a = memref.load %acc[%row, %d] : memref<16x64xf32>
        %s = arith.addf %a, %g : f32
        memref.store %s, %acc[%row, %d] : memref<16x64xf32>
        scf.reduce
      }
    }
  }
  return
}

// -----

// The same shape with a guard read from a buffer the function writes: the
// threads could see each other's writes, so the loop runs in one thread.
// CHECK-LABEL: func.func @guard_read_from_written_buffer
// CHECK:         scf.for
// CHECK:           scf.parallel (%{{.*}}) = (%{{.*}}) to (%[[ONE:.*]]) step (%[[ONE]])
// CHECK:             memref.load %arg0
// CHECK:             scf.if
// CHECK:               scf.parallel
func.func @guard_read_from_written_buffer(%flags: memref<8xi64>,
                                          %acc: memref<8x64xi64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %zero = arith.constant 0 : i64
  scf.for %r = %c0 to %c8 step %c1 {
    %f = memref.load %flags[%r] : memref<8xi64>
    %ok = arith.cmpi ne, %f, %zero : i64
    scf.if %ok {
      scf.parallel (%d) = (%c0) to (%c64) step (%c1) {
        memref.store %zero, %flags[%r] : memref<8xi64>
        memref.store %f, %acc[%r, %d] : memref<8x64xi64>
        scf.reduce
      }
    }
  }
  return
}

// -----

// A ready signal is host code: it ends the single-thread run before it
// (the store to %g runs in its own kernel, queued before the signal), and
// the run after it is a kernel of its own.
// CHECK-LABEL: func.func @ready_signal_ends_the_run
// CHECK:         scf.parallel
// CHECK:           memref.store %{{.*}}, %arg0
// CHECK:         }
// CHECK-NEXT:    gecko.ready_signal 0 ["grad.g"]
// CHECK:         scf.parallel
// CHECK:           memref.store %{{.*}}, %arg1
// CHECK:         return
func.func @ready_signal_ends_the_run(%g: memref<4xf32>, %h: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %x = arith.constant 1.0 : f32
  memref.store %x, %g[%c0] : memref<4xf32>
  gecko.ready_signal 0 ["grad.g"]
  memref.store %x, %h[%c0] : memref<4xf32>
  return
}

// -----

// When host code after the signal needs a value of the run, the run goes
// on past it and the signal follows the whole run (later is safe).
// CHECK-LABEL: func.func @ready_signal_after_a_continuing_run
// CHECK:         scf.parallel
// CHECK:           memref.load %arg0
// CHECK:           memref.store %{{.*}}, %arg1
// CHECK:         }
// CHECK-NEXT:    gecko.ready_signal 0 ["grad.g"]
// CHECK-NEXT:    return
func.func @ready_signal_after_a_continuing_run(%g: memref<4xf32>,
                                               %h: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %v = memref.load %g[%c0] : memref<4xf32>
  gecko.ready_signal 0 ["grad.g"]
  memref.store %v, %h[%c0] : memref<4xf32>
  return
}
