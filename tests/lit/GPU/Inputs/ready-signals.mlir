// Two results reduced by a collective (gecko.collective); grad.a is read
// again (grad.b = grad.a w) after its last write, grad.b by the loss.
#sum = affine_map<(d0, d1) -> (d0, d1)>
#scalar = affine_map<(d0, d1) -> ()>
func.func @grad(%x: tensor<8x8xf32> {gecko.input = "input.x"},
                %w: tensor<8x8xf32> {gecko.param = "w"})
    -> (tensor<8x8xf32> {gecko.collective = {group = "data", op = "all_reduce", reduction = "mean"}, gecko.output = "grad.a"},
        tensor<8x8xf32> {gecko.collective = {group = "data", op = "all_reduce", reduction = "mean"}, gecko.output = "grad.b"},
        tensor<f32> {gecko.output = "output.loss"}) {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<8x8xf32>
  %z0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<8x8xf32>) -> tensor<8x8xf32>
  %a = linalg.matmul ins(%x, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%z0 : tensor<8x8xf32>) -> tensor<8x8xf32>
  %e1 = tensor.empty() : tensor<8x8xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<8x8xf32>) -> tensor<8x8xf32>
  %b = linalg.matmul ins(%a, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%z1 : tensor<8x8xf32>) -> tensor<8x8xf32>
  %e2 = tensor.empty() : tensor<f32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<f32>) -> tensor<f32>
  %loss = linalg.generic {indexing_maps = [#sum, #scalar], iterator_types = ["reduction", "reduction"]}
      ins(%b : tensor<8x8xf32>) outs(%z2 : tensor<f32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %in, %acc : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  return %a, %b, %loss : tensor<8x8xf32>, tensor<8x8xf32>, tensor<f32>
}
