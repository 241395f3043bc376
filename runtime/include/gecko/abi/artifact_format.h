//===- artifact_format.h - The .gkm artifact container ----------*- C++ -*-===//
//
// This file declares the .gkm container (docs/artifact-format.md): a fixed
// little-endian header, a JSON execution plan and a code section, each
// checksummed with CRC-32C. The compiler builds an ArtifactPlan and calls
// writeArtifact(); the runtime calls readArtifact()/parseArtifact(), which
// verify every byte before anything is trusted. This library (gecko_abi)
// depends only on the C++ standard library, nlohmann json and
// gecko/runtime/status.h, so both halves can link it.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_ABI_ARTIFACT_FORMAT_H
#define GECKO_ABI_ARTIFACT_FORMAT_H

#include "gecko/abi/version.h"
#include "gecko/runtime/status.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gecko {

//===----------------------------------------------------------------------===//
// Container layout
//===----------------------------------------------------------------------===//

namespace artifact {
/// The first 8 bytes of every .gkm file.
inline constexpr char kMagic[8] = {'G', 'E', 'C', 'K', 'O', 'G', 'K', 'M'};
/// Size of the fixed header; the plan section starts right after it.
inline constexpr size_t kHeaderSize = 128;
/// Every section starts at a multiple of this many bytes.
inline constexpr size_t kSectionAlignment = 64;
/// The plan section may not exceed this many bytes.
inline constexpr uint64_t kMaxPlanBytes = 64ull << 20;

// Byte offsets of the header fields (all little-endian).
inline constexpr size_t kOffMagic = 0;             // char[8]
inline constexpr size_t kOffFormatVersion = 8;     // u32
inline constexpr size_t kOffKernelAbiVersion = 12; // u32
inline constexpr size_t kOffHeaderSize = 16;       // u32, == kHeaderSize
inline constexpr size_t kOffFlags = 20;            // u32, must be 0
inline constexpr size_t kOffFileSize = 24;         // u64
inline constexpr size_t kOffPlanOffset = 32;       // u64
inline constexpr size_t kOffPlanSize = 40;         // u64
inline constexpr size_t kOffCodeOffset = 48;       // u64
inline constexpr size_t kOffCodeSize = 56;         // u64
inline constexpr size_t kOffPlanCrc = 64;          // u32, CRC-32C of the plan
inline constexpr size_t kOffCodeCrc = 68;          // u32, CRC-32C of the code
// Bytes 72..123 are reserved and must be zero.
inline constexpr size_t kOffHeaderCrc = 124; // u32, CRC-32C of bytes 0..123
} // namespace artifact

/// The decoded fixed header.
struct ArtifactHeader {
  uint32_t formatVersion = 0;
  uint32_t kernelAbiVersion = 0;
  uint64_t fileSize = 0;
  uint64_t planOffset = 0;
  uint64_t planSize = 0;
  uint64_t codeOffset = 0;
  uint64_t codeSize = 0;
  uint32_t planCrc = 0;
  uint32_t codeCrc = 0;
  uint32_t headerCrc = 0;
};

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, as in iSCSI/ext4),
/// table-driven. Chain calls by passing the previous result as `crc`.
uint32_t crc32c(const void *data, size_t size, uint32_t crc = 0);

//===----------------------------------------------------------------------===//
// The execution plan
//===----------------------------------------------------------------------===//

/// Element types of plan tensors, spelled in the plan as the lower-case names
/// below. kI1 is stored as one byte per element (0 or 1).
enum class ElementType { kF32, kF64, kBF16, kF16, kI64, kI32, kI8, kI1 };

/// "f32", "bf16", "i1", ...
const char *elementTypeName(ElementType type);
/// Parses the plan spelling; InvalidArgument for anything else.
StatusOr<ElementType> parseElementType(const std::string &name);
/// Bytes per element (1 for kI1).
size_t elementTypeSize(ElementType type);
/// True for i64, i32, i8 and i1.
bool isIntegerType(ElementType type);

/// "[2, 64, 50]" ("[]" for a scalar).
std::string shapeToString(const std::vector<int64_t> &shape);

/// Where an argument's data comes from: "input" (per-call data such as
/// tokens, bound from the inputs map), "param" (weights, bound by name from
/// the weights map) or "state" (persistent tensors the runtime keeps between
/// calls, such as optimizer moments: zero-initialized unless bound
/// explicitly, saved in checkpoints, bound from the weights map like params).
enum class ArgKind { kInput, kParam, kState };
const char *argKindName(ArgKind kind);

