//===- gecko-compile.cpp - Model or IR in, artifact out -------------------===//
//
// The compiler driver. It reads gecko IR (and, as the frontend grows, model
// configs), runs the compilation pipeline and stops at the stage named by
// --emit. Every problem with the input is reported as a diagnostic and exit
// code 1; the driver never crashes on bad input.
//
//===----------------------------------------------------------------------===//

#include "RegisterGecko.h"
#include "gecko/Dialect/Gecko/IR/GeckoAttributes.h"
#include "gecko/Frontend/ModelBuilder.h"
#include "gecko/Frontend/ModelConfig.h"
#include "gecko/Frontend/ModelStats.h"
#include "gecko/Target/CpuArtifact.h"
#include "gecko/Training/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
namespace cl = llvm::cl;

namespace {

enum class EmitKind { Mlir, Loops, Llvm, Ptx, Artifact };

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
           cl::desc("With --model: the sequence length L of every function "
                    "and of FLOP counts (0: 4 chunks, or the transformer's "
                    "max_seq_len)"),
           cl::init(0), cl::cat(geckoCategory));
cl::opt<int64_t>
    batchSize("batch",
              cl::desc("With --model: the batch size B of every function"),
              cl::init(1), cl::cat(geckoCategory));
cl::list<std::string>
    modes("mode",
          cl::desc("With --model: the functions to build (forward, loss, "
                   "train = grad + train_step, generate = prefill + decode, "
                   "chunk-train = chunk_loss + chunk_grad (one piece of a "
                   "sequence for chunk parallelism, --seq-len tokens); "
                   "repeat or comma-separate; default: forward,loss)"),
          cl::CommaSeparated, cl::cat(geckoCategory));
cl::opt<int64_t> prefillLen(
    "prefill-len",
    cl::desc("With --mode generate/prefill: tokens per prefill call (a "
             "multiple of chunk_size; default one chunk)"),
    cl::init(0), cl::cat(geckoCategory));
cl::opt<bool> debugOutputs(
    "debug-outputs",
    cl::desc("With --model: forward also returns the intermediate "
             "activations named like the golden files' debug.* tensors"),
    cl::init(false), cl::cat(geckoCategory));
cl::opt<std::string>
    remat("remat",
          cl::desc("With --mode train: none (store every activation) or block "
                   "(recompute each block's forward before its backward)"),
          cl::init("none"), cl::cat(geckoCategory));
cl::opt<double>
    adamBeta1("adam-beta1",
              cl::desc("With --mode train or chunk-train: AdamW beta1"),
              cl::init(0.9), cl::cat(geckoCategory));
cl::opt<double>
    adamBeta2("adam-beta2",
              cl::desc("With --mode train or chunk-train: AdamW beta2"),
              cl::init(0.95), cl::cat(geckoCategory));
cl::opt<double> adamEps("adam-eps",
                        cl::desc("With --mode train or chunk-train: AdamW eps"),
                        cl::init(1e-8), cl::cat(geckoCategory));
cl::opt<double> weightDecay(
    "weight-decay",
    cl::desc("With --mode train or chunk-train: decoupled weight decay of "
             "matrices"),
    cl::init(0.1), cl::cat(geckoCategory));
cl::opt<double> maxGradNorm(
    "max-grad-norm",
    cl::desc("With --mode train or chunk-train: global-norm clipping threshold "
             "(<= 0: off)"),
    cl::init(1.0), cl::cat(geckoCategory));
cl::opt<bool> dataParallel(
    "data-parallel",
    cl::desc("With --mode train: also build apply_gradients (the optimizer "
             "half, taking gradients that gecko-run all-reduces across "
             "data-parallel ranks; docs/distributed.md)"),
    cl::init(false), cl::cat(geckoCategory));
