//===- gecko-run.cpp - Run compiled Gecko artifacts -----------------------===//
//
// The runtime's command-line driver. It links only the runtime (no MLIR or
// LLVM) so it builds on machines that have neither, such as the GPU hosts.
// Every failure prints `gecko-run: error: ...` and exits nonzero (2 for usage
// errors, 1 for everything else).
//
//===----------------------------------------------------------------------===//

#include "gecko/abi/artifact_format.h"
#include "gecko/abi/version.h"
#include "gecko/runtime/communicator.h"
#include "gecko/runtime/device.h"
#include "gecko/runtime/executable.h"
#include "gecko/runtime/generate.h"
#include "gecko/runtime/host_tensor.h"
#include "gecko/runtime/init.h"
#include "gecko/runtime/safetensors.h"
#include "gecko/runtime/tokenizer.h"
#include "gecko/runtime/training.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace gecko;

const char *kUsage =
    R"(gecko-run: execute compiled Gecko artifacts (.gkm) on CPU or CUDA.

USAGE: gecko-run <command> [options]

COMMANDS:
  devices        List the devices this process can use (CPU, CUDA GPUs).
  version        Print the runtime version and the artifact/ABI versions
                 it accepts.
  inspect MODEL.gkm
                 Verify an artifact and print its versions, target and
                 functions (arguments, results, workspace). Does not load
                 the code, so it works on artifacts for other machines.
  forward MODEL.gkm --weights W.safetensors --tokens T.safetensors
          [--out OUT.safetensors] [--function NAME]
                 Run a function: every `param` argument is bound
                 by name from W, every `input` argument by name from T (the
                 tokens are `input.tokens` or T's only tensor). Prints the
                 result shapes and tokens/s; --out writes every result under
                 its plan name.
  check MODEL.gkm --golden G.safetensors [--weights W.safetensors]
        [--function NAME] [--rtol-output 1e-5] [--rtol-grad 1e-4]
        [--rtol-debug 1e-4]
                 Run functions with params from W (else from G), state args
                 from W/G or zero, and inputs from G, then compare every
                 result G also holds: max abs error and relative error
                 ||a-b||_2/||b||_2 against the tolerance (--rtol-grad for
                 `grad.*`, --rtol-debug for `debug.*`, --rtol-output for the
                 rest). Without --function every function whose inputs are
                 all in G runs (the others are listed as skipped). Exits 0
                 only if at least one result was compared and all passed.
                 On a generate artifact (prefill/decode), replays each
                 streaming case of G (stream*.logits) within
                 [--atol-stream 2e-4]; [--cases a,b] selects cases.
  train MODEL.gkm --data DATA --steps N --checkpoint-dir DIR
        [--checkpoint-every 100] [--keep-checkpoints 3] [--seed 0]
        [--resume] [--lr 3e-4] [--min-lr-ratio 0.1] [--warmup 0]
        [--weights INIT.safetensors] [--metrics FILE.jsonl]
        [--plot FILE.svg] [--stop-at S] [--log-every 10] [--quiet]
        [--function train_step] [--dist auto|local|mpi|threads|nccl]
        [--ranks N] [--bucket-mb 25] [--overlap auto|on|off]
        [--collective-timeout S] [--consistency-check-every 50]
        [--chunk-parallel [--chunk-ranks P] [--chunk-messages auto]]
                 Train with the artifact's train_step function (forward,
                 backward and optimizer run in compiled code). DATA is a
                 GECKOTOK token file or text (byte-level: token = byte).
                 Batches are drawn deterministically from (seed, step); the
                 learning rate warms up linearly over W steps, then decays
                 by cosine to lr * min-lr-ratio at step N. Params come from
                 --weights, else from the plan's init specs and --seed.
                 Checkpoints DIR/step-NNNNNNNN.safetensors are written
                 atomically every K steps and at the end; --resume continues
                 bit-exactly from the newest valid one. The loss curve goes
                 to --plot (default DIR/loss.svg). A NaN/Inf loss stops with
                 exit 1; Ctrl-C stops after the current step, writes a
                 checkpoint and exits 130. docs/training.md has the details.
                 Under mpirun/srun (--dist auto finds the launcher) each of
                 N ranks trains on its rows of an N x B global batch with
                 the artifact's grad + all-reduce + apply_gradients
                 (gecko-compile --data-parallel); rank 0 writes. With a
                 cuda artifact each rank uses the GPU of its index on its
                 host and the gradients are all-reduced by NCCL in device
                 memory (--dist auto picks nccl there). When grad signals
                 its gradients as they become final (artifacts of this
                 gecko-compile), --overlap on reduces buckets of
                 --bucket-mb MiB during the backward pass (the default,
                 auto, is off: after it; docs/distributed.md says why). A
                 rank that dies or hangs ends the job within the collective
                 timeout.
                 --ranks N runs the N ranks as threads of this one process
                 instead (no launcher; --dist threads reduces on the host,
                 the default with a cpu artifact): with a cuda artifact
                 rank r drives cuda:r and NCCL reduces in device memory
                 (--dist auto or nccl). Same data split, checkpoints and
                 failure handling as under mpirun; an error on any rank
                 ends the process.
                 With --chunk-parallel (an artifact of
                 gecko-compile --mode chunk-train --seq-len L) the N ranks
                 split every sequence of N x L tokens: rank r runs tokens
                 [r L, (r+1) L), the stream state passes from rank to rank
                 forward and its cotangent backward, the gradients are
                 summed and every rank applies the same AdamW step.
                 --chunk-ranks P splits the N ranks into N/P data-parallel
                 replicas of P consecutive ranks (a global batch of N/P x B
                 sequences of P x L tokens). --chunk-messages host|device
                 passes the state through host memory (MPI) or from GPU
                 to GPU (NCCL); auto: device where NCCL runs.
                 docs/distributed.md has the details.
  bench MODEL.gkm [--function NAME] [--warmup 3] [--iters 10]
        [--weights W.safetensors] [--graph]
                 Time one function with its buffers bound once (on the GPU
                 for a cuda artifact): params/state from W or synthetic,
                 inputs synthetic (integer ids inside their declared range).
                 Prints the median, min and max milliseconds per call over
                 the iterations, each waited for (CUDA events on a GPU,
                 steady_clock on the CPU); --graph replays a CUDA graph of
                 the call instead of launching eagerly.
  help           Print this message.

OPTIONS:
  -h, --help     Print this message (also after a command).
  --device       cpu, cuda or cuda:N: where forward, check, train, generate,
                 stream and bench run (default: the artifact's target, so a
                 cpu artifact on the CPU and a cuda artifact on cuda:0).
  --function     The plan function to run (default: `forward` if the
                 artifact has one, else its only function).

Exit status: 0 success, 1 error or failed check, 2 usage error,
130 training interrupted (after writing a checkpoint).
)";

int usageError(const std::string &msg) {
  std::fprintf(stderr, "gecko-run: error: %s (see gecko-run --help)\n",
               msg.c_str());
  return 2;
}

int fail(const Status &s) {
  std::fprintf(stderr, "gecko-run: error: %s\n", s.message().c_str());
  return 1;
}

int fail(const std::string &msg) {
  std::fprintf(stderr, "gecko-run: error: %s\n", msg.c_str());
  return 1;
}

std::string humanBytes(uint64_t bytes) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = double(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", value, units[unit]);
  return buf;
}

//===----------------------------------------------------------------------===//
// Command-line parsing
//===----------------------------------------------------------------------===//

/// One positional argument (the artifact) and `--name value` options.
struct ParsedArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
};

/// Parses `args` (after the command). `allowed` lists the options that take
/// a value. Returns an error message, or "" on success.
std::string parseArgs(const std::vector<std::string> &args,
                      const std::vector<std::string> &allowed, ParsedArgs &out,
                      const std::vector<std::string> &flags = {}) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &a = args[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      out.positional.push_back(a);
      continue;
    }
    std::string name = a, value;
    bool hasValue = false;
    size_t eq = a.find('=');
    if (eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      hasValue = true;
    }
    bool isFlag = false;
    for (const std::string &k : flags)
      isFlag = isFlag || k == name;
    if (isFlag) {
      if (hasValue)
        return "option '" + name + "' takes no value";
      if (out.options.count(name))
        return "option '" + name + "' given twice";
      out.options[name] = "1";
      continue;
    }
    bool known = false;
    for (const std::string &k : allowed)
      known = known || k == name;
    if (!known)
      return "unknown option '" + name + "'";
    if (!hasValue) {
      if (i + 1 >= args.size())
        return "option '" + name + "' needs a value";
      value = args[++i];
    }
    if (out.options.count(name))
      return "option '" + name + "' given twice";
    out.options[name] = value;
  }
  return "";
}

bool parseDouble(const std::string &s, double &out) {
  if (s.empty())
    return false;
  char *end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end && *end == '\0' && std::isfinite(out) && out >= 0;
}

/// The function to run: --function, else `forward`, else the only one.
StatusOr<const FunctionPlan *> selectFunction(const ArtifactPlan &plan,
                                              const std::string &source,
                                              const ParsedArgs &pa) {
  auto it = pa.options.find("--function");
  std::string name;
  if (it != pa.options.end())
    name = it->second;
  else if (plan.findFunction("forward"))
    name = "forward";
  else if (plan.functions.size() == 1)
    name = plan.functions[0].name;
  if (const FunctionPlan *f = name.empty() ? nullptr : plan.findFunction(name))
    return f;
  std::string names;
  for (const FunctionPlan &f : plan.functions)
    names += (names.empty() ? "" : ", ") + ("'" + f.name + "'");
  if (name.empty())
    return invalidArgument(source + " has several functions (" + names +
                           "); choose one with --function");
  return notFound(source + ": no function '" + name + "' (the artifact has " +
                  names + ")");
}

//===----------------------------------------------------------------------===//
// --device
//===----------------------------------------------------------------------===//

/// The value of --device (any command that runs code), "" when absent.
std::string gDeviceSpec;
/// The device --device opened; it outlives every Executable.
std::unique_ptr<Device> gDevice;

