// RUN: gecko-opt %s -split-input-file \
// RUN:   --pass-pipeline='builtin.module(func.func(gecko-gpu-split-reductions{min-size=128 chunk=16 max-parallel=64}))' \
// RUN:   | FileCheck %s
// RUN: gecko-opt %s -split-input-file \
// RUN:   --pass-pipeline='builtin.module(func.func(gecko-gpu-split-reductions))' \
// RUN:   | FileCheck %s --check-prefix=DEFAULT
// RUN: not gecko-opt %s -split-input-file \
// RUN:   --pass-pipeline='builtin.module(func.func(gecko-gpu-split-reductions{min-size=16 chunk=16}))' \
// RUN:   -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: gecko-gpu-split-reductions needs chunk >= 2, min-size >= 2 * chunk and max-parallel >= 1 (got chunk=16, min-size=16, max-parallel=4096)

// A full reduction over both dimensions (a gradient's sum of squares in
// the global norm): the dimensions collapse into one loop of 3072 terms,
// 192 partials of 16 terms each, then 12 partials of those (192 is still
// at least min-size), then one sequential sum of 12 into the init.
// CHECK-DAG:   #[[IN2:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG:   #[[OUT2:.+]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG:   #[[ID1:.+]] = affine_map<(d0) -> (d0)>
// CHECK-DAG:   #[[SCALAR1:.+]] = affine_map<(d0) -> ()>
// CHECK-LABEL: func.func @full_2d
// CHECK-SAME:    (%[[G:.+]]: tensor<64x48xf32>)
// CHECK-DAG:     %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[INIT:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.+}} : tensor<f32>)
// CHECK:         %[[FLAT:.+]] = tensor.collapse_shape %[[G]] {{\[\[}}0, 1]] : tensor<64x48xf32> into tensor<3072xf32>
// CHECK:         %[[TILED:.+]] = tensor.expand_shape %[[FLAT]] {{\[\[}}0, 1]] output_shape [16, 192] : tensor<3072xf32> into tensor<16x192xf32>
// CHECK:         %[[ZERO1:.+]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[P1INIT:.+]] = linalg.fill ins(%[[ZERO1]] : f32) outs(%{{.+}} : tensor<192xf32>)
// CHECK:         %[[P1:.+]] = linalg.generic {indexing_maps = [#[[IN2]], #[[OUT2]]], iterator_types = ["reduction", "parallel"]}
// CHECK-SAME:      ins(%[[TILED]] : tensor<16x192xf32>) outs(%[[P1INIT]] : tensor<192xf32>)
// CHECK:           arith.mulf
// CHECK:           arith.addf
// CHECK:         %[[P1TILED:.+]] = tensor.expand_shape %[[P1]] {{\[\[}}0, 1]] output_shape [16, 12] : tensor<192xf32> into tensor<16x12xf32>
// CHECK:         %[[ZERO2:.+]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[P2INIT:.+]] = linalg.fill ins(%[[ZERO2]] : f32) outs(%{{.+}} : tensor<12xf32>)
// CHECK:         %[[P2:.+]] = linalg.generic {indexing_maps = [#[[IN2]], #[[OUT2]]], iterator_types = ["reduction", "parallel"]}
// CHECK-SAME:      ins(%[[P1TILED]] : tensor<16x12xf32>) outs(%[[P2INIT]] : tensor<12xf32>)
// CHECK-NOT:       arith.mulf
// CHECK:           arith.addf
// CHECK:         %[[R:.+]] = linalg.generic {indexing_maps = [#[[ID1]], #[[SCALAR1]]], iterator_types = ["reduction"]}
// CHECK-SAME:      ins(%[[P2]] : tensor<12xf32>) outs(%[[INIT]] : tensor<f32>)
// CHECK-NOT:       arith.mulf
// CHECK:           arith.addf
// CHECK:         return %[[R]]
func.func @full_2d(%g: tensor<64x48xf32>) -> tensor<f32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                        affine_map<(d0, d1) -> ()>],
                       iterator_types = ["reduction", "reduction"]}
      ins(%g : tensor<64x48xf32>) outs(%init : tensor<f32>) {
  ^bb0(%x: f32, %acc: f32):
    %sq = arith.mulf %x, %x : f32
    %s = arith.addf %sq, %acc : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  return %r : tensor<f32>
}

// -----