cl::opt<EmitKind> emitKind(
    "emit", cl::desc("The stage at which to stop and write the result"),
    cl::init(EmitKind::Mlir),
    cl::values(
        clEnumValN(EmitKind::Mlir, "mlir",
                   "verified gecko IR after the requested passes"),
        clEnumValN(EmitKind::Loops, "loops",
                   "bufferized host loops (--target cpu, the default: "
                   "gecko-cpu-loops; --target cuda: host loops launching "
                   "the kernels of a gpu.binary, gecko-cuda-kernels)"),
        clEnumValN(EmitKind::Llvm, "llvm",
                   "the target's pipeline down to the LLVM dialect with "
                   "kernel-ABI entries (gecko-cpu-lowering or "
                   "gecko-cuda-lowering)"),
        clEnumValN(EmitKind::Ptx, "ptx",
                   "--target cuda: the PTX of the kernel module"),
        clEnumValN(EmitKind::Artifact, "gkm",
                   "a compiled artifact for --target (the default with "
                   "--target)")),
    cl::cat(geckoCategory));
cl::opt<std::string>
    target("target",
           cl::desc("Compile for this target and write a .gkm artifact "
                    "(cpu or cuda)"),
           cl::init(""), cl::cat(geckoCategory));
cl::opt<std::string>
    gpuChip("gpu-chip",
            cl::desc("With --target cuda: the GPU architecture (default "
                     "sm_90a, the H100; any sm_N that ptxas knows)"),
            cl::init("sm_90a"), cl::cat(geckoCategory));
cl::opt<std::string> gpuFeatures(
    "gpu-features",
    cl::desc("With --target cuda: PTX features (default +ptx81: PTX ISA 8.1 "
             "allows kernel parameters over 4 KiB; sm_100 and later need "
             "+ptx86)"),
    cl::init("+ptx81"), cl::cat(geckoCategory));
cl::opt<std::string> gpuImage(
    "gpu-image",
    cl::desc("With --target cuda: the embedded device image, fatbin "
             "(cubin + PTX, the default), cubin or ptx (JIT-compiled by the "
             "driver at load time)"),
    cl::init("fatbin"), cl::cat(geckoCategory));
cl::opt<std::string> gpuGemm(
    "gpu-gemm",
    cl::desc("With --target cuda: matrix products through cuBLASLt "
             "('cublaslt', the default) or as generated kernels ('kernels')"),
    cl::init("cublaslt"), cl::cat(geckoCategory));
cl::opt<int64_t> gpuBlockSize(
    "gpu-block-size",
    cl::desc("With --target cuda: threads per block of the generated "
             "kernels (1-1024, default 256)"),
    cl::init(256), cl::cat(geckoCategory));
cl::opt<std::string> precision(
    "precision",
    cl::desc("The arithmetic of matrix products: fp32 (the default) or bf16 "
             "(bf16 operands, f32 accumulation and results; parameters, "
             "states and every other op stay f32; docs/lowering.md, "
             "\"Precision\")"),
    cl::init("fp32"), cl::cat(geckoCategory));
cl::opt<unsigned> optLevel(
    "opt-level",
    cl::desc("With --target cpu: LLVM optimization level of the kernels "
             "(0-3, default 2)"),
    cl::init(2), cl::cat(geckoCategory));
cl::opt<std::string> targetCpu(
    "target-cpu",
    cl::desc("With --target cpu: the LLVM CPU to compile for (default "
             "x86-64-v3; 'native' for this machine)"),
    cl::init("x86-64-v3"), cl::cat(geckoCategory));
cl::opt<std::string>
    passPipeline("pass-pipeline",
                 cl::desc("Textual pass pipeline to run before emitting, e.g. "
                          "'builtin.module(canonicalize)'"),
                 cl::init(""), cl::cat(geckoCategory));

/// --precision, checked in main().
mlir::gecko::Precision precisionValue() {
  return mlir::gecko::symbolizePrecision(precision).value_or(
      mlir::gecko::Precision::Fp32);
}