/// Removes `--device X` / `--device=X` from `args` into gDeviceSpec.
std::string takeDeviceOption(std::vector<std::string> &args) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string value;
    size_t n = 1;
    if (args[i] == "--device") {
      if (i + 1 >= args.size())
        return "option '--device' needs a value";
      value = args[i + 1];
      n = 2;
    } else if (args[i].rfind("--device=", 0) == 0) {
      value = args[i].substr(9);
    } else {
      continue;
    }
    if (!gDeviceSpec.empty())
      return "option '--device' given twice";
    bool ok = value == "cpu" || value == "cuda";
    if (!ok && value.rfind("cuda:", 0) == 0 && value.size() > 5) {
      ok = true;
      for (size_t k = 5; k < value.size(); ++k)
        ok = ok && std::isdigit(static_cast<unsigned char>(value[k]));
    }
    if (!ok)
      return "--device takes cpu, cuda or cuda:N, not '" + value + "'";
    gDeviceSpec = value;
    args.erase(args.begin() + long(i), args.begin() + long(i + n));
    --i;
  }
  return "";
}

/// Loads `path` on --device, or where its target says (cpu artifacts on the
/// CPU, cuda artifacts on cuda:0) without it.
StatusOr<std::unique_ptr<Executable>> loadExecutable(const std::string &path) {
  LoadOptions options;
  if (!gDeviceSpec.empty() && !gDevice) {
    if (gDeviceSpec == "cpu") {
      gDevice = createCpuDevice();
    } else {
      int ordinal =
          gDeviceSpec == "cuda" ? 0 : std::atoi(gDeviceSpec.c_str() + 5);
      StatusOr<std::unique_ptr<Device>> gpu = createCudaDevice(ordinal);
      if (!gpu.isOk())
        return gpu.status().withContext("--device " + gDeviceSpec);
      gDevice = std::move(gpu).value();
    }
  }
  options.device = gDevice.get();
  return Executable::load(path, options);
}

//===----------------------------------------------------------------------===//
// Commands
//===----------------------------------------------------------------------===//

int runDevices() {
  std::vector<std::string> notes;
  std::vector<DeviceInfo> devices = enumerateDevices(&notes);
  for (const DeviceInfo &d : devices) {
    std::printf("%s:%d  %s  memory %s", deviceKindName(d.kind), d.ordinal,
                d.name.c_str(), humanBytes(d.totalMemory).c_str());
    if (d.kind == DeviceKind::kCuda)
      std::printf("  sm_%d  %d SMs", d.computeCapability, d.multiprocessors);
    else
      std::printf("  %d cores", d.multiprocessors);
    std::printf("\n");
  }
  for (const std::string &note : notes)
    std::printf("note: %s\n", note.c_str());
  return 0;
}

int runVersion() {
  std::printf("gecko-run %s (artifact format v%d, kernel ABI v%d to v%d, "
              "cuda %s, sentencepiece %s)\n",
              GECKO_VERSION_STRING, GECKO_ARTIFACT_FORMAT_VERSION,
              GECKO_KERNEL_ABI_MIN_VERSION, GECKO_KERNEL_ABI_VERSION,
#ifdef GECKO_HAVE_CUDA
              "enabled",
#else
              "disabled",
#endif
              sentencePieceSupported() ? "enabled" : "disabled");
  return 0;
}

int runInspect(const std::vector<std::string> &args) {
  ParsedArgs pa;
  std::string err = parseArgs(args, {}, pa);
  if (!err.empty())
    return usageError("inspect: " + err);
  if (pa.positional.size() != 1)
    return usageError("inspect takes exactly one artifact path");
  const std::string &path = pa.positional[0];
  StatusOr<ParsedArtifact> art = readArtifact(path);
  if (!art.isOk())
    return fail(art.status());
  const ArtifactHeader &h = art->header;
  const ArtifactPlan &plan = art->plan;
  std::printf("artifact %s\n", path.c_str());
  std::printf("  format v%u, kernel ABI v%u, producer '%s'\n", h.formatVersion,
              h.kernelAbiVersion, plan.producer.c_str());
  std::printf("  %llu bytes: plan %llu bytes at %llu, code %llu bytes at "
              "%llu (checksums OK)\n",
              (unsigned long long)h.fileSize, (unsigned long long)h.planSize,
              (unsigned long long)h.planOffset, (unsigned long long)h.codeSize,
              (unsigned long long)h.codeOffset);
  std::printf("  target %s %s (%s)\n", plan.target.kind.c_str(),
              plan.target.triple.c_str(), plan.target.codeFormat.c_str());
  std::printf("  precision %s%s\n", plan.precision.c_str(),
              plan.precision == "bf16"
                  ? " (matrix products: bf16 operands, f32 accumulation)"
                  : "");
  if (plan.target.kind == "cuda") {
    std::printf("  device image: chip %s, format %s, %zu kernel%s\n",
                plan.target.chip.c_str(), plan.target.deviceImageFormat.c_str(),
                plan.target.kernels.size(),
                plan.target.kernels.size() == 1 ? "" : "s");
    for (size_t i = 0; i < plan.target.kernels.size(); ++i)
      std::printf("    kernel %zu: %s\n", i, plan.target.kernels[i].c_str());
  }
  if (!plan.modelJson.empty())
    std::printf("  model %s\n", plan.modelJson.c_str());
  for (const FunctionPlan &f : plan.functions) {
    std::printf("function '%s' (mode %s, entry %s)\n", f.name.c_str(),
                f.mode.c_str(), f.entry.c_str());
    std::printf("  args:\n");
    for (const ArgSpec &a : f.args) {
      std::printf("    %-6s %-40s %-5s %s", argKindName(a.kind), a.name.c_str(),
                  elementTypeName(a.dtype), shapeToString(a.shape).c_str());
      if (a.range)
        std::printf("  range [%lld, %lld)", (long long)a.range->lo,
                    (long long)a.range->hi);
      if (a.init) {
        const InitSpec &i = *a.init;
        std::printf("  init %s", initKindName(i.kind));
        if (i.kind == InitKind::kConstant)
          std::printf("(%g)", i.value);
        else if (i.kind == InitKind::kNormal ||
                 i.kind == InitKind::kComplexRealNormal)
          std::printf("(mean %g, std %g)", i.mean, i.stddev);
        else if (i.kind == InitKind::kTruncatedNormal)
          std::printf("(mean %g, std %g, [%g, %g])", i.mean, i.stddev, i.a,
                      i.b);
        else if (i.kind == InitKind::kUniform)
          std::printf("[%g, %g)", i.a, i.b);
      }
      std::printf("\n");
    }
    std::printf("  results:\n");
    for (const TensorSpec &r : f.results)
      std::printf("    %-6s %-40s %-5s %s\n", "", r.name.c_str(),
                  elementTypeName(r.dtype), shapeToString(r.shape).c_str());
    std::printf("  workspace: %llu bytes (alignment %llu), %zu planned "
                "buffer%s\n",
                (unsigned long long)f.workspace.bytes,
                (unsigned long long)f.workspace.alignment, f.buffers.size(),
                f.buffers.size() == 1 ? "" : "s");
    for (const CollectiveSpec &c : f.collectives) {
      std::string names;
      for (const std::string &t : c.tensors)
        names += (names.empty() ? "" : ", ") + t;
      std::printf("  collective before the call: %s (%s) over group '%s' of "
                  "%zu input%s: %s\n",
                  c.op.c_str(), c.reduction.c_str(), c.group.c_str(),
                  c.tensors.size(), c.tensors.size() == 1 ? "" : "s",
                  names.c_str());
    }
    if (!f.signals.empty())
      std::printf("  ready signals (in program order; the results each one "
                  "makes final):\n");
    for (const SignalSpec &sg : f.signals) {
      std::string names;
      for (const std::string &t : sg.tensors)
        names += (names.empty() ? "" : ", ") + t;
      std::printf("    signal %u: %s\n", sg.id, names.c_str());
    }
  }
  return 0;
}

/// Names of the args of `f` of `kind`.
std::vector<std::string> argNames(const FunctionPlan &f, ArgKind kind) {
  std::vector<std::string> names;
  for (const ArgSpec &a : f.args)
    if (a.kind == kind)
      names.push_back(a.name);
  return names;
}

/// The param and state args of `f` from `file`; state args the file lacks
/// start at zero (as they do in training).
StatusOr<TensorMap> loadPersistent(const SafetensorsFile &file,
                                   const FunctionPlan &f) {
  std::vector<std::string> names = argNames(f, ArgKind::kParam);
  for (const std::string &n : argNames(f, ArgKind::kState))
    names.push_back(n);
  GECKO_ASSIGN_OR_RETURN(TensorMap out, loadTensors(file, names));
  for (const ArgSpec &a : f.args)
    if (a.kind == ArgKind::kState && !out.count(a.name)) {
      GECKO_ASSIGN_OR_RETURN(HostTensor z, HostTensor::zeros(a.dtype, a.shape));
      out.emplace(a.name, std::move(z));
    }
  return out;
}

/// Loads the artifact and picks the function of --function (or the
/// default); on failure returns the exit status (usage error for a bad
/// --function, error otherwise).
std::optional<int> loadAndSelect(const std::string &path, const ParsedArgs &pa,
                                 std::unique_ptr<Executable> &exe,
                                 const FunctionPlan *&fn) {
  StatusOr<std::unique_ptr<Executable>> loaded = loadExecutable(path);
  if (!loaded.isOk())
    return fail(loaded.status());
  StatusOr<const FunctionPlan *> selected =
      selectFunction((*loaded)->plan(), path, pa);
  if (!selected.isOk())
    return selected.status().code() == StatusCode::kInvalidArgument
               ? usageError(selected.status().message())
               : fail(selected.status());
  exe = std::move(loaded).value();
  fn = *selected;
  return std::nullopt;
}

