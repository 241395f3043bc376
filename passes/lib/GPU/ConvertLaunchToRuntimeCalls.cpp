//===- ConvertLaunchToRuntimeCalls.cpp - Launches via gecko_host_imports --===//
//
// Upstream's gpu-to-llvm calls MLIR's CUDA runtime wrappers (mgpu*), loads
// modules in global constructors and creates a stream per launch. The
// artifact instead launches through the table the Gecko runtime fills in
// (kernel_abi.h, "GPU targets"), so the host object has no undefined
// symbols, loads nothing on its own and shares the runtime's stream.
//
//===----------------------------------------------------------------------===//

#include "gecko/GPU/Passes.h"
#include "gecko/Transforms/HostImports.h"

#include "mlir/Conversion/LLVMCommon/ConversionTarget.h"
#include "mlir/Conversion/LLVMCommon/Pattern.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::gecko {
#define GEN_PASS_DEF_GECKOCONVERTGPULAUNCHTORUNTIMECALLS
#include "gecko/GPU/Passes.h.inc"

namespace {

constexpr const char *kImportsSymbol = kHostImportsSymbol;
constexpr const char *kImageSymbol = "gecko_device_image";
constexpr const char *kImageSizeSymbol = "gecko_device_image_size";

/// gecko_host_imports_t (kernel ABI v2): context, launch, gemm, signal.
LLVM::LLVMStructType importsType(MLIRContext *ctx) {
  return hostImportsType(ctx);
}

/// gecko_gemm_desc (kernel_abi.h): dtype, flags, m, n, k, batch, alpha,
/// beta, then (pointer, 3 strides) for A, B and C.
LLVM::LLVMStructType gemmDescType(MLIRContext *ctx) {
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  auto i32 = IntegerType::get(ctx, 32);
  auto i64 = IntegerType::get(ctx, 64);
  auto f64 = Float64Type::get(ctx);
  auto strides = LLVM::LLVMArrayType::get(i64, 3);
  return LLVM::LLVMStructType::getLiteral(ctx, {i32, i32, i64, i64, i64, i64,
                                                f64, f64, ptr, strides, ptr,
                                                strides, ptr, strides});
}

/// Loads field `index` of the import table.
std::pair<Value, Value> loadImport(OpBuilder &b, Location loc, unsigned index) {
  MLIRContext *ctx = b.getContext();
  auto ptrTy = LLVM::LLVMPointerType::get(ctx);
  Value table =
      LLVM::AddressOfOp::create(b, loc, ptrTy, StringRef(kImportsSymbol));
  Value context = LLVM::LoadOp::create(b, loc, ptrTy, table);
  Value slot = LLVM::GEPOp::create(b, loc, ptrTy, importsType(ctx), table,
                                   ArrayRef<LLVM::GEPArg>{0, int32_t(index)});
  return {context, LLVM::LoadOp::create(b, loc, ptrTy, slot)};
}

/// func.call @gecko_import_gemm(...) {gecko.gpu_import = "gemm"} -> a
/// gecko_gemm_desc on the stack and a call of imports.gemm.
struct GemmCallLowering : ConvertOpToLLVMPattern<func::CallOp> {
  using ConvertOpToLLVMPattern::ConvertOpToLLVMPattern;

  LogicalResult
  matchAndRewrite(func::CallOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!op->hasAttr(kGpuImportAttr))
      return failure();
    ValueRange in = adaptor.getOperands();
    if (in.size() != 7 + 3 * 4)
      return rewriter.notifyMatchFailure(op, "unexpected gemm operands");
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    auto ptrTy = LLVM::LLVMPointerType::get(ctx);
    auto i32 = IntegerType::get(ctx, 32);
    auto i64 = IntegerType::get(ctx, 64);
    LLVM::LLVMStructType descTy = gemmDescType(ctx);
    Value desc;
    {
      OpBuilder::InsertionGuard guard(rewriter);
      auto func = op->getParentOfType<FunctionOpInterface>();
      rewriter.setInsertionPointToStart(&func.getFunctionBody().front());
      Value one = LLVM::ConstantOp::create(rewriter, loc, i64, 1);
      desc = LLVM::AllocaOp::create(rewriter, loc, ptrTy, descTy, one);
    }
    auto field = [&](ArrayRef<LLVM::GEPArg> path) -> Value {
      SmallVector<LLVM::GEPArg> full = {0};
      full.append(path.begin(), path.end());
      return LLVM::GEPOp::create(rewriter, loc, ptrTy, descTy, desc, full);
    };
    LLVM::StoreOp::create(rewriter, loc, in[0], field({0}));
    LLVM::StoreOp::create(rewriter, loc,
                          LLVM::ConstantOp::create(rewriter, loc, i32, 0),
                          field({1}));
    for (int32_t i = 0; i < 6; ++i) // m, n, k, batch, alpha, beta
      LLVM::StoreOp::create(rewriter, loc, in[1 + i], field({2 + i}));
    for (int32_t t = 0; t < 3; ++t) { // A, B, C
      ValueRange group = in.slice(7 + 4 * t, 4);
      Value address = LLVM::IntToPtrOp::create(rewriter, loc, ptrTy, group[0]);
      LLVM::StoreOp::create(rewriter, loc, address, field({8 + 2 * t}));
      for (int32_t j = 0; j < 3; ++j)
        LLVM::StoreOp::create(rewriter, loc, group[1 + j],
                              field({9 + 2 * t, j}));
    }
    auto [context, gemm] = loadImport(rewriter, loc, kImportGemm);
    auto fnTy = LLVM::LLVMFunctionType::get(i32, {ptrTy, ptrTy});
    LLVM::CallOp::create(rewriter, loc, fnTy, ValueRange{gemm, context, desc});
    rewriter.eraseOp(op);
    return success();
  }
};

