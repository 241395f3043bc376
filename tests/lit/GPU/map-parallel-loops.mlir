// RUN: gecko-opt %s --pass-pipeline='builtin.module(func.func(gecko-gpu-map-parallel-loops{block-size=128}))' \
// RUN:   | FileCheck %s
// RUN: gecko-opt %s --pass-pipeline='builtin.module(func.func(gecko-gpu-map-parallel-loops{block-size=128},convert-parallel-loops-to-gpu),canonicalize)' \
// RUN:   | FileCheck %s --check-prefix=LAUNCH

// A 2-D loop is collapsed to 4 x 96 = 384 iterations and tiled by 128
// threads: 3 blocks; the nested loop runs sequentially in its thread.
// CHECK-LABEL: func.func @collapse_and_tile
// CHECK:         scf.parallel (%{{.*}}) = (%{{.*}}) to (%{{.*}}) step (%{{.*}})
// CHECK-NEXT:      scf.parallel (%{{.*}}) = (%{{.*}}) to (%{{.*}}) step (%{{.*}})
// CHECK:             scf.if
// CHECK-NEXT:          arith.remsi %{{.*}}, %c96
// CHECK-NEXT:          arith.divsi %{{.*}}, %c96
// CHECK-NEXT:          scf.for
// CHECK-NOT:           scf.parallel
// CHECK:           } {mapping = [#gpu.loop_dim_map<processor = thread_x
// CHECK:         } {mapping = [#gpu.loop_dim_map<processor = block_x
// LAUNCH-LABEL: func.func @collapse_and_tile
// LAUNCH:         gpu.launch blocks({{.*}}) in ({{.*}} = %c3, {{.*}} = %c1, {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c128, {{.*}} = %c1, {{.*}} = %c1)
func.func @collapse_and_tile(%a: memref<4x96x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %c96 = arith.constant 96 : index
  %cst = arith.constant 0.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%c4, %c96) step (%c1, %c1) {
    scf.parallel (%k) = (%c0) to (%c8) step (%c1) {
      memref.store %cst, %a[%i, %j, %k] : memref<4x96x8xf32>
      scf.reduce
    }
    scf.reduce
  }
  return
}

// A one-iteration loop is a one-thread kernel: no tiling.
// CHECK-LABEL: func.func @single
// CHECK:         scf.parallel
// CHECK-NOT:       scf.parallel
// CHECK:         } {mapping = [#gpu.loop_dim_map<processor = block_x
// LAUNCH-LABEL: func.func @single
// LAUNCH:         gpu.launch blocks({{.*}}) in ({{.*}} = %c1, {{.*}} = %c1, {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c1, {{.*}} = %c1, {{.*}} = %c1)
func.func @single(%a: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cst = arith.constant 0.0 : f32
  scf.parallel (%i) = (%c0) to (%c1) step (%c1) {
    memref.store %cst, %a[] : memref<f32>
    scf.reduce
  }
  return
}
