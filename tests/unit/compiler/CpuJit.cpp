//===- CpuJit.cpp - Run gecko IR on the host CPU in tests -----------------===//

#include "CpuJit.h"

#include "gecko/Conversion/Passes.h"
#include "gecko/Dialect/Gecko/IR/GeckoDialect.h"
#include "gecko/Pipelines/Pipelines.h"
#include "gecko/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

using namespace mlir;

namespace gecko::testing {

int64_t JitBuffer::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

static JitBuffer make(const char *dtype, std::vector<int64_t> shape,
                      std::vector<double> v) {
  JitBuffer b{dtype, std::move(shape), std::move(v)};
  if (int64_t(b.values.size()) != b.numElements())
    b.values.resize(b.numElements(), 0.0);
  return b;
}
JitBuffer JitBuffer::f32(std::vector<int64_t> s, std::vector<double> v) {
  return make("f32", std::move(s), std::move(v));
}
JitBuffer JitBuffer::f64(std::vector<int64_t> s, std::vector<double> v) {
  return make("f64", std::move(s), std::move(v));
}
JitBuffer JitBuffer::i64(std::vector<int64_t> s, std::vector<double> v) {
  return make("i64", std::move(s), std::move(v));
}
JitBuffer JitBuffer::i1(std::vector<int64_t> s, std::vector<double> v) {
  return make("i1", std::move(s), std::move(v));
}

namespace {

std::string dtypeOf(Type type) {
  if (type.isF32())
    return "f32";
  if (type.isF64())
    return "f64";
  if (type.isBF16())
    return "bf16";
  if (type.isF16())
    return "f16";
  if (type.isInteger(64))
    return "i64";
  if (type.isInteger(32))
    return "i32";
  if (type.isInteger(1))
    return "i1";
  return "";
}

size_t elementBytes(const std::string &dtype) {
  if (dtype == "f64" || dtype == "i64")
    return 8;
  if (dtype == "f32" || dtype == "i32")
    return 4;
  if (dtype == "bf16" || dtype == "f16")
    return 2;
  return 1;
}

uint16_t toBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint32_t rounding = 0x7fff + ((bits >> 16) & 1);
  return uint16_t((bits + rounding) >> 16);
}
float fromBf16(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Raw storage with 64-byte alignment, as the kernel ABI promises.
struct RawBuffer {
  explicit RawBuffer(size_t bytes)
      : storage(new (std::align_val_t(64)) std::byte[bytes ? bytes : 1]) {}
  ~RawBuffer() { ::operator delete[](storage, std::align_val_t(64)); }
  std::byte *storage;
};

void pack(const JitBuffer &b, std::byte *out) {
  int64_t n = b.numElements();
  for (int64_t i = 0; i < n; ++i) {
    double v = b.values[i];
    if (b.dtype == "f32") {
      float f = float(v);
      std::memcpy(out + 4 * i, &f, 4);
    } else if (b.dtype == "f64") {
      std::memcpy(out + 8 * i, &v, 8);
    } else if (b.dtype == "bf16") {
      uint16_t h = toBf16(float(v));
      std::memcpy(out + 2 * i, &h, 2);
    } else if (b.dtype == "i64") {
      int64_t x = int64_t(v);
      std::memcpy(out + 8 * i, &x, 8);
    } else if (b.dtype == "i32") {
      int32_t x = int32_t(v);
      std::memcpy(out + 4 * i, &x, 4);
    } else {
      out[i] = std::byte(v != 0.0 ? 1 : 0);
    }
  }
}

void unpack(const std::byte *in, JitBuffer &b) {
  int64_t n = b.numElements();
  b.values.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    if (b.dtype == "f32") {
      float f;
      std::memcpy(&f, in + 4 * i, 4);
      b.values[i] = f;
    } else if (b.dtype == "f64") {
      std::memcpy(&b.values[i], in + 8 * i, 8);
    } else if (b.dtype == "bf16") {
      uint16_t h;
      std::memcpy(&h, in + 2 * i, 2);
      b.values[i] = fromBf16(h);
    } else if (b.dtype == "i64") {
      int64_t x;
      std::memcpy(&x, in + 8 * i, 8);
      b.values[i] = double(x);
    } else if (b.dtype == "i32") {
      int32_t x;
      std::memcpy(&x, in + 4 * i, 4);
      b.values[i] = double(x);
    } else {
      b.values[i] = in[i] != std::byte(0) ? 1.0 : 0.0;
    }
  }
}

struct Signature {
  std::vector<std::pair<std::string, std::vector<int64_t>>> args, results;
  int64_t workspaceBytes = 0;
  int64_t workspaceAlignment = 64;
};

/// Adds the CPU pipeline to `pm`, without gecko-plan-memory and/or
/// gecko-fuse-elementwise as `options` asks (the pipeline is textual,
/// so the passes are removed from its printed form).
LogicalResult buildPipeline(PassManager &pm, const CpuJitOptions &options,
                            llvm::raw_ostream &diagnostics) {
  if (options.planMemory && options.fuseElementwise)
    return mlir::gecko::buildCpuLoweringPipeline(pm);
  OpPassManager full("builtin.module");
  if (failed(mlir::gecko::buildCpuLoweringPipeline(full)))
    return failure();
  std::string text;
  llvm::raw_string_ostream os(text);
  full.printAsTextualPipeline(os);
  StringRef inner(text);
  if (!inner.consume_front("builtin.module(") || !inner.consume_back(")")) {
    diagnostics << "CpuJit: unexpected pipeline " << text << "\n";
    return failure();
  }
  std::string pipeline = inner.str();
  auto drop = [&](StringRef pass) {
    std::string item = (pass + ",").str();
    size_t at = pipeline.find(item);
    if (at == std::string::npos) {
      diagnostics << "CpuJit: " << pass << " is not in the pipeline\n";
      return false;
    }
    pipeline.erase(at, item.size());
    return true;
  };
  if (!options.planMemory && !drop("gecko-plan-memory"))
    return failure();
  if (!options.fuseElementwise && !drop("gecko-fuse-elementwise"))
    return failure();
  return parsePassPipeline(pipeline, pm, diagnostics);
}

} // namespace

