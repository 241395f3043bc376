//===- safetensors.h - Safetensors reader and writer ------------*- C++ -*-===//
//
// This file declares a strict reader and an atomic, deterministic writer for
// the safetensors format (an 8-byte little-endian header length, a JSON
// header, then a raw data section). The runtime uses it to bind weights by
// their reference state_dict names and to write checkpoints. No exception
// crosses this API: every failure is a Status naming the file and tensor.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_RUNTIME_SAFETENSORS_H
#define GECKO_RUNTIME_SAFETENSORS_H

#include "gecko/runtime/status.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gecko {

/// Element types the format allows (the subset Gecko reads and writes).
enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

/// The format's spelling, e.g. "BF16".
const char *dtypeName(DType dtype);
/// Parses the format's spelling; InvalidArgument for anything else.
StatusOr<DType> parseDType(const std::string &name);
/// Bytes per element.
size_t dtypeSize(DType dtype);

/// One tensor's header entry. Offsets are relative to the data section.
struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;

  /// Product of the shape (1 for a scalar).
  int64_t numel() const;
  uint64_t byteSize() const { return end - begin; }
};

/// A read-only view of bytes owned by someone else.
struct ByteView {
  const uint8_t *data = nullptr;
  size_t size = 0;
};

/// A validated safetensors file held in memory. Copies share the bytes.
class SafetensorsFile {
public:
  /// The header may not exceed this many bytes.
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

  /// Reads and validates `path`. NotFound if the file does not exist,
  /// DataLoss if it is truncated or its header is malformed.
  static StatusOr<SafetensorsFile> open(const std::string &path);

  /// Validates an in-memory image; `sourceName` appears in messages.
  static StatusOr<SafetensorsFile> parse(std::vector<uint8_t> bytes,
                                         const std::string &sourceName);

  const std::string &path() const { return path_; }

  /// Returns the entry for `name`, or nullptr.
  const TensorInfo *find(const std::string &name) const;
  /// Like find() but NotFound (naming file and tensor) when absent.
  StatusOr<const TensorInfo *> get(const std::string &name) const;
  /// All tensor names, sorted.
  std::vector<std::string> names() const;
  /// The `__metadata__` string map (empty if the file has none).
  const std::map<std::string, std::string> &metadata() const {
    return metadata_;
  }

  /// The tensor's raw little-endian bytes inside this object's buffer.
  StatusOr<ByteView> rawBytes(const std::string &name) const;

  /// Converts F64/F32/F16/BF16 and integer/bool tensors to float (F64 and
  /// large integers are rounded).
  StatusOr<std::vector<float>> readAsF32(const std::string &name) const;
  /// Converts F64/F32/F16/BF16 and integer/bool tensors to double.
  StatusOr<std::vector<double>> readAsF64(const std::string &name) const;
  /// Converts integer and bool tensors to int64; floats are InvalidArgument.
  StatusOr<std::vector<int64_t>> readAsI64(const std::string &name) const;

private:
  /// Reads a tensor converting every element through double (any dtype).
  template <typename T>
  StatusOr<std::vector<T>> readConverted(const std::string &name) const;

  SafetensorsFile() = default;

  std::string path_;
  std::shared_ptr<const std::vector<uint8_t>> bytes_;
  size_t dataStart_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

/// One tensor to write. The bytes are borrowed for the duration of the call
/// and must hold exactly numel * dtypeSize(dtype) little-endian bytes.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void *data = nullptr;
  size_t sizeBytes = 0;
};

/// Writes `tensors` to `path` atomically: the image goes to
/// `path + ".tmp.<pid>"`, which is fsync'ed, renamed over `path`, and the
/// directory is fsync'ed. Output is deterministic: tensors are sorted by name
/// and packed contiguously, and the header is padded with spaces so the data
/// section starts 8-byte aligned.
Status writeSafetensors(const std::string &path,
                        const std::vector<TensorToWrite> &tensors,
                        const std::map<std::string, std::string> &metadata);

/// Builds the same byte image writeSafetensors() would write (no file I/O).
StatusOr<std::vector<uint8_t>>
serializeSafetensors(const std::vector<TensorToWrite> &tensors,
                     const std::map<std::string, std::string> &metadata);

} // namespace gecko

#endif // GECKO_RUNTIME_SAFETENSORS_H
