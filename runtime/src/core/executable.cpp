//===- executable.cpp - Load and run .gkm artifacts on the CPU ------------===//
//
// This file loads a verified artifact's code section into the process and
// calls its kernels through kernel ABI v1. The code is an ELF shared object
// written to a memfd (or, where memfd_create is unavailable, an unlinked
// temporary file) and dlopen'ed from /proc/self/fd/N; its ELF header is
// checked against the host first so a foreign artifact gives a clear error.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/executable.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace gecko {

namespace {

std::string quote(const std::string &s) { return "'" + s + "'"; }

std::string errnoText() { return std::strerror(errno); }

#if defined(__x86_64__)
constexpr uint16_t kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr uint16_t kHostMachine = EM_AARCH64;
#elif defined(__powerpc64__)
constexpr uint16_t kHostMachine = EM_PPC64;
#else
#error "unsupported host architecture for the CPU executor"
#endif

std::string machineName(uint16_t m) {
  switch (m) {
  case EM_X86_64:
    return "x86_64";
  case EM_AARCH64:
    return "aarch64";
  case EM_386:
    return "i386";
  case EM_ARM:
    return "arm";
  case EM_PPC64:
    return "ppc64";
  case EM_RISCV:
    return "riscv";
  default:
    return "machine " + std::to_string(m);
  }
}

/// Checks that `code` is a 64-bit little-endian ELF shared object for this
/// host's machine.
Status checkElf(const std::vector<uint8_t> &code, const std::string &source) {
  std::string what = source + ": code section";
  if (code.size() < sizeof(Elf64_Ehdr) ||
      std::memcmp(code.data(), ELFMAG, SELFMAG) != 0)
    return invalidArgument(what + " is not an ELF file");
  Elf64_Ehdr eh;
  std::memcpy(&eh, code.data(), sizeof(eh));
  if (eh.e_ident[EI_CLASS] != ELFCLASS64)
    return failedPrecondition(what + " is a 32-bit ELF; this host loads "
                                     "64-bit shared objects");
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
    return failedPrecondition(what + " is a big-endian ELF; this host is "
                                     "little-endian");
  if (eh.e_machine != kHostMachine)
    return failedPrecondition(
        what + " was compiled for " + machineName(eh.e_machine) +
        ", but this host is " + machineName(kHostMachine) +
        "; recompile the model for this host's triple");
  if (eh.e_type != ET_DYN)
    return failedPrecondition(what + " is not an ELF shared object (e_type " +
                              std::to_string(eh.e_type) + ")");
  return Status::ok();
}

Status writeAllFd(int fd, const std::vector<uint8_t> &bytes,
                  const std::string &what) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return unavailable(what + ": write failed: " + errnoText());
    done += size_t(n);
  }
  return Status::ok();
}

/// Checks every element of integer tensor `t` against [lo, hi); describes the
/// first offender.
bool findOutOfRange(const HostTensor &t, const ValueRange &r,
                    std::string &problem) {
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t v = t.elementAsInt64(i);
    if (v >= r.lo && v < r.hi)
      continue;
    // The multi-dimensional index of flat element i.
    std::vector<int64_t> index(t.shape().size());
    int64_t rest = i;
    for (size_t d = index.size(); d-- > 0;) {
      index[d] = t.shape()[d] == 0 ? 0 : rest % t.shape()[d];
      rest = t.shape()[d] == 0 ? 0 : rest / t.shape()[d];
    }
    problem = "element " + shapeToString(index) + " (flat " +
              std::to_string(i) + ") is " + std::to_string(v) +
              ", outside the allowed range [" + std::to_string(r.lo) + ", " +
              std::to_string(r.hi) + ")";
    return true;
  }
  return false;
}

} // namespace

Executable::~Executable() {
  if (handle_)
    ::dlclose(handle_);
  for (int fd : fds_)
    ::close(fd);
}

StatusOr<std::unique_ptr<Executable>>
Executable::load(const std::string &path) {
  GECKO_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, readFileBytes(path));
  return loadFromBytes(bytes, path);
}

