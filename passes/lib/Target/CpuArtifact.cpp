//===- CpuArtifact.cpp - Compile a gecko module into a CPU artifact -------===//
//
// gecko IR -> (CPU pipeline) LLVM dialect -> LLVM IR -> optimized object
// -> shared object (ld.lld) -> .gkm. The plan is read from the frontend
// contract's attributes before lowering, since lowering rewrites the
// function signatures (results become out parameters); the memory plan
// (workspace size, buffers) and the ready signals after it, from the
// attributes that gecko-plan-memory and gecko-insert-ready-signals set and
// gecko-emit-entry-points copies onto each entry.
//
//===----------------------------------------------------------------------===//

#include "gecko/Target/CpuArtifact.h"
#include "gecko/GPU/Passes.h"

#include "gecko/Dialect/Gecko/IR/GeckoAttributes.h"
#include "gecko/Pipelines/Pipelines.h"
#include "gecko/Transforms/Passes.h"

#include "gecko/abi/artifact_format.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

#include <optional>

namespace mlir::gecko {
namespace abi = ::gecko;

namespace {

FailureOr<abi::ElementType> elementTypeOf(Operation *op, Type type) {
  if (type.isF32())
    return abi::ElementType::kF32;
  if (type.isF64())
    return abi::ElementType::kF64;
  if (type.isBF16())
    return abi::ElementType::kBF16;
  if (type.isF16())
    return abi::ElementType::kF16;
  if (type.isInteger(64))
    return abi::ElementType::kI64;
  if (type.isInteger(32))
    return abi::ElementType::kI32;
  if (type.isInteger(8))
    return abi::ElementType::kI8;
  if (type.isInteger(1))
    return abi::ElementType::kI1;
  return op->emitError() << "element type " << type
                         << " cannot cross the kernel ABI";
}

/// Fills `spec` from a statically shaped tensor type.
LogicalResult describeTensor(func::FuncOp func, Type type, StringRef what,
                             abi::TensorSpec &spec) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.hasStaticShape())
    return func.emitError()
           << what << " of @" << func.getName() << " has type " << type
           << "; compiled functions take and return "
              "statically shaped tensors";
  FailureOr<abi::ElementType> dtype =
      elementTypeOf(func, tensor.getElementType());
  if (failed(dtype))
    return failure();
  spec.dtype = *dtype;
  spec.shape.assign(tensor.getShape().begin(), tensor.getShape().end());
  return success();
}

/// The plan's init spec from a `gecko.init` dictionary (docs/frontend.md).
FailureOr<abi::InitSpec> describeInit(func::FuncOp func, unsigned i,
                                      DictionaryAttr init) {
  auto kind = init.getAs<StringAttr>("kind");
  abi::InitSpec spec;
  bool known = false;
  for (abi::InitKind k :
       {abi::InitKind::kZeros, abi::InitKind::kOnes, abi::InitKind::kConstant,
        abi::InitKind::kNormal, abi::InitKind::kTruncatedNormal,
        abi::InitKind::kUniform, abi::InitKind::kCemaTheta,
        abi::InitKind::kComplexRealNormal})
    if (kind && kind.getValue() == abi::initKindName(k)) {
      spec.kind = k;
      known = true;
    }
  if (!known)
    return func.emitError() << "argument " << i << " of @" << func.getName()
                            << " has an unknown gecko.init kind " << init;
  auto number = [&](StringRef name, double &into) {
    if (auto value = init.getAs<FloatAttr>(name))
      into = value.getValueAsDouble();
  };
  number("value", spec.value);
  number("mean", spec.mean);
  number("std", spec.stddev);
  number("a", spec.a);
  number("b", spec.b);
  return spec;
}

