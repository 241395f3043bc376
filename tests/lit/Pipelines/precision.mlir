// --precision (docs/lowering.md, "Precision"): the pipelines' option, the
// driver's flag, the plan's record, and the numbers of a linear layer on
// the CPU in both modes against references computed in Python.

// fp32 (the default) has no bf16 anywhere; bf16 rounds both operands of
// the product and accumulates in f32.
// RUN: gecko-opt %s --gecko-cpu-loops | FileCheck %s --check-prefix=FP32
// FP32-NOT: bf16
// RUN: gecko-opt %s --pass-pipeline='builtin.module(gecko-cpu-loops{precision=bf16})' | FileCheck %s --check-prefix=BF16
// BF16-LABEL: func.func @forward(
// BF16-DAG:     arith.truncf %{{.*}} : f32 to bf16
// BF16-DAG:     arith.extf %{{.*}} : bf16 to f32
// BF16:         arith.mulf %{{.*}}, %{{.*}} : f32
// BF16:         arith.addf %{{.*}}, %{{.*}} : f32

// Where the passes go: the rewrite after the lowering to linalg and before
// fusion; on the CPU, the bf16 conversions written in integer arithmetic.
// RUN: gecko-opt %s --pass-pipeline='builtin.module(gecko-cpu-lowering{precision=bf16})' --dump-pass-pipeline -o /dev/null 2>&1 | FileCheck %s --check-prefix=PIPE
// PIPE: convert-gecko-to-linalg
// PIPE: gecko-truncate-contraction-operands
// PIPE: gecko-fuse-elementwise
// PIPE: one-shot-bufferize
// PIPE: arith-expand{{.*}}include-bf16=true
// PIPE: convert-arith-to-llvm
// RUN: gecko-opt %s --pass-pipeline='builtin.module(gecko-cpu-lowering)' --dump-pass-pipeline -o /dev/null 2>&1 | FileCheck %s --check-prefix=PIPE-FP32
// PIPE-FP32-NOT: gecko-truncate-contraction-operands
// PIPE-FP32-NOT: arith-expand

// The LLVM dialect of the bf16 CPU code calls nothing (no __truncsfbf2).
// RUN: gecko-opt %s --pass-pipeline='builtin.module(gecko-cpu-lowering{precision=bf16})' | FileCheck %s --check-prefix=LLVM
// LLVM-NOT: llvm.func @__truncsfbf2
// LLVM-NOT: fptrunc
// LLVM: llvm.func @gecko_entry_forward

// Unknown precisions are refused by name.
// RUN: not gecko-opt %s --pass-pipeline='builtin.module(gecko-cpu-lowering{precision=fp16})' 2>&1 | FileCheck %s --check-prefix=BAD-OPT
// BAD-OPT: fp16
// RUN: not gecko-compile %s --precision=fp16 --target cpu -o %t-bad.gkm 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: gecko-compile: unknown --precision 'fp16' (supported: fp32, bf16)

// The plan records the precision; fp32 artifacts are unchanged.
// RUN: gecko-compile %s --target cpu -o %t-fp32.gkm
// RUN: gecko-compile %s --target cpu --precision=bf16 -o %t-bf16.gkm
// RUN: gecko-run inspect %t-fp32.gkm | FileCheck %s --check-prefix=INSPECT-FP32
// INSPECT-FP32: precision fp32
// RUN: gecko-run inspect %t-bf16.gkm | FileCheck %s --check-prefix=INSPECT-BF16
// INSPECT-BF16: precision bf16 (matrix products: bf16 operands, f32 accumulation)
// RUN: not grep -q '"precision"' %t-fp32.gkm
// RUN: grep -q '"precision": "bf16"' %t-bf16.gkm

// The numbers: fp32 matches x w^T of the f32 values, bf16 that of the
// values rounded to bf16 (nearest even; the inputs include ties), both to
// 1e-6, while the two references differ by 7e-3.
// RUN: %python %S/Inputs/precision_io.py write %t.w.safetensors %t.x.safetensors
// RUN: gecko-run forward %t-fp32.gkm --weights %t.w.safetensors --tokens %t.x.safetensors --out %t-fp32.out.safetensors
// RUN: %python %S/Inputs/precision_io.py check %t-fp32.out.safetensors fp32 | FileCheck %s --check-prefix=NUM-FP32
// NUM-FP32: output.y vs the fp32 reference: {{.*}}: OK
// RUN: gecko-run forward %t-bf16.gkm --weights %t.w.safetensors --tokens %t.x.safetensors --out %t-bf16.out.safetensors
// RUN: %python %S/Inputs/precision_io.py check %t-bf16.out.safetensors bf16 | FileCheck %s --check-prefix=NUM-BF16
// NUM-BF16: output.y vs the bf16 reference: {{.*}}: OK
// RUN: not %python %S/Inputs/precision_io.py check %t-bf16.out.safetensors fp32

func.func @forward(%x: tensor<4x8xf32> {gecko.input = "input.x"},
                   %w: tensor<8x8xf32> {gecko.param = "w"})
    -> (tensor<4x8xf32> {gecko.output = "output.y"}) {
  %y = gecko.linear %x, %w : tensor<4x8xf32>, tensor<8x8xf32>
  return %y : tensor<4x8xf32>
}