StatusOr<std::unique_ptr<Executable>>
Executable::loadFromBytes(const std::vector<uint8_t> &bytes,
                          const std::string &source) {
  GECKO_ASSIGN_OR_RETURN(ParsedArtifact parsed, parseArtifact(bytes, source));
  std::unique_ptr<Executable> exe(new Executable());
  exe->source_ = source;
  exe->header_ = parsed.header;
  exe->plan_ = std::move(parsed.plan);
  if (exe->plan_.target.kind != "cpu")
    return unimplemented(source + ": target kind " +
                         quote(exe->plan_.target.kind) +
                         " is not supported by the CPU executor");
  GECKO_RETURN_IF_ERROR(checkElf(parsed.code, source));
  GECKO_RETURN_IF_ERROR(exe->loadCode(parsed.code));
  return exe;
}

Status Executable::loadCode(const std::vector<uint8_t> &code) {
  std::string what = source_ + ": code section";
  std::string path;
  std::string tmpPath; // Set when falling back to a temporary file.
  int fd = ::memfd_create("gecko-artifact", MFD_CLOEXEC);
  if (fd >= 0) {
    fds_.push_back(fd);
    GECKO_RETURN_IF_ERROR(writeAllFd(fd, code, what));
    // glibc recognizes an already-loaded object by its path name: if a
    // library loaded earlier from the same /proc/self/fd/N is still mapped,
    // move to a fresh descriptor number. The memfd stays open for the
    // lifetime of the Executable so live artifacts never share a name.
    for (int attempt = 0;; ++attempt) {
      path = "/proc/self/fd/" + std::to_string(fd);
      void *existing = ::dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
      if (!existing)
        break;
      ::dlclose(existing);
      if (attempt == 64)
        return internalError(what + ": no unused descriptor to load from");
      int next = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (next < 0)
        return unavailable(what + ": dup failed: " + errnoText());
      fds_.push_back(next);
      fd = next;
    }
  } else {
    const char *dir = std::getenv("TMPDIR");
    tmpPath = std::string(dir && *dir ? dir : "/tmp") + "/gecko-code-XXXXXX";
    std::vector<char> buf(tmpPath.begin(), tmpPath.end());
    buf.push_back('\0');
    int tfd = ::mkstemp(buf.data());
    if (tfd < 0)
      return unavailable(what + ": cannot create a temporary file in " +
                         tmpPath + ": " + errnoText());
    tmpPath = buf.data();
    Status s = writeAllFd(tfd, code, what);
    ::close(tfd);
    if (!s.isOk()) {
      ::unlink(tmpPath.c_str());
      return s;
    }
    path = tmpPath;
  }
  ::dlerror();
  handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!tmpPath.empty())
    ::unlink(tmpPath.c_str());
  if (!handle_) {
    const char *err = ::dlerror();
    return failedPrecondition(what + ": cannot load the shared object: " +
                              (err ? err : "unknown dlopen error"));
  }

  // The optional ABI marker must agree with the header.
  if (void *sym = ::dlsym(handle_, GECKO_KERNEL_ABI_VERSION_SYMBOL)) {
    unsigned v;
    std::memcpy(&v, sym, sizeof(v));
    if (v != GECKO_KERNEL_ABI_VERSION)
      return failedPrecondition(what + " was compiled for kernel ABI version " +
                                std::to_string(v) + ", this runtime calls " +
                                std::to_string(GECKO_KERNEL_ABI_VERSION));
  }
  std::string missing;
  for (const FunctionPlan &f : plan_.functions) {
    ::dlerror();
    void *sym = ::dlsym(handle_, f.entry.c_str());
    if (!sym) {
      missing += (missing.empty() ? "" : ", ") + quote(f.entry) +
                 " (function " + quote(f.name) + ")";
      entries_.push_back(nullptr);
      continue;
    }
    gecko_kernel_entry_fn fn;
    static_assert(sizeof(fn) == sizeof(sym), "function pointer size");
    std::memcpy(&fn, &sym, sizeof(fn));
    entries_.push_back(fn);
  }
  if (!missing.empty())
    return notFound(what + " does not export the entry symbol(s) " + missing);
  return Status::ok();
}

StatusOr<const FunctionPlan *>
Executable::function(const std::string &name) const {
  if (const FunctionPlan *f = plan_.findFunction(name))
    return f;
  std::string names;
  for (const FunctionPlan &f : plan_.functions)
    names += (names.empty() ? "" : ", ") + quote(f.name);
  return notFound(source_ + ": no function " + quote(name) +
                  " (the artifact has " + names + ")");
}