mlir::gecko::CudaPipelineOptions cudaOptions() {
  mlir::gecko::CudaPipelineOptions options;
  options.chip = gpuChip;
  options.features = gpuFeatures;
  options.imageFormat = gpuImage == "cubin" ? "bin"
                        : gpuImage == "ptx" ? "isa"
                                            : gpuImage.getValue();
  options.blockSize = gpuBlockSize;
  options.libraryGemm = gpuGemm != "kernels";
  options.precision = precisionValue();
  return options;
}

mlir::gecko::CpuPipelineOptions cpuOptions() {
  mlir::gecko::CpuPipelineOptions options;
  options.precision = precisionValue();
  return options;
}

/// Runs the requested passes and the pipeline of --emit, then prints.
LogicalResult emit(MLIRContext &context, ModuleOp module,
                   llvm::raw_ostream &os) {
  if (!passPipeline.empty()) {
    PassManager pm(&context, ModuleOp::getOperationName());
    if (failed(parsePassPipeline(passPipeline, pm, llvm::errs())))
      return failure();
    if (failed(pm.run(module)))
      return failure();
  }
  if (emitKind == EmitKind::Artifact) {
    if (outputFilename == "-") {
      llvm::errs() << "gecko-compile: an artifact needs an output file (-o "
                      "model.gkm)\n";
      return failure();
    }
    mlir::gecko::CpuArtifactOptions options;
    options.target = target;
    options.cuda = cudaOptions();
    options.precision = precisionValue();
    options.cpu = targetCpu;
    if (optLevel > 3) {
      llvm::errs() << "gecko-compile: --opt-level must be 0-3\n";
      return failure();
    }
    options.optLevel = optLevel;
    if (auto config = module->getAttrOfType<StringAttr>(
            mlir::gecko::kModelConfigAttrName))
      options.modelJson = config.str();
    return mlir::gecko::emitCpuArtifact(module, options, outputFilename);
  }
  if (emitKind == EmitKind::Ptx) {
    mlir::gecko::CudaPipelineOptions options = cudaOptions();
    options.imageFormat = "isa";
    PassManager pm(&context, ModuleOp::getOperationName());
    if (failed(mlir::gecko::buildCudaKernelsPipeline(pm, options)) ||
        failed(pm.run(module)))
      return failure();
    for (auto binary : module.getOps<mlir::gpu::BinaryOp>())
      for (Attribute object : binary.getObjects())
        os << cast<mlir::gpu::ObjectAttr>(object).getObject().getValue();
    return success();
  }
  if (emitKind != EmitKind::Mlir) {
    PassManager pm(&context, ModuleOp::getOperationName());
    bool cuda = target == "cuda";
    LogicalResult built =
        emitKind == EmitKind::Loops
            ? (cuda ? mlir::gecko::buildCudaKernelsPipeline(pm, cudaOptions())
                    : mlir::gecko::buildCpuLoopsPipeline(pm, cpuOptions()))
            : (cuda ? mlir::gecko::buildCudaLoweringPipeline(pm, cudaOptions())
                    : mlir::gecko::buildCpuLoweringPipeline(pm, cpuOptions()));
    if (failed(built) || failed(pm.run(module)))
      return failure();
  }
  module->print(os);
  os << "\n";
  return success();
}