// 1000 terms are 62 chunks of 16 and 8 more: the first 992 are split, and
// a copy of the op sums the last 8 into the combined result, which already
// holds the init (a function argument here, not a fill).
// CHECK-LABEL: func.func @odd_size
// CHECK-SAME:    (%[[G:.+]]: tensor<1000xf32>, %[[INIT:.+]]: tensor<f32>)
// CHECK:         %[[HEAD:.+]] = tensor.extract_slice %[[G]][0] [992] [1] : tensor<1000xf32> to tensor<992xf32>
// CHECK:         %[[TILED:.+]] = tensor.expand_shape %[[HEAD]] {{\[\[}}0, 1]] output_shape [16, 62]
// CHECK:         %[[P:.+]] = linalg.generic {{.+}} ins(%[[TILED]] : tensor<16x62xf32>) outs(%{{.+}} : tensor<62xf32>)
// CHECK:         %[[COMBINED:.+]] = linalg.generic {{.+}} ins(%[[P]] : tensor<62xf32>) outs(%[[INIT]] : tensor<f32>)
// CHECK:         %[[TAIL:.+]] = tensor.extract_slice %[[G]][992] [8] [1] : tensor<1000xf32> to tensor<8xf32>
// CHECK:         %[[R:.+]] = linalg.generic {{.+}} ins(%[[TAIL]] : tensor<8xf32>) outs(%[[COMBINED]] : tensor<f32>)
// CHECK:           arith.mulf
// CHECK:           arith.addf
// CHECK:         return %[[R]]
func.func @odd_size(%g: tensor<1000xf32>, %init: tensor<f32>) -> tensor<f32> {
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>],
                       iterator_types = ["reduction"]}
      ins(%g : tensor<1000xf32>) outs(%init : tensor<f32>) {
  ^bb0(%x: f32, %acc: f32):
    %sq = arith.mulf %x, %x : f32
    %s = arith.addf %sq, %acc : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  return %r : tensor<f32>
}

// -----

// A maximum over long rows with few of them (4 <= max-parallel): the
// partials start at the maximum's neutral element, -inf, and there are
// 4 x 62 of them, the row index outermost.
// CHECK-DAG:   #[[IN3:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG:   #[[OUT3:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @row_max
// CHECK-SAME:    (%[[G:.+]]: tensor<4x1000xf32>, %[[INIT:.+]]: tensor<4xf32>)
// CHECK:         %[[HEAD:.+]] = tensor.extract_slice %[[G]][0, 0] [4, 992] [1, 1]
// CHECK:         %[[TILED:.+]] = tensor.expand_shape %[[HEAD]] {{\[\[}}0], [1, 2]] output_shape [4, 16, 62]
// CHECK:         %[[NEG_INF:.+]] = arith.constant 0xFF800000 : f32
// CHECK:         %[[PINIT:.+]] = linalg.fill ins(%[[NEG_INF]] : f32) outs(%{{.+}} : tensor<4x62xf32>)
// CHECK:         %[[P:.+]] = linalg.generic {indexing_maps = [#[[IN3]], #[[OUT3]]], iterator_types = ["parallel", "reduction", "parallel"]}
// CHECK-SAME:      ins(%[[TILED]] : tensor<4x16x62xf32>) outs(%[[PINIT]] : tensor<4x62xf32>)
// CHECK:           arith.maximumf
// CHECK:         %[[COMBINED:.+]] = linalg.generic {{.+}} ins(%[[P]] : tensor<4x62xf32>) outs(%[[INIT]] : tensor<4xf32>)
// CHECK:         %[[TAIL:.+]] = tensor.extract_slice %[[G]][0, 992] [4, 8] [1, 1]
// CHECK:         linalg.generic {{.+}} ins(%[[TAIL]] : tensor<4x8xf32>) outs(%[[COMBINED]] : tensor<4xf32>)
func.func @row_max(%g: tensor<4x1000xf32>, %init: tensor<4xf32>) -> tensor<4xf32> {
  %r = linalg.reduce ins(%g : tensor<4x1000xf32>) outs(%init : tensor<4xf32>) dimensions = [1]
    (%x: f32, %acc: f32) {
      %m = arith.maximumf %x, %acc : f32
      linalg.yield %m : f32
    }
  return %r : tensor<4xf32>
}

// -----