Status Executable::checkBindings(const FunctionPlan &function,
                                 const TensorMap &params,
                                 const TensorMap &inputs) const {
  std::vector<std::string> problems;
  for (const ArgSpec &arg : function.args) {
    // Params and state come from the weights map (a checkpoint holds both).
    const TensorMap &from = arg.kind == ArgKind::kInput ? inputs : params;
    std::string what =
        std::string(argKindName(arg.kind)) + " " + quote(arg.name);
    auto it = from.find(arg.name);
    if (it == from.end()) {
      problems.push_back("missing " + what + " (" + elementTypeName(arg.dtype) +
                         " " + shapeToString(arg.shape) + ")");
      continue;
    }
    const HostTensor &t = it->second;
    bool ok = true;
    if (t.dtype() != arg.dtype) {
      problems.push_back(what + " has dtype " + elementTypeName(t.dtype()) +
                         ", expected " + elementTypeName(arg.dtype));
      ok = false;
    }
    if (t.shape() != arg.shape) {
      problems.push_back(what + " has shape " + shapeToString(t.shape()) +
                         ", expected " + shapeToString(arg.shape));
      ok = false;
    }
    std::string problem;
    if (ok && arg.range && findOutOfRange(t, *arg.range, problem))
      problems.push_back(what + ": " + problem);
  }
  if (problems.empty())
    return Status::ok();
  std::string msg = source_ + ": function " + quote(function.name) + ": " +
                    std::to_string(problems.size()) + " binding problem" +
                    (problems.size() == 1 ? "" : "s") + ":";
  for (const std::string &p : problems)
    msg += "\n  " + p;
  return invalidArgument(msg);
}

StatusOr<TensorMap> Executable::run(const std::string &functionName,
                                    const TensorMap &params,
                                    const TensorMap &inputs,
                                    RunStats *stats) const {
  using Clock = std::chrono::steady_clock;
  Clock::time_point start = Clock::now();
  GECKO_ASSIGN_OR_RETURN(const FunctionPlan *f, function(functionName));
  GECKO_RETURN_IF_ERROR(checkBindings(*f, params, inputs));
  size_t index = size_t(f - plan_.functions.data());
  gecko_kernel_entry_fn entry = entries_[index];
  if (!entry)
    return internalError(source_ + ": function " + quote(f->name) +
                         " has no resolved entry");

  std::vector<void *> args;
  args.reserve(f->args.size() + f->results.size() + 1);
  for (const ArgSpec &arg : f->args) {
    const TensorMap &from = arg.kind == ArgKind::kInput ? inputs : params;
    // Kernels only read their arguments (kernel_abi.h).
    args.push_back(const_cast<void *>(from.find(arg.name)->second.data()));
  }
  std::vector<HostTensor> results;
  for (const TensorSpec &r : f->results) {
    StatusOr<HostTensor> t = HostTensor::zeros(r.dtype, r.shape);
    if (!t.isOk())
      return t.status().withContext(source_ + ": result " + quote(r.name));
    args.push_back(t->data());
    results.push_back(std::move(t).value());
  }
  struct FreeDeleter {
    void operator()(void *p) const { std::free(p); }
  };
  std::unique_ptr<void, FreeDeleter> workspace;
  if (f->workspace.bytes > 0) {
    uint64_t align = std::max<uint64_t>(f->workspace.alignment,
                                        GECKO_KERNEL_BUFFER_ALIGNMENT);
    uint64_t size = (f->workspace.bytes + align - 1) / align * align;
    if (size > SIZE_MAX)
      return resourceExhausted(source_ + ": workspace too large");
    workspace.reset(std::aligned_alloc(size_t(align), size_t(size)));
    if (!workspace)
      return resourceExhausted(source_ + ": function " + quote(f->name) +
                               ": cannot allocate a workspace of " +
                               std::to_string(f->workspace.bytes) + " bytes");
  }
  args.push_back(workspace.get());

  Clock::time_point kernelStart = Clock::now();
  entry(args.data());
  Clock::time_point end = Clock::now();
  if (stats) {
    stats->kernelSeconds =
        std::chrono::duration<double>(end - kernelStart).count();
    stats->totalSeconds = std::chrono::duration<double>(end - start).count();
  }
  TensorMap out;
  for (size_t i = 0; i < results.size(); ++i)
    out.emplace(f->results[i].name, std::move(results[i]));
  return out;
}

} // namespace gecko