/// The plan entry of one public function, from its frontend-contract
/// attributes. Unnamed arguments and results (hand-written IR) are named
/// "arg<i>" (an input) and "result<i>".
FailureOr<abi::FunctionPlan> describeFunction(func::FuncOp func) {
  abi::FunctionPlan plan;
  plan.name = func.getName().str();
  plan.mode = plan.name;
  plan.entry = std::string(kEntryPrefix) + plan.name;
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
    abi::ArgSpec arg;
    if (auto name = func.getArgAttrOfType<StringAttr>(i, kParamAttrName)) {
      arg.kind = abi::ArgKind::kParam;
      arg.name = name.str();
      if (auto init = func.getArgAttrOfType<DictionaryAttr>(i, kInitAttrName)) {
        FailureOr<abi::InitSpec> spec = describeInit(func, i, init);
        if (failed(spec))
          return failure();
        arg.init = *spec;
      }
    } else if (auto state =
                   func.getArgAttrOfType<StringAttr>(i, kStateAttrName)) {
      arg.kind = abi::ArgKind::kState;
      arg.name = state.str();
    } else if (auto input =
                   func.getArgAttrOfType<StringAttr>(i, kInputAttrName)) {
      arg.kind = abi::ArgKind::kInput;
      arg.name = input.str();
    } else {
      arg.kind = abi::ArgKind::kInput;
      arg.name = "arg" + std::to_string(i);
    }
    if (failed(describeTensor(func, func.getArgumentTypes()[i],
                              "argument " + std::to_string(i), arg)))
      return failure();
    if (auto range =
            func.getArgAttrOfType<DenseI64ArrayAttr>(i, kRangeAttrName);
        range && range.size() == 2)
      arg.range = abi::ValueRange{range[0], range[1]};
    if (auto collective =
            func.getArgAttrOfType<DictionaryAttr>(i, kCollectiveAttrName)) {
      // Inputs with the same collective form one plan entry, in arg order.
      auto text = [&](StringRef key) -> std::string {
        auto v = collective.getAs<StringAttr>(key);
        return v ? v.str() : std::string();
      };
      std::string op = text("op"), reduction = text("reduction"),
                  group = text("group");
      if (op.empty() || reduction.empty() || group.empty() ||
          collective.size() != 3)
        return func.emitError()
               << "argument " << i << " of @" << func.getName()
               << " has a malformed " << kCollectiveAttrName << " "
               << collective << " (expected {op, reduction, group} strings)";
      abi::CollectiveSpec *spec = nullptr;
      for (abi::CollectiveSpec &c : plan.collectives)
        if (c.op == op && c.reduction == reduction && c.group == group)
          spec = &c;
      if (!spec) {
        plan.collectives.push_back(
            abi::CollectiveSpec{op, reduction, group, {}});
        spec = &plan.collectives.back();
      }
      spec->tensors.push_back(arg.name);
    }
    plan.args.push_back(std::move(arg));
  }
  for (unsigned i = 0, e = func.getNumResults(); i < e; ++i) {
    abi::TensorSpec result;
    auto name = func.getResultAttrOfType<StringAttr>(i, kOutputAttrName);
    result.name = name ? name.str() : "result" + std::to_string(i);
    if (failed(describeTensor(func, func.getResultTypes()[i],
                              "result " + std::to_string(i), result)))
      return failure();
    plan.results.push_back(std::move(result));
  }
  return plan;
}

/// Copies the memory plan of gecko-plan-memory, which gecko-emit-entry-points
/// keeps on the entry function of the lowered module, into `function`.
LogicalResult readMemoryPlan(ModuleOp module, abi::FunctionPlan &function) {
  auto entry = module.lookupSymbol<LLVM::LLVMFuncOp>(function.entry);
  if (!entry)
    return module.emitError()
           << "the lowered module has no entry '" << function.entry << "'";
  if (auto bytes = entry->getAttrOfType<IntegerAttr>("gecko.workspace_bytes"))
    function.workspace.bytes = uint64_t(bytes.getInt());
  if (auto alignment =
          entry->getAttrOfType<IntegerAttr>("gecko.workspace_alignment"))
    function.workspace.alignment = uint64_t(alignment.getInt());
  if (auto signals = entry->getAttrOfType<ArrayAttr>("gecko.signals")) {
    for (auto [id, attr] : llvm::enumerate(signals)) {
      auto names = dyn_cast<ArrayAttr>(attr);
      if (!names)
        return entry.emitError() << "malformed gecko.signals entry " << attr;
      abi::SignalSpec signal;
      signal.id = uint32_t(id);
      for (Attribute name : names) {
        auto text = dyn_cast<StringAttr>(name);
        if (!text)
          return entry.emitError() << "malformed gecko.signals entry " << attr;
        signal.tensors.push_back(text.str());
      }
      function.signals.push_back(std::move(signal));
    }
  }
  if (auto buffers = entry->getAttrOfType<ArrayAttr>("gecko.buffers")) {
    for (Attribute attr : buffers) {
      auto pair = dyn_cast<DenseI64ArrayAttr>(attr);
      if (!pair || pair.size() != 2)
        return entry.emitError() << "malformed gecko.buffers entry " << attr;
      function.buffers.push_back(
          abi::BufferSpec{uint64_t(pair[0]), uint64_t(pair[1])});
    }
  }
  return success();
}

