func.func @forward(%x: tensor<4x8xf32> {gecko.input = "input.x"}) -> (tensor<4x8xf32> {gecko.output = "output.y"}) {
  %y = gecko.silu %x : tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
