//===- executable.cpp - Load and run .gkm artifacts -----------------------===//
//
// This file loads a verified artifact's code section into the process and
// calls its kernels through the kernel ABI (v1 or v2: a v2 object's
// ready signals reach BoundCall's signal handler). The code is an ELF shared
// object written to a memfd (or, where memfd_create is unavailable, an unlinked
// temporary file) and dlopen'ed from /proc/self/fd/N; its ELF header is
// checked against the host first so a foreign artifact gives a clear error.
//
// For a "cuda" artifact the same host object also exports the device image
// and gecko_host_imports (kernel_abi.h): the image is loaded on the CUDA
// device, every kernel of target.kernels resolved, and the imports' launch
// hook routes the host code's launches to cuLaunchKernel on the
// executable's stream; its gemm hook queues cuBLASLt products on the same
// stream (src/cuda/cublaslt_gemm.cpp). The CUDA driver is reached only
// through src/cuda/cuda_internal.h, so this file has no CUDA build
// dependency.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/executable.h"
#include "gecko/runtime/device.h"

#include "../cuda/cuda_internal.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <functional>
#include <mutex>
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

/// Appends the problems of binding `t` to `arg` (dtype, shape, range).
void checkArg(const ArgSpec &arg, const HostTensor &t,
              std::vector<std::string> &problems) {
  std::string what = std::string(argKindName(arg.kind)) + " " + quote(arg.name);
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

} // namespace

Executable::~Executable() {
  // The CUDA state (module, stream, device buffers) goes before the host
  // object that holds gecko_host_imports.
  cuda_.reset();
  if (handle_)
    ::dlclose(handle_);
  for (int fd : fds_)
    ::close(fd);
}

//===----------------------------------------------------------------------===//
// CUDA state
//===----------------------------------------------------------------------===//

namespace {

struct FreeDeleter {
  void operator()(void *p) const { std::free(p); }
};

/// Every buffer of a BoundCall starts at a multiple of this (cuMemAlloc's own
/// alignment), above GECKO_KERNEL_BUFFER_ALIGNMENT.
constexpr uint64_t kArenaAlignment = 256;

/// Dynamic shared memory a kernel may use without opting in.
constexpr unsigned kDefaultDynamicShared = 48 * 1024;

uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

std::string dims3(unsigned x, unsigned y, unsigned z) {
  return "[" + std::to_string(x) + ", " + std::to_string(y) + ", " +
         std::to_string(z) + "]";
}

bool envFlag(const char *name) {
  const char *v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

} // namespace

/// The CUDA side of a loaded cuda artifact: the device (owned when load()
/// opened it), the module and its kernels, the stream every launch goes to,
/// the launch bookkeeping of the call in progress, and run()'s cached
/// per-function BoundCalls. Calls are serialized by `mu` (recursive: run()
/// holds it around BoundCall methods that take it too).
struct Executable::CudaState {
  std::unique_ptr<Device> ownedDevice; // Destroyed last.
  Device *device = nullptr;
  detail::CudaContext *ctx = nullptr;
  void *module = nullptr;
  void *stream = nullptr;
  std::vector<void *> kernels; ///< CUfunction per target kernel.
  /// The dynamic shared memory limit raised so far, per kernel.
  std::vector<unsigned> sharedLimit;
  const std::vector<std::string> *names; ///< target.kernels.
  std::string source;
  bool syncEveryLaunch = false;
  std::recursive_mutex mu;

  // The entry call in progress.
  bool capturing = false;
  std::string function;
  size_t launches = 0;
  int lastKernel = -1;
  bool failed = false;
  Status error;

  /// run()'s buffers: one BoundCall per function, made on first use.
  std::vector<std::unique_ptr<BoundCall>> cached;

  /// gecko_host_imports.gemm: made on the first GEMM (GECKO_CUDA_TF32=1
  /// selects TF32 tensor-core products for f32).
  std::unique_ptr<detail::GemmEngine> gemmEngine;
  bool tf32 = false;
  size_t gemms = 0; ///< GEMMs of the call in progress.

  /// GECKO_CUDA_PROFILE=1: every eager launch and GEMM is bracketed by two
  /// events; the times are summed per kernel (per GEMM shape: Mark::kernel
  /// is names->size() + the engine's shape id) and printed when the
  /// executable dies.
  struct KernelTotal {
    double ms = 0;
    size_t launches = 0;
    unsigned grid = 0, block = 0; ///< Of the last launch (x*y*z).
  };
  struct Mark {
    unsigned kernel, grid, block;
    void *start, *end;
  };
  bool profile = false;
  bool profileAll = false; ///< GECKO_CUDA_PROFILE=all: every kernel listed.
  std::vector<Mark> marks;
  std::vector<KernelTotal> totals;

  void collectProfile() {
    for (const Mark &m : marks) {
      StatusOr<float> ms = ctx->elapsedMs(m.start, m.end);
      if (ms.isOk()) {
        if (m.kernel >= totals.size())
          totals.resize(m.kernel + 1);
        KernelTotal &t = totals[m.kernel];
        t.ms += *ms;
        ++t.launches;
        t.grid = m.grid;
        t.block = m.block;
      }
      ctx->destroyEvent(m.start);
      ctx->destroyEvent(m.end);
    }
    marks.clear();
  }

