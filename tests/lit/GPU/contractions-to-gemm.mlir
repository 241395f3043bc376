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

// A product subtracted from the accumulator (the working memory's
// backward) is a GEMM with alpha = -1.
// CHECK-LABEL: func.func @subtract_product
// CHECK-DAG:     %[[MINUS:.*]] = arith.constant -1.000000e+00 : f64
// CHECK-DAG:     %[[PLUS:.*]] = arith.constant 1.000000e+00 : f64
// CHECK:         call @gecko_import_gemm(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[MINUS]], %[[PLUS]],
// CHECK-NOT:     linalg.generic
func.func @subtract_product(%x: memref<2x64x256xf32>, %w: memref<512x256xf32>, %o: memref<2x64x512xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #o],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<2x64x256xf32>, memref<512x256xf32>) outs(%o : memref<2x64x512xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.subf %c, %p : f32
    linalg.yield %r : f32
  }
  return
}

// The product minus the accumulator is not a GEMM of this form.
// CHECK-LABEL: func.func @subtract_accumulator
// CHECK:         linalg.generic
// CHECK-NOT:     call @gecko_import_gemm
func.func @subtract_accumulator(%x: memref<2x64x256xf32>, %w: memref<512x256xf32>, %o: memref<2x64x512xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #o],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<2x64x256xf32>, memref<512x256xf32>) outs(%o : memref<2x64x512xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.subf %p, %c : f32
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

// --precision=bf16: a linear layer with bf16 x and W and an f32 output,
// the body `out + extf(a) * extf(b)` (gecko-truncate-contraction-operands):
// dtype GECKO_GEMM_BF16_F32 (2), the layout of the f32 case, and byte
// offsets of 2-byte elements for A and B, 4-byte ones for C.
// CHECK-LABEL: func.func @linear_bf16
// CHECK-DAG:     %[[BF16:.*]] = arith.constant 2 : i32
// CHECK-DAG:     %[[M:.*]] = arith.constant 128 : i64
// CHECK-DAG:     %[[N:.*]] = arith.constant 512 : i64
// CHECK-DAG:     %[[K:.*]] = arith.constant 256 : i64
// CHECK-DAG:     %[[ONE:.*]] = arith.constant 1 : i64
// CHECK:         %[[XBASE:.*]] = memref.extract_aligned_pointer_as_index %{{.*}} : memref<2x64x256xbf16>
// CHECK:         %[[TWO_BYTES:.*]] = arith.constant 2 : index
// CHECK:         %[[XOFF:.*]] = arith.muli %{{.*}}, %[[TWO_BYTES]] : index
// CHECK:         %[[XA:.*]] = arith.addi %[[XBASE]], %[[XOFF]] : index
// CHECK:         %[[WBASE:.*]] = memref.extract_aligned_pointer_as_index %{{.*}} : memref<512x256xbf16>
// CHECK:         arith.muli %{{.*}}, %[[TWO_BYTES]] : index
// CHECK:         %[[OBASE:.*]] = memref.extract_aligned_pointer_as_index %{{.*}} : memref<2x64x512xf32>
// CHECK:         %[[FOUR_BYTES:.*]] = arith.constant 4 : index
// CHECK:         arith.muli %{{.*}}, %[[FOUR_BYTES]] : index
// CHECK:         call @gecko_import_gemm(%[[BF16]], %[[M]], %[[N]], %[[K]], %[[ONE]], %{{.*}}, %{{.*}}, %[[XA]], %[[K]], %[[ONE]], %[[Z:[a-z0-9_]+]], %{{.*}}, %[[ONE]], %[[K]], %[[Z]], %{{.*}}, %[[N]], %[[ONE]], %[[Z]]) {gecko.gpu_import = "gemm"}
// CHECK-NOT:     linalg.generic
func.func @linear_bf16(%x: memref<2x64x256xbf16>, %w: memref<512x256xbf16>, %o: memref<2x64x512xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #o],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<2x64x256xbf16>, memref<512x256xbf16>) outs(%o : memref<2x64x512xf32>) {
  ^bb0(%a: bf16, %b: bf16, %c: f32):
    %ea = arith.extf %a : bf16 to f32
    %eb = arith.extf %b : bf16 to f32
    %p = arith.mulf %eb, %ea : f32
    %s = arith.addf %p, %c : f32
    linalg.yield %s : f32
  }
  return
}

// Any other transform of an input is not a GEMM: a bf16 input extended
// and then exponentiated, and only one input extended (the other f32).
// CHECK-LABEL: func.func @bf16_transformed_input
// CHECK-NOT:     call @gecko_import_gemm
// CHECK:         linalg.generic
// CHECK:           math.exp
// CHECK:         linalg.generic
// CHECK-NOT:     call @gecko_import_gemm
func.func @bf16_transformed_input(%x: memref<2x64x256xbf16>, %w: memref<512x256xbf16>, %wf: memref<512x256xf32>, %o: memref<2x64x512xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #o],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<2x64x256xbf16>, memref<512x256xbf16>) outs(%o : memref<2x64x512xf32>) {
  ^bb0(%a: bf16, %b: bf16, %c: f32):
    %ea = arith.extf %a : bf16 to f32
    %eb = arith.extf %b : bf16 to f32
    %e = math.exp %ea : f32
    %p = arith.mulf %e, %eb : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#x, #w, #o],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %wf : memref<2x64x256xbf16>, memref<512x256xf32>) outs(%o : memref<2x64x512xf32>) {
  ^bb0(%a: bf16, %b: f32, %c: f32):
    %ea = arith.extf %a : bf16 to f32
    %p = arith.mulf %ea, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  }
  return
}

// Extensions to f64 of bf16 inputs with an f64 output: no such dtype.
// CHECK-LABEL: func.func @bf16_to_f64
// CHECK:         linalg.generic
// CHECK-NOT:     call @gecko_import_gemm
func.func @bf16_to_f64(%x: memref<2x64x256xbf16>, %w: memref<512x256xbf16>, %o: memref<2x64x512xf64>) {
  linalg.generic {indexing_maps = [#x, #w, #o],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<2x64x256xbf16>, memref<512x256xbf16>) outs(%o : memref<2x64x512xf64>) {
  ^bb0(%a: bf16, %b: bf16, %c: f64):
    %ea = arith.extf %a : bf16 to f64
    %eb = arith.extf %b : bf16 to f64
    %p = arith.mulf %ea, %eb : f64
    %s = arith.addf %c, %p : f64
    linalg.yield %s : f64
  }
  return
}