/// Finds the linker: options.linker, else ld.lld-22 / ld.lld.
FailureOr<std::string> findLinker(Operation *op,
                                  const CpuArtifactOptions &options) {
  if (!options.linker.empty())
    return options.linker;
  for (const char *name : {"ld.lld-22", "ld.lld"}) {
    if (auto path = llvm::sys::findProgramByName(name))
      return *path;
    if (auto path =
            llvm::sys::findProgramByName(name, {"/usr/lib/llvm-22/bin"}))
      return *path;
  }
  return op->emitError() << "no linker found: install lld-22 (ld.lld-22) or "
                            "pass the linker's path";
}

/// Compiles the LLVM-dialect module to an object file in memory.
FailureOr<std::string> compileObject(ModuleOp module,
                                     const CpuArtifactOptions &options,
                                     std::string &triple) {
  static bool initialized = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialized;

  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  module->getContext()->appendDialectRegistry(registry);

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, "gecko");
  if (!llvmModule)
    return module.emitError() << "translation to LLVM IR failed";

  llvm::Triple targetTriple(llvm::sys::getDefaultTargetTriple());
  triple = targetTriple.str();
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(targetTriple, error);
  if (!target)
    return module.emitError()
           << "no LLVM target for " << triple << ": " << error;
  std::string cpu =
      options.cpu == "native" ? llvm::sys::getHostCPUName().str() : options.cpu;
  llvm::TargetOptions targetOptions;
  llvm::CodeGenOptLevel level =
      options.optLevel >= 3   ? llvm::CodeGenOptLevel::Aggressive
      : options.optLevel == 2 ? llvm::CodeGenOptLevel::Default
      : options.optLevel == 1 ? llvm::CodeGenOptLevel::Less
                              : llvm::CodeGenOptLevel::None;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      targetTriple, cpu, /*Features=*/"", targetOptions, llvm::Reloc::PIC_,
      std::nullopt, level));
  if (!machine)
    return module.emitError()
           << "cannot create a target machine for cpu '" << cpu << "'";
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(targetTriple);

  auto optimize = makeOptimizingTransformer(options.optLevel, /*sizeLevel=*/0,
                                            machine.get());
  if (llvm::Error err = optimize(llvmModule.get()))
    return module.emitError()
           << "LLVM optimization failed: " << llvm::toString(std::move(err));

  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream stream(buffer);
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, stream, nullptr,
                                   llvm::CodeGenFileType::ObjectFile))
    return module.emitError() << "the target cannot emit object files";
  codegen.run(*llvmModule);
  return std::string(buffer.begin(), buffer.end());
}

/// Links `object` into a shared object with `linker` and returns its bytes.
FailureOr<std::vector<uint8_t>> linkSharedObject(Operation *op,
                                                 const std::string &linker,
                                                 const std::string &object) {
  llvm::SmallString<128> objectPath, sharedPath;
  if (llvm::sys::fs::createTemporaryFile("gecko-kernels", "o", objectPath) ||
      llvm::sys::fs::createTemporaryFile("gecko-kernels", "so", sharedPath))
    return op->emitError() << "cannot create temporary files for linking";
  auto cleanup = llvm::scope_exit([&] {
    llvm::sys::fs::remove(objectPath);
    llvm::sys::fs::remove(sharedPath);
  });
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(objectPath, ec);
    if (ec)
      return op->emitError()
             << "cannot write " << objectPath << ": " << ec.message();
    os << object;
  }
  llvm::SmallString<128> logPath;
  if (llvm::sys::fs::createTemporaryFile("gecko-link", "log", logPath))
    return op->emitError() << "cannot create a temporary file for linking";
  auto removeLog = llvm::scope_exit([&] { llvm::sys::fs::remove(logPath); });
  llvm::SmallVector<llvm::StringRef> args = {
      linker, "-shared", "--build-id", "-z",       "noexecstack",
      "-z",   "now",     "-o",         sharedPath, objectPath};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, logPath.str(),
                                                logPath.str()};
  std::string error;
  int rc = llvm::sys::ExecuteAndWait(linker, args, std::nullopt, redirects,
                                     /*SecondsToWait=*/120, 0, &error);
  if (rc != 0) {
    std::string log;
    if (auto buffer = llvm::MemoryBuffer::getFile(logPath))
      log = (*buffer)->getBuffer().str();
    return op->emitError() << "linking the kernels failed (" << linker
                           << ", exit " << rc << "): " << error << log;
  }
  auto buffer = llvm::MemoryBuffer::getFile(sharedPath);
  if (!buffer)
    return op->emitError() << "cannot read the linked " << sharedPath;
  llvm::StringRef bytes = (*buffer)->getBuffer();
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

} // namespace