/// Results named `next:<arg>` replace argument <arg> (a param or state arg of
/// the same function, with the same dtype and shape) after the call: the
/// trainer writes new params and optimizer state back this way.
inline constexpr char kNextResultPrefix[] = "next:";
/// The argument a `next:<arg>` result updates, or "" for other results.
std::string nextResultTarget(const std::string &resultName);

/// A dense row-major tensor of the plan.
struct TensorSpec {
  std::string name;
  ElementType dtype = ElementType::kF32;
  std::vector<int64_t> shape;

  /// Product of the shape (1 for a scalar). Only meaningful once the plan has
  /// been validated (no negative dims, no overflow).
  int64_t numel() const;
  uint64_t byteSize() const {
    return uint64_t(numel()) * elementTypeSize(dtype);
  }
};

/// A half-open range [lo, hi) every element of an integer argument must lie
/// in, e.g. [0, vocab) for token ids. The plan spells it "range": [lo, hi].
struct ValueRange {
  int64_t lo = 0;
  int64_t hi = 0;
};

/// How a param is initialized when training from scratch (docs/training.md):
/// the plan spells it "init": {"kind": "normal", "mean": 0, "std": 0.02} etc.
enum class InitKind {
  kZeros,           ///< {"kind": "zeros"}
  kOnes,            ///< {"kind": "ones"}
  kConstant,        ///< {"kind": "constant", "value": x}
  kNormal,          ///< {"kind": "normal", "mean": m, "std": s}
  kTruncatedNormal, ///< {... "mean", "std", "a": lo, "b": hi} (absolute cuts)
  kUniform,         ///< {"kind": "uniform", "a": lo, "b": hi}
  /// {"kind": "cema_theta"}: the CEMA phase logits of GECKO_MATH 3.3 over the
  /// numel() = D elements: f_k = D^(-k/D) (k = 1..D), randomly permuted,
  /// theta = ln(f / (1 - f)).
  kCemaTheta,
  /// {"kind": "complex_real_normal", "mean": m, "std": s}: a complex tensor
  /// (last dim 2: re, im) with normal real parts and zero imaginary parts.
  kComplexRealNormal,
};
/// "zeros", "truncated_normal", ...
const char *initKindName(InitKind kind);

struct InitSpec {
  InitKind kind = InitKind::kZeros;
  double value = 0;  ///< constant
  double mean = 0;   ///< normal, truncated_normal, complex_real_normal
  double stddev = 1; ///< the same ("std"), >= 0
  double a = 0;      ///< truncated_normal lower cut, uniform lower bound
  double b = 0;      ///< truncated_normal upper cut, uniform upper bound
};

struct ArgSpec : TensorSpec {
  ArgKind kind = ArgKind::kInput;
  std::optional<ValueRange> range;
  /// Only on float param args.
  std::optional<InitSpec> init;
};

struct WorkspaceSpec {
  uint64_t bytes = 0;
  /// A power of two; the runtime aligns to max(alignment, 64).
  uint64_t alignment = 64;
};

/// One buffer of the compiler's memory plan inside the workspace
/// (informative; the runtime only checks that it lies inside the workspace).
struct BufferSpec {
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

/// A collective the runtime performs on some of a function's input args
/// before each call (distributed training, docs/distributed.md): e.g. the
/// gradients of `apply_gradients` are averaged over the data-parallel ranks.
struct CollectiveSpec {
  std::string op = "all_reduce"; ///< Only "all_reduce" so far.
  std::string reduction;         ///< "mean" or "sum".
  std::string group = "data";    ///< The rank group; only "data" so far.
  /// Names of float input args of the function, each in one collective.
  std::vector<std::string> tensors;
};

/// A ready signal of a function (kernel ABI v2): when the call reaches it,
/// the host code calls imports.signal(context, id), and the result buffers
/// named by `tensors` are final (nothing reads or writes them later in the
/// call), so the runtime may start their collective (docs/distributed.md).
struct SignalSpec {
  uint32_t id = 0; ///< The signal's index in FunctionPlan::signals.
  /// Names of results of the function, each in at most one signal.
  std::vector<std::string> tensors;
};

struct FunctionPlan {
  std::string name;  ///< Unique; what `gecko-run --function` selects.
  std::string mode;  ///< "forward", "loss", "train_step", ... (free-form).
  std::string entry; ///< The exported C symbol (kernel_abi.h).
  std::vector<ArgSpec> args;
  std::vector<TensorSpec> results;
  WorkspaceSpec workspace;
  std::vector<BufferSpec> buffers;
  /// Optional; written to the JSON only when non-empty.
  std::vector<CollectiveSpec> collectives;
  /// Optional, in program order (ids 0, 1, ...); written only when
  /// non-empty.
  std::vector<SignalSpec> signals;
};

/// Where the code runs. "cpu": the code section is a host shared object
/// whose entries compute on the host. "cuda": the same kind of host object,
/// whose entries launch the kernels of an embedded device image on the
/// device holding the buffers (kernel_abi.h, "GPU targets").
struct TargetSpec {
  std::string kind = "cpu"; ///< "cpu" or "cuda".
  std::string triple;       ///< The host object's triple, e.g. x86_64-...
  std::string codeFormat = "elf-shared-object"; ///< Only this in v1.
  /// cuda only: the GPU architecture the image was built for ("sm_90a").
  std::string chip;
  /// cuda only: "fatbin", "cubin" or "ptx".
  std::string deviceImageFormat;
  /// cuda only: kernel i of the image (the host code launches by index).
  std::vector<std::string> kernels;
};

struct ArtifactPlan {
  uint32_t formatVersion = GECKO_ARTIFACT_FORMAT_VERSION;
  uint32_t kernelAbiVersion = GECKO_KERNEL_ABI_VERSION;
  std::string producer = "gecko-compile " GECKO_VERSION_STRING;
  TargetSpec target;
  /// The arithmetic of the compiled matrix products (docs/lowering.md,
  /// "Precision"): "fp32", or "bf16" (bf16 operands, f32 accumulation and
  /// results). Informative: tensors keep the dtypes the args and results
  /// give. Written to the JSON only when not "fp32".
  std::string precision = "fp32";
  /// The model config as JSON object text, or empty when there is none.
  std::string modelJson;
  std::vector<FunctionPlan> functions;

