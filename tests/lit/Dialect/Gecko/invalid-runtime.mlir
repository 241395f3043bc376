// RUN: gecko-opt %s -split-input-file -verify-diagnostics

// The constraints of gecko.ready_signal (docs/dialect.md#runtime-ops).

func.func @ready_signal_negative_id() {
  // expected-error @+1 {{id must be >= 0, got -1}}
  gecko.ready_signal -1 ["grad.a"]
  return
}

// -----

func.func @ready_signal_no_tensor() {
  // expected-error @+1 {{must name at least one tensor}}
  gecko.ready_signal 0 []
  return
}

// -----

func.func @ready_signal_twice() {
  // expected-error @+1 {{names tensor 'grad.a' twice}}
  gecko.ready_signal 0 ["grad.a", "grad.a"]
  return
}

// -----

func.func @ready_signal_nested(%c: i1) {
  scf.if %c {
    // expected-error @+1 {{must be a top-level op of a function body, not nested in 'scf.if'}}
    gecko.ready_signal 0 ["grad.a"]
  }
  return
}