LogicalResult emitCpuArtifact(ModuleOp module,
                              const CpuArtifactOptions &options,
                              StringRef path) {
  abi::ArtifactPlan plan;
  plan.modelJson = options.modelJson;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isPrivate() || func.isExternal())
      continue;
    FailureOr<abi::FunctionPlan> function = describeFunction(func);
    if (failed(function))
      return failure();
    plan.functions.push_back(std::move(*function));
    // The names are in the plan now; LLVM has no use for them. A result
    // that a collective reduces keeps its name and collective for
    // gecko-insert-ready-signals, which consumes them.
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      func.setArgAttrs(i, ArrayRef<NamedAttribute>{});
    for (unsigned i = 0, e = func.getNumResults(); i < e; ++i) {
      NamedAttrList kept;
      if (Attribute collective = func.getResultAttr(i, kCollectiveAttrName)) {
        kept.set(kCollectiveAttrName, collective);
        kept.set(kOutputAttrName,
                 StringAttr::get(func.getContext(),
                                 plan.functions.back().results[i].name));
      }
      func.setResultAttrs(i, kept.getDictionary(func.getContext()));
    }
  }
  if (plan.functions.empty())
    return module.emitError() << "the module has no public function to "
                                 "compile";

  PassManager pm(module->getContext(), ModuleOp::getOperationName());
  bool cuda = options.target == "cuda";
  if (!cuda && options.target != "cpu")
    return module.emitError() << "unknown target '" << options.target
                              << "' (expected cpu or cuda)";
  // One precision for both targets: the artifact's, recorded in the plan.
  CudaPipelineOptions cudaOptions = options.cuda;
  cudaOptions.precision = options.precision;
  CpuPipelineOptions cpuOptions;
  cpuOptions.precision = options.precision;
  LogicalResult built = cuda ? buildCudaLoweringPipeline(pm, cudaOptions)
                             : buildCpuLoweringPipeline(pm, cpuOptions);
  if (failed(built) || failed(pm.run(module)))
    return failure();
  for (abi::FunctionPlan &function : plan.functions)
    if (failed(readMemoryPlan(module, function)))
      return failure();

  std::string triple;
  FailureOr<std::string> object = compileObject(module, options, triple);
  if (failed(object))
    return failure();
  FailureOr<std::string> linker = findLinker(module, options);
  if (failed(linker))
    return failure();
  FailureOr<std::vector<uint8_t>> code =
      linkSharedObject(module, *linker, *object);
  if (failed(code))
    return failure();

  plan.target.kind = options.target;
  plan.target.triple = triple;
  plan.precision = stringifyPrecision(options.precision).str();
  if (cuda) {
    auto chip = module->getAttrOfType<StringAttr>("gecko.gpu_chip");
    auto format = module->getAttrOfType<StringAttr>("gecko.gpu_image_format");
    auto kernels = module->getAttrOfType<ArrayAttr>(kKernelListAttr);
    if (!chip || !format || !kernels)
      return module.emitError()
             << "the CUDA pipeline left no device image description";
    plan.target.chip = chip.str();
    plan.target.deviceImageFormat = format.str();
    for (Attribute name : kernels)
      plan.target.kernels.push_back(cast<StringAttr>(name).str());
  }
  ::gecko::Status written = abi::writeArtifact(path.str(), plan, *code);
  if (!written.isOk())
    return module.emitError()
           << "cannot write the artifact: " << written.message();
  return success();
}

} // namespace mlir::gecko