int runForward(const std::vector<std::string> &args) {
  ParsedArgs pa;
  std::string err =
      parseArgs(args, {"--weights", "--tokens", "--out", "--function"}, pa);
  if (!err.empty())
    return usageError("forward: " + err);
  if (pa.positional.size() != 1)
    return usageError("forward takes exactly one artifact path");
  if (!pa.options.count("--weights") || !pa.options.count("--tokens"))
    return usageError("forward needs --weights and --tokens");
  const std::string &path = pa.positional[0];

  std::unique_ptr<Executable> exe;
  const FunctionPlan *fn = nullptr;
  if (std::optional<int> rc = loadAndSelect(path, pa, exe, fn))
    return *rc;
  const FunctionPlan &f = *fn;

  StatusOr<SafetensorsFile> weights =
      SafetensorsFile::open(pa.options["--weights"]);
  if (!weights.isOk())
    return fail(weights.status());
  StatusOr<TensorMap> params = loadPersistent(*weights, f);
  if (!params.isOk())
    return fail(params.status());

  StatusOr<SafetensorsFile> tokens =
      SafetensorsFile::open(pa.options["--tokens"]);
  if (!tokens.isOk())
    return fail(tokens.status());
  std::vector<std::string> inputNames = argNames(f, ArgKind::kInput);
  StatusOr<TensorMap> inputs = loadTensors(*tokens, inputNames);
  if (!inputs.isOk())
    return fail(inputs.status());
  // The tokens may be the file's only tensor under any name.
  bool wantsTokens = false;
  for (const std::string &n : inputNames)
    wantsTokens = wantsTokens || n == "input.tokens";
  if (wantsTokens && !inputs->count("input.tokens") &&
      tokens->names().size() == 1) {
    StatusOr<HostTensor> t =
        HostTensor::fromSafetensors(*tokens, tokens->names()[0]);
    if (!t.isOk())
      return fail(t.status());
    inputs->emplace("input.tokens", std::move(t).value());
  }

  RunStats stats;
  StatusOr<TensorMap> out = exe->run(f.name, *params, *inputs, &stats);
  if (!out.isOk())
    return fail(out.status());
  std::printf("function '%s': %.4f ms\n", f.name.c_str(),
              stats.kernelSeconds * 1e3);
  for (const TensorSpec &r : f.results) {
    const HostTensor &t = out->at(r.name);
    std::printf("  %-40s %-5s %s", r.name.c_str(), elementTypeName(t.dtype()),
                shapeToString(t.shape()).c_str());
    if (t.numel() == 1)
      std::printf("  = %.8g", t.elementAsDouble(0));
    std::printf("\n");
  }
  auto tok = inputs->find("input.tokens");
  if (tok != inputs->end() && stats.kernelSeconds > 0)
    std::printf("%lld tokens, %.1f tokens/s\n", (long long)tok->second.numel(),
                double(tok->second.numel()) / stats.kernelSeconds);
  if (pa.options.count("--out")) {
    Status s = writeTensors(pa.options["--out"], *out,
                            {{"artifact", path}, {"function", f.name}});
    if (!s.isOk())
      return fail(s);
    std::printf("wrote %s\n", pa.options["--out"].c_str());
  }
  return 0;
}

/// True when the shapes agree once size-1 dims are dropped (e.g. a golden
/// loss stored as [1] against a scalar [] result).
bool compatibleShapes(const std::vector<int64_t> &a,
                      const std::vector<int64_t> &b) {
  auto squeeze = [](const std::vector<int64_t> &s) {
    std::vector<int64_t> out;
    for (int64_t d : s)
      if (d != 1)
        out.push_back(d);
    return out;
  };
  return squeeze(a) == squeeze(b);
}

/// Compares one result against the golden tensor; prints one line. Returns
/// false when it fails.
bool compareResult(const std::string &name, const HostTensor &t,
                   const SafetensorsFile &golden, const TensorInfo &g,
                   double tol, Status &error) {
  if (g.numel() != t.numel() || !compatibleShapes(g.shape, t.shape())) {
    std::printf("%-40s FAIL  shape %s, golden has %s\n", name.c_str(),
                shapeToString(t.shape()).c_str(),
                shapeToString(g.shape).c_str());
    return false;
  }
  StatusOr<std::vector<double>> want = golden.readAsF64(name);
  if (!want.isOk()) {
    error = want.status();
    return false;
  }
  std::vector<double> got = t.toF64();
  double maxAbs = 0, diff2 = 0, ref2 = 0;
  bool nonFinite = false;
  for (size_t i = 0; i < got.size(); ++i) {
    double d = got[i] - (*want)[i];
    if (!std::isfinite(got[i]) || !std::isfinite(d))
      nonFinite = true;
    maxAbs = std::max(maxAbs, std::fabs(d));
    diff2 += d * d;
    ref2 += (*want)[i] * (*want)[i];
  }
  double rel = ref2 > 0 ? std::sqrt(diff2 / ref2) : (diff2 > 0 ? INFINITY : 0);
  bool pass = !nonFinite && rel <= tol;
  std::printf("%-40s max_abs %.3e  rel %.3e  tol %.1e  %s%s\n", name.c_str(),
              maxAbs, rel, tol, pass ? "PASS" : "FAIL",
              nonFinite ? " (non-finite values)" : "");
  return pass;
}

bool hasStreamFunctions(const ArtifactPlan &plan);
int runCheckStream(const Executable &exe, const SafetensorsFile &golden,
                   const SafetensorsFile &weights, double atol,
                   const std::string &cases);

int runCheck(const std::vector<std::string> &args) {
  ParsedArgs pa;
  std::string err =
      parseArgs(args,
                {"--golden", "--weights", "--function", "--rtol-output",
                 "--rtol-grad", "--rtol-debug", "--atol-stream", "--cases"},
                pa);
  if (!err.empty())
    return usageError("check: " + err);
  if (pa.positional.size() != 1)
    return usageError("check takes exactly one artifact path");
  if (!pa.options.count("--golden"))
    return usageError("check needs --golden");
  double rtolOutput = 1e-5, rtolGrad = 1e-4, rtolDebug = 1e-4;
  if (pa.options.count("--rtol-output") &&
      !parseDouble(pa.options["--rtol-output"], rtolOutput))
    return usageError("--rtol-output needs a non-negative number");
  if (pa.options.count("--rtol-grad") &&
      !parseDouble(pa.options["--rtol-grad"], rtolGrad))
    return usageError("--rtol-grad needs a non-negative number");
  if (pa.options.count("--rtol-debug") &&
      !parseDouble(pa.options["--rtol-debug"], rtolDebug))
    return usageError("--rtol-debug needs a non-negative number");
  double atolStream = 2e-4;
  if (pa.options.count("--atol-stream") &&
      !parseDouble(pa.options["--atol-stream"], atolStream))
    return usageError("--atol-stream needs a non-negative number");
  const std::string &path = pa.positional[0];

  StatusOr<std::unique_ptr<Executable>> exe = loadExecutable(path);
  if (!exe.isOk())
    return fail(exe.status());
  const ArtifactPlan &plan = (*exe)->plan();
  // --function, else the only function, else every function that binds.
  std::vector<const FunctionPlan *> functions;
  bool all = false;
  if (pa.options.count("--function") || plan.functions.size() == 1) {
    StatusOr<const FunctionPlan *> fn = selectFunction(plan, path, pa);
    if (!fn.isOk())
      return fail(fn.status());
    functions.push_back(*fn);
  } else {
    all = true;
    for (const FunctionPlan &f : plan.functions)
      functions.push_back(&f);
  }

  StatusOr<SafetensorsFile> golden =
      SafetensorsFile::open(pa.options["--golden"]);
  if (!golden.isOk())
    return fail(golden.status());
  StatusOr<SafetensorsFile> weights = golden;
  if (pa.options.count("--weights")) {
    weights = SafetensorsFile::open(pa.options["--weights"]);
    if (!weights.isOk())
      return fail(weights.status());
  }

  // A generate artifact against a streaming golden: replay the cases.
  if (!pa.options.count("--function") && hasStreamFunctions(plan)) {
    bool streamGolden = false;
    for (const std::string &n : golden->names())
      streamGolden =
          streamGolden || (n.rfind("stream", 0) == 0 && n.size() > 7 &&
                           n.compare(n.size() - 7, 7, ".logits") == 0);
    if (streamGolden)
      return runCheckStream(**exe, *golden, *weights, atolStream,
                            pa.options.count("--cases") ? pa.options["--cases"]
                                                        : std::string());
  }

  int compared = 0, failed = 0, ran = 0;
  std::vector<std::string> absent, skipped, ranNames;
  for (const FunctionPlan *fp : functions) {
    const FunctionPlan &f = *fp;
    std::vector<std::string> inputNames = argNames(f, ArgKind::kInput);
    std::string missing;
    for (const std::string &n : inputNames)
      if (!golden->find(n))
        missing += (missing.empty() ? "" : ", ") + ("'" + n + "'");
    if (all && !missing.empty()) {
      skipped.push_back("'" + f.name + "' (missing input " + missing + ")");
      continue;
    }
    StatusOr<TensorMap> params = loadPersistent(*weights, f);
    if (!params.isOk())
      return fail(params.status());
    StatusOr<TensorMap> inputs = loadTensors(*golden, inputNames);
    if (!inputs.isOk())
      return fail(inputs.status());

    RunStats stats;
    StatusOr<TensorMap> out = (*exe)->run(f.name, *params, *inputs, &stats);
    if (!out.isOk())
      return fail(out.status());
    ++ran;
    ranNames.push_back("'" + f.name + "'");
    std::printf("function '%s': %.4f ms; comparing against %s\n",
                f.name.c_str(), stats.kernelSeconds * 1e3,
                golden->path().c_str());
    for (const TensorSpec &r : f.results) {
      const TensorInfo *g = golden->find(r.name);
      if (!g) {
        absent.push_back(f.name + ": " + r.name);
        continue;
      }
      ++compared;
      double tol = r.name.rfind("grad.", 0) == 0    ? rtolGrad
                   : r.name.rfind("debug.", 0) == 0 ? rtolDebug
                                                    : rtolOutput;
      Status error;
      if (!compareResult(r.name, out->at(r.name), *golden, *g, tol, error)) {
        if (!error.isOk())
          return fail(error);
        ++failed;
      }
    }
  }
  for (const std::string &n : absent)
    std::printf("%-40s not in golden\n", n.c_str());
  for (const std::string &n : skipped)
    std::printf("skipped function %s\n", n.c_str());
  std::printf("%d compared, %d passed, %d failed, %zu not in golden", compared,
              compared - failed, failed, absent.size());
  if (all)
    std::printf(", %d function%s run, %zu skipped", ran, ran == 1 ? "" : "s",
                skipped.size());
  std::printf("\n");
  if (ran == 0) {
    std::string list;
    for (const std::string &n : skipped)
      list += "\n  " + n;
    return fail("no function of " + path + " can be bound from " +
                golden->path() + ":" + list);
  }
  if (compared == 0) {
    std::string names;
    for (const std::string &n : ranNames)
      names += (names.empty() ? "" : ", ") + n;
    return fail("no result of function" + std::string(ran == 1 ? " " : "s ") +
                names + " is in " + golden->path());
  }
  if (failed > 0)
    return fail(std::to_string(failed) + " of " + std::to_string(compared) +
                " compared results exceed their tolerance");
  return 0;
}

