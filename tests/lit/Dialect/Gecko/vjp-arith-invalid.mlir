// RUN: gecko-opt %s --test-gecko-vjp -split-input-file -verify-diagnostics

// The arith VJP external models are defined on ranked float tensors only;
// other operand types make buildVjp fail with a diagnostic.

func.func @mulf_vector(%a: vector<4xf32>, %b: vector<4xf32>) -> vector<4xf32> {
  // expected-error @+2 {{VJP is only defined on ranked tensors of floats, got 'vector<4xf32>'}}
  // expected-error @+1 {{buildVjp failed}}
  %y = arith.mulf %a, %b : vector<4xf32>
  return %y : vector<4xf32>
}

// -----

func.func @addf_unranked(%a: tensor<*xf32>, %b: tensor<*xf32>) -> tensor<*xf32> {
  // expected-error @+2 {{VJP is only defined on ranked tensors of floats, got 'tensor<*xf32>'}}
  // expected-error @+1 {{buildVjp failed}}
  %y = arith.addf %a, %b : tensor<*xf32>
  return %y : tensor<*xf32>
}