  void printProfile() const {
    double total = 0;
    std::vector<size_t> order;
    for (size_t k = 0; k < totals.size(); ++k)
      if (totals[k].launches) {
        total += totals[k].ms;
        order.push_back(k);
      }
    if (order.empty())
      return;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return totals[a].ms > totals[b].ms; });
    std::fprintf(stderr,
                 "gecko profile: %s: %zu kernels, %.3f ms of kernel time "
                 "(GECKO_CUDA_PROFILE, event-bracketed launches)\n"
                 "  %10s %6s %9s %10s %6s  kernel\n",
                 source.c_str(), order.size(), total, "ms", "share", "launches",
                 "threads", "block");
    for (size_t i = 0; i < order.size() && (profileAll || i < 25); ++i) {
      const KernelTotal &t = totals[order[i]];
      if (order[i] >= names->size()) { // A GEMM shape: no grid to show.
        std::fprintf(
            stderr, "  %10.3f %5.1f%% %9zu %10s %6s  %s\n", t.ms,
            100.0 * t.ms / total, t.launches, "-", "-",
            gemmEngine
                ? gemmEngine->describe(unsigned(order[i] - names->size()))
                      .c_str()
                : "gemm");
        continue;
      }
      std::fprintf(stderr, "  %10.3f %5.1f%% %9zu %10llu %6u  %s\n", t.ms,
                   100.0 * t.ms / total, t.launches,
                   (unsigned long long)t.grid * t.block, t.block,
                   (*names)[order[i]].c_str());
    }
  }

  ~CudaState() {
    cached.clear();
    if (ctx && profile) {
      if (stream)
        (void)ctx->synchronizeStream(stream);
      collectProfile();
      printProfile();
    }
    if (ctx) {
      if (stream) {
        (void)ctx->synchronizeStream(stream);
        gemmEngine.reset(); // Its workspace may be in use until here.
        ctx->destroyStream(stream);
      }
      gemmEngine.reset();
      ctx->unloadModule(module);
    }
  }

  std::string kernelName(int k) const {
    if (k >= 0 && size_t(k) < names->size())
      return "'" + (*names)[size_t(k)] + "'";
    if (k >= 0 && gemmEngine) // names->size() + a GEMM shape id.
      return "'" + gemmEngine->describe(unsigned(size_t(k) - names->size())) +
             "'";
    return "#" + std::to_string(k);
  }

  void beginCall(const std::string &fn) {
    function = fn;
    launches = 0;
    gemms = 0;
    lastKernel = -1;
    failed = false;
    error = Status::ok();
  }

  void fail(Status s) {
    if (failed)
      return;
    failed = true;
    error = s.withContext(source + ": function '" + function + "'");
  }

  /// gecko_host_imports.launch (kernel_abi.h).
  static int launch(void *context, unsigned kernel, unsigned gx, unsigned gy,
                    unsigned gz, unsigned bx, unsigned by, unsigned bz,
                    unsigned shared, void **params) {
    auto *st = static_cast<CudaState *>(context);
    if (!st)
      return 1;
    if (st->failed)
      return 1; // The first failure is reported; later launches are skipped.
    size_t n = ++st->launches;
    if (kernel >= st->kernels.size()) {
      st->fail(internalError(
          "launch " + std::to_string(n) + " asks for kernel index " +
          std::to_string(kernel) + ", but the plan lists " +
          std::to_string(st->kernels.size()) +
          " kernel(s) (host code and target.kernels disagree)"));
      return 1;
    }
    st->lastKernel = int(kernel);
    // Described only on failure: this is the per-launch hot path.
    auto what = [&] {
      return "launch " + std::to_string(n) + " of kernel " +
             st->kernelName(int(kernel)) + " (grid " + dims3(gx, gy, gz) +
             ", block " + dims3(bx, by, bz) + ", " + std::to_string(shared) +
             " shared bytes)";
    };
    // Above the default 48 KiB, a kernel must opt in to its dynamic shared
    // memory size once (the compiler's launches say how much they need).
    if (shared > kDefaultDynamicShared && shared > st->sharedLimit[kernel]) {
      Status a = st->ctx->setMaxDynamicSharedBytes(st->kernels[kernel], shared);
      if (!a.isOk()) {
        st->fail(a.withContext(what()));
        return 1;
      }
      st->sharedLimit[kernel] = shared;
    }
    void *start = st->startMark();
    Status s = st->ctx->launch(st->kernels[kernel], gx, gy, gz, bx, by, bz,
                               shared, st->stream, params);
    if (!s.isOk()) {
      if (start)
        st->ctx->destroyEvent(start);
      st->fail(s.withContext(what()));
      return 1;
    }
    st->endMark(start, kernel, gx * gy * gz, bx * by * bz);
    return st->syncIfAsked(what);
  }

  /// Brackets a queued operation with profiling events (eager calls only).
  void *startMark() {
    if (!profile || capturing)
      return nullptr;
    StatusOr<void *> e = ctx->createEvent();
    if (e.isOk() && ctx->recordEvent(*e, stream).isOk())
      return *e;
    if (e.isOk())
      ctx->destroyEvent(*e);
    return nullptr;
  }

  /// Closes the bracket opened by startMark() (a no-op without one).
  void endMark(void *start, unsigned id, unsigned grid, unsigned block) {
    if (!start)
      return;
    StatusOr<void *> e = ctx->createEvent();
    if (e.isOk() && ctx->recordEvent(*e, stream).isOk()) {
      marks.push_back({id, grid, block, start, *e});
      return;
    }
    if (e.isOk())
      ctx->destroyEvent(*e);
    ctx->destroyEvent(start);
  }

  /// With syncEveryLaunch (eager calls), waits for the operation just
  /// queued so a fault names it. Returns the hook's status code.
  template <typename Describe> int syncIfAsked(Describe what) {
    if (!syncEveryLaunch || capturing)
      return 0;
    Status e = ctx->synchronizeStream(stream);
    if (e.isOk())
      return 0;
    fail(e.withContext(what() + " failed while executing"));
    return 1;
  }

  /// gecko_host_imports.gemm (kernel_abi.h).
  static int gemm(void *context, const gecko_gemm_desc *desc) {
    auto *st = static_cast<CudaState *>(context);
    if (!st)
      return 1;
    if (st->failed)
      return 1; // The first failure is reported; later work is skipped.
    size_t n = ++st->launches;
    size_t g = ++st->gemms;
    auto what = [&] {
      std::string s = "launch " + std::to_string(n) + " (gemm " +
                      std::to_string(g) + " of the call";
      if (desc)
        s += ": " +
             std::string(desc->dtype == GECKO_GEMM_F64        ? "f64"
                         : desc->dtype == GECKO_GEMM_BF16_F32 ? "bf16>f32"
                         : desc->dtype == GECKO_GEMM_F32
                             ? "f32"
                             : "dtype " + std::to_string(desc->dtype)) +
             " m=" + std::to_string(desc->m) + " n=" + std::to_string(desc->n) +
             " k=" + std::to_string(desc->k) +
             " batch=" + std::to_string(desc->batch);
      return s + ")";
    };
    if (!desc) {
      st->fail(invalidArgument("gemm: null descriptor").withContext(what()));
      return 1;
    }
    if (!st->gemmEngine) {
      detail::GemmOptions options;
      options.tf32 = st->tf32;
      StatusOr<std::unique_ptr<detail::GemmEngine>> e =
          st->ctx->createGemmEngine(options);
      if (!e.isOk()) {
        st->fail(e.status().withContext(what()));
        return 1;
      }
      st->gemmEngine = std::move(e).value();
    }
    void *start = st->startMark();
    unsigned shape = 0;
    Status s = st->gemmEngine->enqueue(*desc, st->stream, &shape);
    if (!s.isOk()) {
      if (start)
        st->ctx->destroyEvent(start);
      st->fail(s.withContext(what()));
      return 1;
    }
    unsigned id = unsigned(st->names->size()) + shape;
    st->lastKernel = int(id);
    st->endMark(start, id, 0, 0);
    return st->syncIfAsked(what);
  }

  /// Runs `entry` (which only queues launches) and returns the first launch
  /// failure.
  Status callEntry(const std::string &fn, gecko_kernel_entry_fn entry,
                   void **args) {
    GECKO_RETURN_IF_ERROR(ctx->makeCurrent());
    beginCall(fn);
    entry(args);
    return failed ? error : Status::ok();
  }

  /// Waits for the stream; an execution error names the call's kernels.
  Status wait(const std::string &fn) {
    Status s = ctx->synchronizeStream(stream);
    if (s.isOk() && profile)
      collectProfile();
    if (s.isOk())
      return s;
    std::string ctxMsg = source + ": function '" + fn + "'";
    if (function == fn && launches > 0)
      ctxMsg += ": executing its " + std::to_string(launches) +
                " kernel launch(es) failed (last queued: kernel " +
                kernelName(lastKernel) + ")" +
                (syncEveryLaunch ? ""
                                 : "; set GECKO_CUDA_SYNC_LAUNCHES=1 to find "
                                   "the failing kernel");
    return s.withContext(ctxMsg);
  }
};

