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

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
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
                 Run a function with params from W (else from G) and inputs
                 from G, then compare every result G also holds: max abs
                 error and relative error ||a-b||_2/||b||_2 against the
                 tolerance (--rtol-grad for `grad.*` results, --rtol-output
                 for the rest). Exits 0 only if at least one result was
                 compared and all compared results pass.
  help           Print this message.

OPTIONS:
  -h, --help     Print this message (also after a command).
  --function     The plan function to run (default: `forward` if the
                 artifact has one, else its only function).

Exit status: 0 success, 1 error or failed check, 2 usage error.
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
                      const std::vector<std::string> &allowed,
                      ParsedArgs &out) {
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
  StatusOr<TensorMap> params =
      loadTensors(*weights, argNames(f, ArgKind::kParam));
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

int runCheck(const std::vector<std::string> &args) {
  ParsedArgs pa;
  std::string err = parseArgs(
      args,
      {"--golden", "--weights", "--function", "--rtol-output", "--rtol-grad"},
      pa);
  if (!err.empty())
    return usageError("check: " + err);
  if (pa.positional.size() != 1)
    return usageError("check takes exactly one artifact path");
  if (!pa.options.count("--golden"))
    return usageError("check needs --golden");
  double rtolOutput = 1e-5, rtolGrad = 1e-4;
  if (pa.options.count("--rtol-output") &&
      !parseDouble(pa.options["--rtol-output"], rtolOutput))
    return usageError("--rtol-output needs a non-negative number");
  if (pa.options.count("--rtol-grad") &&
      !parseDouble(pa.options["--rtol-grad"], rtolGrad))
    return usageError("--rtol-grad needs a non-negative number");
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
  StatusOr<TensorMap> params =
      loadTensors(*weights, argNames(f, ArgKind::kParam));
  if (!params.isOk())
    return fail(params.status());
  StatusOr<TensorMap> inputs =
      loadTensors(*golden, argNames(f, ArgKind::kInput));
  if (!inputs.isOk())
    return fail(inputs.status());

  RunStats stats;
  StatusOr<TensorMap> out = (*exe)->run(f.name, *params, *inputs, &stats);
  if (!out.isOk())
    return fail(out.status());
  std::printf("function '%s': %.4f ms; comparing against %s\n", f.name.c_str(),
              stats.kernelSeconds * 1e3, golden->path().c_str());

  int compared = 0, failed = 0;
  std::vector<std::string> absent;
  for (const TensorSpec &r : f.results) {
    const TensorInfo *g = golden->find(r.name);
    if (!g) {
      absent.push_back(r.name);
      continue;
    }
    const HostTensor &t = out->at(r.name);
    ++compared;
    if (g->numel() != t.numel() || !compatibleShapes(g->shape, t.shape())) {
      std::printf("%-40s FAIL  shape %s, golden has %s\n", r.name.c_str(),
                  shapeToString(t.shape()).c_str(),
                  shapeToString(g->shape).c_str());
      ++failed;
      continue;
    }
    StatusOr<std::vector<double>> want = golden->readAsF64(r.name);
    if (!want.isOk())
      return fail(want.status());
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
    double rel =
        ref2 > 0 ? std::sqrt(diff2 / ref2) : (diff2 > 0 ? INFINITY : 0);
    double tol = r.name.rfind("grad.", 0) == 0 ? rtolGrad : rtolOutput;
    bool pass = !nonFinite && rel <= tol;
    if (!pass)
      ++failed;
    std::printf("%-40s max_abs %.3e  rel %.3e  tol %.1e  %s%s\n",
                r.name.c_str(), maxAbs, rel, tol, pass ? "PASS" : "FAIL",
                nonFinite ? " (non-finite values)" : "");
  }
  for (const std::string &n : absent)
    std::printf("%-40s not in golden\n", n.c_str());
  std::printf("%d compared, %d passed, %d failed, %zu not in golden\n",
              compared, compared - failed, failed, absent.size());
  if (compared == 0)
    return fail("no result of function '" + f.name + "' is in " +
                golden->path());
  if (failed > 0)
    return fail(std::to_string(failed) + " of " + std::to_string(compared) +
                " compared results exceed their tolerance");
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
  if (cmd == "devices" || cmd == "version" || cmd == "--version") {
    if (!rest.empty())
      return usageError(cmd + ": unexpected argument '" + rest[0] + "'");
    return cmd == "devices" ? runDevices() : runVersion();
  }
  return usageError("unknown command '" + cmd + "'");
}
