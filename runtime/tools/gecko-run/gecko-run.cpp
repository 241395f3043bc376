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
#include "gecko/runtime/device.h"
#include "gecko/runtime/executable.h"
#include "gecko/runtime/host_tensor.h"
#include "gecko/runtime/safetensors.h"
#include "gecko/runtime/training.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
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
                 Run a function on the CPU: every `param` argument is bound
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
  train MODEL.gkm --data DATA --steps N --checkpoint-dir DIR
        [--checkpoint-every 100] [--keep-checkpoints 3] [--seed 0]
        [--resume] [--lr 3e-4] [--min-lr-ratio 0.1] [--warmup 0]
        [--weights INIT.safetensors] [--metrics FILE.jsonl]
        [--plot FILE.svg] [--stop-at S] [--log-every 10] [--quiet]
        [--function train_step]
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
  help           Print this message.

OPTIONS:
  -h, --help     Print this message (also after a command).
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
  std::printf("gecko-run %s (artifact format v%d, kernel ABI v%d, cuda %s)\n",
              GECKO_VERSION_STRING, GECKO_ARTIFACT_FORMAT_VERSION,
              GECKO_KERNEL_ABI_VERSION,
#ifdef GECKO_HAVE_CUDA
              "enabled"
#else
              "disabled"
#endif
  );
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

  StatusOr<std::unique_ptr<Executable>> exe = Executable::load(path);
  if (!exe.isOk())
    return fail(exe.status());
  StatusOr<const FunctionPlan *> fn = selectFunction((*exe)->plan(), path, pa);
  if (!fn.isOk())
    return fn.status().code() == StatusCode::kInvalidArgument
               ? usageError(fn.status().message())
               : fail(fn.status());
  const FunctionPlan &f = **fn;

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
  StatusOr<TensorMap> out = (*exe)->run(f.name, *params, *inputs, &stats);
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

int runCheck(const std::vector<std::string> &args) {
  ParsedArgs pa;
  std::string err = parseArgs(args,
                              {"--golden", "--weights", "--function",
                               "--rtol-output", "--rtol-grad", "--rtol-debug"},
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
  const std::string &path = pa.positional[0];

  StatusOr<std::unique_ptr<Executable>> exe = Executable::load(path);
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

int runTrain(const std::vector<std::string> &args) {
  ParsedArgs pa;
  std::string err =
      parseArgs(args,
                {"--data", "--steps", "--checkpoint-dir", "--checkpoint-every",
                 "--keep-checkpoints", "--seed", "--lr", "--min-lr-ratio",
                 "--warmup", "--weights", "--metrics", "--plot", "--stop-at",
                 "--log-every", "--function"},
                pa, {"--resume", "--quiet"});
  if (!err.empty())
    return usageError("train: " + err);
  if (pa.positional.size() != 1)
    return usageError("train takes exactly one artifact path");
  if (!pa.options.count("--data") || !pa.options.count("--checkpoint-dir"))
    return usageError("train needs --data and --checkpoint-dir");
  TrainOptions opt;
  opt.resume = pa.options.count("--resume") > 0;
  opt.quiet = pa.options.count("--quiet") > 0;
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
  const std::string &path = pa.positional[0];

  StatusOr<std::unique_ptr<Executable>> exe = Executable::load(path);
  if (!exe.isOk())
    return fail(exe.status());
  installTrainingSigintHandler();
  StatusOr<TrainResult> r = train(**exe, opt);
  if (!r.isOk())
    return fail(r.status());
  if (r->interrupted) {
    std::fprintf(stderr,
                 "gecko-run: interrupted after step %lld; checkpoint %s\n",
                 (long long)r->endStep, r->lastCheckpoint.c_str());
    return 130;
  }
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
  if (cmd == "inspect")
    return runInspect(rest);
  if (cmd == "forward")
    return runForward(rest);
  if (cmd == "check")
    return runCheck(rest);
  if (cmd == "train")
    return runTrain(rest);
  if (cmd == "devices" || cmd == "version" || cmd == "--version") {
    if (!rest.empty())
      return usageError(cmd + ": unexpected argument '" + rest[0] + "'");
    return cmd == "devices" ? runDevices() : runVersion();
  }
  return usageError("unknown command '" + cmd + "'");
}
