// RUN: gecko-opt %s --convert-gecko-to-linalg --split-input-file | FileCheck %s

// rms_norm: the last dimension is viewed as groups x channels, Σ x² is a
// reduction over the innermost dimension in f32 (bf16 input), rstd is formed
// per group, and y is one elementwise generic; 1 + w is rounded to bf16 as in
// the reference.
// CHECK-LABEL: func.func @rms_norm_bf16
// CHECK:         %[[XG:.+]] = tensor.expand_shape %{{.*}} {{\[}}[0], [1], [2, 3]] output_shape [2, 3, 2, 4]
// CHECK:         %[[SS:.+]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME:      ins(%[[XG]] : tensor<2x3x2x4xbf16>) outs(%{{.*}} : tensor<2x3x2xf32>)
// CHECK:           arith.extf %{{.*}} : bf16 to f32
// CHECK:           arith.mulf
// CHECK:           arith.addf
// CHECK:         %[[R:.+]] = linalg.generic
// CHECK-SAME:      ins(%[[SS]] : tensor<2x3x2xf32>)
// CHECK:           math.rsqrt
// CHECK:         %[[WG:.+]] = tensor.expand_shape %{{.*}} {{\[}}[0, 1]] output_shape [2, 4]
// CHECK:         %[[Y:.+]] = linalg.generic
// CHECK-SAME:      iterator_types = ["parallel", "parallel", "parallel", "parallel"]
// CHECK-SAME:      ins(%[[XG]], %[[R]], %[[WG]] : tensor<2x3x2x4xbf16>, tensor<2x3x2xf32>, tensor<2x4xbf16>)
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK:           arith.extf %{{.*}} : bf16 to f32
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK:         tensor.collapse_shape %[[Y]] {{\[}}[0], [1], [2, 3]] : tensor<2x3x2x4xbf16> into tensor<2x3x8xbf16>
// CHECK-NOT:     gecko.
func.func @rms_norm_bf16(%x: tensor<2x3x8xbf16>, %w: tensor<8xbf16>) -> tensor<2x3x8xbf16> {
  %y = gecko.rms_norm %x weight(%w) groups(2) eps(1.0e-05) : tensor<2x3x8xbf16>, tensor<8xbf16>
  return %y : tensor<2x3x8xbf16>
}

// -----

