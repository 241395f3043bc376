//===- host_tensor.h - Owning, aligned host tensors -------------*- C++ -*-===//
//
// A HostTensor owns a dense row-major buffer in host memory, 64-byte aligned
// as kernel_abi.h requires, with a plan element type and a shape. It converts
// from and to safetensors entries so weights, inputs and results move between
// files and compiled kernels without reinterpretation.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_RUNTIME_HOST_TENSOR_H
#define GECKO_RUNTIME_HOST_TENSOR_H

#include "gecko/abi/artifact_format.h"
#include "gecko/runtime/safetensors.h"
#include "gecko/runtime/status.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gecko {

/// The safetensors dtype that stores `type` (i1 -> BOOL).
DType toSafetensorsDType(ElementType type);
/// The plan element type of a safetensors dtype; InvalidArgument for dtypes
/// plans cannot express (I16, U8).
StatusOr<ElementType> fromSafetensorsDType(DType dtype);

class HostTensor {
public:
  /// Every HostTensor's data is aligned to this many bytes.
  static constexpr size_t kAlignment = 64;

  HostTensor() = default;
  HostTensor(HostTensor &&) noexcept = default;
  HostTensor &operator=(HostTensor &&) noexcept = default;
  HostTensor(const HostTensor &) = delete;
  HostTensor &operator=(const HostTensor &) = delete;

  /// A zero-filled tensor. InvalidArgument for negative or overflowing
  /// shapes, ResourceExhausted when the memory cannot be allocated.
  static StatusOr<HostTensor> zeros(ElementType dtype,
                                    std::vector<int64_t> shape);
  /// A tensor holding a copy of `size` bytes, which must equal
  /// numel * elementTypeSize(dtype).
  static StatusOr<HostTensor> fromBytes(ElementType dtype,
                                        std::vector<int64_t> shape,
                                        const void *data, size_t size);
  /// A copy of tensor `name` of `file`, keeping its dtype and shape.
  static StatusOr<HostTensor> fromSafetensors(const SafetensorsFile &file,
                                              const std::string &name);

  ElementType dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  int64_t numel() const { return numel_; }
  size_t byteSize() const { return numel_ * elementTypeSize(dtype_); }

  /// Never null for a tensor made by a factory (even with zero elements).
  void *data() { return data_.get(); }
  const void *data() const { return data_.get(); }
  template <typename T> T *dataAs() { return static_cast<T *>(data()); }
  template <typename T> const T *dataAs() const {
    return static_cast<const T *>(data());
  }

  /// Element `i` converted to double (any dtype).
  double elementAsDouble(int64_t i) const;
  /// Element `i` of an integer (or i1) tensor.
  int64_t elementAsInt64(int64_t i) const;
  /// Every element converted to double.
  std::vector<double> toF64() const;

  /// A deep copy.
  StatusOr<HostTensor> clone() const;

  /// A safetensors writer entry borrowing this tensor's bytes.
  TensorToWrite toWrite(const std::string &name) const;

private:
  struct Free {
    void operator()(void *p) const;
  };
  ElementType dtype_ = ElementType::kF32;
  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
  std::unique_ptr<void, Free> data_;
};

/// Named tensors, e.g. weights or inputs.
using TensorMap = std::map<std::string, HostTensor>;

/// Copies the tensors of `file` named in `names` that the file has; names
/// the file lacks are skipped (the caller reports what is missing).
StatusOr<TensorMap> loadTensors(const SafetensorsFile &file,
                                const std::vector<std::string> &names);

/// Writes `tensors` to a safetensors file atomically (writeSafetensors).
Status writeTensors(const std::string &path, const TensorMap &tensors,
                    const std::map<std::string, std::string> &metadata = {});

} // namespace gecko

#endif // GECKO_RUNTIME_HOST_TENSOR_H
