//===- host_tensor.cpp - Owning, aligned host tensors ---------------------===//

#include "gecko/runtime/host_tensor.h"

#include <cstdlib>
#include <cstring>

namespace gecko {

namespace {

template <typename T> T loadAt(const void *base, int64_t i) {
  T v;
  std::memcpy(&v, static_cast<const uint8_t *>(base) + i * sizeof(T),
              sizeof(T));
  return v;
}

float bf16ToFloat(uint16_t bits) {
  uint32_t w = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &w, sizeof(f));
  return f;
}

float f16ToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t w;
  if (exp == 0x1f) {
    w = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    w = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    w = sign;
  } else {
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    w = sign | static_cast<uint32_t>(112 - e) << 23 | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &w, sizeof(f));
  return f;
}

} // namespace

DType toSafetensorsDType(ElementType type) {
  switch (type) {
  case ElementType::kF32:
    return DType::kF32;
  case ElementType::kF64:
    return DType::kF64;
  case ElementType::kBF16:
    return DType::kBF16;
  case ElementType::kF16:
    return DType::kF16;
  case ElementType::kI64:
    return DType::kI64;
  case ElementType::kI32:
    return DType::kI32;
  case ElementType::kI8:
    return DType::kI8;
  case ElementType::kI1:
    return DType::kBool;
  }
  return DType::kF32;
}

StatusOr<ElementType> fromSafetensorsDType(DType dtype) {
  switch (dtype) {
  case DType::kF32:
    return ElementType::kF32;
  case DType::kF64:
    return ElementType::kF64;
  case DType::kBF16:
    return ElementType::kBF16;
  case DType::kF16:
    return ElementType::kF16;
  case DType::kI64:
    return ElementType::kI64;
  case DType::kI32:
    return ElementType::kI32;
  case DType::kI8:
    return ElementType::kI8;
  case DType::kBool:
    return ElementType::kI1;
  case DType::kI16:
  case DType::kU8:
    break;
  }
  return invalidArgument(std::string("safetensors dtype ") + dtypeName(dtype) +
                         " has no plan element type");
}

void HostTensor::Free::operator()(void *p) const { std::free(p); }

StatusOr<HostTensor> HostTensor::zeros(ElementType dtype,
                                       std::vector<int64_t> shape) {
  uint64_t numel = 1;
  bool zero = false;
  for (int64_t d : shape) {
    if (d < 0)
      return invalidArgument("negative dimension in shape " +
                             shapeToString(shape));
    if (d == 0)
      zero = true;
    else if (!zero && numel > (uint64_t(1) << 62) / uint64_t(d))
      return invalidArgument("shape " + shapeToString(shape) + " is too large");
    else if (!zero)
      numel *= uint64_t(d);
  }
  if (zero)
    numel = 0;
  if (numel > (uint64_t(1) << 62) / elementTypeSize(dtype))
    return invalidArgument("shape " + shapeToString(shape) + " is too large");
  uint64_t bytes = numel * elementTypeSize(dtype);
  // aligned_alloc needs a multiple of the alignment; never allocate 0 bytes
  // so data() is never null.
  uint64_t alloc = bytes == 0
                       ? kAlignment
                       : (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (alloc > SIZE_MAX)
    return resourceExhausted("cannot allocate " + std::to_string(bytes) +
                             " bytes");
  void *p = std::aligned_alloc(kAlignment, size_t(alloc));
  if (!p)
    return resourceExhausted("cannot allocate " + std::to_string(bytes) +
                             " bytes for a " + elementTypeName(dtype) +
                             " tensor of shape " + shapeToString(shape));
  std::memset(p, 0, size_t(alloc));
  HostTensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = int64_t(numel);
  t.data_.reset(p);
  return t;
}

StatusOr<HostTensor> HostTensor::fromBytes(ElementType dtype,
                                           std::vector<int64_t> shape,
                                           const void *data, size_t size) {
  GECKO_ASSIGN_OR_RETURN(HostTensor t, zeros(dtype, std::move(shape)));
  if (size != t.byteSize())
    return invalidArgument("got " + std::to_string(size) + " bytes, a " +
                           elementTypeName(dtype) + " tensor of shape " +
                           shapeToString(t.shape_) + " needs " +
                           std::to_string(t.byteSize()));
  if (size > 0)
    std::memcpy(t.data(), data, size);
  return t;
}

StatusOr<HostTensor> HostTensor::fromSafetensors(const SafetensorsFile &file,
                                                 const std::string &name) {
  GECKO_ASSIGN_OR_RETURN(const TensorInfo *info, file.get(name));
  StatusOr<ElementType> type = fromSafetensorsDType(info->dtype);
  if (!type.isOk())
    return type.status().withContext(file.path() + ": tensor '" + name + "'");
  GECKO_ASSIGN_OR_RETURN(ByteView view, file.rawBytes(name));
  StatusOr<HostTensor> t = fromBytes(*type, info->shape, view.data, view.size);
  if (!t.isOk())
    return t.status().withContext(file.path() + ": tensor '" + name + "'");
  return t;
}

double HostTensor::elementAsDouble(int64_t i) const {
  const void *p = data();
  switch (dtype_) {
  case ElementType::kF32:
    return loadAt<float>(p, i);
  case ElementType::kF64:
    return loadAt<double>(p, i);
  case ElementType::kBF16:
    return bf16ToFloat(loadAt<uint16_t>(p, i));
  case ElementType::kF16:
    return f16ToFloat(loadAt<uint16_t>(p, i));
  default:
    return double(elementAsInt64(i));
  }
}

int64_t HostTensor::elementAsInt64(int64_t i) const {
  const void *p = data();
  switch (dtype_) {
  case ElementType::kI64:
    return loadAt<int64_t>(p, i);
  case ElementType::kI32:
    return loadAt<int32_t>(p, i);
  case ElementType::kI8:
    return loadAt<int8_t>(p, i);
  case ElementType::kI1:
    return loadAt<uint8_t>(p, i) != 0 ? 1 : 0;
  default:
    return int64_t(elementAsDouble(i));
  }
}

std::vector<double> HostTensor::toF64() const {
  std::vector<double> out(static_cast<size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i)
    out[size_t(i)] = elementAsDouble(i);
  return out;
}

StatusOr<HostTensor> HostTensor::clone() const {
  return fromBytes(dtype_, shape_, data(), byteSize());
}

TensorToWrite HostTensor::toWrite(const std::string &name) const {
  TensorToWrite w;
  w.name = name;
  w.dtype = toSafetensorsDType(dtype_);
  w.shape = shape_;
  w.data = data();
  w.sizeBytes = byteSize();
  return w;
}

StatusOr<TensorMap> loadTensors(const SafetensorsFile &file,
                                const std::vector<std::string> &names) {
  TensorMap out;
  for (const std::string &name : names) {
    if (!file.find(name) || out.count(name))
      continue;
    GECKO_ASSIGN_OR_RETURN(HostTensor t,
                           HostTensor::fromSafetensors(file, name));
    out.emplace(name, std::move(t));
  }
  return out;
}

Status writeTensors(const std::string &path, const TensorMap &tensors,
                    const std::map<std::string, std::string> &metadata) {
  std::vector<TensorToWrite> entries;
  for (const auto &kv : tensors)
    entries.push_back(kv.second.toWrite(kv.first));
  return writeSafetensors(path, entries, metadata);
}

} // namespace gecko
