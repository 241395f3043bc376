//===- CpuJit.h - Run gecko IR on the host CPU in tests ---------*- C++ -*-===//
//
// Compiles a gecko module with the real CPU pipeline (buildCpuLoweringPipeline)
// and runs one of its functions through the kernel-ABI entry wrapper, exactly
// as an artifact's code is called by the runtime, but JIT-compiled in
// process. Lowering tests use it to compare compiled ops with the fp64 oracle.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_TESTS_UNIT_COMPILER_CPUJIT_H
#define GECKO_TESTS_UNIT_COMPILER_CPUJIT_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gecko::testing {

/// A dense row-major host buffer: "f32", "f64", "bf16", "f16", "i64", "i32"
/// or "i1" (one byte per element). Values are converted through double.
struct JitBuffer {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<double> values; // numElements() entries

  int64_t numElements() const;
  static JitBuffer f32(std::vector<int64_t> shape, std::vector<double> v);
  static JitBuffer f64(std::vector<int64_t> shape, std::vector<double> v);
  static JitBuffer i64(std::vector<int64_t> shape, std::vector<double> v);
  static JitBuffer i1(std::vector<int64_t> shape, std::vector<double> v);
};

/// How CpuJit::compile lowers a module.
struct CpuJitOptions {
  /// Run gecko-plan-memory (the CPU pipeline's default). When false, the
  /// pass is dropped from the pipeline and every temporary is malloc'ed, to
  /// compare planned code against unplanned code.
  bool planMemory = true;
  /// Run gecko-fuse-elementwise (the CPU pipeline's default). When
  /// false, the pass is dropped, to check that lowerings are correct with
  /// and without fusion (fusion changes how bufferization assigns buffers).
  bool fuseElementwise = true;
};

/// A compiled module. Not copyable; owns the MLIR context and JIT engine.
class CpuJit {
public:
  ~CpuJit();
  CpuJit(const CpuJit &) = delete;
  CpuJit &operator=(const CpuJit &) = delete;

  /// Parses `source` (gecko IR; every public function has statically shaped
  /// tensor arguments and results), runs the CPU pipeline and JIT-compiles
  /// it. On failure returns null and sets `error` to the diagnostics.
  static std::unique_ptr<CpuJit> compile(const std::string &source,
                                         std::string &error,
                                         const CpuJitOptions &options = {});

  /// Calls `function` with `args` (dtype and shape must match the
  /// signature) and returns its results, converted to double. On failure
  /// returns false and sets `error`.
  bool run(const std::string &function, const std::vector<JitBuffer> &args,
           std::vector<JitBuffer> &results, std::string &error);

  /// The workspace size gecko-plan-memory gave `function` (0: none, or no
  /// such function). run() allocates it and passes it as the kernel ABI's
  /// trailing workspace pointer.
  int64_t workspaceBytes(const std::string &function) const;

  /// The lowered LLVM-dialect module, for debugging failures.
  std::string loweredModule() const;

  struct Impl;

private:
  explicit CpuJit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

/// Convenience for tests: compile + run, failing with a message on error.
/// Returns the results or an empty vector (and sets `error`).
std::vector<JitBuffer> compileAndRun(const std::string &source,
                                     const std::string &function,
                                     const std::vector<JitBuffer> &args,
                                     std::string &error);

} // namespace gecko::testing

#endif // GECKO_TESTS_UNIT_COMPILER_CPUJIT_H