struct LaunchFuncLowering : ConvertOpToLLVMPattern<gpu::LaunchFuncOp> {
  LaunchFuncLowering(const LLVMTypeConverter &converter,
                     const llvm::StringMap<unsigned> &kernelIndex)
      : ConvertOpToLLVMPattern(converter), kernelIndex(kernelIndex) {}

  LogicalResult
  matchAndRewrite(gpu::LaunchFuncOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (op.getAsyncToken() || !op.getAsyncDependencies().empty())
      return rewriter.notifyMatchFailure(op, "async launches are not used");
    if (op.hasClusterSize())
      return rewriter.notifyMatchFailure(op, "cluster launches are not used");
    auto it = kernelIndex.find(op.getKernelName().getValue());
    if (it == kernelIndex.end())
      return rewriter.notifyMatchFailure(op, "kernel not in gecko.gpu_kernels");

    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    auto ptrTy = LLVM::LLVMPointerType::get(ctx);
    auto i32 = IntegerType::get(ctx, 32);
    auto i64 = IntegerType::get(ctx, 64);

    SmallVector<Value> params = getTypeConverter()->promoteOperands(
        loc, op.getKernelOperands(), adaptor.getKernelOperands(), rewriter,
        /*useBarePtrCallConv=*/false);

    // Stack slots live in the entry block, so launches inside host loops do
    // not grow the stack.
    auto func = op->getParentOfType<FunctionOpInterface>();
    Block &entry = func.getFunctionBody().front();
    Value array, *slotsBegin = nullptr;
    SmallVector<Value> slots;
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&entry);
      Value one = LLVM::ConstantOp::create(rewriter, loc, i64, 1);
      Value count = LLVM::ConstantOp::create(
          rewriter, loc, i64, std::max<int64_t>(1, params.size()));
      array = LLVM::AllocaOp::create(rewriter, loc, ptrTy, ptrTy, count);
      for (Value p : params)
        slots.push_back(
            LLVM::AllocaOp::create(rewriter, loc, ptrTy, p.getType(), one));
    }
    (void)slotsBegin;
    for (auto [i, p] : llvm::enumerate(params)) {
      LLVM::StoreOp::create(rewriter, loc, p, slots[i]);
      Value elt = LLVM::GEPOp::create(rewriter, loc, ptrTy, ptrTy, array,
                                      ArrayRef<LLVM::GEPArg>{int32_t(i)});
      LLVM::StoreOp::create(rewriter, loc, slots[i], elt);
    }

    auto [context, launch] = loadImport(rewriter, loc, kImportLaunch);

    auto toI32 = [&](Value v) -> Value {
      return LLVM::TruncOp::create(rewriter, loc, i32, v);
    };
    SmallVector<Value> args = {launch, context};
    args.push_back(LLVM::ConstantOp::create(rewriter, loc, i32, it->second));
    gpu::KernelDim3 grid = {adaptor.getGridSizeX(), adaptor.getGridSizeY(),
                            adaptor.getGridSizeZ()};
    gpu::KernelDim3 block = {adaptor.getBlockSizeX(), adaptor.getBlockSizeY(),
                             adaptor.getBlockSizeZ()};
    for (Value v : {grid.x, grid.y, grid.z, block.x, block.y, block.z})
      args.push_back(toI32(v));
    if (Value smem = adaptor.getDynamicSharedMemorySize())
      args.push_back(smem.getType() == i32 ? smem : toI32(smem));
    else
      args.push_back(LLVM::ConstantOp::create(rewriter, loc, i32, 0));
    args.push_back(array);

    SmallVector<Type> argTypes = {ptrTy, i32};
    argTypes.append(7, i32);
    argTypes.push_back(ptrTy);
    auto fnTy = LLVM::LLVMFunctionType::get(i32, argTypes);
    LLVM::CallOp::create(rewriter, loc, fnTy, args);
    rewriter.eraseOp(op);
    return success();
  }

  const llvm::StringMap<unsigned> &kernelIndex;
};