// Left alone: too few terms; more outputs than max-parallel (each already
// has a thread); a dynamic size; a matrix product (a library GEMM); a body
// that reads the reduction index; reduction dimensions that are not
// consecutive; a body whose accumulator is not combined by one op with a
// neutral element (a select).
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT:     tensor.expand_shape
// CHECK-NOT:     tensor.extract_slice
// CHECK-NOT:     linalg.fill
// CHECK:         return
func.func @left_alone(%short: tensor<100xf32>, %wide: tensor<128x1000xf32>,
                      %dyn: tensor<?xf32>, %a: tensor<8x1000xf32>,
                      %b: tensor<1000x8xf32>, %c: tensor<8x8xf32>,
                      %g: tensor<8x4x200xf32>, %s: tensor<f32>,
                      %w: tensor<128xf32>, %r4: tensor<4xf32>)
    -> (tensor<f32>, tensor<128xf32>, tensor<f32>, tensor<8x8xf32>,
        tensor<f32>, tensor<4xf32>, tensor<f32>) {
  %0 = linalg.reduce ins(%short : tensor<100xf32>) outs(%s : tensor<f32>) dimensions = [0]
    (%x: f32, %acc: f32) {
      %y = arith.addf %x, %acc : f32
      linalg.yield %y : f32
    }
  %1 = linalg.reduce ins(%wide : tensor<128x1000xf32>) outs(%w : tensor<128xf32>) dimensions = [1]
    (%x: f32, %acc: f32) {
      %y = arith.addf %x, %acc : f32
      linalg.yield %y : f32
    }
  %2 = linalg.reduce ins(%dyn : tensor<?xf32>) outs(%s : tensor<f32>) dimensions = [0]
    (%x: f32, %acc: f32) {
      %y = arith.addf %x, %acc : f32
      linalg.yield %y : f32
    }
  %3 = linalg.matmul ins(%a, %b : tensor<8x1000xf32>, tensor<1000x8xf32>)
                     outs(%c : tensor<8x8xf32>) -> tensor<8x8xf32>
  %4 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>],
                       iterator_types = ["reduction"]}
      ins(%short : tensor<100xf32>) outs(%s : tensor<f32>) {
  ^bb0(%x: f32, %acc: f32):
    %i = linalg.index 0 : index
    %ii = arith.index_cast %i : index to i32
    %f = arith.sitofp %ii : i32 to f32
    %xf = arith.mulf %x, %f : f32
    %y = arith.addf %xf, %acc : f32
    linalg.yield %y : f32
  } -> tensor<f32>
  %5 = linalg.reduce ins(%g : tensor<8x4x200xf32>) outs(%r4 : tensor<4xf32>) dimensions = [0, 2]
    (%x: f32, %acc: f32) {
      %y = arith.addf %x, %acc : f32
      linalg.yield %y : f32
    }
  %6 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> ()>],
                       iterator_types = ["reduction", "reduction"]}
      ins(%wide : tensor<128x1000xf32>) outs(%s : tensor<f32>) {
  ^bb0(%x: f32, %acc: f32):
    %gt = arith.cmpf ogt, %x, %acc : f32
    %y = arith.select %gt, %x, %acc : f32
    linalg.yield %y : f32
  } -> tensor<f32>
  return %0, %1, %2, %3, %4, %5, %6
      : tensor<f32>, tensor<128xf32>, tensor<f32>, tensor<8x8xf32>,
        tensor<f32>, tensor<4xf32>, tensor<f32>
}

// -----

// Default options (min-size 256, chunk 64): 4096 terms are 64 partials of
// 64 terms; 64 partials are below min-size and are summed in one thread.
// DEFAULT-LABEL: func.func @default_options
// DEFAULT:         tensor.expand_shape %{{.+}} {{\[\[}}0, 1]] output_shape [64, 64] : tensor<4096xf32> into tensor<64x64xf32>
// DEFAULT:         linalg.generic {{.+}} iterator_types = ["reduction", "parallel"]
// DEFAULT-SAME:      outs(%{{.+}} : tensor<64xf32>)
// DEFAULT:         linalg.generic {{.+}} iterator_types = ["reduction"]
// DEFAULT-SAME:      ins(%{{.+}} : tensor<64xf32>) outs(%{{.+}} : tensor<f32>)
// DEFAULT-NOT:     linalg.generic
// DEFAULT:         return
func.func @default_options(%g: tensor<4096xf32>, %s: tensor<f32>) -> tensor<f32> {
  %r = linalg.reduce ins(%g : tensor<4096xf32>) outs(%s : tensor<f32>) dimensions = [0]
    (%x: f32, %acc: f32) {
      %y = arith.addf %x, %acc : f32
      linalg.yield %y : f32
    }
  return %r : tensor<f32>
}
