//===- gecko-compile.cpp - Model or IR in, artifact out -------------------===//
//
// The compiler driver. It reads gecko IR (and, as the frontend grows, model
// configs), runs the compilation pipeline and stops at the stage named by
// --emit. Every problem with the input is reported as a diagnostic and exit
// code 1; the driver never crashes on bad input.
//
//===----------------------------------------------------------------------===//

#include "RegisterGecko.h"
#include "gecko/Frontend/ModelConfig.h"
#include "gecko/Frontend/ModelStats.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
namespace cl = llvm::cl;

namespace {

enum class EmitKind { Mlir };

cl::OptionCategory geckoCategory("gecko-compile options");

cl::opt<std::string>
    inputFilename(cl::Positional,
                  cl::desc("<input .mlir file, or - for stdin>"), cl::init("-"),
                  cl::cat(geckoCategory));
cl::opt<std::string> outputFilename("o",
                                    cl::desc("Output file (default: stdout)"),
                                    cl::value_desc("filename"), cl::init("-"),
                                    cl::cat(geckoCategory));
cl::opt<std::string> modelConfig(
    "model", cl::desc("A model config (JSON, see models/README.md)"),
    cl::value_desc("CONFIG.json"), cl::init(""), cl::cat(geckoCategory));
cl::opt<bool> printStats(
    "print-stats",
    cl::desc("With --model: print parameter counts and FLOPs per token"),
    cl::init(false), cl::cat(geckoCategory));
cl::opt<int64_t>
    seqLen("seq-len",
           cl::desc("Sequence length for FLOP counts (0: 4 chunks, or the "
                    "transformer's max_seq_len)"),
           cl::init(0), cl::cat(geckoCategory));
cl::opt<EmitKind> emitKind(
    "emit", cl::desc("The stage at which to stop and write the result"),
    cl::init(EmitKind::Mlir),
    cl::values(clEnumValN(EmitKind::Mlir, "mlir",
                          "verified gecko IR after the requested passes")),
    cl::cat(geckoCategory));
cl::opt<std::string>
    passPipeline("pass-pipeline",
                 cl::desc("Textual pass pipeline to run before emitting, e.g. "
                          "'builtin.module(canonicalize)'"),
                 cl::init(""), cl::cat(geckoCategory));

LogicalResult compile(MLIRContext &context, llvm::raw_ostream &os) {
  std::string errorMessage;
  auto file = openInputFile(inputFilename, &errorMessage);
  if (!file) {
    llvm::errs() << "gecko-compile: " << errorMessage << "\n";
    return failure();
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return failure();
  if (failed(verify(*module)))
    return failure();
  if (!passPipeline.empty()) {
    PassManager pm(&context, ModuleOp::getOperationName());
    if (failed(parsePassPipeline(passPipeline, pm, llvm::errs())))
      return failure();
    if (failed(pm.run(*module)))
      return failure();
  }
  switch (emitKind) {
  case EmitKind::Mlir:
    module->print(os);
    os << "\n";
    return success();
  }
  return failure();
}

/// --model CONFIG --print-stats: validates the config and prints the counts.
int printModelStats(llvm::raw_ostream &os) {
  namespace fe = ::gecko::frontend;
  ::gecko::StatusOr<fe::ModelConfig> config =
      fe::loadModelConfigFile(modelConfig);
  if (!config.isOk()) {
    llvm::errs() << "gecko-compile: " << config.status().message() << "\n";
    return 1;
  }
  ::gecko::StatusOr<fe::ModelStats> stats =
      fe::computeModelStats(*config, seqLen);
  if (!stats.isOk()) {
    llvm::errs() << "gecko-compile: " << modelConfig << ": "
                 << stats.status().message() << "\n";
    return 1;
  }
  os << fe::formatModelStatsReport(*config, *stats);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  mlir::gecko::registerGeckoPasses();
  cl::HideUnrelatedOptions(geckoCategory);
  cl::ParseCommandLineOptions(
      argc, argv,
      "gecko-compile: compile Gecko models and IR for the Gecko runtime\n\n"
      "  gecko-compile model.mlir --emit=mlir -o out.mlir\n"
      "  gecko-compile --model models/gecko-7b.json --print-stats\n");

  DialectRegistry registry;
  mlir::gecko::registerGeckoDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  std::string errorMessage;
  auto output = openOutputFile(outputFilename, &errorMessage);
  if (!output) {
    llvm::errs() << "gecko-compile: " << errorMessage << "\n";
    return 1;
  }
  if (!modelConfig.empty()) {
    // Building gecko IR from a config is the frontend's job (issue 4); until
    // it lands, a config can only be validated and measured.
    if (!printStats) {
      llvm::errs() << "gecko-compile: --model currently supports only "
                      "--print-stats; compile hand-written IR by passing a "
                      ".mlir file\n";
      return 1;
    }
    if (int rc = printModelStats(output->os()))
      return rc;
    output->keep();
    return 0;
  }
  if (printStats) {
    llvm::errs() << "gecko-compile: --print-stats needs --model CONFIG.json\n";
    return 1;
  }
  if (failed(compile(context, output->os())))
    return 1;
  output->keep();
  return 0;
}