bool parseInt64(const std::string &s, int64_t &out, int64_t min) {
  if (s.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (!end || *end || errno == ERANGE || v < min)
    return false;
  out = v;
  return true;
}

//===----------------------------------------------------------------------===//
// Streaming: generate, stream, and check's stream replay
//===----------------------------------------------------------------------===//

/// Loads `path` and builds a Stream with the param args from `weightsPath`.
StatusOr<std::unique_ptr<Stream>> openStream(const Executable &exe,
                                             const std::string &weightsPath) {
  GECKO_ASSIGN_OR_RETURN(SafetensorsFile weights,
                         SafetensorsFile::open(weightsPath));
  const FunctionPlan *decode = exe.plan().findFunction("decode");
  for (const FunctionPlan &f : exe.plan().functions)
    if (!decode && f.mode == "decode")
      decode = &f;
  std::vector<std::string> names;
  if (decode)
    names = argNames(*decode, ArgKind::kParam);
  GECKO_ASSIGN_OR_RETURN(TensorMap params, loadTensors(weights, names));
  return Stream::create(exe, std::move(params));
}

bool hasStreamFunctions(const ArtifactPlan &plan) {
  for (const FunctionPlan &f : plan.functions)
    if (f.name == "decode" || f.mode == "decode")
      return true;
  return false;
}

/// Parses "1,2,3" (commas or spaces) into token ids.
bool parseIdList(const std::string &text, std::vector<int64_t> &out) {
  std::string cur;
  auto flush = [&]() {
    if (cur.empty())
      return true;
    int64_t v = 0;
    if (!parseInt64(cur, v, 0))
      return false;
    out.push_back(v);
    cur.clear();
    return true;
  };
  for (char c : text) {
    if (c == ',' || c == ' ' || c == '\n' || c == '\t') {
      if (!flush())
        return false;
    } else {
      cur += c;
    }
  }
  return flush();
}

void printStreamStats(const StreamStats &s) {
  auto rate = [](int64_t n, double sec) {
    return sec > 0 ? double(n) / sec : 0;
  };
  std::fprintf(stderr,
               "prefill: %lld tokens in %lld calls, %.4f s, %.1f tokens/s\n",
               (long long)s.prefillTokens, (long long)s.prefillCalls,
               s.prefillSeconds, rate(s.prefillTokens, s.prefillSeconds));
  std::fprintf(stderr,
               "decode:  %lld tokens in %lld calls, %.4f s, %.1f tokens/s\n",
               (long long)s.decodeTokens, (long long)s.decodeCalls,
               s.decodeSeconds, rate(s.decodeTokens, s.decodeSeconds));
}

/// Notes on stderr where a tokenizer and the artifact's model disagree: a
/// tokenizer vocabulary larger than the model's (prompts may hit ids the
/// model lacks; generated ids never do), or a BOS id other than the model
/// config's `bos_id` (which marks documents for `multi_segments` models).
void noteTokenizerMismatch(const Tokenizer &tok, const Executable &exe,
                           int64_t modelVocab, bool addedBos) {
  if (tok.vocabSize() > modelVocab)
    std::fprintf(stderr,
                 "note: the tokenizer's vocabulary (%lld pieces) is larger "
                 "than the model's (%lld)\n",
                 (long long)tok.vocabSize(), (long long)modelVocab);
  const std::string &model = exe.plan().modelJson;
  if (!addedBos || model.empty())
    return;
  nlohmann::json j = nlohmann::json::parse(model, nullptr, false);
  if (j.is_object() && j.contains("bos_id") &&
      j["bos_id"].is_number_integer() &&
      j["bos_id"].get<int64_t>() != tok.bosId())
    std::fprintf(stderr,
                 "note: the tokenizer's BOS id %lld (prepended to the "
                 "prompt) differs from the model config's bos_id %lld\n",
                 (long long)tok.bosId(), (long long)j["bos_id"].get<int64_t>());
}

int runGenerate(const std::vector<std::string> &args) {
  ParsedArgs pa;
  std::string err =
      parseArgs(args,
                {"--weights", "--prompt", "--prompt-file", "--prompt-ids",
                 "--max-tokens", "--temperature", "--top-k", "--top-p",
                 "--seed", "--state-in", "--state-out", "--tokenizer"},
                pa, {"--quiet", "--no-bos"});
  if (!err.empty())
    return usageError("generate: " + err);
  if (pa.positional.size() != 1)
    return usageError("generate takes exactly one artifact path");
  if (!pa.options.count("--weights"))
    return usageError("generate needs --weights");
  int prompts = int(pa.options.count("--prompt")) +
                int(pa.options.count("--prompt-file")) +
                int(pa.options.count("--prompt-ids"));
  if (prompts > 1)
    return usageError(
        "give only one of --prompt, --prompt-file and --prompt-ids");
  if (prompts == 0 && !pa.options.count("--state-in"))
    return usageError("generate needs --prompt, --prompt-file or --prompt-ids "
                      "(optional only with --state-in)");
  std::string tokenizerSpec = "byte";
  if (pa.options.count("--tokenizer")) {
    tokenizerSpec = pa.options["--tokenizer"];
    if (tokenizerSpec != "byte" &&
        (tokenizerSpec.rfind("sentencepiece:", 0) != 0 ||
         tokenizerSpec.size() == std::strlen("sentencepiece:")))
      return usageError("--tokenizer must be 'byte' or 'sentencepiece:MODEL'");
  }
  GenerateOptions go;
  int64_t v = 0;
  double d = 0;
  if (pa.options.count("--max-tokens")) {
    if (!parseInt64(pa.options["--max-tokens"], v, 0))
      return usageError("--max-tokens needs a non-negative integer");
    go.maxTokens = v;
  }
  if (pa.options.count("--temperature")) {
    if (!parseDouble(pa.options["--temperature"], d))
      return usageError("--temperature needs a non-negative number");
    go.sampling.temperature = d;
  }
  if (pa.options.count("--top-k")) {
    if (!parseInt64(pa.options["--top-k"], v, 0))
      return usageError("--top-k needs a non-negative integer");
    go.sampling.topK = v;
  }
  if (pa.options.count("--top-p")) {
    if (!parseDouble(pa.options["--top-p"], d) || d <= 0 || d > 1)
      return usageError("--top-p needs a number in (0, 1]");
    go.sampling.topP = d;
  }
  if (pa.options.count("--seed")) {
    const std::string &text = pa.options["--seed"];
    char *end = nullptr;
    errno = 0;
    unsigned long long seed = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || text[0] == '-' || !end || *end || errno == ERANGE)
      return usageError("--seed needs a non-negative integer");
    go.sampling.seed = uint64_t(seed);
  }
  const bool quiet = pa.options.count("--quiet") > 0;
  const bool resuming = pa.options.count("--state-in") > 0;

  StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      createTokenizer(tokenizerSpec);
  if (!tokenizer.isOk())
    return fail("--tokenizer " + tokenizerSpec + ": " +
                tokenizer.status().message());
  const Tokenizer &tok = **tokenizer;
  const bool byteTokenizer = tokenizerSpec == "byte";

  // The prompt: the tokenized text, or explicit ids. A tokenizer with a BOS
  // (SentencePiece) starts a fresh stream with it, as its models were
  // trained; a resumed stream continues its text without one.
  std::vector<int64_t> prompt;
  bool textPrompt = true, addedBos = false;
  std::string text;
  if (pa.options.count("--prompt")) {
    text = pa.options["--prompt"];
  } else if (pa.options.count("--prompt-file")) {
    const std::string &pf = pa.options["--prompt-file"];
    FILE *f = std::fopen(pf.c_str(), "rb");
    if (!f)
      return fail(pf + ": " + std::strerror(errno));
    int c;
    while ((c = std::fgetc(f)) != EOF)
      text += char(c);
    std::fclose(f);
  } else if (pa.options.count("--prompt-ids")) {
    textPrompt = false;
    if (!parseIdList(pa.options["--prompt-ids"], prompt))
      return usageError("--prompt-ids needs non-negative integers separated "
                        "by commas");
  }
  if (textPrompt && prompts > 0) {
    StatusOr<std::vector<int64_t>> ids = tok.encode(text);
    if (!ids.isOk())
      return fail(ids.status());
    if (tok.bosId() >= 0 && !resuming && !pa.options.count("--no-bos")) {
      prompt.push_back(tok.bosId());
      addedBos = true;
    }
    prompt.insert(prompt.end(), ids->begin(), ids->end());
  }

  const std::string &path = pa.positional[0];
  StatusOr<std::unique_ptr<Executable>> exe = loadExecutable(path);
  if (!exe.isOk())
    return fail(exe.status());
  StatusOr<std::unique_ptr<Stream>> stream =
      openStream(**exe, pa.options["--weights"]);
  if (!stream.isOk())
    return fail(stream.status());
  Stream &s = **stream;
  if (textPrompt) {
    Status st = tok.checkFits(prompt, s.vocab());
    if (!st.isOk())
      return fail(st.message() + " (or pass --prompt-ids)");
  } else {
    for (size_t i = 0; i < prompt.size(); ++i)
      if (prompt[i] >= s.vocab())
        return fail("prompt token " + std::to_string(prompt[i]) + " at index " +
                    std::to_string(i) +
                    " is outside the model's vocabulary [0, " +
                    std::to_string(s.vocab()) + ")");
  }
  if (!byteTokenizer && !quiet)
    noteTokenizerMismatch(tok, **exe, s.vocab(), addedBos);
  if (pa.options.count("--state-in")) {
    Status st = s.loadState(pa.options["--state-in"]);
    if (!st.isOk())
      return fail(st);
    if (!quiet)
      std::fprintf(stderr, "resumed stream at position %lld from %s\n",
                   (long long)s.position(), pa.options["--state-in"].c_str());
  }

  // Row 0 prints as it is generated, up to its end-of-sequence token.
  go.stopToken = tok.eosId();
  std::unique_ptr<TextDecoder> printer = tok.newDecoder(prompt);
  bool row0Ended = false;
  go.onTokens = [&](int64_t, const std::vector<int64_t> &tokens) {
    if (row0Ended)
      return true;
    row0Ended = go.stopToken >= 0 && tokens[0] == go.stopToken;
    std::string out = row0Ended ? printer->flush() : printer->push(tokens[0]);
    if (!out.empty()) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  StatusOr<GenerateResult> r = generate(s, prompt, int64_t(prompt.size()), go);
  if (!row0Ended) {
    std::string tail = printer->flush();
    std::fwrite(tail.data(), 1, tail.size(), stdout);
  }
  if (!r.isOk()) {
    std::fflush(stdout);
    return fail(r.status());
  }
  for (int64_t b = 1; b < s.batch(); ++b) {
    std::unique_ptr<TextDecoder> p = tok.newDecoder(prompt);
    std::string out = "\n--- row " + std::to_string(b) + " ---\n";
    for (int64_t t : r->tokens[size_t(b)]) {
      if (t == go.stopToken)
        break;
      out += p->push(t);
    }
    out += p->flush();
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  if (go.maxTokens > 0)
    std::fputc('\n', stdout);
  std::fflush(stdout);
  if (pa.options.count("--state-out")) {
    Status st =
        s.saveState(pa.options["--state-out"], {{"producer", "gecko-run"}});
    if (!st.isOk())
      return fail(st);
  }
  if (!quiet) {
    const int64_t n = int64_t(r->tokens[0].size());
    std::fprintf(stderr,
                 "prompt %lld tokens in %.4f s (%.1f tokens/s); generated "
                 "%lld tokens in %.4f s (%.1f tokens/s); batch %lld, stream "
                 "position %lld\n",
                 (long long)r->promptTokens, r->promptSeconds,
                 r->promptSeconds > 0
                     ? double(r->promptTokens * s.batch()) / r->promptSeconds
                     : 0.0,
                 (long long)n, r->generateSeconds,
                 r->generateSeconds > 0
                     ? double(n * s.batch()) / r->generateSeconds
                     : 0.0,
                 (long long)s.batch(), (long long)s.position());
    bool stopped = go.stopToken >= 0 && n > 0;
    for (const std::vector<int64_t> &row : r->tokens)
      stopped = stopped &&
                std::find(row.begin(), row.end(), go.stopToken) != row.end();
    if (stopped)
      std::fprintf(stderr,
                   "stopped at the end-of-sequence token %lld (every row "
                   "generated it)\n",
                   (long long)go.stopToken);
    printStreamStats(s.stats());
    if (pa.options.count("--state-out"))
      std::fprintf(stderr, "wrote stream state %s\n",
                   pa.options["--state-out"].c_str());
  }
  return 0;
}

/// A field of /proc/self/status in KiB ("VmHWM", "VmRSS"); -1 if absent.
long long procStatusKiB(const char *field) {
  FILE *f = std::fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  char line[256];
  long long value = -1;
  size_t n = std::strlen(field);
  while (std::fgets(line, sizeof(line), f))
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      value = std::atoll(line + n + 1);
      break;
    }
  std::fclose(f);
  return value;
}

int runStream(const std::vector<std::string> &args) {
  ParsedArgs pa;
  std::string err = parseArgs(args,
                              {"--weights", "--tokens", "--report-every",
                               "--data", "--seed", "--state-out"},
                              pa, {"--decode-only"});
  if (!err.empty())
    return usageError("stream: " + err);
  if (pa.positional.size() != 1)
    return usageError("stream takes exactly one artifact path");
  if (!pa.options.count("--weights"))
    return usageError("stream needs --weights");
  int64_t total = 1000000, every = 100000;
  uint64_t seed = 0;
  if (pa.options.count("--tokens") &&
      !parseInt64(pa.options["--tokens"], total, 1))
    return usageError("--tokens needs a positive integer");
  if (pa.options.count("--report-every") &&
      !parseInt64(pa.options["--report-every"], every, 1))
    return usageError("--report-every needs a positive integer");
  if (pa.options.count("--seed")) {
    int64_t s = 0;
    if (!parseInt64(pa.options["--seed"], s, 0))
      return usageError("--seed needs a non-negative integer");
    seed = uint64_t(s);
  }
  const bool decodeOnly = pa.options.count("--decode-only") > 0;
  const std::string &path = pa.positional[0];
  StatusOr<std::unique_ptr<Executable>> exe = loadExecutable(path);
  if (!exe.isOk())
    return fail(exe.status());
  StatusOr<std::unique_ptr<Stream>> stream =
      openStream(**exe, pa.options["--weights"]);
  if (!stream.isOk())
    return fail(stream.status());
  Stream &s = **stream;
  std::unique_ptr<TokenData> data;
  if (pa.options.count("--data")) {
    StatusOr<std::unique_ptr<TokenData>> d =
        TokenData::open(pa.options["--data"]);
    if (!d.isOk())
      return fail(d.status());
    data = std::move(d).value();
    if (data->size() == 0)
      return fail(data->path() + " holds no tokens");
    Status st = data->checkRange(0, s.vocab());
    if (!st.isOk())
      return fail(st);
  }
  const int64_t batch = s.batch();
  std::printf("streaming %lld tokens x %lld rows through %s (%s; vocabulary "
              "%lld, prefill %lld, chunk %lld, state %s)\n",
              (long long)total, (long long)batch, path.c_str(),
              decodeOnly ? "decode only" : "prefill + decode",
              (long long)s.vocab(), (long long)s.prefillLength(),
              (long long)s.chunkSize(), humanBytes(s.stateBytes()).c_str());
  std::fflush(stdout);
  std::array<uint32_t, 2> key = streamKey(seed, "stream-tokens");
  const int64_t block = std::max<int64_t>(4096, s.prefillLength());
  std::vector<int64_t> tokens;
  using Clock = std::chrono::steady_clock;
  Clock::time_point start = Clock::now(), lastReport = start;
  int64_t done = 0, lastDone = 0;
  long long hwmAtFirst = -1;
  while (done < total) {
    int64_t nextReport = (done / every + 1) * every;
    int64_t n = std::min({block, total - done, nextReport - done});
    tokens.resize(size_t(n * batch));
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < n; ++i) {
        int64_t pos = done + i, tok;
        if (data)
          tok = data->at((pos + b * 7919) % data->size());
        else
          tok =
              int64_t(philox4x32({uint32_t(pos), uint32_t(uint64_t(pos) >> 32),
                                  uint32_t(b), 0},
                                 key)[0] %
                      uint64_t(s.vocab()));
        tokens[size_t(b * n + i)] = tok;
      }
    Status st;
    if (decodeOnly) {
      for (int64_t i = 0; i < n && st.isOk(); ++i)
        st = s.call(StreamCallKind::kDecode, tokens.data() + i, n, 1);
    } else {
      st = s.feed(tokens.data(), n);
    }
    if (!st.isOk())
      return fail(st);
    done += n;
    if (done % every == 0 || done == total) {
      Clock::time_point now = Clock::now();
      double dt = std::chrono::duration<double>(now - lastReport).count();
      long long hwm = procStatusKiB("VmHWM"), rss = procStatusKiB("VmRSS");
      if (hwmAtFirst < 0)
        hwmAtFirst = hwm;
      std::printf("tokens %10lld  %12.1f tokens/s  VmHWM %8.1f MiB  VmRSS "
                  "%8.1f MiB\n",
                  (long long)done,
                  dt > 0 ? double((done - lastDone) * batch) / dt : 0.0,
                  double(hwm) / 1024, double(rss) / 1024);
      std::fflush(stdout);
      lastReport = now;
      lastDone = done;
    }
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  long long hwmEnd = procStatusKiB("VmHWM");
  std::printf("streamed %lld tokens x %lld rows in %.2f s: %.1f tokens/s\n",
              (long long)total, (long long)batch, elapsed,
              elapsed > 0 ? double(total * batch) / elapsed : 0.0);
  const StreamStats &stats = s.stats();
  std::printf("prefill %lld tokens in %lld calls (%.1f tokens/s), decode %lld "
              "tokens in %lld calls (%.1f tokens/s)\n",
              (long long)stats.prefillTokens, (long long)stats.prefillCalls,
              stats.prefillSeconds > 0
                  ? double(stats.prefillTokens) / stats.prefillSeconds
                  : 0.0,
              (long long)stats.decodeTokens, (long long)stats.decodeCalls,
              stats.decodeSeconds > 0
                  ? double(stats.decodeTokens) / stats.decodeSeconds
                  : 0.0);
  // Flat: the peak after the first report grew by at most 1 MiB or 2%.
  long long growth = hwmEnd - hwmAtFirst;
  bool flat = growth <= std::max(1024LL, hwmAtFirst / 50);
  std::printf("peak RSS (VmHWM): %.1f MiB at %lld tokens, %.1f MiB at the end "
              "(%+.1f MiB): memory %s\n",
              double(hwmAtFirst) / 1024, (long long)std::min(every, total),
              double(hwmEnd) / 1024, double(growth) / 1024,
              flat ? "flat" : "GREW");
  if (pa.options.count("--state-out")) {
    Status st =
        s.saveState(pa.options["--state-out"], {{"producer", "gecko-run"}});
    if (!st.isOk())
      return fail(st);
    std::printf("wrote stream state %s\n", pa.options["--state-out"].c_str());
  }
  return 0;
}

/// The prefill length of stream case `name` ("stream", "stream_p16", ...):
/// from the golden's metadata description ("tokens[:, :32] as one prefill
/// call", "a 16-token prefill", "same as stream.logits ..."), else a `_pN`
/// part of the name, else 32.
int64_t casePrefillLength(const SafetensorsFile &golden,
                          const std::string &name, int depth = 0) {
  auto it = golden.metadata().find(name + ".logits");
  if (it != golden.metadata().end() && depth < 4) {
    const std::string &text = it->second;
    size_t p = text.find("tokens[:, :");
    if (p != std::string::npos) {
      int64_t v = std::atoll(text.c_str() + p + 11);
      if (v > 0)
        return v;
    }
    p = text.find("-token prefill");
    if (p != std::string::npos) {
      size_t b = p;
      while (b > 0 && std::isdigit(static_cast<unsigned char>(text[b - 1])))
        --b;
      if (b < p)
        return std::atoll(text.substr(b, p - b).c_str());
    }
    p = text.find("same as ");
    if (p != std::string::npos) {
      size_t e = text.find(".logits", p);
      if (e != std::string::npos && e > p + 8) {
        std::string other = text.substr(p + 8, e - p - 8);
        if (other != name && golden.find(other + ".logits"))
          return casePrefillLength(golden, other, depth + 1);
      }
    }
  }
  size_t p = name.find("_p");
  while (p != std::string::npos) {
    size_t e = p + 2;
    while (e < name.size() && std::isdigit(static_cast<unsigned char>(name[e])))
      ++e;
    if (e > p + 2 && (e == name.size() || name[e] == '_'))
      return std::atoll(name.substr(p + 2, e - p - 2).c_str());
    p = name.find("_p", p + 1);
  }
  return 32;
}

/// The tokens of case `name`: `input.tokens_<part>` for a `_<part>` of the
/// name the golden has (stream_b -> input.tokens_b), else `input.tokens`.
std::string caseTokensName(const SafetensorsFile &golden,
                           const std::string &name) {
  size_t p = name.find('_');
  while (p != std::string::npos) {
    size_t e = name.find('_', p + 1);
    std::string part = name.substr(
        p + 1, e == std::string::npos ? std::string::npos : e - p - 1);
    if (golden.find("input.tokens_" + part))
      return "input.tokens_" + part;
    p = e;
  }
  return "input.tokens";
}

/// Max abs error of `got` against `want`; NaN when any value is non-finite.
double maxAbsError(const std::vector<double> &got,
                   const std::vector<double> &want) {
  double m = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double d = std::fabs(got[i] - want[i]);
    if (!std::isfinite(got[i]) || !std::isfinite(d))
      return NAN;
    m = std::max(m, d);
  }
  return m;
}