//===----------------------------------------------------------------------===//
// Ready signals (kernel ABI v2)
//===----------------------------------------------------------------------===//

namespace {

/// The ready signals of the entry call in progress on this thread. The host
/// code calls imports.signal synchronously from the entry, on the thread
/// that called it, so a thread-local pointer identifies the call even when
/// several threads run functions of one CPU executable.
struct SignalSink {
  const FunctionPlan *f = nullptr;
  const std::string *source = nullptr;
  const std::function<Status(unsigned)> *handler = nullptr;
  Executable::CudaState *cuda = nullptr; ///< Set for cuda artifacts.
  unsigned next = 0;                     ///< The id expected next.
  Status error;

  std::string where() const { return *source + ": function '" + f->name + "'"; }

  /// Describes signal `id` of the plan: "ready signal 2 (grad.w, grad.b)".
  std::string describe(unsigned id) const {
    std::string s = "ready signal " + std::to_string(id);
    if (id < f->signals.size()) {
      std::string names;
      for (const std::string &t : f->signals[id].tensors)
        names += (names.empty() ? "" : ", ") + t;
      s += " (" + names + ")";
    }
    return s;
  }

  void fail(Status s) {
    if (!error.isOk())
      return;
    error = s;
    if (cuda)
      cuda->fail(s); // Later launches of the call are skipped too.
  }

  /// After the entry returned: the first error, or an error when the code
  /// raised fewer signals than the plan lists.
  Status finish() const {
    if (!error.isOk())
      return error.withContext(where());
    if (next != f->signals.size())
      return internalError(where() + ": the call raised " +
                           std::to_string(next) + " of the " +
                           std::to_string(f->signals.size()) +
                           " ready signals its plan lists (host code and plan "
                           "disagree)");
    return Status::ok();
  }
};

thread_local SignalSink *currentSink = nullptr;

/// Makes `sink` the current one for its scope (restoring the previous one:
/// a handler may itself run another function).
class SinkScope {
public:
  explicit SinkScope(SignalSink *sink) : previous_(currentSink) {
    currentSink = sink;
  }
  ~SinkScope() { currentSink = previous_; }
  SinkScope(const SinkScope &) = delete;
  SinkScope &operator=(const SinkScope &) = delete;

private:
  SignalSink *previous_;
};

/// gecko_host_imports.signal (kernel_abi.h).
int hostSignal(void *, unsigned id) {
  SignalSink *sink = currentSink;
  if (!sink)
    return 1; // Not inside a call the runtime made (BoundCall::time).
  if (!sink->error.isOk() || (sink->cuda && sink->cuda->failed))
    return 1; // The first failure is reported; later signals are skipped.
  if (id != sink->next || id >= sink->f->signals.size()) {
    sink->fail(internalError(
        "the code raised " + sink->describe(id) + " where the plan expects " +
        (sink->next < sink->f->signals.size()
             ? sink->describe(sink->next)
             : "no more signals (it lists " +
                   std::to_string(sink->f->signals.size()) + ")") +
        "; host code and plan disagree"));
    return 1;
  }
  ++sink->next;
  if (sink->handler && *sink->handler) {
    Status s = (*sink->handler)(id);
    if (!s.isOk()) {
      sink->fail(s.withContext("the handler of " + sink->describe(id)));
      return 1;
    }
  }
  return 0;
}

} // namespace

