func.func @f(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %y = gecko.rms_norm %x groups(2) eps(