  /// The function named `name`, or nullptr.
  const FunctionPlan *findFunction(const std::string &name) const;
};

/// Checks everything the reader checks about a plan: known versions, target,
/// non-empty unique names, entry symbols that are C identifiers, non-negative
/// dims whose byte sizes fit 63 bits, ranges only on integer args with
/// lo < hi, init specs only on float params with finite, consistent values,
/// `next:` results that match a param or state arg's dtype and shape, a
/// power-of-two workspace alignment and buffers inside the workspace.
/// Messages name the function and tensor.
Status validatePlan(const ArtifactPlan &plan);

/// The plan as deterministic JSON text (the plan section). Validates first.
StatusOr<std::string> planToJson(const ArtifactPlan &plan);

/// Parses and validates plan JSON; unknown fields are rejected. `source`
/// prefixes every message (e.g. the artifact path).
StatusOr<ArtifactPlan> planFromJson(const std::string &text,
                                    const std::string &source);

//===----------------------------------------------------------------------===//
// Writing and reading artifacts
//===----------------------------------------------------------------------===//

/// Builds the complete .gkm image: validates the plan, checks that the code
/// is non-empty (and starts with the ELF magic for "elf-shared-object"),
/// lays out header, plan and code, and fills in every checksum.
StatusOr<std::vector<uint8_t>>
serializeArtifact(const ArtifactPlan &plan, const void *code, size_t codeSize);
StatusOr<std::vector<uint8_t>>
serializeArtifact(const ArtifactPlan &plan, const std::vector<uint8_t> &code);

/// serializeArtifact() then writeFileAtomically(path, image).
Status writeArtifact(const std::string &path, const ArtifactPlan &plan,
                     const void *code, size_t codeSize);
Status writeArtifact(const std::string &path, const ArtifactPlan &plan,
                     const std::vector<uint8_t> &code);

/// A verified artifact: every check of parseArtifact() passed.
struct ParsedArtifact {
  ArtifactHeader header;
  ArtifactPlan plan;
  std::vector<uint8_t> code; ///< The code section's bytes.
};

/// Verifies an in-memory image: magic, versions, header checksum, sizes,
/// section bounds and alignment, zero padding, section checksums, then the
/// plan (planFromJson) and its agreement with the header. Every error is a
/// Status naming `source` and the section or field; nothing is trusted
/// before its checksum is checked.
StatusOr<ParsedArtifact> parseArtifact(const std::vector<uint8_t> &bytes,
                                       const std::string &source);

/// Reads `path` and calls parseArtifact().
StatusOr<ParsedArtifact> readArtifact(const std::string &path);

//===----------------------------------------------------------------------===//
// File helpers
//===----------------------------------------------------------------------===//

/// Reads a whole regular file. NotFound if it does not exist.
StatusOr<std::vector<uint8_t>> readFileBytes(const std::string &path);

/// Writes `data` to `path` atomically: to `path + ".tmp.<pid>"`, fsync,
/// rename over `path`, fsync the directory.
Status writeFileAtomically(const std::string &path, const void *data,
                           size_t size);

} // namespace gecko

#endif // GECKO_ABI_ARTIFACT_FORMAT_H