struct CpuJit::Impl {
  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  std::unique_ptr<ExecutionEngine> engine;
  std::map<std::string, Signature> signatures;
};

CpuJit::CpuJit(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
CpuJit::~CpuJit() = default;

std::unique_ptr<CpuJit> CpuJit::compile(const std::string &source,
                                        std::string &error,
                                        const CpuJitOptions &jitOptions) {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    registerAllPasses();
    mlir::gecko::registerGeckoConversionPasses();
    mlir::gecko::registerGeckoTransformsPasses();
  });

  auto impl = std::make_unique<Impl>();
  DialectRegistry registry;
  registry.insert<mlir::gecko::GeckoDialect>();
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  impl->context.appendDialectRegistry(registry);
  impl->context.loadAllAvailableDialects();

  llvm::raw_string_ostream diagnostics(error);
  ScopedDiagnosticHandler handler(&impl->context, [&](Diagnostic &diag) {
    diagnostics << diag.getLocation() << ": " << diag << "\n";
    for (Diagnostic &note : diag.getNotes())
      diagnostics << "  note: " << note << "\n";
    return success();
  });

  impl->module = parseSourceString<ModuleOp>(source, &impl->context);
  if (!impl->module)
    return nullptr;

  for (auto func : impl->module->getOps<func::FuncOp>()) {
    if (func.isPrivate() || func.isExternal())
      continue;
    Signature sig;
    auto describe = [&](Type type, auto &into) {
      auto tensor = dyn_cast<RankedTensorType>(type);
      if (!tensor || !tensor.hasStaticShape() ||
          dtypeOf(tensor.getElementType()).empty()) {
        diagnostics << "CpuJit: @" << func.getName() << " has type " << type
                    << "; only statically shaped tensors are supported\n";
        return false;
      }
      into.emplace_back(dtypeOf(tensor.getElementType()),
                        std::vector<int64_t>(tensor.getShape().begin(),
                                             tensor.getShape().end()));
      return true;
    };
    for (Type t : func.getArgumentTypes())
      if (!describe(t, sig.args))
        return nullptr;
    for (Type t : func.getResultTypes())
      if (!describe(t, sig.results))
        return nullptr;
    impl->signatures[func.getName().str()] = std::move(sig);
  }

  PassManager pm(&impl->context);
  if (failed(buildPipeline(pm, jitOptions, diagnostics)) ||
      failed(pm.run(*impl->module)))
    return nullptr;

  // gecko-emit-entry-points keeps the memory plan on each entry.
  for (auto &[name, sig] : impl->signatures) {
    auto entry =
        impl->module->lookupSymbol<LLVM::LLVMFuncOp>("gecko_entry_" + name);
    if (!entry)
      continue;
    if (auto bytes = entry->getAttrOfType<IntegerAttr>("gecko.workspace_bytes"))
      sig.workspaceBytes = bytes.getInt();
    if (auto align =
            entry->getAttrOfType<IntegerAttr>("gecko.workspace_alignment"))
      sig.workspaceAlignment = std::max<int64_t>(64, align.getInt());
  }

  ExecutionEngineOptions options;
  auto transformer = makeOptimizingTransformer(/*optLevel=*/2,
                                               /*sizeLevel=*/0, nullptr);
  options.transformer = transformer;
  auto engine = ExecutionEngine::create(*impl->module, options);
  if (!engine) {
    diagnostics << "CpuJit: " << llvm::toString(engine.takeError()) << "\n";
    return nullptr;
  }
  impl->engine = std::move(*engine);
  return std::unique_ptr<CpuJit>(new CpuJit(std::move(impl)));
}