LLVM::GlobalOp exportedGlobal(OpBuilder &b, Location loc, Type type,
                              bool isConstant, StringRef name,
                              Attribute value) {
  auto global = LLVM::GlobalOp::create(b, loc, type, isConstant,
                                       LLVM::Linkage::External, name, value,
                                       /*alignment=*/64);
  global.setVisibility_(LLVM::Visibility::Default);
  return global;
}

struct ConvertLaunchToRuntimeCallsPass
    : impl::GeckoConvertGpuLaunchToRuntimeCallsBase<
          ConvertLaunchToRuntimeCallsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = module.getContext();
    auto names = module->getAttrOfType<ArrayAttr>(kKernelListAttr);
    SmallVector<gpu::BinaryOp> binaries(module.getOps<gpu::BinaryOp>());
    if (!names || binaries.size() != 1 ||
        binaries.front().getSymName() != kKernelModuleName) {
      bool importCalls = module
                             .walk([](func::CallOp call) {
                               return call->hasAttr(kGpuImportAttr)
                                          ? WalkResult::interrupt()
                                          : WalkResult::advance();
                             })
                             .wasInterrupted();
      if (binaries.empty() && module.getOps<gpu::GPUModuleOp>().empty() &&
          !names && !importCalls)
        return; // Nothing runs on the GPU.
      module.emitError() << "expected one gpu.binary @" << kKernelModuleName
                         << " and the " << kKernelListAttr
                         << " attribute (run gecko-gpu-merge-kernel-modules "
                            "and gpu-module-to-binary first)";
      return signalPassFailure();
    }
    gpu::BinaryOp binary = binaries.front();
    if (binary.getObjects().size() != 1) {
      binary.emitOpError() << "has " << binary.getObjects().size()
                           << " objects; the cuda target embeds exactly one";
      return signalPassFailure();
    }
    auto object = cast<gpu::ObjectAttr>(binary.getObjects()[0]);
    StringRef image = object.getObject().getValue();
    StringRef format;
    switch (object.getFormat()) {
    case gpu::CompilationTarget::Fatbin:
      format = "fatbin";
      break;
    case gpu::CompilationTarget::Binary:
      format = "cubin";
      break;
    case gpu::CompilationTarget::Assembly:
      format = "ptx";
      break;
    default:
      binary.emitOpError() << "has an object of format "
                           << gpu::stringifyCompilationTarget(
                                  object.getFormat())
                           << "; expected fatbin, bin (cubin) or isa (PTX)";
      return signalPassFailure();
    }
    std::string chip;
    if (auto nvvm = dyn_cast<NVVM::NVVMTargetAttr>(object.getTarget()))
      chip = nvvm.getChip().str();
    if (chip.empty()) {
      binary.emitOpError() << "was not built for an NVVM target";
      return signalPassFailure();
    }

    llvm::StringMap<unsigned> kernelIndex;
    for (auto [i, name] : llvm::enumerate(names))
      kernelIndex[cast<StringAttr>(name).getValue()] = i;

    // The exported symbols of kernel_abi.h.
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    Location loc = binary.getLoc();
    auto i8 = IntegerType::get(ctx, 8);
    auto i64 = IntegerType::get(ctx, 64);
    // A PTX image is loaded as a NUL-terminated string.
    std::string bytes = image.str();
    if (format == "ptx")
      bytes.push_back('\0');
    exportedGlobal(b, loc, LLVM::LLVMArrayType::get(i8, bytes.size()),
                   /*isConstant=*/true, kImageSymbol, b.getStringAttr(bytes));
    exportedGlobal(b, loc, i64, /*isConstant=*/true, kImageSizeSymbol,
                   b.getI64IntegerAttr(bytes.size()));
    LLVM::GlobalOp imports =
        exportedGlobal(b, loc, importsType(ctx), /*isConstant=*/false,
                       kImportsSymbol, Attribute());
    {
      Block *init = b.createBlock(&imports.getInitializerRegion());
      b.setInsertionPointToStart(init);
      Value zero = LLVM::ZeroOp::create(b, loc, importsType(ctx));
      LLVM::ReturnOp::create(b, loc, zero);
    }
    binary.erase();
    module->setAttr("gecko.gpu_image_format", StringAttr::get(ctx, format));
    module->setAttr("gecko.gpu_chip", StringAttr::get(ctx, chip));

    LLVMTypeConverter converter(ctx);
    RewritePatternSet patterns(ctx);
    patterns.add<LaunchFuncLowering>(converter, kernelIndex);
    patterns.add<GemmCallLowering>(converter);
    ConversionTarget target(*ctx);
    target.addLegalDialect<LLVM::LLVMDialect>();
    target.addIllegalOp<gpu::LaunchFuncOp>();
    target.addDynamicallyLegalOp<func::CallOp>(
        [](func::CallOp call) { return !call->hasAttr(kGpuImportAttr); });
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(module, target, std::move(patterns))))
      return signalPassFailure();
    if (auto decl = module.lookupSymbol<func::FuncOp>(kGemmImportName))
      decl.erase();
    module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
  }
};

} // namespace
} // namespace mlir::gecko
