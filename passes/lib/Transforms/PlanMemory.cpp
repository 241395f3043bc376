//===- PlanMemory.cpp - Static temporaries in one workspace arena ---------===//
//
// See Passes.td (gecko-plan-memory) and docs/memory-planning.md: every
// statically sized temporary of a public function gets a fixed offset in one
// arena passed as the function's last argument, so that compiled code does no
// heap allocation and the runtime can capture whole steps (CUDA graphs).
//
//===----------------------------------------------------------------------===//

#include "gecko/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/DataLayoutInterfaces.h"

#include "llvm/ADT/SetVector.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <limits>

namespace mlir::gecko {

#define GEN_PASS_DEF_GECKOPLANMEMORY
#include "gecko/Transforms/Passes.h.inc"

namespace {

/// The arena's base alignment and the least alignment of every buffer in it:
/// the kernel ABI's GECKO_KERNEL_BUFFER_ALIGNMENT.
constexpr int64_t kBufferAlignment = 64;

constexpr const char *kWorkspaceArgAttr = "gecko.workspace";
constexpr const char *kWorkspaceBytesAttr = "gecko.workspace_bytes";
constexpr const char *kWorkspaceAlignmentAttr = "gecko.workspace_alignment";
constexpr const char *kBuffersAttr = "gecko.buffers";
constexpr const char *kUnplannedAttr = "gecko.unplanned_allocs";

/// One planned temporary.
struct Buffer {
  memref::AllocOp alloc;
  int64_t bytes = 0;
  int64_t alignment = kBufferAlignment;
  /// Closed interval of top-level op positions over which it is live.
  int64_t start = 0, end = 0;
  int64_t offset = 0;
  llvm::SmallVector<Operation *> deallocs;
};

bool overlaps(const Buffer &a, const Buffer &b) {
  return a.start <= b.end && b.start <= a.end;
}

/// Region-carrying ops whose regions run sequentially and complete before the
/// op returns: an alloc inside them that dies in its region can live over the
/// whole op.
bool isSequentialRegionOp(Operation *op) {
  return isa<scf::ForOp, scf::WhileOp, scf::IfOp, scf::ExecuteRegionOp,
             scf::IndexSwitchOp, affine::AffineForOp, affine::AffineIfOp>(op);
}

/// The byte size of `type` if the pass can place it in the arena.
std::optional<int64_t> plannableBytes(MemRefType type,
                                      const DataLayout &layout) {
  if (!type.hasStaticShape() || !type.getLayout().isIdentity())
    return std::nullopt;
  if (Attribute space = type.getMemorySpace()) {
    auto integer = dyn_cast<IntegerAttr>(space);
    if (!integer || integer.getInt() != 0)
      return std::nullopt;
  }
  Type element = type.getElementType();
  if (!isa<IntegerType, FloatType, IndexType>(element))
    return std::nullopt;
  int64_t elementBytes = int64_t(layout.getTypeSize(element).getFixedValue());
  if (elementBytes <= 0)
    return std::nullopt;
  int64_t bytes = elementBytes;
  for (int64_t dim : type.getShape()) {
    if (dim != 0 && bytes > std::numeric_limits<int64_t>::max() / 4 / dim)
      return std::nullopt;
    bytes *= dim;
  }
  return bytes;
}

/// Adds the memref-typed results of `op` and arguments of its regions'
/// blocks to `into`: everything a buffer flowing into a region-carrying op
/// (as an init operand or through a terminator) may become.
void addRegionAliases(Operation *op, SmallVectorImpl<Value> &into) {
  for (Value result : op->getResults())
    if (isa<BaseMemRefType>(result.getType()))
      into.push_back(result);
  for (Region &region : op->getRegions())
    for (Block &block : region)
      for (BlockArgument arg : block.getArguments())
        if (isa<BaseMemRefType>(arg.getType()))
          into.push_back(arg);
}

/// Computes the live interval of `buffer.alloc` over the positions of the
/// top-level ops of `body` and collects its deallocs. Fails when the lifetime
/// cannot be bounded: an alias escapes through the function's return, a
/// nested alloc's alias leaves the region that allocates it, or the buffer
/// is turned into a value that is not a memref.
LogicalResult analyzeLifetime(Buffer &buffer, Block &body,
                              const DenseMap<Operation *, int64_t> &position) {
  memref::AllocOp alloc = buffer.alloc;
  Operation *anchor = body.findAncestorOpInBlock(*alloc);
  if (!anchor)
    return failure();
  bool nested = anchor != alloc.getOperation();
  if (nested) {
    for (Operation *parent = alloc->getParentOp();
         parent != anchor->getParentOp(); parent = parent->getParentOp())
      if (!isSequentialRegionOp(parent))
        return failure();
  }

  int64_t first = std::numeric_limits<int64_t>::max();
  int64_t last = std::numeric_limits<int64_t>::min();
  auto extend = [&](Operation *top) {
    int64_t at = position.lookup(top);
    first = std::min(first, at);
    last = std::max(last, at);
  };
  if (nested)
    extend(anchor);

  SmallVector<Value> worklist = {alloc.getResult()};
  DenseSet<Value> seen;
  // Values that may also hold another buffer (results and arguments of
  // region-carrying ops): a dealloc of one cannot be attributed to us.
  DenseSet<Value> merged;
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    if (!seen.insert(value).second)
      continue;
    for (OpOperand &use : value.getUses()) {
      Operation *user = use.getOwner();
      Operation *top = body.findAncestorOpInBlock(*user);
      if (!top)
        return failure();
      if (isa<memref::DeallocOp>(user)) {
        if (merged.contains(value))
          return failure();
        buffer.deallocs.push_back(user);
        continue;
      }
      extend(top);
      if (isa<memref::ExtractAlignedPointerAsIndexOp>(user))
        return failure();
      if (user->hasTrait<OpTrait::IsTerminator>()) {
        Operation *parent = user->getParentOp();
        if (isa<FunctionOpInterface>(parent))
          return failure(); // returned: lives past the function
        if (nested && parent->isProperAncestor(alloc))
          return failure(); // leaves the iteration or branch it lives in
        SmallVector<Value> aliases;
        addRegionAliases(parent, aliases);
        for (Value alias : aliases) {
          merged.insert(alias);
          worklist.push_back(alias);
        }
        continue;
      }
      for (Value result : user->getResults()) {
        if (isa<BaseMemRefType>(result.getType()))
          continue;
        // A tensor or pointer made from the buffer may outlive every use we
        // can see.
        Type type = result.getType();
        if (isa<TensorType>(type) ||
            !(type.isIntOrIndexOrFloat() || isa<VectorType, ComplexType>(type)))
          return failure();
      }
      if (user->getNumRegions() > 0) {
        SmallVector<Value> aliases;
        addRegionAliases(user, aliases);
        for (Value alias : aliases) {
          merged.insert(alias);
          worklist.push_back(alias);
        }
        continue;
      }
      // View-like ops, casts, calls: any memref result may alias.
      for (Value result : user->getResults())
        if (isa<BaseMemRefType>(result.getType()))
          worklist.push_back(result);
    }
  }
  if (first > last) // never used: live only at the alloc
    first = last = position.lookup(anchor);
  buffer.start = first;
  buffer.end = last;
  return success();
}

/// First-fit packing in order of decreasing size (ties: alloc order). Returns
/// the arena size.
int64_t pack(MutableArrayRef<Buffer> buffers) {
  SmallVector<unsigned> order(buffers.size());
  for (unsigned i = 0; i < order.size(); ++i)
    order[i] = i;
  llvm::sort(order, [&](unsigned a, unsigned b) {
    return std::make_pair(-buffers[a].bytes, a) <
           std::make_pair(-buffers[b].bytes, b);
  });
  SmallVector<unsigned> placed;
  int64_t total = 0;
  for (unsigned index : order) {
    Buffer &buffer = buffers[index];
    SmallVector<unsigned> conflicts;
    for (unsigned other : placed)
      if (overlaps(buffer, buffers[other]) && buffers[other].bytes > 0)
        conflicts.push_back(other);
    llvm::sort(conflicts, [&](unsigned a, unsigned b) {
      return std::make_pair(buffers[a].offset, a) <
             std::make_pair(buffers[b].offset, b);
    });
    int64_t offset = 0;
    for (unsigned other : conflicts) {
      if (offset + buffer.bytes <= buffers[other].offset)
        break;
      offset = std::max<int64_t>(
          offset,
          int64_t(llvm::alignTo(buffers[other].offset + buffers[other].bytes,
                                buffer.alignment)));
    }
    buffer.offset = offset;
    total = std::max(total, offset + buffer.bytes);
    placed.push_back(index);
  }
  return total;
}

struct GeckoPlanMemoryPass : impl::GeckoPlanMemoryBase<GeckoPlanMemoryPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal() || func.isPrivate())
        continue;
      if (failed(planFunction(module, func)))
        return signalPassFailure();
    }
  }

  LogicalResult planFunction(ModuleOp module, func::FuncOp func) {
    MLIRContext *context = &getContext();
    Builder builder(context);
    SmallVector<memref::AllocOp> allocs;
    func.walk([&](memref::AllocOp alloc) { allocs.push_back(alloc); });

    // A function with callers cannot change its signature; a function with
    // several blocks has no single op order to measure lifetimes on.
    bool plannable = func.getBody().hasOneBlock() &&
                     SymbolTable::symbolKnownUseEmpty(func, module);
    SmallVector<Buffer> buffers;
    int64_t unplanned = 0;
    if (plannable) {
      Block &body = func.getBody().front();
      DenseMap<Operation *, int64_t> position;
      int64_t index = 0;
      for (Operation &op : body)
        position[&op] = index++;
      DataLayout layout = DataLayout::closest(func);
      for (memref::AllocOp alloc : allocs) {
        std::optional<int64_t> bytes = plannableBytes(alloc.getType(), layout);
        Buffer buffer;
        buffer.alloc = alloc;
        if (!bytes || *bytes == 0 ||
            failed(analyzeLifetime(buffer, body, position))) {
          ++unplanned;
          continue;
        }
        buffer.bytes = *bytes;
        if (std::optional<uint64_t> align = alloc.getAlignment())
          buffer.alignment =
              std::max<int64_t>(kBufferAlignment, int64_t(*align));
        buffers.push_back(std::move(buffer));
      }
    } else {
      unplanned = int64_t(allocs.size());
    }

    int64_t total = pack(buffers);
    int64_t alignment = kBufferAlignment;
    for (const Buffer &buffer : buffers)
      alignment = std::max(alignment, buffer.alignment);

    if (total > 0) {
      auto workspaceType =
          MemRefType::get({total}, IntegerType::get(context, 8));
      NamedAttribute marker(builder.getStringAttr(kWorkspaceArgAttr),
                            builder.getUnitAttr());
      unsigned argIndex = func.getNumArguments();
      if (failed(func.insertArgument(argIndex, workspaceType,
                                     builder.getDictionaryAttr(marker),
                                     func.getLoc())))
        return func.emitError("cannot append the workspace argument");
      Value workspace = func.getArgument(argIndex);
      llvm::SetVector<Operation *> deallocs;
      for (Buffer &buffer : buffers) {
        deallocs.insert(buffer.deallocs.begin(), buffer.deallocs.end());
        OpBuilder b(buffer.alloc);
        Location loc = buffer.alloc.getLoc();
        Value offset = arith::ConstantIndexOp::create(b, loc, buffer.offset);
        Value view = memref::ViewOp::create(b, loc, buffer.alloc.getType(),
                                            workspace, offset, ValueRange{});
        buffer.alloc.getResult().replaceAllUsesWith(view);
      }
      for (Operation *dealloc : deallocs)
        dealloc->erase();
      for (Buffer &buffer : buffers)
        buffer.alloc.erase();
    }

    SmallVector<Attribute> planned;
    for (const Buffer &buffer : buffers)
      planned.push_back(
          builder.getDenseI64ArrayAttr({buffer.offset, buffer.bytes}));
    func->setAttr(kWorkspaceBytesAttr, builder.getI64IntegerAttr(total));
    func->setAttr(kWorkspaceAlignmentAttr,
                  builder.getI64IntegerAttr(alignment));
    func->setAttr(kBuffersAttr, builder.getArrayAttr(planned));
    func->setAttr(kUnplannedAttr, builder.getI64IntegerAttr(unplanned));
    return success();
  }
};

} // namespace
} // namespace mlir::gecko
