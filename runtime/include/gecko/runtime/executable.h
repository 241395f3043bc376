//===- executable.h - A verified, loaded .gkm artifact ----------*- C++ -*-===//
//
// An Executable is a .gkm artifact whose container and plan have been
// verified and whose code section has been loaded into the process (CPU
// target: an ELF shared object, dlopen'ed from a memfd). run() binds tensors
// by their plan names, checks every shape, dtype and declared value range,
// allocates the results and the workspace, and calls the kernel entry.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_RUNTIME_EXECUTABLE_H
#define GECKO_RUNTIME_EXECUTABLE_H

#include "gecko/abi/artifact_format.h"
#include "gecko/abi/kernel_abi.h"
#include "gecko/runtime/host_tensor.h"
#include "gecko/runtime/status.h"

#include <memory>
#include <string>
#include <vector>

namespace gecko {

/// Measurements of one run() call.
struct RunStats {
  double kernelSeconds = 0; ///< Wall time of the entry call alone.
  double totalSeconds = 0;  ///< Binding checks, allocation and the call.
};

class Executable {
public:
  ~Executable();
  Executable(const Executable &) = delete;
  Executable &operator=(const Executable &) = delete;

  /// Reads and verifies `path` (parseArtifact), then loads its code:
  /// checks the ELF header against the host (class, byte order, machine,
  /// shared object), dlopen()s it and resolves every function's entry.
  static StatusOr<std::unique_ptr<Executable>> load(const std::string &path);
  /// The same from an in-memory image; `source` appears in messages.
  static StatusOr<std::unique_ptr<Executable>>
  loadFromBytes(const std::vector<uint8_t> &bytes, const std::string &source);

  const std::string &source() const { return source_; }
  const ArtifactHeader &header() const { return header_; }
  const ArtifactPlan &plan() const { return plan_; }
  const std::vector<FunctionPlan> &functions() const { return plan_.functions; }
  /// NotFound (listing the functions there are) when absent.
  StatusOr<const FunctionPlan *> function(const std::string &name) const;

  /// Checks the bindings of `function` without running it: every param and
  /// state arg must be in `params` and every input arg in `inputs`, with the
  /// plan's dtype and shape, and integer args inside their declared range.
  /// Tensors the plan does not mention are ignored. All problems are reported
  /// in one InvalidArgument, one line per tensor.
  Status checkBindings(const FunctionPlan &function, const TensorMap &params,
                       const TensorMap &inputs) const;

  /// checkBindings(), then allocates every result (zero-filled) and the
  /// workspace, calls the entry once and returns the results by plan name.
  StatusOr<TensorMap> run(const std::string &function, const TensorMap &params,
                          const TensorMap &inputs,
                          RunStats *stats = nullptr) const;

private:
  Executable() = default;
  Status loadCode(const std::vector<uint8_t> &code);

  std::string source_;
  ArtifactHeader header_;
  ArtifactPlan plan_;
  std::vector<gecko_kernel_entry_fn> entries_; ///< Parallel to functions.
  void *handle_ = nullptr;                     ///< dlopen handle.
  std::vector<int> fds_;                       ///< memfds kept open.
};

} // namespace gecko

#endif // GECKO_RUNTIME_EXECUTABLE_H
