//===- safetensors.cpp - Safetensors reader and writer --------------------===//
//
// This file implements the strict safetensors reader (every header field is
// validated before any tensor is exposed) and the atomic writer.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/safetensors.h"

#include "gecko/abi/artifact_format.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

namespace gecko {

namespace {

using Json = nlohmann::json;

std::string quote(const std::string &s) { return "'" + s + "'"; }

//===----------------------------------------------------------------------===//
// Element conversion
//===----------------------------------------------------------------------===//

template <typename T> T loadLE(const uint8_t *p) {
  // Every host Gecko supports is little-endian, like the format.
  T v;
  std::memcpy(&v, p, sizeof(T));
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
    w = sign | 0x7f800000u | (mant << 13); // inf or nan
  } else if (exp != 0) {
    w = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    w = sign; // signed zero
  } else {
    // Subnormal half: renormalize.
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

bool isFloat(DType d) {
  return d == DType::kF64 || d == DType::kF32 || d == DType::kF16 ||
         d == DType::kBF16;
}

/// Element `i` of a buffer of `dtype`, as double.
double elementAsDouble(DType dtype, const uint8_t *base, size_t i) {
  const uint8_t *p = base + i * dtypeSize(dtype);
  switch (dtype) {
  case DType::kF64:
    return loadLE<double>(p);
  case DType::kF32:
    return loadLE<float>(p);
  case DType::kF16:
    return f16ToFloat(loadLE<uint16_t>(p));
  case DType::kBF16:
    return bf16ToFloat(loadLE<uint16_t>(p));
  case DType::kI64:
    return static_cast<double>(loadLE<int64_t>(p));
  case DType::kI32:
    return loadLE<int32_t>(p);
  case DType::kI16:
    return loadLE<int16_t>(p);
  case DType::kI8:
    return loadLE<int8_t>(p);
  case DType::kU8:
    return loadLE<uint8_t>(p);
  case DType::kBool:
    return p[0] != 0 ? 1.0 : 0.0;
  }
  return 0.0;
}

int64_t elementAsInt64(DType dtype, const uint8_t *base, size_t i) {
  const uint8_t *p = base + i * dtypeSize(dtype);
  switch (dtype) {
  case DType::kI64:
    return loadLE<int64_t>(p);
  case DType::kI32:
    return loadLE<int32_t>(p);
  case DType::kI16:
    return loadLE<int16_t>(p);
  case DType::kI8:
    return loadLE<int8_t>(p);
  case DType::kU8:
    return loadLE<uint8_t>(p);
  case DType::kBool:
    return p[0] != 0 ? 1 : 0;
  default:
    return 0;
  }
}

//===----------------------------------------------------------------------===//
// Header validation
//===----------------------------------------------------------------------===//

/// Parses a non-negative JSON integer that fits int64.
bool getNonNegative(const Json &j, uint64_t &out) {
  if (j.is_number_unsigned()) {
    out = j.get<uint64_t>();
    return out <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  }
  if (j.is_number_integer()) {
    int64_t v = j.get<int64_t>();
    if (v < 0)
      return false;
    out = static_cast<uint64_t>(v);
    return true;
  }
  return false;
}

Status parseTensorEntry(const std::string &file, const std::string &name,
                        const Json &entry, uint64_t dataSize,
                        TensorInfo &info) {
  auto fail = [&](const std::string &why) {
    return dataLoss(file + ": tensor " + quote(name) + ": " + why);
  };
  if (!entry.is_object())
    return fail("header entry is not a JSON object");
  for (auto it = entry.begin(); it != entry.end(); ++it)
    if (it.key() != "dtype" && it.key() != "shape" &&
        it.key() != "data_offsets")
      return fail("unexpected header field " + quote(it.key()));
  auto dt = entry.find("dtype");
  auto sh = entry.find("shape");
  auto off = entry.find("data_offsets");
  if (dt == entry.end() || sh == entry.end() || off == entry.end())
    return fail("header entry needs dtype, shape and data_offsets");
  if (!dt->is_string())
    return fail("dtype is not a string");
  StatusOr<DType> dtype = parseDType(dt->get<std::string>());
  if (!dtype.isOk())
    return fail(dtype.status().message());
  info.name = name;
  info.dtype = *dtype;

  if (!sh->is_array())
    return fail("shape is not an array");
  uint64_t numel = 1;
  bool overflow = false, hasZero = false;
  for (const Json &d : *sh) {
    uint64_t v;
    if (!getNonNegative(d, v))
      return fail("shape entries must be non-negative integers");
    info.shape.push_back(static_cast<int64_t>(v));
    if (v == 0)
      hasZero = true;
    else if (numel > std::numeric_limits<uint64_t>::max() / v)
      overflow = true;
    numel *= v;
  }
  // A zero-sized dim makes the product 0 regardless of any overflow.
  if (hasZero) {
    numel = 0;
    overflow = false;
  }
  size_t esize = dtypeSize(info.dtype);
  if (overflow || numel > std::numeric_limits<uint64_t>::max() / esize)
    return fail("shape is too large");

  if (!off->is_array() || off->size() != 2)
    return fail("data_offsets must be [begin, end]");
  if (!getNonNegative((*off)[0], info.begin) ||
      !getNonNegative((*off)[1], info.end))
    return fail("data_offsets must be non-negative integers");
  if (info.begin > info.end)
    return fail("data_offsets begin " + std::to_string(info.begin) + " > end " +
                std::to_string(info.end));
  if (info.end > dataSize)
    return fail("data_offsets [" + std::to_string(info.begin) + ", " +
                std::to_string(info.end) + "] exceed the data section (" +
                std::to_string(dataSize) + " bytes)");
  if (info.end - info.begin != numel * esize)
    return fail("byte size " + std::to_string(info.end - info.begin) +
                " does not match shape and dtype (" +
                std::to_string(numel * esize) + " bytes)");
  return Status::ok();
}

} // namespace

//===----------------------------------------------------------------------===//
// DType
//===----------------------------------------------------------------------===//

const char *dtypeName(DType dtype) {
  switch (dtype) {
  case DType::kF64:
    return "F64";
  case DType::kF32:
    return "F32";
  case DType::kF16:
    return "F16";
  case DType::kBF16:
    return "BF16";
  case DType::kI64:
    return "I64";
  case DType::kI32:
    return "I32";
  case DType::kI16:
    return "I16";
  case DType::kI8:
    return "I8";
  case DType::kU8:
    return "U8";
  case DType::kBool:
    return "BOOL";
  }
  return "?";
}

StatusOr<DType> parseDType(const std::string &name) {
  static const std::pair<const char *, DType> kTable[] = {
      {"F64", DType::kF64},   {"F32", DType::kF32}, {"F16", DType::kF16},
      {"BF16", DType::kBF16}, {"I64", DType::kI64}, {"I32", DType::kI32},
      {"I16", DType::kI16},   {"I8", DType::kI8},   {"U8", DType::kU8},
      {"BOOL", DType::kBool}};
  for (const auto &[spelling, dtype] : kTable)
    if (name == spelling)
      return dtype;
  return invalidArgument("unsupported dtype " + quote(name));
}

size_t dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::kF64:
  case DType::kI64:
    return 8;
  case DType::kF32:
  case DType::kI32:
    return 4;
  case DType::kF16:
  case DType::kBF16:
  case DType::kI16:
    return 2;
  case DType::kI8:
  case DType::kU8:
  case DType::kBool:
    return 1;
  }
  return 1;
}