namespace {

/// "sm_90a" -> 90 and 'a'; false when unparsable.
bool parseChip(const std::string &chip, int &cc, char &suffix) {
  if (chip.rfind("sm_", 0) != 0)
    return false;
  size_t i = 3;
  cc = 0;
  while (i < chip.size() && std::isdigit(static_cast<unsigned char>(chip[i])))
    cc = cc * 10 + (chip[i++] - '0');
  if (i == 3 || cc < 10)
    return false;
  suffix = 0;
  if (i < chip.size()) {
    suffix = chip[i++];
    if ((suffix != 'a' && suffix != 'f') || i != chip.size())
      return false;
  }
  return true;
}

std::string ccText(int cc) {
  return std::to_string(cc / 10) + "." + std::to_string(cc % 10);
}

/// Whether a device of compute capability `have` runs an image for `chip`:
/// sm_XYa only on exactly X.Y; sm_XYf on X.Z with Z >= Y; sm_XY as a cubin
/// on the same major with a minor >= Y; sm_XY as PTX or a fatbin on any
/// capability >= X.Y (the driver JITs PTX; a fatbin without PTX for this
/// device then fails at cuModuleLoadData, with its own message).
Status checkChip(const std::string &source, const TargetSpec &t,
                 const DeviceInfo &d) {
  int want = 0;
  char suffix = 0;
  std::string prefix = source + ": artifact targets cuda (" + t.chip + ")";
  if (!parseChip(t.chip, want, suffix))
    return failedPrecondition(prefix + ": unrecognized chip (expected "
                                       "sm_<major><minor>[a|f], e.g. sm_90a)");
  int have = d.computeCapability;
  std::string dev = "cuda:" + std::to_string(d.ordinal) + " (" + d.name +
                    ") has compute capability " + ccText(have);
  if (suffix == 'a' && have != want)
    return failedPrecondition(prefix +
                              ", which runs only on compute "
                              "capability " +
                              ccText(want) + "; " + dev);
  bool sameMajor = have / 10 == want / 10;
  if ((suffix == 'f' || t.deviceImageFormat == "cubin") &&
      !(sameMajor && have >= want))
    return failedPrecondition(
        prefix + " as a " +
        (suffix == 'f' ? std::string("family-specific") : t.deviceImageFormat) +
        " image, which runs on compute capability " + ccText(want) + " up to " +
        std::to_string(want / 10) + ".9; " + dev);
  if (have < want)
    return failedPrecondition(prefix + ", which needs compute capability " +
                              ccText(want) + " or newer; " + dev);
  return Status::ok();
}

/// Checks the embedded image against target.device_image_format and its own
/// size fields.
Status checkImage(const std::string &what, const std::string &format,
                  const uint8_t *image, uint64_t size) {
  auto rd32 = [&](size_t off) {
    uint32_t v;
    std::memcpy(&v, image + off, 4);
    return v;
  };
  if (format == "fatbin") {
    // struct fatBinaryHeader { u32 magic; u16 version; u16 headerSize;
    //                          u64 fatSize; } (fatbinary_section.h)
    if (size < 16 || rd32(0) != 0xBA55ED50u)
      return failedPrecondition(what + " is declared 'fatbin' but does not "
                                       "start with the fatbin magic");
    uint16_t headerSize;
    uint64_t fatSize;
    std::memcpy(&headerSize, image + 6, 2);
    std::memcpy(&fatSize, image + 8, 8);
    if (uint64_t(headerSize) + fatSize > size)
      return failedPrecondition(what + ": the fatbin header records " +
                                std::to_string(uint64_t(headerSize) + fatSize) +
                                " bytes but gecko_device_image_size is " +
                                std::to_string(size));
  } else if (format == "cubin") {
    if (size < sizeof(Elf64_Ehdr) || std::memcmp(image, ELFMAG, SELFMAG) != 0)
      return failedPrecondition(what + " is declared 'cubin' but is not an "
                                       "ELF file");
    Elf64_Ehdr eh;
    std::memcpy(&eh, image, sizeof(eh));
    if (eh.e_machine != 190 /* EM_CUDA */)
      return failedPrecondition(what +
                                " is declared 'cubin' but is an ELF "
                                "for " +
                                machineName(eh.e_machine));
    uint64_t end = eh.e_shoff + uint64_t(eh.e_shnum) * eh.e_shentsize;
    if (eh.e_shoff > size || end > size)
      return failedPrecondition(what +
                                ": the cubin's section headers end at "
                                "byte " +
                                std::to_string(end) +
                                " but gecko_device_image_size is " +
                                std::to_string(size));
  } else { // ptx
    const char *text = reinterpret_cast<const char *>(image);
    if (std::memchr(text, '\0', size_t(size)) != nullptr &&
        std::strlen(text) + 1 < size)
      return failedPrecondition(what + " is declared 'ptx' but holds a NUL "
                                       "byte before its end (binary data?)");
    std::string head(text, size_t(std::min<uint64_t>(size, 4096)));
    if (head.find(".version") == std::string::npos)
      return failedPrecondition(what + " is declared 'ptx' but has no "
                                       "'.version' directive");
  }
  return Status::ok();
}

} // namespace

StatusOr<std::unique_ptr<Executable>>
Executable::load(const std::string &path, const LoadOptions &options) {
  GECKO_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, readFileBytes(path));
  return loadFromBytes(bytes, path, options);
}

StatusOr<std::unique_ptr<Executable>>
Executable::loadFromBytes(const std::vector<uint8_t> &bytes,
                          const std::string &source,
                          const LoadOptions &options) {
  GECKO_ASSIGN_OR_RETURN(ParsedArtifact parsed, parseArtifact(bytes, source));
  std::unique_ptr<Executable> exe(new Executable());
  exe->source_ = source;
  exe->header_ = parsed.header;
  exe->plan_ = std::move(parsed.plan);
  const TargetSpec &target = exe->plan_.target;
  Device *device = options.device;
  if (target.kind == "cpu") {
    if (device && device->info().kind != DeviceKind::kCpu)
      return failedPrecondition(source +
                                ": artifact targets cpu and cannot run on " +
                                deviceKindName(device->info().kind) + ":" +
                                std::to_string(device->info().ordinal) +
                                " (compile it with --target cuda for a GPU)");
  } else if (target.kind == "cuda") {
    std::string prefix =
        source + ": artifact targets cuda (" + target.chip + ")";
    auto state = std::make_unique<CudaState>();
    if (!device) {
      StatusOr<std::unique_ptr<Device>> gpu = createCudaDevice(0);
      if (!gpu.isOk())
        return unavailable(prefix +
                           "; this machine has no usable CUDA "
                           "device: " +
                           gpu.status().message());
      state->ownedDevice = std::move(gpu).value();
      device = state->ownedDevice.get();
    } else if (device->info().kind != DeviceKind::kCuda) {
      return failedPrecondition(prefix + " and cannot run on the " +
                                deviceKindName(device->info().kind) +
                                " device");
    }
    state->device = device;
    state->ctx = detail::cudaContextOf(device);
    if (!state->ctx)
      return unavailable(prefix + "; this build of Gecko has no CUDA support");
    GECKO_RETURN_IF_ERROR(checkChip(source, target, device->info()));
    state->source = source;
    state->names = &exe->plan_.target.kernels;
    state->totals.resize(exe->plan_.target.kernels.size());
    state->syncEveryLaunch =
        options.syncEveryLaunch || envFlag("GECKO_CUDA_SYNC_LAUNCHES");
    state->profile = envFlag("GECKO_CUDA_PROFILE");
    if (const char *v = std::getenv("GECKO_CUDA_PROFILE"))
      state->profileAll = std::strcmp(v, "all") == 0;
    state->tf32 = envFlag("GECKO_CUDA_TF32");
    exe->cuda_ = std::move(state);
  } else {
    return unimplemented(source + ": target kind " + quote(target.kind) +
                         " is not supported by this runtime");
  }
  GECKO_RETURN_IF_ERROR(checkElf(parsed.code, source));
  GECKO_RETURN_IF_ERROR(exe->loadCode(parsed.code));
  if (exe->cuda_)
    GECKO_RETURN_IF_ERROR(exe->loadDeviceImage(parsed.code));
  return exe;
}