/// gecko-run check on a generate artifact: replays each streaming case of
/// the golden (see docs/generation.md) and compares the logits.
int runCheckStream(const Executable &exe, const SafetensorsFile &golden,
                   const SafetensorsFile &weights, double atol,
                   const std::string &cases) {
  // --cases a,b: only these streaming cases (e.g. stream_b needs a model
  // built with multi_segments).
  auto selected = [&](const std::string &name) {
    if (cases.empty())
      return true;
    std::string list = "," + cases + ",";
    return list.find("," + name + ",") != std::string::npos;
  };
  const FunctionPlan *decode = exe.plan().findFunction("decode");
  for (const FunctionPlan &f : exe.plan().functions)
    if (!decode && f.mode == "decode")
      decode = &f;
  StatusOr<TensorMap> params =
      loadTensors(weights, argNames(*decode, ArgKind::kParam));
  if (!params.isOk())
    return fail(params.status());
  StatusOr<std::unique_ptr<Stream>> stream =
      Stream::create(exe, std::move(params).value());
  if (!stream.isOk())
    return fail(stream.status());
  Stream &s = **stream;
  const int64_t P = s.prefillLength(), B = s.batch(), V = s.vocab();
  std::printf("stream replay of %s: batch %lld, prefill %lld, chunk %lld, "
              "atol %.1e\n",
              golden.path().c_str(), (long long)B, (long long)P,
              (long long)s.chunkSize(), atol);
  int compared = 0, failed = 0;
  std::vector<std::string> notes;
  for (const std::string &tensor : golden.names()) {
    const std::string suffix = ".logits";
    if (tensor.rfind("stream", 0) != 0 || tensor.size() <= suffix.size() ||
        tensor.compare(tensor.size() - suffix.size(), suffix.size(), suffix))
      continue;
    const std::string name = tensor.substr(0, tensor.size() - suffix.size());
    if (!selected(name))
      continue;
    const std::string tokName = caseTokensName(golden, name);
    const TensorInfo *ti = golden.find(tokName);
    const TensorInfo *li = golden.find(tensor);
    if (!ti || ti->shape.size() != 2) {
      notes.push_back(name + ": skipped (no [rows, T] tensor '" + tokName +
                      "')");
      continue;
    }
    const int64_t G = ti->shape[0], T = ti->shape[1];
    if (li->shape != std::vector<int64_t>{G, T, V}) {
      std::printf("%-24s FAIL  golden logits %s, expected %s\n", tensor.c_str(),
                  shapeToString(li->shape).c_str(),
                  shapeToString({G, T, V}).c_str());
      ++compared;
      ++failed;
      continue;
    }
    if (G % B != 0) {
      notes.push_back(name + ": skipped (the golden has " + std::to_string(G) +
                      " rows, not a multiple of the artifact's batch " +
                      std::to_string(B) + ")");
      continue;
    }
    int64_t Lp = std::min(casePrefillLength(golden, name), T);
    std::string how;
    if (P == 0) {
      how = "decode only (no prefill function): " + std::to_string(T) +
            " decodes";
    } else if (Lp % P != 0) {
      notes.push_back(name + ": skipped (prefill of " + std::to_string(Lp) +
                      " tokens, not a multiple of the artifact's prefill "
                      "length " +
                      std::to_string(P) + ")");
      continue;
    } else {
      how = "prefill " + std::to_string(Lp) + " (" + std::to_string(Lp / P) +
            " call" + (Lp / P == 1 ? "" : "s") + ") + " +
            std::to_string(T - Lp) + " decodes";
    }
    StatusOr<std::vector<int64_t>> toks = golden.readAsI64(tokName);
    if (!toks.isOk())
      return fail(toks.status());
    StatusOr<std::vector<double>> want = golden.readAsF64(tensor);
    if (!want.isOk())
      return fail(want.status());
    std::vector<double> got(size_t(G * T * V), 0.0);
    for (int64_t g0 = 0; g0 < G; g0 += B) {
      Status st = s.reset();
      const int64_t *rows = toks->data() + g0 * T;
      auto sink = [&](const HostTensor &logits, int64_t first) {
        const int64_t L = logits.shape()[1];
        for (int64_t b = 0; b < B; ++b)
          for (int64_t t = 0; t < L; ++t)
            for (int64_t v = 0; v < V; ++v)
              got[size_t(((g0 + b) * T + first + t) * V + v)] =
                  logits.elementAsDouble((b * L + t) * V + v);
      };
      int64_t pos = 0;
      if (P > 0)
        for (; st.isOk() && pos < Lp; pos += P)
          st = s.call(StreamCallKind::kPrefill, rows + pos, T, P, sink);
      for (; st.isOk() && pos < T; ++pos)
        st = s.call(StreamCallKind::kDecode, rows + pos, T, 1, sink);
      if (!st.isOk())
        return fail(st.withContext("stream case '" + name + "'"));
    }
    double err = maxAbsError(got, *want);
    bool pass = std::isfinite(err) && err <= atol;
    std::printf("%-24s %s  max_abs %.3e  atol %.1e  %s\n", tensor.c_str(),
                how.c_str(), err, atol, pass ? "PASS" : "FAIL");
    ++compared;
    failed += pass ? 0 : 1;
  }
  // Full-sequence logits through a forward function, when the artifact has
  // one that takes the golden's tokens.
  const FunctionPlan *fwd = exe.plan().findFunction("forward");
  for (const std::string &tensor : golden.names()) {
    if (tensor.rfind("full", 0) != 0 || tensor.size() < 7 ||
        tensor.compare(tensor.size() - 7, 7, ".logits"))
      continue;
    const std::string name = tensor.substr(0, tensor.size() - 7);
    const std::string tokName = caseTokensName(golden, name);
    const TensorInfo *ti = golden.find(tokName);
    const ArgSpec *arg = nullptr;
    if (fwd)
      for (const ArgSpec &a : fwd->args)
        if (a.name == "input.tokens")
          arg = &a;
    if (!fwd || !arg || !ti || ti->shape != arg->shape) {
      notes.push_back(
          name + ": not compared (" +
          (fwd ? "the forward function takes " +
                     (arg ? shapeToString(arg->shape) : "no tokens") +
                     " tokens, the golden has " +
                     (ti ? shapeToString(ti->shape) : "none")
               : std::string("no forward function")) +
          ")");
      continue;
    }
    TensorMap inputs;
    StatusOr<HostTensor> t = HostTensor::fromSafetensors(golden, tokName);
    if (!t.isOk())
      return fail(t.status());
    inputs.emplace("input.tokens", std::move(t).value());
    StatusOr<TensorMap> fp = loadPersistent(weights, *fwd);
    if (!fp.isOk())
      return fail(fp.status());
    StatusOr<TensorMap> out = exe.run(fwd->name, *fp, inputs);
    if (!out.isOk())
      return fail(out.status());
    auto lit = out->find("output.logits");
    StatusOr<std::vector<double>> want = golden.readAsF64(tensor);
    if (!want.isOk())
      return fail(want.status());
    if (lit == out->end() || size_t(lit->second.numel()) != want->size()) {
      notes.push_back(name + ": not compared (forward logits do not match the "
                             "golden's size)");
      continue;
    }
    double err = maxAbsError(lit->second.toF64(), *want);
    bool pass = std::isfinite(err) && err <= atol;
    std::printf("%-24s forward %s  max_abs %.3e  atol %.1e  %s\n",
                tensor.c_str(), shapeToString(arg->shape).c_str(), err, atol,
                pass ? "PASS" : "FAIL");
    ++compared;
    failed += pass ? 0 : 1;
  }
  for (const std::string &n : notes)
    std::printf("note: %s\n", n.c_str());
  std::printf("%d compared, %d passed, %d failed, %zu skipped\n", compared,
              compared - failed, failed, notes.size());
  if (compared == 0)
    return fail("no streaming case of " + golden.path() +
                " could be replayed on " + exe.source());
  if (failed > 0)
    return fail(std::to_string(failed) + " of " + std::to_string(compared) +
                " streaming cases exceed the tolerance");
  return 0;
}