int64_t TensorInfo::numel() const {
  // Validated shapes fit the data section, so the product cannot overflow
  // once a zero dim (which may follow huge ones) is handled first.
  if (std::find(shape.begin(), shape.end(), 0) != shape.end())
    return 0;
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

//===----------------------------------------------------------------------===//
// Reader
//===----------------------------------------------------------------------===//

StatusOr<SafetensorsFile> SafetensorsFile::open(const std::string &path) {
  GECKO_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, readFileBytes(path));
  return parse(std::move(bytes), path);
}

StatusOr<SafetensorsFile> SafetensorsFile::parse(std::vector<uint8_t> bytes,
                                                 const std::string &file) {
  if (bytes.size() < 8)
    return dataLoss(file + ": file is " + std::to_string(bytes.size()) +
                    " bytes, shorter than the 8-byte header length");
  uint64_t headerLen = loadLE<uint64_t>(bytes.data());
  if (headerLen > kMaxHeaderBytes)
    return dataLoss(file + ": header length " + std::to_string(headerLen) +
                    " exceeds the " + std::to_string(kMaxHeaderBytes) +
                    "-byte limit");
  if (headerLen > bytes.size() - 8)
    return dataLoss(file + ": header length " + std::to_string(headerLen) +
                    " runs past the end of the file (" +
                    std::to_string(bytes.size()) + " bytes)");
  if (headerLen < 2)
    return dataLoss(file + ": header is too short to be a JSON object");

  const char *hbegin = reinterpret_cast<const char *>(bytes.data() + 8);
  const char *hend = hbegin + headerLen;
  // Duplicate top-level keys would silently shadow each other; reject them.
  std::set<std::string> seenKeys;
  bool duplicate = false;
  std::string duplicateKey;
  Json::parser_callback_t cb = [&](int depth, Json::parse_event_t event,
                                   Json &parsed) {
    if (event == Json::parse_event_t::key && depth == 1 && !duplicate) {
      std::string key = parsed.is_string() ? parsed.get<std::string>() : "";
      if (!seenKeys.insert(key).second) {
        duplicate = true;
        duplicateKey = key;
      }
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(hbegin, hend, cb, /*allow_exceptions=*/false);
  } catch (const std::exception &e) {
    return dataLoss(file + ": malformed JSON header: " + e.what());
  }
  if (header.is_discarded())
    return dataLoss(file + ": header is not valid JSON");
  if (!header.is_object())
    return dataLoss(file + ": header is not a JSON object");
  if (duplicate)
    return dataLoss(file + ": duplicate header key " + quote(duplicateKey));

  SafetensorsFile out;
  out.path_ = file;
  out.dataStart_ = 8 + static_cast<size_t>(headerLen);
  uint64_t dataSize = bytes.size() - out.dataStart_;
  try {
    for (auto it = header.begin(); it != header.end(); ++it) {
      const std::string &key = it.key();
      if (key == "__metadata__") {
        if (!it->is_object())
          return dataLoss(file + ": __metadata__ is not a JSON object");
        for (auto m = it->begin(); m != it->end(); ++m) {
          if (!m->is_string())
            return dataLoss(file + ": __metadata__ value for " +
                            quote(m.key()) + " is not a string");
          out.metadata_[m.key()] = m->get<std::string>();
        }
        continue;
      }
      TensorInfo info;
      GECKO_RETURN_IF_ERROR(parseTensorEntry(file, key, *it, dataSize, info));
      out.tensors_.emplace(key, std::move(info));
    }
  } catch (const std::exception &e) {
    return dataLoss(file + ": malformed header: " + e.what());
  }

  // No two non-empty tensors may share bytes.
  std::vector<const TensorInfo *> byOffset;
  for (const auto &kv : out.tensors_)
    if (kv.second.byteSize() > 0)
      byOffset.push_back(&kv.second);
  std::sort(byOffset.begin(), byOffset.end(),
            [](const TensorInfo *a, const TensorInfo *b) {
              return a->begin < b->begin;
            });
  for (size_t i = 1; i < byOffset.size(); ++i)
    if (byOffset[i]->begin < byOffset[i - 1]->end)
      return dataLoss(file + ": tensors " + quote(byOffset[i - 1]->name) +
                      " and " + quote(byOffset[i]->name) +
                      " have overlapping data_offsets");

  out.bytes_ = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  return out;
}

const TensorInfo *SafetensorsFile::find(const std::string &name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

StatusOr<const TensorInfo *>
SafetensorsFile::get(const std::string &name) const {
  const TensorInfo *info = find(name);
  if (!info)
    return notFound(path_ + ": no tensor named " + quote(name));
  return info;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto &kv : tensors_)
    out.push_back(kv.first);
  return out;
}

StatusOr<ByteView> SafetensorsFile::rawBytes(const std::string &name) const {
  GECKO_ASSIGN_OR_RETURN(const TensorInfo *info, get(name));
  ByteView view;
  view.data = bytes_->data() + dataStart_ + info->begin;
  view.size = static_cast<size_t>(info->byteSize());
  return view;
}

template <typename T>
StatusOr<std::vector<T>>
SafetensorsFile::readConverted(const std::string &name) const {
  GECKO_ASSIGN_OR_RETURN(const TensorInfo *info, get(name));
  const uint8_t *data = bytes_->data() + dataStart_ + info->begin;
  std::vector<T> out(static_cast<size_t>(info->numel()));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<T>(elementAsDouble(info->dtype, data, i));
  return out;
}

StatusOr<std::vector<float>>
SafetensorsFile::readAsF32(const std::string &name) const {
  return readConverted<float>(name);
}

StatusOr<std::vector<double>>
SafetensorsFile::readAsF64(const std::string &name) const {
  return readConverted<double>(name);
}

StatusOr<std::vector<int64_t>>
SafetensorsFile::readAsI64(const std::string &name) const {
  GECKO_ASSIGN_OR_RETURN(const TensorInfo *info, get(name));
  if (isFloat(info->dtype))
    return invalidArgument(path_ + ": tensor " + quote(name) + " is " +
                           dtypeName(info->dtype) + ", not an integer type");
  GECKO_ASSIGN_OR_RETURN(ByteView view, rawBytes(name));
  std::vector<int64_t> out(static_cast<size_t>(info->numel()));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = elementAsInt64(info->dtype, view.data, i);
  return out;
}

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

StatusOr<std::vector<uint8_t>>
serializeSafetensors(const std::vector<TensorToWrite> &tensors,
                     const std::map<std::string, std::string> &metadata) {
  std::vector<const TensorToWrite *> sorted;
  for (const TensorToWrite &t : tensors)
    sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorToWrite *a, const TensorToWrite *b) {
              return a->name < b->name;
            });
  std::string headerText;
  uint64_t offset = 0;
  try {
    Json header = Json::object();
    if (!metadata.empty()) {
      Json meta = Json::object();
      for (const auto &kv : metadata)
        meta[kv.first] = kv.second;
      header["__metadata__"] = std::move(meta);
    }
    for (size_t i = 0; i < sorted.size(); ++i) {
      const TensorToWrite &t = *sorted[i];
      if (t.name.empty() || t.name == "__metadata__")
        return invalidArgument("invalid tensor name " + quote(t.name));
      if (i > 0 && sorted[i - 1]->name == t.name)
        return invalidArgument("duplicate tensor name " + quote(t.name));
      uint64_t numel = 1;
      Json shape = Json::array();
      for (int64_t d : t.shape) {
        if (d < 0)
          return invalidArgument("tensor " + quote(t.name) +
                                 " has a negative dimension");
        numel *= static_cast<uint64_t>(d);
        shape.push_back(d);
      }
      uint64_t size = numel * dtypeSize(t.dtype);
      if (size != t.sizeBytes)
        return invalidArgument(
            "tensor " + quote(t.name) + " has " + std::to_string(t.sizeBytes) +
            " bytes, its shape and dtype need " + std::to_string(size));
      if (size > 0 && !t.data)
        return invalidArgument("tensor " + quote(t.name) + " has no data");
      header[t.name] = {{"dtype", dtypeName(t.dtype)},
                        {"shape", std::move(shape)},
                        {"data_offsets", {offset, offset + size}}};
      offset += size;
    }
    headerText = header.dump();
  } catch (const std::exception &e) {
    return invalidArgument(std::string("cannot build header: ") + e.what());
  }
  // Pad with spaces so the data section starts at a multiple of 8.
  while ((8 + headerText.size()) % 8 != 0)
    headerText.push_back(' ');

  std::vector<uint8_t> image;
  image.reserve(8 + headerText.size() + offset);
  uint64_t len = headerText.size();
  for (int i = 0; i < 8; ++i)
    image.push_back(static_cast<uint8_t>(len >> (8 * i)));
  image.insert(image.end(), headerText.begin(), headerText.end());
  for (const TensorToWrite *t : sorted) {
    const uint8_t *p = static_cast<const uint8_t *>(t->data);
    if (t->sizeBytes > 0)
      image.insert(image.end(), p, p + t->sizeBytes);
  }
  return image;
}

Status writeSafetensors(const std::string &path,
                        const std::vector<TensorToWrite> &tensors,
                        const std::map<std::string, std::string> &metadata) {
  StatusOr<std::vector<uint8_t>> image =
      serializeSafetensors(tensors, metadata);
  if (!image.isOk())
    return image.status().withContext(path);

  return writeFileAtomically(path, image->data(), image->size());
}

} // namespace gecko