Status Executable::loadDeviceImage(const std::vector<uint8_t> &code) {
  CudaState &st = *cuda_;
  std::string what = source_ + ": code section";
  const TargetSpec &t = plan_.target;
  void *image = ::dlsym(handle_, GECKO_DEVICE_IMAGE_SYMBOL);
  void *sizeSym = ::dlsym(handle_, GECKO_DEVICE_IMAGE_SIZE_SYMBOL);
  void *imports = ::dlsym(handle_, GECKO_HOST_IMPORTS_SYMBOL);
  std::string missing;
  for (auto [sym, name] :
       {std::pair<void *, const char *>{image, GECKO_DEVICE_IMAGE_SYMBOL},
        {sizeSym, GECKO_DEVICE_IMAGE_SIZE_SYMBOL},
        {imports, GECKO_HOST_IMPORTS_SYMBOL}})
    if (!sym)
      missing += (missing.empty() ? "" : ", ") + quote(name);
  if (!missing.empty())
    return notFound(what + " does not export " + missing +
                    " (a cuda artifact's host object exports the device "
                    "image, its size and gecko_host_imports; kernel_abi.h)");
  unsigned long long size;
  std::memcpy(&size, sizeSym, sizeof(size));
  std::string imageWhat = what + ": device image (" + t.deviceImageFormat + ")";
  if (size == 0)
    return failedPrecondition(what + ": " GECKO_DEVICE_IMAGE_SIZE_SYMBOL
                                     " is 0");
  if (size > code.size())
    return failedPrecondition(
        what + ": " GECKO_DEVICE_IMAGE_SIZE_SYMBOL " is " +
        std::to_string(size) + " bytes, more than the whole code section (" +
        std::to_string(code.size()) + " bytes)");
  const uint8_t *bytes = static_cast<const uint8_t *>(image);
  GECKO_RETURN_IF_ERROR(
      checkImage(imageWhat, t.deviceImageFormat, bytes, size));
  // PTX must reach the driver NUL-terminated, whether or not the object
  // stored the terminator.
  std::string ptx;
  const void *toLoad = bytes;
  if (t.deviceImageFormat == "ptx") {
    ptx.assign(reinterpret_cast<const char *>(bytes), size_t(size));
    while (!ptx.empty() && ptx.back() == '\0')
      ptx.pop_back();
    toLoad = ptx.c_str();
  }
  StatusOr<void *> module = st.ctx->loadModule(toLoad);
  if (!module.isOk()) {
    const DeviceInfo &d = st.device->info();
    return module.status().withContext(
        imageWhat + " for " + t.chip +
        " cannot be loaded on cuda:" + std::to_string(d.ordinal) + " (" +
        d.name + ", compute capability " + ccText(d.computeCapability) + ")");
  }
  st.module = *module;
  std::string absent;
  for (const std::string &name : t.kernels) {
    StatusOr<void *> fn = st.ctx->getFunction(st.module, name);
    if (!fn.isOk()) {
      if (fn.status().code() != StatusCode::kNotFound)
        return fn.status().withContext(imageWhat);
      absent += (absent.empty() ? "" : ", ") + quote(name);
      continue;
    }
    st.kernels.push_back(*fn);
  }
  if (!absent.empty())
    return notFound(imageWhat + " has no kernel(s) " + absent +
                    " listed in target.kernels");
  st.sharedLimit.assign(st.kernels.size(), kDefaultDynamicShared);
  GECKO_ASSIGN_OR_RETURN(st.stream, st.ctx->createStream());
  auto *hostImports = static_cast<gecko_host_imports_t *>(imports);
  hostImports->context = &st;
  hostImports->launch = &CudaState::launch;
  hostImports->gemm = &CudaState::gemm;
  // A v1 object's table ends after gemm: never write the fourth field.
  if (header_.kernelAbiVersion >= 2)
    hostImports->signal = &hostSignal;
  return Status::ok();
}