// layer_norm: two reductions (Σ x, then Σ (x - mean)²), dynamic leading
// dimensions through tensor.dim.
// CHECK-LABEL: func.func @layer_norm_dynamic
// CHECK:         tensor.dim %{{.*}}, %{{.*}} : tensor<?x8xf32>
// CHECK:         %[[XG:.+]] = tensor.expand_shape {{.*}} into tensor<?x2x4xf32>
// CHECK:         %[[SUM:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:         %[[MEAN:.+]] = linalg.generic {{.*}}ins(%[[SUM]]
// CHECK:           arith.divf
// CHECK:         %[[SQ:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME:      ins(%[[XG]], %[[MEAN]] : tensor<?x2x4xf32>, tensor<?x2xf32>)
// CHECK:           arith.subf
// CHECK:         %[[R:.+]] = linalg.generic {{.*}}ins(%[[SQ]]
// CHECK:           math.rsqrt
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME:      ins(%[[XG]], %[[R]], %[[MEAN]], %{{.*}}, %{{.*}} :
// CHECK:         tensor.collapse_shape
// CHECK-NOT:     gecko.
func.func @layer_norm_dynamic(%x: tensor<?x8xf32>, %w: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %y = gecko.layer_norm %x weight(%w) bias(%b) groups(2) eps(1.0e-05) : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// timestep_decay_norm, f32: token statistics as reductions, then a scalar
// scan per batch row for the count and the bias corrections, with beta^n as
// the reference's fp32 running product (constant tables of every 256th
// power, then replayed products), then the EMA scan over (b, g, t) with the
// state in f64, then one elementwise generic.
// CHECK-LABEL: func.func @tdn_f32
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK:         arith.extf %{{.*}} : f32 to f64
// CHECK:         scf.for {{.*}} -> (tensor<2x5xf32>, tensor<2x5xf32>, tensor<2xi64>)
// CHECK:           tensor.extract %{{.*}} : tensor<2xi64>
// CHECK:           arith.constant dense<{{.*}}> : tensor<69xf32>
// CHECK:           scf.for {{.*}} -> (f32)
// CHECK:             arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK:           arith.constant dense<{{.*}}> : tensor<678xf32>
// CHECK:           scf.for {{.*}} -> (f32)
// CHECK:           scf.for {{.*}} -> (i64, tensor<2x5xf32>, tensor<2x5xf32>, f32, f32)
// CHECK:             tensor.extract %{{.*}} : tensor<2x5xi1>
// CHECK:             arith.select
// CHECK:             arith.subf %{{.*}}, %{{.*}} : f32
// CHECK:         scf.for {{.*}} -> (tensor<2x2xf64>, tensor<2x2xf64>, tensor<2x5x2xf32>, tensor<2x5x2xf32>)
// CHECK:           scf.for
// CHECK:             scf.for {{.*}} -> (f64, f64, tensor<2x5x2xf32>, tensor<2x5x2xf32>)
// CHECK:               arith.select %{{.*}}, %{{.*}}, %{{.*}} : f64
// CHECK:               arith.truncf %{{.*}} : f64 to f32
// CHECK:               math.rsqrt %{{.*}} : f32
// CHECK:               tensor.insert
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel"]
// CHECK:         tensor.collapse_shape
// CHECK:         arith.truncf %{{.*}} : f64 to f32
// CHECK-NOT:     gecko.
func.func @tdn_f32(%x: tensor<2x5x8xf32>, %w: tensor<8xf32>, %b: tensor<8xf32>, %bos: tensor<2x5xi1>, %n0: tensor<2xi64>, %m0: tensor<2x2xf32>, %v0: tensor<2x2xf32>) -> (tensor<2x5x8xf32>, tensor<2xi64>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %y, %n, %m, %v = gecko.timestep_decay_norm %x weight(%w) bias(%b) bos(%bos) state(%n0, %m0, %v0) groups(2) betas(0.999, 0.9999) eps(1.0e-05)
    : tensor<2x5x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<2x5xi1>, tensor<2xi64>, tensor<2x2xf32>, tensor<2x2xf32>
  return %y, %n, %m, %v : tensor<2x5x8xf32>, tensor<2xi64>, tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

// timestep_decay_norm, f64, no bos and no state: exact powers (math.powf),
// no tables; the count starts at 0 and the state at zeros.
// CHECK-LABEL: func.func @tdn_f64
// CHECK-NOT:     tensor<69xf32>
// CHECK:         linalg.fill ins(%{{.*}} : i64) outs(%{{.*}} : tensor<2xi64>)
// CHECK:         scf.for {{.*}} -> (tensor<2x3xf64>, tensor<2x3xf64>, tensor<2xi64>)
// CHECK:           scf.for {{.*}} -> (i64, tensor<2x3xf64>, tensor<2x3xf64>)
// CHECK:             math.powf %{{.*}}, %{{.*}} : f64
// CHECK:             math.powf %{{.*}}, %{{.*}} : f64
// CHECK-NOT:     gecko.
func.func @tdn_f64(%x: tensor<2x3x4xf64>, %w: tensor<4xf64>, %b: tensor<4xf64>) -> (tensor<2x3x4xf64>, tensor<2xi64>, tensor<2x1xf64>, tensor<2x1xf64>) {
  %y, %n, %m, %v = gecko.timestep_decay_norm %x weight(%w) bias(%b) groups(1) betas(0.999, 0.9999) eps(1.0e-05)
    : tensor<2x3x4xf64>, tensor<4xf64>, tensor<4xf64>
  return %y, %n, %m, %v : tensor<2x3x4xf64>, tensor<2xi64>, tensor<2x1xf64>, tensor<2x1xf64>
}

// -----

// timestep_norm: no count scan (n_t = n0 + t + 1), prior variance 1, the
// Chan merge in f64 with c = 1 / n_t, and count_out = n0 + L.
// CHECK-LABEL: func.func @timestep_norm_f32
// CHECK-DAG:     %[[ONE:.+]] = arith.constant 1.000000e+00 : f64
// CHECK:         linalg.fill ins(%[[ONE]] : f64) outs(%{{.*}} : tensor<2x2xf64>)
// CHECK:         scf.for {{.*}} -> (tensor<2x2xf64>, tensor<2x2xf64>, tensor<2x5x2xf32>, tensor<2x5x2xf32>)
// CHECK:           tensor.extract %{{.*}} : tensor<2xi64>
// CHECK:           scf.for
// CHECK:             scf.for {{.*}} -> (f64, f64, tensor<2x5x2xf32>, tensor<2x5x2xf32>)
// CHECK:               arith.sitofp %{{.*}} : i64 to f64
// CHECK:               arith.divf %{{.*}}, %{{.*}} : f64
// CHECK:               math.rsqrt %{{.*}} : f32
// CHECK:         linalg.generic
// CHECK:           arith.addi %{{.*}}, %{{.*}} : i64
// CHECK-NOT:     gecko.
func.func @timestep_norm_f32(%x: tensor<2x5x8xf32>, %w: tensor<8xf32>, %b: tensor<8xf32>) -> (tensor<2x5x8xf32>, tensor<2xi64>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %y, %n, %m, %v = gecko.timestep_norm %x weight(%w) bias(%b) groups(2) eps(1.0e-05)
    : tensor<2x5x8xf32>, tensor<8xf32>, tensor<8xf32>
  return %y, %n, %m, %v : tensor<2x5x8xf32>, tensor<2xi64>, tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

// rms_norm_grad, bf16: rstd as in the forward, Σ dy s x over the group (f32),
// dx in one elementwise generic, dweight as a reduction over every leading
// dimension into the [groups, channels] view, rounded to bf16.
// CHECK-LABEL: func.func @rms_norm_grad_bf16
// CHECK:         %[[XG:.+]] = tensor.expand_shape %arg1 {{\[}}[0], [1], [2, 3]] output_shape [2, 3, 2, 4]
// CHECK:         %[[DYG:.+]] = tensor.expand_shape %arg0 {{\[}}[0], [1], [2, 3]] output_shape [2, 3, 2, 4]
// CHECK:         %[[WG:.+]] = tensor.expand_shape %arg2
// CHECK:         %[[SS:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME:      ins(%[[XG]] : tensor<2x3x2x4xbf16>) outs(%{{.*}} : tensor<2x3x2xf32>)
// CHECK:         %[[R:.+]] = linalg.generic {{.*}}ins(%[[SS]] : tensor<2x3x2xf32>)
// CHECK:           math.rsqrt
// CHECK:         %[[DOT:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME:      ins(%[[DYG]], %[[XG]], %[[WG]] : tensor<2x3x2x4xbf16>, tensor<2x3x2x4xbf16>, tensor<2x4xbf16>) outs(%{{.*}} : tensor<2x3x2xf32>)
// CHECK:         %[[DX:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel"]
// CHECK-SAME:      ins(%[[DYG]], %[[XG]], %[[R]], %[[DOT]], %[[WG]] :
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK:         tensor.collapse_shape %[[DX]] {{\[}}[0], [1], [2, 3]] : tensor<2x3x2x4xbf16> into tensor<2x3x8xbf16>
// CHECK:         %[[DW:.+]] = linalg.generic {{.*}}iterator_types = ["reduction", "reduction", "parallel", "parallel"]
// CHECK-SAME:      ins(%[[DYG]], %[[XG]], %[[R]] : {{.*}}) outs(%{{.*}} : tensor<2x4xf32>)
// CHECK:         %[[DWB:.+]] = linalg.generic {{.*}}ins(%[[DW]] : tensor<2x4xf32>) outs(%{{.*}} : tensor<2x4xbf16>)
// CHECK:         tensor.collapse_shape %[[DWB]] {{\[}}[0, 1]] : tensor<2x4xbf16> into tensor<8xbf16>
// CHECK-NOT:     gecko.
func.func @rms_norm_grad_bf16(%dy: tensor<2x3x8xbf16>, %x: tensor<2x3x8xbf16>, %w: tensor<8xbf16>) -> (tensor<2x3x8xbf16>, tensor<8xbf16>) {
  %dx, %dw = gecko.rms_norm_grad %dy, %x weight(%w) groups(2) eps(1.0e-05) : tensor<2x3x8xbf16>, tensor<2x3x8xbf16>, tensor<8xbf16>
  return %dx, %dw : tensor<2x3x8xbf16>, tensor<8xbf16>
}

// -----

// layer_norm_grad, dynamic leading dimension, no weight, with_bias: the
// forward's mean and rstd, then Σ dy and Σ dy x̂ per group, dx elementwise,
// and dbias = Σ dy over the leading dimension (f64 throughout).
// CHECK-LABEL: func.func @layer_norm_grad_dynamic
// CHECK:         %[[XG:.+]] = tensor.expand_shape {{.*}} into tensor<?x2x4xf64>
// CHECK:         %[[DYG:.+]] = tensor.expand_shape {{.*}} into tensor<?x2x4xf64>
// CHECK:         %[[SUM:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:         %[[MEAN:.+]] = linalg.generic {{.*}}ins(%[[SUM]]
// CHECK:         %[[SQ:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:         %[[R:.+]] = linalg.generic {{.*}}ins(%[[SQ]]
// CHECK:           math.rsqrt
// CHECK:         %[[A:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME:      ins(%[[DYG]], %[[XG]], %[[MEAN]], %[[R]] : tensor<?x2x4xf64>, tensor<?x2x4xf64>, tensor<?x2xf64>, tensor<?x2xf64>) outs(%{{.*}} : tensor<?x2xf64>)
// CHECK:         %[[B:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:         %[[DX:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME:      ins(%[[A]], %[[B]], %[[DYG]], %[[XG]], %[[MEAN]], %[[R]] :
// CHECK:         tensor.collapse_shape %[[DX]]
// CHECK:         %[[DB:.+]] = linalg.generic {{.*}}iterator_types = ["reduction", "parallel", "parallel"]
// CHECK-SAME:      ins(%[[DYG]] : tensor<?x2x4xf64>) outs(%{{.*}} : tensor<2x4xf64>)
// CHECK-NOT:     gecko.
func.func @layer_norm_grad_dynamic(%dy: tensor<?x8xf64>, %x: tensor<?x8xf64>) -> (tensor<?x8xf64>, tensor<8xf64>) {
  %dx, %db = gecko.layer_norm_grad %dy, %x with_bias groups(2) eps(1.0e-05) : tensor<?x8xf64>, tensor<?x8xf64>
  return %dx, %db : tensor<?x8xf64>, tensor<8xf64>
}

// -----

// timestep_decay_norm_grad, f32, bos, state and dstate: the recomputed
// forward (the count scan now also writes 1 - exp(n ln beta) in f64, the
// backward's corrections; the forward scan writes m̂ and r), ds_t and dc_t
// as reductions, the adjoint recurrence as a reverse scan over
// (b, g, t = L-1 .. 0) in f64 starting from dstate with bos cutting the
// adjoint, then dx, dweight and dbias, and dmean_in, dvar_in rounded to f32.
// CHECK-LABEL: func.func @tdn_grad_f32
// CHECK:         %[[XG:.+]] = tensor.expand_shape %arg1
// CHECK:         %[[CORR:.+]]:5 = scf.for {{.*}} -> (tensor<2x5xf32>, tensor<2x5xf32>, tensor<2x5xf64>, tensor<2x5xf64>, tensor<2xi64>)
// CHECK:           scf.for {{.*}} -> (i64, tensor<2x5xf32>, tensor<2x5xf32>, tensor<2x5xf64>, tensor<2x5xf64>, f32, f32)
// CHECK:             arith.constant -0.0010004874460928543 : f64
// CHECK:             math.exp %{{.*}} : f64
// CHECK:             math.exp %{{.*}} : f64
// CHECK:         %[[FWD:.+]]:4 = scf.for {{.*}} -> (tensor<2x2xf64>, tensor<2x2xf64>, tensor<2x5x2xf32>, tensor<2x5x2xf32>)
// CHECK:               math.rsqrt %{{.*}} : f32
// CHECK:         %[[DYG:.+]] = tensor.expand_shape %arg0
// CHECK:         %[[DS:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME:      ins(%[[DYG]], %[[XG]], %{{.*}}, %[[FWD]]#2 :
// CHECK:         %[[DC:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK:         %[[DM:.+]] = linalg.generic {{.*}}ins(%arg7 : tensor<2x2xf32>) outs(%{{.*}} : tensor<2x2xf64>)
// CHECK:         %[[DV:.+]] = linalg.generic {{.*}}ins(%arg8 : tensor<2x2xf32>) outs(%{{.*}} : tensor<2x2xf64>)
// CHECK:         %[[BWD:.+]]:4 = scf.for {{.*}} -> (tensor<2x2xf64>, tensor<2x2xf64>, tensor<2x5x2xf32>, tensor<2x5x2xf32>)
// CHECK:           scf.for
// CHECK:             tensor.extract %[[DM]]
// CHECK:             tensor.extract %[[DV]]
// CHECK:             scf.for {{.*}} -> (f64, f64, tensor<2x5x2xf32>, tensor<2x5x2xf32>)
// CHECK:               %[[T:.+]] = arith.subi
// CHECK:               tensor.extract %[[FWD]]#3[%{{.*}}, %[[T]], %{{.*}}] : tensor<2x5x2xf32>
// CHECK:               tensor.extract %[[DC]][%{{.*}}, %[[T]], %{{.*}}]
// CHECK:               tensor.extract %[[DS]][%{{.*}}, %[[T]], %{{.*}}]
// CHECK:               tensor.extract %[[CORR]]#2[%{{.*}}, %[[T]]] : tensor<2x5xf64>
// CHECK:               tensor.extract %[[CORR]]#3[%{{.*}}, %[[T]]] : tensor<2x5xf64>
// CHECK:               tensor.extract %arg3[%{{.*}}, %[[T]]] : tensor<2x5xi1>
// CHECK:               arith.select %{{.*}}, %{{.*}}, %{{.*}} : f64
// CHECK:               arith.truncf %{{.*}} : f64 to f32
// CHECK:               tensor.insert %{{.*}}[%{{.*}}, %[[T]], %{{.*}}] : tensor<2x5x2xf32>
// CHECK:         %[[DX:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel"]
// CHECK-SAME:      ins(%[[DYG]], %[[XG]], %{{.*}}, %[[FWD]]#3, %{{.*}}, %[[BWD]]#2, %[[BWD]]#3 :
// CHECK:         linalg.generic {{.*}}iterator_types = ["reduction", "reduction", "parallel", "parallel"]
// CHECK-SAME:      ins(%[[DYG]], %[[XG]], %[[FWD]]#2, %[[FWD]]#3 :
// CHECK:         linalg.generic {{.*}}iterator_types = ["reduction", "reduction", "parallel", "parallel"]
// CHECK-SAME:      ins(%[[DYG]] :
// CHECK:         linalg.generic {{.*}}ins(%[[BWD]]#0 : tensor<2x2xf64>) outs(%{{.*}} : tensor<2x2xf32>)
// CHECK:         linalg.generic {{.*}}ins(%[[BWD]]#1 : tensor<2x2xf64>) outs(%{{.*}} : tensor<2x2xf32>)
// CHECK-NOT:     gecko.
func.func @tdn_grad_f32(%dy: tensor<2x5x8xf32>, %x: tensor<2x5x8xf32>, %w: tensor<8xf32>, %bos: tensor<2x5xi1>, %n0: tensor<2xi64>, %m0: tensor<2x2xf32>, %v0: tensor<2x2xf32>, %dm: tensor<2x2xf32>, %dv: tensor<2x2xf32>) -> (tensor<2x5x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %dx, %dw, %db, %dm0, %dv0 = gecko.timestep_decay_norm_grad %dy, %x weight(%w) bos(%bos) state(%n0, %m0, %v0) dstate(%dm, %dv) groups(2) betas(0.999, 0.9999) eps(1.0e-05)
    : tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<8xf32>, tensor<2x5xi1>, tensor<2xi64>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>
  return %dx, %dw, %db, %dm0, %dv0 : tensor<2x5x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

// timestep_norm_grad, f64, no state and no dstate: the adjoints start at
// zero, the reverse scan reads m_{t-1} from the forward's means (the
// incoming mean at t = 0, through a clamped index), and only dx, dweight and
// dbias are returned.
// CHECK-LABEL: func.func @timestep_norm_grad_f64
// CHECK:         %[[FWD:.+]]:4 = scf.for {{.*}} -> (tensor<2x2xf64>, tensor<2x2xf64>, tensor<2x5x2xf64>, tensor<2x5x2xf64>)
// CHECK:         %[[ZERO:.+]] = linalg.fill ins(%{{.*}} : f64) outs(%{{.*}} : tensor<2x2xf64>)
// CHECK:         scf.for {{.*}} -> (tensor<2x2xf64>, tensor<2x2xf64>, tensor<2x5x2xf64>, tensor<2x5x2xf64>)
// CHECK:           scf.for
// CHECK:             tensor.extract %[[ZERO]]
// CHECK:             scf.for {{.*}} -> (f64, f64, tensor<2x5x2xf64>, tensor<2x5x2xf64>)
// CHECK:               %[[T:.+]] = arith.subi
// CHECK:               arith.sitofp %{{.*}} : i64 to f64
// CHECK:               %[[FIRST:.+]] = arith.cmpi eq, %[[T]]
// CHECK:               %[[PREV:.+]] = arith.select %[[FIRST]]
// CHECK:               tensor.extract %[[FWD]]#2[%{{.*}}, %[[PREV]], %{{.*}}]
// CHECK:               arith.select %[[FIRST]], %{{.*}}, %{{.*}} : f64
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel"]
// CHECK:         linalg.generic {{.*}}iterator_types = ["reduction", "reduction", "parallel", "parallel"]
// CHECK:         linalg.generic {{.*}}iterator_types = ["reduction", "reduction", "parallel", "parallel"]
// CHECK:         return {{.*}} : tensor<2x5x8xf64>, tensor<8xf64>, tensor<8xf64>
// CHECK-NOT:     gecko.
func.func @timestep_norm_grad_f64(%dy: tensor<2x5x8xf64>, %x: tensor<2x5x8xf64>, %w: tensor<8xf64>) -> (tensor<2x5x8xf64>, tensor<8xf64>, tensor<8xf64>) {
  %dx, %dw, %db = gecko.timestep_norm_grad %dy, %x weight(%w) groups(2) eps(1.0e-05)
    : tensor<2x5x8xf64>, tensor<2x5x8xf64>, tensor<8xf64>
  return %dx, %dw, %db : tensor<2x5x8xf64>, tensor<8xf64>, tensor<8xf64>
}
