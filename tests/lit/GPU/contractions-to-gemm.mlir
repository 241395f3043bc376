// RUN: gecko-opt %s --pass-pipeline='builtin.module(gecko-gpu-contractions-to-gemm,cse)' | FileCheck %s

#x = affine_map<(b, l, f, d) -> (b, l, d)>
#w = affine_map<(b, l, f, d) -> (f, d)>
#o = affine_map<(b, l, f, d) -> (b, l, f)>

// A linear layer x W^T: the (b, l) dims collapse into m = 128, W is a
// column-major k x n matrix (leading dimension 256).
// CHECK-LABEL: func.func @linear
// CHECK-DAG:     %[[M:.*]] = arith.constant 128 : i64
// CHECK-DAG:     %[[N:.*]] = arith.constant 512 : i64
// CHECK-DAG:     %[[K:.*]] = arith.constant 256 : i64
// CHECK-DAG:     %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-DAG:     %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK:         call @gecko_import_gemm(%{{.*}}, %[[M]], %[[N]], %[[K]], %[[ONE]], %{{.*}}, %{{.*}}, %{{.*}}, %[[K]], %[[ONE]], %[[ZERO]], %{{.*}}, %[[ONE]], %[[K]], %[[ZERO]], %{{.*}}, %[[N]], %[[ONE]], %[[ZERO]]) {gecko.gpu_import = "gemm"}
// CHECK-NOT:     linalg.generic
func.func @linear(%x: memref<2x64x256xf32>, %w: memref<512x256xf32>, %o: memref<2x64x512xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #o],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<2x64x256xf32>, memref<512x256xf32>) outs(%o : memref<2x64x512xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  }
  return
}

#q = affine_map<(b, h, i, j, d) -> (b, i, h, d)>
#k = affine_map<(b, h, i, j, d) -> (b, j, h, d)>
#s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>

// Attention scores q k^T per (b, h): b and h do not collapse into one
// stride in q (the sequence dim lies between them), so b becomes a host
// loop and h the GEMM's batch.
// CHECK-LABEL: func.func @scores
// CHECK:         scf.for %{{.*}} = %{{.*}} to %{{.*}} step
// CHECK:           call @gecko_import_gemm
// CHECK-NOT:     linalg.generic
func.func @scores(%q: memref<2x16x4x32xf32>, %k: memref<2x16x4x32xf32>, %s: memref<2x4x16x16xf32>) {
  linalg.generic {indexing_maps = [#q, #k, #s],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : memref<2x16x4x32xf32>, memref<2x16x4x32xf32>) outs(%s : memref<2x4x16x16xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %c, %p : f32
    linalg.yield %r : f32
  }
  return
}

// A body that is not a multiply-accumulate stays a linalg op.
// CHECK-LABEL: func.func @not_a_gemm
// CHECK:         linalg.generic
// CHECK-NOT:     call @gecko_import_gemm
func.func @not_a_gemm(%x: memref<2x64x256xf32>, %w: memref<512x256xf32>, %o: memref<2x64x512xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #o],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<2x64x256xf32>, memref<512x256xf32>) outs(%o : memref<2x64x512xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %e = math.exp %a : f32
    %p = arith.mulf %e, %b : f32
    %r = arith.addf %c, %p : f32
    linalg.yield %r : f32
  }
  return
}

// A contraction between a scalar read from a buffer and its later host use
// keeps the generated kernel (the library call cannot run in a kernel).
// CHECK-LABEL: func.func @between_device_scalar_and_use
// CHECK:         memref.load
// CHECK:         linalg.generic
// CHECK:         memref.store
func.func @between_device_scalar_and_use(%x: memref<2x64x256xf32>, %w: memref<512x256xf32>, %o: memref<2x64x512xf32>, %t: memref<f32>) {
  %v = memref.load %t[] : memref<f32>
  linalg.generic {indexing_maps = [#x, #w, #o],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<2x64x256xf32>, memref<512x256xf32>) outs(%o : memref<2x64x512xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %c, %p : f32
    linalg.yield %r : f32
  }
  %d = arith.addf %v, %v : f32
  memref.store %d, %t[] : memref<f32>
  return
}