/// gecko-run train --ranks N: the N ranks of a data- or chunk-parallel job
/// as threads of this process, sharing a "threads" communicator group.
/// Every thread loads its own Executable (a cpu artifact on the CPU; a
/// cuda artifact on cuda:r, with NCCL over the group unless --dist
/// threads), runs train() as an mpirun rank would, and destroys its
/// communicator, executable and device on its own thread (NCCL's finalize
/// waits for every rank). An error on any rank aborts the process with the
/// rank's message, as MPI_Abort ends an mpirun job.
int runTrainThreads(const std::string &path, const TrainOptions &base,
                    const std::string &dist, int ranks, double timeout) {
  StatusOr<ParsedArtifact> art = readArtifact(path);
  if (!art.isOk())
    return fail(art.status());
  bool cuda = art->plan.target.kind == "cuda";
  if (!gDeviceSpec.empty() && (cuda || gDeviceSpec != "cpu"))
    return usageError("--device with --ranks: rank r runs a cuda artifact "
                      "on cuda:r (choose the GPUs with "
                      "CUDA_VISIBLE_DEVICES), a cpu artifact on the CPU");
  bool useNccl =
      dist == "nccl" || (dist == "auto" && cuda && ranks > 1 && haveNccl());
  if (useNccl && !cuda)
    return usageError("--dist nccl needs a cuda artifact; " + path +
                      " runs on the CPU (use --dist threads)");
  if (cuda) {
    StatusOr<int> gpus = cudaDeviceCount();
    if (!gpus.isOk())
      return fail(gpus.status().withContext("--ranks " + std::to_string(ranks) +
                                            " with the cuda artifact " + path));
    if (ranks > *gpus)
      return fail(failedPrecondition(
          "--ranks " + std::to_string(ranks) + " with the cuda artifact " +
          path + " needs " + std::to_string(ranks) +
          " CUDA devices (rank r runs on cuda:r), but this host has " +
          std::to_string(*gpus) + " visible"));
  }
  StatusOr<std::vector<std::unique_ptr<Communicator>>> group =
      createThreadCommunicators(ranks);
  if (!group.isOk())
    return fail(group.status());
  TrainOptions opt = base;
  if (ranks > 1)
    opt.progressBar = false;  // ranks' notes would cut through the bar
  opt.keepStopRequest = true; // A Ctrl-C while ranks start must stay.
  installTrainingSigintHandler();

  std::vector<char> interrupted(size_t(ranks), 0);
  std::vector<int64_t> endStep(size_t(ranks), 0);
  std::vector<std::string> lastCheckpoint(static_cast<size_t>(ranks));
  auto rankMain = [&](int r) {
    std::unique_ptr<Communicator> comm = std::move((*group)[size_t(r)]);
    if (timeout > 0)
      comm->setTimeoutSeconds(timeout);
    std::string who =
        "rank " + std::to_string(r) + " of " + std::to_string(ranks);
    auto failRank = [&](const Status &st) {
      comm->abort(1, "gecko-run: error: " +
                         (st.message().rfind(who, 0) == 0 ? std::string()
                                                          : who + ": ") +
                         st.message());
    };
    // Destroyed in reverse: the communicator (NCCL finalize), then the
    // executable, then the device it runs on.
    std::unique_ptr<Device> device;
    if (cuda) {
      StatusOr<std::unique_ptr<Device>> gpu = createCudaDevice(r);
      if (!gpu.isOk())
        return failRank(gpu.status().withContext("cuda:" + std::to_string(r)));
      device = std::move(gpu).value();
    }
    LoadOptions load;
    load.device = device.get();
    StatusOr<std::unique_ptr<Executable>> exe = Executable::load(path, load);
    if (!exe.isOk())
      return failRank(exe.status());
    std::unique_ptr<Executable> executable = std::move(exe).value();
    std::unique_ptr<Communicator> rankComm;
    if (useNccl) {
      StatusOr<std::unique_ptr<Communicator>> nccl =
          createNcclCommunicator(comm, *device);
      if (!nccl.isOk())
        return failRank(nccl.status()); // `comm` is back in place to abort.
      rankComm = std::move(nccl).value();
      if (timeout > 0)
        rankComm->setTimeoutSeconds(timeout);
    } else {
      rankComm = std::move(comm);
    }
    comm = nullptr;
    TrainOptions mine = opt;
    mine.comm = rankComm.get();
    StatusOr<TrainResult> result = train(*executable, mine);
    if (!result.isOk()) {
      comm = std::move(rankComm);
      return failRank(result.status());
    }
    interrupted[size_t(r)] = result->interrupted;
    endStep[size_t(r)] = result->endStep;
    lastCheckpoint[size_t(r)] = result->lastCheckpoint;
    rankComm.reset();
  };
  std::vector<std::thread> threads;
  threads.reserve(size_t(ranks));
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back(rankMain, r);
  for (std::thread &t : threads)
    t.join();
  // The ranks agree on the stop (it is all-reduced in every step).
  if (interrupted[0]) {
    std::fprintf(stderr,
                 "gecko-run: interrupted after step %lld; checkpoint %s\n",
                 (long long)endStep[0], lastCheckpoint[0].c_str());
    return 130;
  }
  return 0;
}

