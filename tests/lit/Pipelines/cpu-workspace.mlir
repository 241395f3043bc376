// A function with temporaries compiles into an artifact whose plan has a
// nonzero workspace (gecko-plan-memory), and the runtime, which allocates the
// workspace and passes it after the arguments and results, runs it correctly.

// RUN: gecko-compile %s --emit=loops | FileCheck %s --check-prefix=LOOPS
// LOOPS:      func.func @forward(
// LOOPS-SAME:   %[[WS:[a-z0-9_]+]]: memref<{{[0-9]+}}xi8> {gecko.workspace})
// LOOPS-SAME:   gecko.unplanned_allocs = 0
// LOOPS:        memref.view %[[WS]]
// LOOPS-NOT:    memref.alloc
// LOOPS-NOT:    memref.dealloc

// RUN: gecko-compile %s --emit=llvm | FileCheck %s --check-prefix=LLVM
// The workspace is the last parameter, index 3 = 1 arg + 1 param + 1 result;
// its marker is dropped (LLVM IR translation would warn on it).
// LLVM:       llvm.func @forward(%arg0: !llvm.ptr {{.*}}, %arg1: !llvm.ptr {{.*}}, %arg2: !llvm.ptr {{.*}}, %arg3: !llvm.ptr)
// LLVM-SAME:    gecko.workspace_bytes = 384
// LLVM:       llvm.func @gecko_entry_forward(%[[ARGV:.*]]: !llvm.ptr)
// LLVM-SAME:    gecko.workspace_bytes = 384
// LLVM:         %[[SLOT:.*]] = llvm.getelementptr %[[ARGV]][3]
// LLVM:         %[[WS:.*]] = llvm.load %[[SLOT]]
// LLVM:         llvm.call @forward(%{{.*}}, %{{.*}}, %{{.*}}, %[[WS]])
// LLVM-NOT:   llvm.call @malloc

// RUN: gecko-compile %s --target cpu -o %t.gkm 2>&1 | FileCheck %s --allow-empty --check-prefix=QUIET
// QUIET-NOT: warning
// RUN: gecko-run inspect %t.gkm | FileCheck %s --check-prefix=INSPECT
// INSPECT:     function 'forward'
// INSPECT:     workspace: {{[1-9][0-9]*}} bytes (alignment 64), {{[2-9]|[1-9][0-9]+}} planned buffers

// RUN: %python %S/Inputs/workspace_io.py write %t.weights.safetensors %t.inputs.safetensors
// RUN: gecko-run forward %t.gkm --weights %t.weights.safetensors --tokens %t.inputs.safetensors --out %t.out.safetensors | FileCheck %s --check-prefix=FORWARD
// FORWARD-LABEL: function 'forward'
// FORWARD:     output.y f32 [4, 8]
// RUN: %python %S/Inputs/workspace_io.py check %t.out.safetensors | FileCheck %s --check-prefix=CHECKOUT
// CHECKOUT: output.y max abs error {{.*}}: OK

func.func @forward(%x: tensor<4x8xf32> {gecko.input = "input.x"},
                   %w: tensor<8x8xf32> {gecko.param = "w"})
    -> (tensor<4x8xf32> {gecko.output = "output.y"}) {
  %s = gecko.silu %x : tensor<4x8xf32>
  %z = gecko.linear %s, %w : tensor<4x8xf32>, tensor<8x8xf32>
  %t = gecko.silu %z : tensor<4x8xf32>
  %u = gecko.linear %t, %w : tensor<4x8xf32>, tensor<8x8xf32>
  %y = arith.addf %u, %s : tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
