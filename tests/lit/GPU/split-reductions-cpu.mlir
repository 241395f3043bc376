// The arithmetic of gecko-gpu-split-reductions, executed: the pass runs in
// front of the CPU pipeline (it is in the CUDA pipeline only; its rewrite
// is target-independent linalg on tensors), with small sizes so that a
// full reduction splits twice and every split leaves a tail of terms
// (3003 = 187 x 16 + 11, 187 = 11 x 16 + 11; rows of 1001 = 62 x 16 + 9).
// The results must equal the exact values (Inputs/split_reductions_io.py
// says why f32 holds them), with and without the pass. (gecko-compile adds
// --pass-pipeline to a pass manager on builtin.module, so the pipeline
// names the func.func nesting only.)

// RUN: gecko-compile %s --pass-pipeline='func.func(gecko-gpu-split-reductions{min-size=128 chunk=16 max-parallel=64})' \
// RUN:   --emit=mlir | FileCheck %s --check-prefix=SPLIT
// SPLIT-LABEL: func.func @forward
// SPLIT-COUNT-4: tensor.expand_shape
// SPLIT-NOT:     tensor.expand_shape
// SPLIT:         return

// RUN: %python %S/Inputs/split_reductions_io.py write %t.weights.safetensors %t.inputs.safetensors
// RUN: gecko-compile %s --pass-pipeline='func.func(gecko-gpu-split-reductions{min-size=128 chunk=16 max-parallel=64})' \
// RUN:   --target cpu -o %t.split.gkm
// RUN: gecko-run forward %t.split.gkm --weights %t.weights.safetensors --tokens %t.inputs.safetensors --out %t.split.safetensors
// RUN: %python %S/Inputs/split_reductions_io.py check %t.split.safetensors | FileCheck %s
// RUN: gecko-compile %s --target cpu -o %t.plain.gkm
// RUN: gecko-run forward %t.plain.gkm --weights %t.weights.safetensors --tokens %t.inputs.safetensors --out %t.plain.safetensors
// RUN: %python %S/Inputs/split_reductions_io.py check %t.plain.safetensors | FileCheck %s
// CHECK: output.sumsq OK
// CHECK: output.rowmax OK
// CHECK: output.rowsum OK

func.func @forward(%x: tensor<3x1001xf32> {gecko.param = "x"},
                   %init: tensor<3xf32> {gecko.input = "input.init"})
    -> (tensor<f32> {gecko.output = "output.sumsq"},
        tensor<3xf32> {gecko.output = "output.rowmax"},
        tensor<3xf32> {gecko.output = "output.rowsum"}) {
  %zero = arith.constant 0.0 : f32
  %neg_inf = arith.constant 0xFF800000 : f32
  %e0 = tensor.empty() : tensor<f32>
  %z0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %sumsq = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                            affine_map<(d0, d1) -> ()>],
                           iterator_types = ["reduction", "reduction"]}
      ins(%x : tensor<3x1001xf32>) outs(%z0 : tensor<f32>) {
  ^bb0(%v: f32, %acc: f32):
    %sq = arith.mulf %v, %v : f32
    %s = arith.addf %sq, %acc : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  %e1 = tensor.empty() : tensor<3xf32>
  %m0 = linalg.fill ins(%neg_inf : f32) outs(%e1 : tensor<3xf32>) -> tensor<3xf32>
  %rowmax = linalg.reduce ins(%x : tensor<3x1001xf32>) outs(%m0 : tensor<3xf32>) dimensions = [1]
    (%v: f32, %acc: f32) {
      %m = arith.maximumf %v, %acc : f32
      linalg.yield %m : f32
    }
  %rowsum = linalg.reduce ins(%x : tensor<3x1001xf32>) outs(%init : tensor<3xf32>) dimensions = [1]
    (%v: f32, %acc: f32) {
      %s = arith.addf %v, %acc : f32
      linalg.yield %s : f32
    }
  return %sumsq, %rowmax, %rowsum : tensor<f32>, tensor<3xf32>, tensor<3xf32>
}