int runTrain(const std::vector<std::string> &args) {
  ParsedArgs pa;
  std::string err = parseArgs(args,
                              {"--data",
                               "--steps",
                               "--checkpoint-dir",
                               "--checkpoint-every",
                               "--keep-checkpoints",
                               "--seed",
                               "--lr",
                               "--min-lr-ratio",
                               "--warmup",
                               "--weights",
                               "--metrics",
                               "--plot",
                               "--stop-at",
                               "--log-every",
                               "--function",
                               "--dist",
                               "--ranks",
                               "--bucket-mb",
                               "--overlap",
                               "--collective-timeout",
                               "--consistency-check-every",
                               "--chunk-ranks",
                               "--chunk-messages"},
                              pa, {"--resume", "--quiet", "--chunk-parallel"});
  if (!err.empty())
    return usageError("train: " + err);
  if (pa.positional.size() != 1)
    return usageError("train takes exactly one artifact path");
  if (!pa.options.count("--data") || !pa.options.count("--checkpoint-dir"))
    return usageError("train needs --data and --checkpoint-dir");
  TrainOptions opt;
  opt.resume = pa.options.count("--resume") > 0;
  opt.quiet = pa.options.count("--quiet") > 0;
  opt.chunkParallel = pa.options.count("--chunk-parallel") > 0;
  if (opt.chunkParallel && pa.options.count("--function"))
    return usageError("--chunk-parallel runs chunk_loss, chunk_grad and "
                      "apply_gradients; it takes no --function");
  if (pa.options.count("--chunk-ranks")) {
    int64_t p = 0;
    if (!opt.chunkParallel)
      return usageError("--chunk-ranks needs --chunk-parallel");
    if (!parseInt64(pa.options["--chunk-ranks"], p, 1) || p > INT32_MAX)
      return usageError("--chunk-ranks needs a positive number of ranks");
    opt.chunkRanks = int(p);
  }
  if (pa.options.count("--chunk-messages")) {
    const std::string &m = pa.options["--chunk-messages"];
    if (!opt.chunkParallel)
      return usageError("--chunk-messages needs --chunk-parallel");
    using Messages = TrainOptions::ChunkMessages;
    if (m == "auto")
      opt.chunkMessages = Messages::kAuto;
    else if (m == "host")
      opt.chunkMessages = Messages::kHost;
    else if (m == "device")
      opt.chunkMessages = Messages::kDevice;
    else
      return usageError("--chunk-messages must be auto, host or device");
  }
  if (!pa.options.count("--steps") && !opt.resume)
    return usageError("train needs --steps (optional only with --resume)");
  opt.dataPath = pa.options["--data"];
  opt.checkpointDir = pa.options["--checkpoint-dir"];
  int64_t v = 0;
  double d = 0;
  if (pa.options.count("--steps")) {
    if (!parseInt64(pa.options["--steps"], v, 1))
      return usageError("--steps needs a positive integer");
    opt.steps = v;
  }
  if (pa.options.count("--checkpoint-every")) {
    if (!parseInt64(pa.options["--checkpoint-every"], v, 0))
      return usageError("--checkpoint-every needs a non-negative integer");
    opt.checkpointEvery = v;
  }
  if (pa.options.count("--keep-checkpoints")) {
    if (!parseInt64(pa.options["--keep-checkpoints"], v, 1) || v > 1000000)
      return usageError("--keep-checkpoints needs a positive integer");
    opt.keepCheckpoints = int(v);
  }
  if (pa.options.count("--seed")) {
    const std::string &text = pa.options["--seed"];
    char *end = nullptr;
    errno = 0;
    unsigned long long seed = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || text[0] == '-' || !end || *end || errno == ERANGE)
      return usageError("--seed needs a non-negative integer");
    opt.seed = uint64_t(seed);
  }
  if (pa.options.count("--lr")) {
    if (!parseDouble(pa.options["--lr"], d))
      return usageError("--lr needs a non-negative number");
    opt.lr = d;
  }
  if (pa.options.count("--min-lr-ratio")) {
    if (!parseDouble(pa.options["--min-lr-ratio"], d) || d > 1)
      return usageError("--min-lr-ratio needs a number in [0, 1]");
    opt.minLrRatio = d;
  }
  if (pa.options.count("--warmup")) {
    if (!parseInt64(pa.options["--warmup"], v, 0))
      return usageError("--warmup needs a non-negative integer");
    opt.warmup = v;
  }
  if (pa.options.count("--stop-at")) {
    if (!parseInt64(pa.options["--stop-at"], v, 1))
      return usageError("--stop-at needs a positive integer");
    opt.stopAt = v;
  }
  if (pa.options.count("--log-every")) {
    if (!parseInt64(pa.options["--log-every"], v, 1))
      return usageError("--log-every needs a positive integer");
    opt.logEvery = v;
  }
  if (pa.options.count("--function"))
    opt.function = pa.options["--function"];
  opt.weightsPath =
      pa.options.count("--weights") ? pa.options["--weights"] : "";
  opt.metricsPath =
      pa.options.count("--metrics") ? pa.options["--metrics"] : "";
  opt.plotPath = pa.options.count("--plot") ? pa.options["--plot"]
                                            : opt.checkpointDir + "/loss.svg";
  opt.progressBar = ::isatty(::fileno(stdout)) != 0;
  if (pa.options.count("--bucket-mb")) {
    if (!parseDouble(pa.options["--bucket-mb"], d) || d <= 0 || d > 4096)
      return usageError("--bucket-mb needs a number in (0, 4096]");
    opt.bucketBytes = std::max<size_t>(8, size_t(d * 1048576.0));
  }
  if (pa.options.count("--overlap")) {
    const std::string &o = pa.options["--overlap"];
    if (o == "auto")
      opt.overlap = TrainOptions::Overlap::kAuto;
    else if (o == "on")
      opt.overlap = TrainOptions::Overlap::kOn;
    else if (o == "off")
      opt.overlap = TrainOptions::Overlap::kOff;
    else
      return usageError("--overlap must be auto, on or off");
  }
  if (pa.options.count("--consistency-check-every")) {
    if (!parseInt64(pa.options["--consistency-check-every"], v, 0))
      return usageError(
          "--consistency-check-every needs a non-negative integer");
    opt.consistencyCheckEvery = v;
  }
  double timeout = 0;
  if (pa.options.count("--collective-timeout")) {
    if (!parseDouble(pa.options["--collective-timeout"], timeout) ||
        timeout <= 0)
      return usageError("--collective-timeout needs a positive number of "
                        "seconds");
  }
  if (const char *fault = std::getenv("GECKO_FAULT_INJECT"))
    opt.faultInject = fault;
  std::string dist = pa.options.count("--dist") ? pa.options["--dist"] : "auto";
  if (dist != "auto" && dist != "local" && dist != "mpi" && dist != "threads" &&
      dist != "nccl")
    return usageError("--dist must be auto, local, mpi, threads or nccl");
  const std::string &path = pa.positional[0];
  if (pa.options.count("--ranks")) {
    if (!parseInt64(pa.options["--ranks"], v, 1) || v > kMaxThreadRanks)
      return usageError("--ranks needs an integer in [1, " +
                        std::to_string(kMaxThreadRanks) + "]");
    if (launchedByMpi())
      return usageError("--ranks runs the ranks as threads of one process, "
                        "but this process is one rank of an mpirun/srun job "
                        "already: drop --ranks, or start gecko-run without "
                        "the launcher");
    if (dist == "local" || dist == "mpi")
      return usageError("--ranks runs the ranks as threads of this process: "
                        "it takes --dist auto, threads or nccl, not --dist " +
                        dist);
    return runTrainThreads(path, opt, dist, int(v), timeout);
  }
  if (dist == "threads")
    return usageError("--dist threads needs --ranks N (the number of ranks, "
                      "run as threads of this process)");

  // NCCL is bootstrapped by MPI and wraps it once the device is open.
  StatusOr<std::unique_ptr<Communicator>> made =
      createCommunicator(dist == "nccl" ? "mpi" : dist);
  if (!made.isOk())
    return fail(made.status());
  std::unique_ptr<Communicator> comm = std::move(made).value();
  if (timeout > 0)
    comm->setTimeoutSeconds(timeout);
  int rank = comm->rank(), ranks = comm->size();
  if (ranks > 1)
    opt.progressBar = false; // the launcher's pipes are not a terminal
  // With several ranks an error must end every rank: a rank that merely
  // returned would leave the others waiting in a collective.
  auto failRank = [&](const Status &st) {
    if (ranks == 1)
      return fail(st);
    std::string who =
        "rank " + std::to_string(rank) + " of " + std::to_string(ranks);
    comm->abort(
        1, "gecko-run: error: " +
               (st.message().rfind(who, 0) == 0 ? std::string() : who + ": ") +
               st.message());
  };
  // One GPU per rank: without --device, a cuda artifact of a multi-rank job
  // runs on cuda:<the rank's index on its host>.
  if (ranks > 1 && gDeviceSpec.empty()) {
    StatusOr<ParsedArtifact> art = readArtifact(path);
    if (!art.isOk())
      return failRank(art.status());
    if (art->plan.target.kind == "cuda") {
      int local = localRankFromEnvironment();
      if (local < 0)
        local = rank;
      StatusOr<int> gpus = cudaDeviceCount();
      if (!gpus.isOk())
        return failRank(gpus.status());
      if (local >= *gpus)
        return failRank(failedPrecondition(
            "rank " + std::to_string(rank) + " is process " +
            std::to_string(local) + " on its host, which has " +
            std::to_string(*gpus) +
            " CUDA device(s): start at most one rank per GPU, or pass "
            "--device"));
      gDeviceSpec = "cuda:" + std::to_string(local);
    }
  }
  StatusOr<std::unique_ptr<Executable>> exe = loadExecutable(path);
  if (!exe.isOk())
    return failRank(exe.status());
  bool useNccl = dist == "nccl" || (dist == "auto" && ranks > 1 &&
                                    (*exe)->onCuda() && haveNccl());
  if (useNccl) {
    if (!(*exe)->onCuda())
      return failRank(invalidArgument("--dist nccl needs a cuda artifact; " +
                                      path + " runs on the CPU"));
    if (!gDevice)
      return failRank(internalError("no CUDA device was opened for NCCL"));
    StatusOr<std::unique_ptr<Communicator>> nccl =
        createNcclCommunicator(comm, *gDevice);
    if (!nccl.isOk())
      return failRank(nccl.status());
    comm = std::move(nccl).value();
    if (timeout > 0)
      comm->setTimeoutSeconds(timeout);
  }
  opt.comm = comm.get();
  installTrainingSigintHandler();
  StatusOr<TrainResult> r = train(**exe, opt);
  if (!r.isOk())
    return failRank(r.status());
  if (r->interrupted) {
    std::fprintf(stderr,
                 "gecko-run: interrupted after step %lld; checkpoint %s\n",
                 (long long)r->endStep, r->lastCheckpoint.c_str());
    return 130;
  }
  return 0;
}

