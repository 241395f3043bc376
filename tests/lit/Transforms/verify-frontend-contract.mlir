// RUN: gecko-opt %s --split-input-file --verify-diagnostics --gecko-verify-frontend-contract

// A module that follows the contract (docs/frontend.md) passes unchanged.
module attributes {gecko.frontend_contract = 1 : i64, gecko.model_config = "{}"} {
  func.func @forward(%tok: tensor<2x4xi64> {gecko.input = "input.tokens", gecko.range = array<i64: 0, 8>},
                     %w: tensor<8x4xf32> {gecko.param = "embed.weight"})
      -> (tensor<2x4x4xf32> {gecko.output = "output.x"}) {
    %x = gecko.embedding %w, %tok : tensor<8x4xf32>, tensor<2x4xi64>
    %y = arith.addf %x, %x : tensor<2x4x4xf32>
    return %y : tensor<2x4x4xf32>
  }
}

// -----

// expected-error @+1 {{[F1] the module has no 'gecko.frontend_contract' integer attribute}}
module {
  func.func @f(%x: tensor<2xf32> {gecko.param = "w"}) -> (tensor<2xf32> {gecko.output = "output.x"}) {
    return %x : tensor<2xf32>
  }
}

// -----

// expected-error @+1 {{[F1] frontend contract version 2 is not the supported version 1}}
module attributes {gecko.frontend_contract = 2 : i64} {
  func.func @f(%x: tensor<2xf32> {gecko.param = "w"}) -> (tensor<2xf32> {gecko.output = "output.x"}) {
    return %x : tensor<2xf32>
  }
}

// -----

module attributes {gecko.frontend_contract = 1 : i64} {
  // expected-error @+2 {{[F2] argument 0 of @f has none of gecko.param, gecko.input, gecko.state}}
  // expected-error @+1 {{[F2] argument 1 of @f has type 'tensor<?xf32>'; arguments must be statically shaped tensors}}
  func.func @f(%x: tensor<2xf32>, %y: tensor<?xf32> {gecko.param = "w"}) -> (tensor<2xf32> {gecko.output = "output.x"}) {
    return %x : tensor<2xf32>
  }
}

// -----

module attributes {gecko.frontend_contract = 1 : i64} {
  // expected-error @+1 {{[F3] result 0 of @f has no gecko.output name}}
  func.func @f(%x: tensor<2xf32> {gecko.param = "w"}) -> tensor<2xf32> {
    return %x : tensor<2xf32>
  }
}

// -----

module attributes {gecko.frontend_contract = 1 : i64} {
  // expected-error @+1 {{[F4] arguments 0 and 1 of @f have the same name 'w'}}
  func.func @f(%x: tensor<2xf32> {gecko.param = "w"}, %y: tensor<2xf32> {gecko.param = "w"}) -> (tensor<2xf32> {gecko.output = "output.x"}) {
    return %x : tensor<2xf32>
  }
}

// -----

module attributes {gecko.frontend_contract = 1 : i64} {
  func.func @f(%x: tensor<2xf32> {gecko.param = "w"}) -> (tensor<2xf32> {gecko.output = "output.x"}) {
    return %x : tensor<2xf32>
  }
  // expected-error @+1 {{[F5] parameter 'w' has type 'tensor<3xf32>' in @g but 'tensor<2xf32>' in @f}}
  func.func @g(%x: tensor<3xf32> {gecko.param = "w"}) -> (tensor<3xf32> {gecko.output = "output.x"}) {
    return %x : tensor<3xf32>
  }
}

// -----

module attributes {gecko.frontend_contract = 1 : i64} {
  // expected-error @+2 {{[F6] gecko.range on argument 0 of @f must be array<i64: lo, hi> with lo < hi}}
  // expected-error @+1 {{[F6] gecko.range on argument 1 of @f is only allowed on integer inputs}}
  func.func @f(%t: tensor<2xi64> {gecko.input = "input.tokens", gecko.range = array<i64: 5, 5>},
               %x: tensor<2xf32> {gecko.param = "w", gecko.range = array<i64: 0, 5>}) -> (tensor<2xf32> {gecko.output = "output.x"}) {
    return %x : tensor<2xf32>
  }
}

// -----

module attributes {gecko.frontend_contract = 1 : i64} {
  func.func @f(%x: tensor<2xf32> {gecko.param = "w"}) -> (tensor<2xf32> {gecko.output = "output.x"}) {
    // expected-error @+1 {{[F7] 'tensor.pad' is not allowed in a frontend module}}
    %s = tensor.pad %x low[0] high[0] {
    ^bb0(%i: index):
      %z = arith.constant 0.0 : f32
      tensor.yield %z : f32
    } : tensor<2xf32> to tensor<2xf32>
    return %s : tensor<2xf32>
  }
}

// -----

module attributes {gecko.frontend_contract = 1 : i64} {
  func.func @f(%x: tensor<2xf32> {gecko.param = "w"}) -> (tensor<2xf32> {gecko.output = "output.x"}) {
    return %x : tensor<2xf32>
  }
  // expected-error @+1 {{[F8] private function @helper: a frontend module holds only public entry functions}}
  func.func private @helper(%x: tensor<2xf32>) -> tensor<2xf32> {
    return %x : tensor<2xf32>
  }
}

// -----

module attributes {gecko.frontend_contract = 1 : i64} {
  // State arguments are named by gecko.state; next:<name> results update a
  // param or state argument of the same type.
  // expected-error @+4 {{[F9] result 2 of @f updates 'input.x', which is not a param or state argument}}
  // expected-error @+3 {{[F9] result 3 of @f has type 'tensor<3xf32>' but the argument 's' it updates has type 'tensor<2xf32>'}}
  // expected-error @+2 {{[F4] two results of @f are named 'next:s'}}
  // expected-error @+1 {{[F2] argument 2 of @f has more than one of gecko.param, gecko.input, gecko.state}}
  func.func @f(%x: tensor<2xf32> {gecko.input = "input.x"}, %s: tensor<2xf32> {gecko.state = "s"}, %y: tensor<2xf32> {gecko.param = "p", gecko.state = "q"})
      -> (tensor<2xf32> {gecko.output = "output.y"}, tensor<2xf32> {gecko.output = "next:s"}, tensor<2xf32> {gecko.output = "next:input.x"}, tensor<3xf32> {gecko.output = "next:s"}) {
    %c = arith.constant dense<1.0> : tensor<3xf32>
    return %x, %s, %x, %c : tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<3xf32>
  }
}