std::string Executable::deviceDescription() const {
  if (!cuda_)
    return "cpu";
  const DeviceInfo &d = cuda_->device->info();
  return "cuda:" + std::to_string(d.ordinal) + " (" + d.name + ", sm_" +
         std::to_string(d.computeCapability) + ")";
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
    if (v != header_.kernelAbiVersion)
      return failedPrecondition(what + " was compiled for kernel ABI version " +
                                std::to_string(v) +
                                ", but the artifact's header says version " +
                                std::to_string(header_.kernelAbiVersion));
  }
  // A CPU object that raises ready signals exports the imports table too
  // (kernel ABI v2); only signal is used on the CPU.
  bool signals = false;
  for (const FunctionPlan &f : plan_.functions)
    signals = signals || !f.signals.empty();
  void *imports = ::dlsym(handle_, GECKO_HOST_IMPORTS_SYMBOL);
  if (signals && !imports)
    return notFound(what + " does not export " GECKO_HOST_IMPORTS_SYMBOL
                           ", which the ready signals of its plan need "
                           "(kernel_abi.h)");
  if (imports && plan_.target.kind == "cpu" && header_.kernelAbiVersion >= 2) {
    auto *table = static_cast<gecko_host_imports_t *>(imports);
    table->context = this;
    table->launch = nullptr;
    table->gemm = nullptr;
    table->signal = &hostSignal;
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
    checkArg(arg, it->second, problems);
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
  if (cuda_) {
    StatusOr<TensorMap> out = runCuda(*f, params, inputs, stats);
    if (out.isOk() && stats)
      stats->totalSeconds =
          std::chrono::duration<double>(Clock::now() - start).count();
    return out;
  }
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

  SignalSink sink;
  sink.f = f;
  sink.source = &source_;
  Clock::time_point kernelStart = Clock::now();
  {
    SinkScope scope(&sink);
    entry(args.data());
  }
  Clock::time_point end = Clock::now();
  GECKO_RETURN_IF_ERROR(sink.finish());
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

//===----------------------------------------------------------------------===//
// BoundCall
//===----------------------------------------------------------------------===//

struct BoundCall::Impl {
  const Executable *exe = nullptr;
  const FunctionPlan *f = nullptr;
  gecko_kernel_entry_fn entry = nullptr;
  Executable::CudaState *cuda = nullptr; ///< nullptr on the CPU.
  Buffer deviceArena;                    ///< CUDA: every buffer, one block.
  std::unique_ptr<void, FreeDeleter> hostArena; ///< CPU: the same.
  /// Entry arguments: args, results, workspace (kernel_abi.h).
  std::vector<void *> args;
  std::vector<uint64_t> sizes; ///< Byte size of args[i] (0 for workspace).
  void *graph = nullptr;
  void *eventStart = nullptr, *eventEnd = nullptr;
  std::function<Status(unsigned)> signalHandler;

  ~Impl() {
    if (cuda) {
      std::lock_guard<std::recursive_mutex> lock(cuda->mu);
      cuda->ctx->destroyGraphExec(graph);
      cuda->ctx->destroyEvent(eventStart);
      cuda->ctx->destroyEvent(eventEnd);
    }
  }

  std::string where() const {
    return exe->source() + ": function '" + f->name + "'";
  }

  /// Index into `args` of arg or result `name`, or -1.
  int indexOf(const std::string &name) const {
    for (size_t i = 0; i < f->args.size(); ++i)
      if (f->args[i].name == name)
        return int(i);
    for (size_t i = 0; i < f->results.size(); ++i)
      if (f->results[i].name == name)
        return int(f->args.size() + i);
    return -1;
  }

  Status copyIn(size_t i, const HostTensor &t) {
    if (!cuda) {
      std::memcpy(args[i], t.data(), t.byteSize());
      return Status::ok();
    }
    return cuda->ctx->copyToDeviceAsync(args[i], t.data(), t.byteSize(),
                                        cuda->stream);
  }

  Status enqueueEntry() {
    SignalSink sink;
    sink.f = f;
    sink.source = &exe->source();
    sink.handler = &signalHandler;
    sink.cuda = cuda;
    SinkScope scope(&sink);
    if (!cuda) {
      entry(args.data());
      return sink.finish();
    }
    Status s = cuda->callEntry(f->name, entry, args.data());
    // A handler's failure is also the call's (CudaState::fail): report it
    // once, with the signal named.
    if (!sink.error.isOk())
      return sink.finish();
    GECKO_RETURN_IF_ERROR(s);
    return sink.finish();
  }

  Status wait() { return cuda ? cuda->wait(f->name) : Status::ok(); }
};

BoundCall::BoundCall(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BoundCall::~BoundCall() = default;

const FunctionPlan &BoundCall::function() const { return *impl_->f; }

StatusOr<std::unique_ptr<BoundCall>>
Executable::bind(const std::string &functionName) const {
  GECKO_ASSIGN_OR_RETURN(const FunctionPlan *f, function(functionName));
  size_t index = size_t(f - plan_.functions.data());
  auto impl = std::make_unique<BoundCall::Impl>();
  impl->exe = this;
  impl->f = f;
  impl->entry = entries_[index];
  impl->cuda = cuda_.get();
  if (!impl->entry)
    return internalError(source_ + ": function " + quote(f->name) +
                         " has no resolved entry");
  // One block for everything: each tensor at a multiple of 256 bytes (at
  // least 256 bytes each, so no two alias), then the workspace at its
  // alignment.
  std::vector<uint64_t> offsets;
  uint64_t total = 0;
  auto place = [&](uint64_t bytes, uint64_t align) {
    total = alignUp(total, align);
    offsets.push_back(total);
    impl->sizes.push_back(bytes);
    total += alignUp(std::max<uint64_t>(bytes, 1), kArenaAlignment);
  };
  for (const ArgSpec &a : f->args)
    place(a.byteSize(), kArenaAlignment);
  for (const TensorSpec &r : f->results)
    place(r.byteSize(), kArenaAlignment);
  uint64_t wsAlign =
      std::max<uint64_t>(f->workspace.alignment, kArenaAlignment);
  place(f->workspace.bytes, wsAlign);
  impl->sizes.back() = f->workspace.bytes;
  // The block's own alignment is kArenaAlignment; over-allocate to align a
  // larger workspace alignment by hand.
  uint64_t slack = wsAlign > kArenaAlignment ? wsAlign : 0;
  if (total + slack > SIZE_MAX)
    return resourceExhausted(source_ + ": function " + quote(f->name) +
                             ": buffers too large");
  std::string what = source_ + ": function " + quote(f->name) + ": ";
  uintptr_t base = 0;
  if (cuda_) {
    std::lock_guard<std::recursive_mutex> lock(cuda_->mu);
    StatusOr<Buffer> buf = cuda_->device->allocate(size_t(total + slack));
    if (!buf.isOk()) {
      uint64_t freeBytes = 0, totalBytes = 0;
      std::string mem;
      if (cuda_->ctx->memoryInfo(&freeBytes, &totalBytes).isOk())
        mem = " (" + std::to_string(freeBytes) + " of " +
              std::to_string(totalBytes) + " bytes free)";
      return buf.status().withContext(
          what + "allocating " + std::to_string(total + slack) +
          " bytes of device memory for its arguments, results and "
          "workspace" +
          mem);
    }
    impl->deviceArena = std::move(buf).value();
    GECKO_RETURN_IF_ERROR(cuda_->ctx->memsetAsync(
        impl->deviceArena.data(), 0, size_t(total + slack), cuda_->stream));
    GECKO_RETURN_IF_ERROR(cuda_->ctx->synchronizeStream(cuda_->stream));
    base = reinterpret_cast<uintptr_t>(impl->deviceArena.data());
  } else {
    impl->hostArena.reset(
        std::aligned_alloc(size_t(kArenaAlignment),
                           size_t(alignUp(total + slack, kArenaAlignment))));
    if (!impl->hostArena)
      return resourceExhausted(what + "cannot allocate " +
                               std::to_string(total + slack) + " bytes");
    std::memset(impl->hostArena.get(), 0, size_t(total + slack));
    base = reinterpret_cast<uintptr_t>(impl->hostArena.get());
  }
  uintptr_t aligned = uintptr_t(alignUp(base, wsAlign)) - base;
  for (size_t i = 0; i < offsets.size(); ++i) {
    bool isWorkspace = i + 1 == offsets.size();
    uint64_t off = offsets[i] + (isWorkspace && slack ? aligned : 0);
    impl->args.push_back(reinterpret_cast<void *>(base + off));
  }
  if (f->workspace.bytes == 0)
    impl->args.back() = nullptr;
  return std::unique_ptr<BoundCall>(new BoundCall(std::move(impl)));
}

StatusOr<void *> BoundCall::buffer(const std::string &name) const {
  int i = impl_->indexOf(name);
  if (i < 0)
    return notFound(impl_->where() + " has no arg or result '" + name + "'");
  return impl_->args[size_t(i)];
}

Status BoundCall::setArg(const std::string &name, const HostTensor &tensor) {
  int i = impl_->indexOf(name);
  if (i < 0 || size_t(i) >= impl_->f->args.size())
    return notFound(impl_->where() + " has no arg '" + name + "'");
  std::vector<std::string> problems;
  checkArg(impl_->f->args[size_t(i)], tensor, problems);
  if (!problems.empty())
    return invalidArgument(impl_->where() + ": " + problems[0]);
  std::unique_lock<std::recursive_mutex> lock;
  if (impl_->cuda)
    lock = std::unique_lock<std::recursive_mutex>(impl_->cuda->mu);
  GECKO_RETURN_IF_ERROR(impl_->copyIn(size_t(i), tensor));
  return impl_->wait();
}

Status BoundCall::setArgs(const TensorMap &params, const TensorMap &inputs) {
  const FunctionPlan &f = *impl_->f;
  GECKO_RETURN_IF_ERROR(impl_->exe->checkBindings(f, params, inputs));
  std::unique_lock<std::recursive_mutex> lock;
  if (impl_->cuda)
    lock = std::unique_lock<std::recursive_mutex>(impl_->cuda->mu);
  for (size_t i = 0; i < f.args.size(); ++i) {
    const TensorMap &from = f.args[i].kind == ArgKind::kInput ? inputs : params;
    GECKO_RETURN_IF_ERROR(impl_->copyIn(i, from.find(f.args[i].name)->second));
  }
  // The host tensors may go away when this returns.
  return impl_->wait();
}

Status BoundCall::run() {
  std::unique_lock<std::recursive_mutex> lock;
  if (impl_->cuda)
    lock = std::unique_lock<std::recursive_mutex>(impl_->cuda->mu);
  Status s = impl_->enqueueEntry();
  Status w = impl_->wait();
  return s.isOk() ? w : s;
}

Status BoundCall::enqueue() {
  std::unique_lock<std::recursive_mutex> lock;
  if (impl_->cuda)
    lock = std::unique_lock<std::recursive_mutex>(impl_->cuda->mu);
  return impl_->enqueueEntry();
}

Status BoundCall::synchronize() {
  std::unique_lock<std::recursive_mutex> lock;
  if (impl_->cuda)
    lock = std::unique_lock<std::recursive_mutex>(impl_->cuda->mu);
  return impl_->wait();
}

Status BoundCall::captureGraph() {
  Executable::CudaState *st = impl_->cuda;
  if (!st)
    return unimplemented(impl_->where() +
                         ": CUDA graphs need a cuda artifact on a CUDA device");
  if (impl_->signalHandler)
    return failedPrecondition(
        impl_->where() +
        ": cannot capture a CUDA graph of a call with a signal handler (a "
        "replay would not call it); remove the handler first");
  std::lock_guard<std::recursive_mutex> lock(st->mu);
  // Nothing else may be queued on the stream while it is captured.
  GECKO_RETURN_IF_ERROR(impl_->wait());
  st->ctx->destroyGraphExec(impl_->graph);
  impl_->graph = nullptr;
  GECKO_RETURN_IF_ERROR(
      st->ctx->beginCapture(st->stream)
          .withContext(impl_->where() + ": capturing a CUDA graph"));
  st->capturing = true;
  Status s = impl_->enqueueEntry();
  st->capturing = false;
  StatusOr<void *> graph = st->ctx->endCapture(st->stream, s.isOk());
  if (!s.isOk())
    return s.withContext("while capturing a CUDA graph");
  if (!graph.isOk())
    return graph.status().withContext(impl_->where() +
                                      ": capturing a CUDA graph");
  impl_->graph = *graph;
  return Status::ok();
}

bool BoundCall::hasGraph() const { return impl_->graph != nullptr; }

Status BoundCall::replayGraph() {
  Executable::CudaState *st = impl_->cuda;
  if (!impl_->graph)
    return failedPrecondition(impl_->where() +
                              ": no CUDA graph captured (captureGraph first)");
  std::lock_guard<std::recursive_mutex> lock(st->mu);
  return st->ctx->launchGraph(impl_->graph, st->stream)
      .withContext(impl_->where() + ": replaying its CUDA graph");
}

StatusOr<HostTensor> BoundCall::result(const std::string &name) const {
  int i = impl_->indexOf(name);
  if (i < 0 || size_t(i) < impl_->f->args.size())
    return notFound(impl_->where() + " has no result '" + name + "'");
  return read(name);
}

Status BoundCall::shareBuffer(const std::string &name, const BoundCall &owner,
                              const std::string &ownerName) {
  int i = impl_->indexOf(name), j = owner.impl_->indexOf(ownerName);
  if (i < 0)
    return notFound(impl_->where() + " has no arg or result '" + name + "'");
  if (j < 0)
    return notFound(owner.impl_->where() + " has no arg or result '" +
                    ownerName + "'");
  if (owner.impl_->exe != impl_->exe)
    return invalidArgument(impl_->where() + ": cannot share '" + name +
                           "' with a call of another executable");
  auto spec = [](const Impl &impl,
                 int k) -> std::pair<ElementType, std::vector<int64_t>> {
    const FunctionPlan &f = *impl.f;
    if (size_t(k) < f.args.size())
      return {f.args[size_t(k)].dtype, f.args[size_t(k)].shape};
    const TensorSpec &r = f.results[size_t(k) - f.args.size()];
    return {r.dtype, r.shape};
  };
  auto mine = spec(*impl_, i), theirs = spec(*owner.impl_, j);
  if (mine != theirs)
    return invalidArgument(
        impl_->where() + ": '" + name + "' (" + elementTypeName(mine.first) +
        " " + shapeToString(mine.second) + ") cannot share the buffer of '" +
        ownerName + "' of " + owner.impl_->where() + " (" +
        elementTypeName(theirs.first) + " " + shapeToString(theirs.second) +
        ")");
  std::unique_lock<std::recursive_mutex> lock;
  if (impl_->cuda) {
    lock = std::unique_lock<std::recursive_mutex>(impl_->cuda->mu);
    impl_->cuda->ctx->destroyGraphExec(impl_->graph);
    impl_->graph = nullptr;
  }
  impl_->args[size_t(i)] = owner.impl_->args[size_t(j)];
  return Status::ok();
}

void BoundCall::setSignalHandler(std::function<Status(unsigned)> handler) {
  std::unique_lock<std::recursive_mutex> lock;
  if (impl_->cuda) {
    lock = std::unique_lock<std::recursive_mutex>(impl_->cuda->mu);
    impl_->cuda->ctx->destroyGraphExec(impl_->graph);
    impl_->graph = nullptr;
  }
  impl_->signalHandler = std::move(handler);
}

void *BoundCall::nativeStream() const {
  return impl_->cuda ? impl_->cuda->stream : nullptr;
}

StatusOr<HostTensor> BoundCall::read(const std::string &name) const {
  int i = impl_->indexOf(name);
  const FunctionPlan &f = *impl_->f;
  if (i < 0)
    return notFound(impl_->where() + " has no arg or result '" + name + "'");
  auto [dtype, shape] =
      size_t(i) < f.args.size()
          ? std::make_pair(f.args[size_t(i)].dtype, f.args[size_t(i)].shape)
          : std::make_pair(f.results[size_t(i) - f.args.size()].dtype,
                           f.results[size_t(i) - f.args.size()].shape);
  GECKO_ASSIGN_OR_RETURN(HostTensor t, HostTensor::zeros(dtype, shape));
  if (!impl_->cuda) {
    std::memcpy(t.data(), impl_->args[size_t(i)], t.byteSize());
    return t;
  }
  std::lock_guard<std::recursive_mutex> lock(impl_->cuda->mu);
  GECKO_RETURN_IF_ERROR(impl_->wait());
  GECKO_RETURN_IF_ERROR(impl_->cuda->ctx->copyToHostAsync(
      t.data(), impl_->args[size_t(i)], t.byteSize(), impl_->cuda->stream));
  GECKO_RETURN_IF_ERROR(impl_->wait());
  return t;
}

StatusOr<TensorMap> BoundCall::results() const {
  TensorMap out;
  for (const TensorSpec &r : impl_->f->results) {
    GECKO_ASSIGN_OR_RETURN(HostTensor t, result(r.name));
    out.emplace(r.name, std::move(t));
  }
  return out;
}

Status BoundCall::applyNextResults() {
  const FunctionPlan &f = *impl_->f;
  std::unique_lock<std::recursive_mutex> lock;
  if (impl_->cuda)
    lock = std::unique_lock<std::recursive_mutex>(impl_->cuda->mu);
  for (size_t r = 0; r < f.results.size(); ++r) {
    std::string target = nextResultTarget(f.results[r].name);
    if (target.empty())
      continue;
    int a = impl_->indexOf(target);
    if (a < 0)
      continue; // validatePlan guarantees the target exists.
    void *dst = impl_->args[size_t(a)];
    void *src = impl_->args[f.args.size() + r];
    size_t bytes = size_t(f.results[r].byteSize());
    if (!impl_->cuda)
      std::memcpy(dst, src, bytes);
    else
      GECKO_RETURN_IF_ERROR(impl_->cuda->ctx->copyDeviceAsync(
          dst, src, bytes, impl_->cuda->stream));
  }
  return Status::ok();
}

StatusOr<std::vector<double>> BoundCall::time(int warmup, int iters,
                                              bool useGraph) {
  if (useGraph && !impl_->graph)
    GECKO_RETURN_IF_ERROR(captureGraph());
  auto once = [&]() -> Status { return useGraph ? replayGraph() : enqueue(); };
  for (int i = 0; i < warmup; ++i) {
    GECKO_RETURN_IF_ERROR(once());
    GECKO_RETURN_IF_ERROR(synchronize());
  }
  std::vector<double> ms;
  Executable::CudaState *st = impl_->cuda;
  if (!st) {
    using Clock = std::chrono::steady_clock;
    for (int i = 0; i < iters; ++i) {
      Clock::time_point t0 = Clock::now();
      impl_->entry(impl_->args.data());
      ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    return ms;
  }
  std::lock_guard<std::recursive_mutex> lock(st->mu);
  if (!impl_->eventStart) {
    GECKO_ASSIGN_OR_RETURN(impl_->eventStart, st->ctx->createEvent());
    GECKO_ASSIGN_OR_RETURN(impl_->eventEnd, st->ctx->createEvent());
  }
  for (int i = 0; i < iters; ++i) {
    GECKO_RETURN_IF_ERROR(st->ctx->recordEvent(impl_->eventStart, st->stream));
    GECKO_RETURN_IF_ERROR(once());
    GECKO_RETURN_IF_ERROR(st->ctx->recordEvent(impl_->eventEnd, st->stream));
    GECKO_RETURN_IF_ERROR(impl_->wait());
    GECKO_ASSIGN_OR_RETURN(
        float t, st->ctx->elapsedMs(impl_->eventStart, impl_->eventEnd));
    ms.push_back(double(t));
  }
  return ms;
}

//===----------------------------------------------------------------------===//
// run() on CUDA
//===----------------------------------------------------------------------===//

StatusOr<TensorMap> Executable::runCuda(const FunctionPlan &f,
                                        const TensorMap &params,
                                        const TensorMap &inputs,
                                        RunStats *stats) const {
  CudaState &st = *cuda_;
  std::lock_guard<std::recursive_mutex> lock(st.mu);
  size_t index = size_t(&f - plan_.functions.data());
  if (st.cached.size() < plan_.functions.size())
    st.cached.resize(plan_.functions.size());
  if (!st.cached[index]) {
    GECKO_ASSIGN_OR_RETURN(st.cached[index], bind(f.name));
  }
  BoundCall::Impl &call = *st.cached[index]->impl_;
  for (size_t i = 0; i < f.args.size(); ++i) {
    const TensorMap &from = f.args[i].kind == ArgKind::kInput ? inputs : params;
    GECKO_RETURN_IF_ERROR(call.copyIn(i, from.find(f.args[i].name)->second));
  }
  // Results arrive zero-filled (kernel_abi.h), as on the CPU.
  for (size_t r = 0; r < f.results.size(); ++r)
    GECKO_RETURN_IF_ERROR(
        st.ctx->memsetAsync(call.args[f.args.size() + r], 0,
                            size_t(call.sizes[f.args.size() + r]), st.stream));
  if (stats && !call.eventStart) {
    GECKO_ASSIGN_OR_RETURN(call.eventStart, st.ctx->createEvent());
    GECKO_ASSIGN_OR_RETURN(call.eventEnd, st.ctx->createEvent());
  }
  if (stats)
    GECKO_RETURN_IF_ERROR(st.ctx->recordEvent(call.eventStart, st.stream));
  Status launched = call.enqueueEntry();
  if (stats && launched.isOk())
    GECKO_RETURN_IF_ERROR(st.ctx->recordEvent(call.eventEnd, st.stream));
  Status done = call.wait();
  GECKO_RETURN_IF_ERROR(launched);
  GECKO_RETURN_IF_ERROR(done);
  if (stats) {
    GECKO_ASSIGN_OR_RETURN(float ms,
                           st.ctx->elapsedMs(call.eventStart, call.eventEnd));
    stats->kernelSeconds = double(ms) / 1e3;
  }
  std::vector<HostTensor> results;
  for (size_t r = 0; r < f.results.size(); ++r) {
    StatusOr<HostTensor> t =
        HostTensor::zeros(f.results[r].dtype, f.results[r].shape);
    if (!t.isOk())
      return t.status().withContext(source_ + ": result " +
                                    quote(f.results[r].name));
    GECKO_RETURN_IF_ERROR(st.ctx->copyToHostAsync(
        t->data(), call.args[f.args.size() + r], t->byteSize(), st.stream));
    results.push_back(std::move(t).value());
  }
  GECKO_RETURN_IF_ERROR(call.wait());
  TensorMap out;
  for (size_t r = 0; r < results.size(); ++r)
    out.emplace(f.results[r].name, std::move(results[r]));
  return out;
}

} // namespace gecko