/// Deterministic bench data for `a`: integer args uniformly in their range
/// (scalars without one are 1, other integers 0), f32/f64 args uniform in
/// [-0.1, 0.1), other float dtypes zero.
StatusOr<HostTensor> benchTensor(const ArgSpec &a, uint64_t &rng) {
  GECKO_ASSIGN_OR_RETURN(HostTensor t, HostTensor::zeros(a.dtype, a.shape));
  auto next = [&rng] {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return rng >> 11;
  };
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (isIntegerType(a.dtype)) {
      int64_t v = a.shape.empty() ? 1 : 0;
      if (a.range)
        v = a.range->lo + int64_t(next() % uint64_t(a.range->hi - a.range->lo));
      switch (a.dtype) {
      case ElementType::kI64:
        t.dataAs<int64_t>()[i] = v;
        break;
      case ElementType::kI32:
        t.dataAs<int32_t>()[i] = int32_t(v);
        break;
      default:
        t.dataAs<int8_t>()[i] = int8_t(v);
        break;
      }
    } else if (a.dtype == ElementType::kF32 || a.dtype == ElementType::kF64) {
      double v = (double(next()) / double(1ull << 53) - 0.5) * 0.2;
      if (a.dtype == ElementType::kF32)
        t.dataAs<float>()[i] = float(v);
      else
        t.dataAs<double>()[i] = v;
    }
  }
  return t;
}

int runBench(const std::vector<std::string> &args) {
  ParsedArgs pa;
  std::string err =
      parseArgs(args, {"--function", "--warmup", "--iters", "--weights"}, pa,
                {"--graph"});
  if (!err.empty())
    return usageError("bench: " + err);
  if (pa.positional.size() != 1)
    return usageError("bench takes exactly one artifact path");
  int64_t warmup = 3, iters = 10;
  if (pa.options.count("--warmup") &&
      !parseInt64(pa.options["--warmup"], warmup, 0))
    return usageError("--warmup needs a non-negative integer");
  if (pa.options.count("--iters") &&
      !parseInt64(pa.options["--iters"], iters, 1))
    return usageError("--iters needs a positive integer");
  const std::string &path = pa.positional[0];
  std::unique_ptr<Executable> exe;
  const FunctionPlan *fn = nullptr;
  if (std::optional<int> rc = loadAndSelect(path, pa, exe, fn))
    return *rc;
  const FunctionPlan &f = *fn;
  bool graph = pa.options.count("--graph") > 0;
  if (graph && !exe->onCuda())
    return usageError("bench: --graph needs a cuda artifact on a CUDA device");

  // Params and state from --weights when given; everything else synthetic.
  TensorMap params, inputs;
  if (pa.options.count("--weights")) {
    StatusOr<SafetensorsFile> weights =
        SafetensorsFile::open(pa.options["--weights"]);
    if (!weights.isOk())
      return fail(weights.status());
    StatusOr<TensorMap> p = loadPersistent(*weights, f);
    if (!p.isOk())
      return fail(p.status());
    params = std::move(p).value();
  }
  uint64_t rng = 0x9E3779B97F4A7C15ull;
  for (const ArgSpec &a : f.args) {
    TensorMap &into = a.kind == ArgKind::kInput ? inputs : params;
    if (into.count(a.name))
      continue;
    StatusOr<HostTensor> t = benchTensor(a, rng);
    if (!t.isOk())
      return fail(t.status());
    into.emplace(a.name, std::move(t).value());
  }
  StatusOr<std::unique_ptr<BoundCall>> call = exe->bind(f.name);
  if (!call.isOk())
    return fail(call.status());
  Status s = (*call)->setArgs(params, inputs);
  if (!s.isOk())
    return fail(s);
  StatusOr<std::vector<double>> ms =
      (*call)->time(int(warmup), int(iters), graph);
  if (!ms.isOk())
    return fail(ms.status());
  std::vector<double> sorted = *ms;
  std::sort(sorted.begin(), sorted.end());
  size_t n = sorted.size();
  double median =
      n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  std::printf(
      "function '%s' on %s: median %.4f ms per call (min %.4f, max "
      "%.4f; %lld iters after %lld warmup; %s)\n",
      f.name.c_str(), exe->deviceDescription().c_str(), median, sorted.front(),
      sorted.back(), (long long)iters, (long long)warmup,
      exe->onCuda() ? (graph ? "CUDA events, CUDA graph replay, buffers on the "
                               "device"
                             : "CUDA events, eager launches, buffers on the "
                               "device")
                    : "steady_clock around the entry call");
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  bool help = false;
  for (const std::string &a : args)
    if (a == "-h" || a == "--help")
      help = true;
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string cmd = args[0];
  if (help || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "forward" || cmd == "check" || cmd == "train" ||
      cmd == "generate" || cmd == "stream" || cmd == "bench") {
    std::string err = takeDeviceOption(rest);
    if (!err.empty())
      return usageError(cmd + ": " + err);
  }
  if (cmd == "inspect")
    return runInspect(rest);
  if (cmd == "forward")
    return runForward(rest);
  if (cmd == "check")
    return runCheck(rest);
  if (cmd == "train")
    return runTrain(rest);
  if (cmd == "generate")
    return runGenerate(rest);
  if (cmd == "stream")
    return runStream(rest);
  if (cmd == "bench")
    return runBench(rest);
  if (cmd == "devices" || cmd == "version" || cmd == "--version") {
    if (!rest.empty())
      return usageError(cmd + ": unexpected argument '" + rest[0] + "'");
    return cmd == "devices" ? runDevices() : runVersion();
  }
  return usageError("unknown command '" + cmd + "'");
}