/// --model CONFIG: builds the module with the frontend, checks the frontend
/// contract, then continues like an input file.
LogicalResult compileModel(MLIRContext &context, llvm::raw_ostream &os) {
  namespace fe = ::gecko::frontend;
  ::gecko::StatusOr<fe::ModelConfig> config =
      fe::loadModelConfigFile(modelConfig);
  if (!config.isOk()) {
    llvm::errs() << "gecko-compile: " << config.status().message() << "\n";
    return failure();
  }
  fe::BuildOptions options;
  options.batch = batchSize;
  options.seqLen = seqLen;
  // `train` is built from the loss: gecko-autodiff makes `grad` (loss and
  // gradients, what `gecko-run check` compares) and gecko-build-train-step
  // makes `train_step` (forward, backward and AdamW in one call).
  // `chunk-train` builds `chunk_loss` (one piece: stream state in, loss and
  // next state out), its gradient `chunk_grad` (gecko-autodiff with
  // wrt-state: also the state's cotangents) and `apply_gradients` (the
  // optimizer on the gradients summed over the chunk-parallel ranks),
  // docs/distributed.md.
  bool train = false, keepLoss = false, chunkTrain = false;
  if (!modes.empty()) {
    options.modes.clear();
    for (const std::string &mode : modes) {
      if (mode == "train") {
        train = true;
        continue;
      }
      if (mode == "chunk-train") {
        chunkTrain = true;
        options.modes.push_back("chunk_loss");
        continue;
      }
      if (mode == "generate") {
        options.modes.push_back("prefill");
        options.modes.push_back("decode");
        continue;
      }
      keepLoss |= mode == "loss";
      options.modes.push_back(mode);
    }
    if (train && !keepLoss)
      options.modes.push_back("loss");
  }
  if (dataParallel && !train) {
    llvm::errs() << "gecko-compile: --data-parallel needs --mode train\n";
    return failure();
  }
  if (dataParallel && chunkTrain) {
    llvm::errs() << "gecko-compile: --data-parallel and --mode chunk-train "
                    "each build an apply_gradients; compile them into "
                    "separate artifacts\n";
    return failure();
  }
  options.debugOutputs = debugOutputs;
  options.prefillLen = prefillLen;
  ::gecko::StatusOr<OwningOpRef<ModuleOp>> module =
      fe::buildModelModule(context, *config, options);
  if (!module.isOk()) {
    llvm::errs() << "gecko-compile: " << modelConfig << ": "
                 << module.status().message() << "\n";
    return failure();
  }
  PassManager contract(&context, ModuleOp::getOperationName());
  contract.addPass(mlir::gecko::createGeckoVerifyFrontendContract());
  if (failed(contract.run(**module)))
    return failure();
  mlir::gecko::GeckoBuildTrainStepOptions step;
  step.beta1 = adamBeta1;
  step.beta2 = adamBeta2;
  step.eps = adamEps;
  step.weightDecay = weightDecay;
  step.maxGradNorm = maxGradNorm;
  if (train) {
    PassManager pm(&context, ModuleOp::getOperationName());
    mlir::gecko::GeckoAutodiffOptions autodiff;
    autodiff.remat = remat;
    pm.addPass(mlir::gecko::createGeckoAutodiff(autodiff));
    pm.addPass(mlir::gecko::createGeckoBuildTrainStep(step));
    if (dataParallel) {
      // The same optimizer, taking the all-reduced gradients as inputs.
      mlir::gecko::GeckoBuildTrainStepOptions apply = step;
      apply.target = "apply_gradients";
      apply.gradientsAsInputs = true;
      pm.addPass(mlir::gecko::createGeckoBuildTrainStep(apply));
    }
    if (failed(pm.run(**module)))
      return failure();
    if (!keepLoss)
      if (auto loss = (**module).lookupSymbol<func::FuncOp>("loss"))
        loss.erase();
  }
  if (chunkTrain) {
    PassManager pm(&context, ModuleOp::getOperationName());
    mlir::gecko::GeckoAutodiffOptions autodiff;
    autodiff.source = "chunk_loss";
    autodiff.target = "chunk_grad";
    autodiff.remat = remat;
    autodiff.wrtState = true;
    pm.addPass(mlir::gecko::createGeckoAutodiff(autodiff));
    // Every rank's chunk_grad returns its piece's share of the gradients
    // (its loss cotangent is 1/P), so the ranks sum them.
    mlir::gecko::GeckoBuildTrainStepOptions apply = step;
    apply.source = "chunk_grad";
    apply.target = "apply_gradients";
    apply.gradientsAsInputs = true;
    apply.collectiveGroup = "chunk";
    apply.collectiveReduction = "sum";
    pm.addPass(mlir::gecko::createGeckoBuildTrainStep(apply));
    if (failed(pm.run(**module)))
      return failure();
  }
  return emit(context, **module, os);
}

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
  return emit(context, *module, os);
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
      "  gecko-compile --model models/tiny.json --emit=mlir --batch 2 "
      "--seq-len 64 -o tiny.mlir\n"
      "  gecko-compile --model models/tiny.json --mode forward --target cpu "
      "--batch 2 --seq-len 64 -o tiny.gkm\n"
      "  gecko-compile --model models/tiny.json --mode forward --target cuda "
      "-o tiny-cuda.gkm\n"
      "  gecko-compile --model models/gecko-7b.json --print-stats\n");

  DialectRegistry registry;
  mlir::gecko::registerGeckoDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  if (!target.empty() && target != "cpu" && target != "cuda") {
    llvm::errs() << "gecko-compile: unknown --target '" << target
                 << "' (supported: cpu, cuda)\n";
    return 1;
  }
  if (!mlir::gecko::symbolizePrecision(precision)) {
    llvm::errs() << "gecko-compile: unknown --precision '" << precision
                 << "' (supported: fp32, bf16)\n";
    return 1;
  }
  if (!target.empty() && emitKind.getNumOccurrences() == 0)
    emitKind = EmitKind::Artifact;
  if (emitKind == EmitKind::Artifact && target.empty()) {
    llvm::errs() << "gecko-compile: --emit=gkm needs --target cpu or cuda\n";
    return 1;
  }
  if (emitKind == EmitKind::Ptx && target != "cuda") {
    llvm::errs() << "gecko-compile: --emit=ptx needs --target cuda\n";
    return 1;
  }
  if (target == "cuda") {
    if (gpuImage != "fatbin" && gpuImage != "cubin" && gpuImage != "ptx") {
      llvm::errs() << "gecko-compile: unknown --gpu-image '" << gpuImage
                   << "' (supported: fatbin, cubin, ptx)\n";
      return 1;
    }
    if (gpuGemm != "cublaslt" && gpuGemm != "kernels") {
      llvm::errs() << "gecko-compile: unknown --gpu-gemm '" << gpuGemm
                   << "' (supported: cublaslt, kernels)\n";
      return 1;
    }
    if (gpuBlockSize < 1 || gpuBlockSize > 1024) {
      llvm::errs() << "gecko-compile: --gpu-block-size must be 1-1024\n";
      return 1;
    }
    llvm::StringRef chip = gpuChip;
    if (!chip.starts_with("sm_") || chip.size() < 5) {
      llvm::errs() << "gecko-compile: --gpu-chip must be sm_<N> (e.g. "
                      "sm_90a), not '"
                   << gpuChip << "'\n";
      return 1;
    }
    // gpu-module-to-binary finds ptxas and libdevice through CUDA_HOME.
    if (!getenv("CUDA_HOME") && llvm::sys::fs::exists("/usr/local/cuda"))
      setenv("CUDA_HOME", "/usr/local/cuda", /*overwrite=*/0);
  }

  std::string errorMessage;
  // An artifact is written atomically by its writer, not through this file.
  auto output =
      openOutputFile(emitKind == EmitKind::Artifact ? std::string("-")
                                                    : outputFilename.getValue(),
                     &errorMessage);
  if (!output) {
    llvm::errs() << "gecko-compile: " << errorMessage << "\n";
    return 1;
  }
  if (!modelConfig.empty()) {
    if (inputFilename != "-") {
      llvm::errs() << "gecko-compile: give either --model CONFIG.json or an "
                      "input .mlir file, not both\n";
      return 1;
    }
    if (printStats) {
      if (int rc = printModelStats(output->os()))
        return rc;
    } else if (failed(compileModel(context, output->os()))) {
      return 1;
    }
    output->keep();
    return 0;
  }
  if (dataParallel && modelConfig.empty()) {
    llvm::errs() << "gecko-compile: --data-parallel needs --model CONFIG.json "
                    "and --mode train\n";
    return 1;
  }
  if (!modes.empty() || batchSize.getNumOccurrences()) {
    llvm::errs() << "gecko-compile: --mode and --batch need --model "
                    "CONFIG.json\n";
    return 1;
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