bool CpuJit::run(const std::string &function,
                 const std::vector<JitBuffer> &args,
                 std::vector<JitBuffer> &results, std::string &error) {
  auto it = impl->signatures.find(function);
  if (it == impl->signatures.end()) {
    error = "no public function @" + function;
    return false;
  }
  const Signature &sig = it->second;
  if (args.size() != sig.args.size()) {
    error = "@" + function + " takes " + std::to_string(sig.args.size()) +
            " arguments, got " + std::to_string(args.size());
    return false;
  }
  std::vector<std::unique_ptr<RawBuffer>> storage;
  std::vector<void *> pointers;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].dtype != sig.args[i].first ||
        args[i].shape != sig.args[i].second) {
      error = "argument " + std::to_string(i) + " of @" + function +
              " has the wrong dtype or shape (expected " + sig.args[i].first +
              ")";
      return false;
    }
    storage.push_back(std::make_unique<RawBuffer>(args[i].numElements() *
                                                  elementBytes(args[i].dtype)));
    pack(args[i], storage.back()->storage);
    pointers.push_back(storage.back()->storage);
  }
  results.clear();
  for (const auto &[dtype, shape] : sig.results) {
    JitBuffer r{dtype, shape, {}};
    storage.push_back(
        std::make_unique<RawBuffer>(r.numElements() * elementBytes(dtype)));
    std::memset(storage.back()->storage, 0,
                r.numElements() * elementBytes(dtype));
    pointers.push_back(storage.back()->storage);
    results.push_back(std::move(r));
  }
  // The workspace (kernel ABI v1): uninitialized, NULL when empty. Filled
  // with a pattern so that code reading a temporary before writing it shows.
  std::unique_ptr<std::byte, void (*)(std::byte *)> workspace(
      nullptr, [](std::byte *) {});
  if (sig.workspaceBytes > 0) {
    size_t align = size_t(sig.workspaceAlignment);
    size_t bytes = (size_t(sig.workspaceBytes) + align - 1) / align * align;
    workspace = std::unique_ptr<std::byte, void (*)(std::byte *)>(
        static_cast<std::byte *>(std::aligned_alloc(align, bytes)),
        [](std::byte *p) { std::free(p); });
    if (!workspace) {
      error = "cannot allocate a workspace of " +
              std::to_string(sig.workspaceBytes) + " bytes";
      return false;
    }
    std::memset(workspace.get(), 0xA5, bytes);
  }
  pointers.push_back(workspace.get());

  auto symbol = impl->engine->lookup("gecko_entry_" + function);
  if (!symbol) {
    error = llvm::toString(symbol.takeError());
    return false;
  }
  auto entry = reinterpret_cast<void (*)(void **)>(*symbol);
  entry(pointers.data());
  for (size_t i = 0; i < results.size(); ++i)
    unpack(storage[args.size() + i]->storage, results[i]);
  return true;
}

int64_t CpuJit::workspaceBytes(const std::string &function) const {
  auto it = impl->signatures.find(function);
  return it == impl->signatures.end() ? 0 : it->second.workspaceBytes;
}

std::string CpuJit::loweredModule() const {
  std::string text;
  llvm::raw_string_ostream os(text);
  impl->module->print(os);
  return text;
}

std::vector<JitBuffer> compileAndRun(const std::string &source,
                                     const std::string &function,
                                     const std::vector<JitBuffer> &args,
                                     std::string &error) {
  std::unique_ptr<CpuJit> jit = CpuJit::compile(source, error);
  if (!jit)
    return {};
  std::vector<JitBuffer> results;
  if (!jit->run(function, args, results, error))
    return {};
  return results;
}

} // namespace gecko::testing
