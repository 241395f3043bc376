//===- gecko-run.cpp - Run compiled Gecko artifacts -----------------------===//
//
// The runtime's command-line driver. It links only the runtime (no MLIR or
// LLVM) so it builds on machines that have neither, such as the GPU hosts.
//
//===----------------------------------------------------------------------===//

#include "gecko/abi/version.h"
#include "gecko/runtime/device.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

const char *kUsage =
    R"(gecko-run: execute compiled Gecko artifacts (.gkm) on CPU or CUDA.

USAGE: gecko-run <command> [options]

COMMANDS:
  devices        List the devices this process can use (CPU, CUDA GPUs).
  version        Print the runtime version and the artifact/ABI versions
                 it accepts.
  help           Print this message.

OPTIONS:
  -h, --help     Print this message (also after a command).

Commands that execute models (forward, check, train, generate) arrive with
the artifact format; see docs/architecture.md for the roadmap.
)";

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

int runDevices() {
  std::vector<std::string> notes;
  std::vector<gecko::DeviceInfo> devices = gecko::enumerateDevices(&notes);
  for (const gecko::DeviceInfo &d : devices) {
    std::printf("%s:%d  %s  memory %s", gecko::deviceKindName(d.kind),
                d.ordinal, d.name.c_str(), humanBytes(d.totalMemory).c_str());
    if (d.kind == gecko::DeviceKind::kCuda)
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
  const std::string &cmd = args[0];
  if (help || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args.size() > 1) {
    std::fprintf(stderr, "gecko-run %s: unexpected argument '%s'\n",
                 cmd.c_str(), args[1].c_str());
    return 2;
  }
  if (cmd == "devices")
    return runDevices();
  if (cmd == "version" || cmd == "--version")
    return runVersion();
  std::fprintf(stderr,
               "gecko-run: unknown command '%s' (see gecko-run --help)\n",
               cmd.c_str());
  return 2;
}
