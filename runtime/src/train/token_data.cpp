//===- token_data.cpp - Token files, batches and the LR schedule ----------===//

#include "gecko/runtime/init.h"
#include "gecko/runtime/training.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace gecko {

namespace {

template <typename T> T loadLe(const uint8_t *p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

} // namespace

TokenData::~TokenData() {
  if (map_)
    ::munmap(map_, mapBytes_);
}

const char *TokenData::formatName() const {
  return width_ == 1 ? "text" : width_ == 2 ? "u16" : "u32";
}

StatusOr<std::unique_ptr<TokenData>> TokenData::open(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return notFound(path + ": no such file");
    return unavailable(path + ": cannot open: " + std::strerror(errno));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalidArgument(path + ": not a regular file");
  }
  std::unique_ptr<TokenData> d(new TokenData());
  d->path_ = path;
  d->fileBytes_ = uint64_t(st.st_size);
  if (st.st_size > 0) {
    d->mapBytes_ = size_t(st.st_size);
    void *m = ::mmap(nullptr, d->mapBytes_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      ::close(fd);
      return unavailable(path + ": cannot map: " + std::strerror(errno));
    }
    d->map_ = m;
  }
  ::close(fd);
  const uint8_t *base = static_cast<const uint8_t *>(d->map_);
  uint64_t size = d->fileBytes_;
  if (size >= sizeof(tokfile::kMagic) &&
      std::memcmp(base, tokfile::kMagic, sizeof(tokfile::kMagic)) == 0) {
    if (size < tokfile::kHeaderSize)
      return dataLoss(path + ": truncated GECKOTOK header (" +
                      std::to_string(size) + " of " +
                      std::to_string(tokfile::kHeaderSize) + " bytes)");
    uint32_t version = loadLe<uint32_t>(base + 8);
    uint32_t width = loadLe<uint32_t>(base + 12);
    uint64_t count = loadLe<uint64_t>(base + 16);
    if (version != tokfile::kVersion)
      return failedPrecondition(path + ": GECKOTOK version " +
                                std::to_string(version) +
                                " is not supported (this build reads 1)");
    if (width != 2 && width != 4)
      return dataLoss(path + ": GECKOTOK token width " + std::to_string(width) +
                      " bytes is not supported (2 = u16, 4 = u32)");
    uint64_t payload = size - tokfile::kHeaderSize;
    if (count > payload / width || count * width != payload)
      return dataLoss(path + ": header says " + std::to_string(count) +
                      " tokens of " + std::to_string(width) +
                      " bytes, but the file holds " + std::to_string(payload) +
                      " bytes of tokens" +
                      (count * width > payload ? " (truncated)" : ""));
    d->width_ = width;
    d->count_ = int64_t(count);
    d->tokens_ = base + tokfile::kHeaderSize;
  } else {
    d->width_ = 1;
    d->count_ = int64_t(size);
    d->tokens_ = base;
  }
  return d;
}

Status TokenData::checkRange(int64_t lo, int64_t hi) const {
  for (int64_t i = 0; i < count_; ++i) {
    int64_t v = at(i);
    if (v < lo || v >= hi)
      return invalidArgument(
          path_ + ": token " + std::to_string(i) + " (" + formatName() +
          ") is " + std::to_string(v) + ", outside the model's vocabulary [" +
          std::to_string(lo) + ", " + std::to_string(hi) + ")" +
          (width_ == 1 ? "; text files are byte-level (ids 0..255), which "
                         "needs a vocabulary of 256"
                       : ""));
  }
  return Status::ok();
}

Status writeTokenFile(const std::string &path,
                      const std::vector<int64_t> &tokens, int bytesPerToken) {
  if (bytesPerToken != 2 && bytesPerToken != 4)
    return invalidArgument("token width must be 2 or 4 bytes");
  std::vector<uint8_t> out(tokfile::kHeaderSize +
                           tokens.size() * size_t(bytesPerToken));
  std::memcpy(out.data(), tokfile::kMagic, 8);
  uint32_t version = tokfile::kVersion, width = uint32_t(bytesPerToken);
  uint64_t count = tokens.size();
  std::memcpy(&out[8], &version, 4);
  std::memcpy(&out[12], &width, 4);
  std::memcpy(&out[16], &count, 8);
  int64_t maxValue = bytesPerToken == 2 ? 0xffff : 0xffffffffll;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] > maxValue)
      return invalidArgument("token " + std::to_string(i) + " (" +
                             std::to_string(tokens[i]) + ") does not fit in " +
                             std::to_string(bytesPerToken) + " bytes");
    uint32_t v = uint32_t(tokens[i]);
    std::memcpy(&out[tokfile::kHeaderSize + i * size_t(bytesPerToken)], &v,
                size_t(bytesPerToken)); // little-endian host
  }
  return writeFileAtomically(path, out.data(), out.size());
}

int64_t windowStart(uint64_t seed, int64_t step, int64_t row, int64_t size,
                    int64_t seqLen) {
  uint64_t choices = uint64_t(size - seqLen); // starts 0 .. size - seqLen - 1
  std::array<uint32_t, 4> r =
      philox4x32({uint32_t(uint64_t(step)), uint32_t(uint64_t(step) >> 32),
                  uint32_t(uint64_t(row)), uint32_t(uint64_t(row) >> 32)},
                 streamKey(seed, "data"));
  uint64_t bits = uint64_t(r[0]) << 32 | r[1];
  // Lemire's multiply-shift: uniform up to a negligible 2^-64 bias.
  return int64_t((unsigned __int128)bits * choices >> 64);
}

Status fillBatch(const TokenData &data, uint64_t seed, int64_t step,
                 HostTensor &tokens, HostTensor &targets, int64_t firstRow) {
  if (tokens.shape().size() != 2 || tokens.shape() != targets.shape())
    return invalidArgument("batch tensors must both have shape [B, L]");
  int64_t batch = tokens.shape()[0], seqLen = tokens.shape()[1];
  if (data.size() < seqLen + 1)
    return failedPrecondition(
        data.path() + ": " + std::to_string(data.size()) +
        " tokens are too few for one training window of " +
        std::to_string(seqLen + 1) + " (sequence length " +
        std::to_string(seqLen) + " + 1)");
  auto put = [](HostTensor &t, int64_t i, int64_t v) {
    if (t.dtype() == ElementType::kI64)
      t.dataAs<int64_t>()[i] = v;
    else
      t.dataAs<int32_t>()[i] = int32_t(v);
  };
  for (int64_t b = 0; b < batch; ++b) {
    int64_t start = windowStart(seed, step, firstRow + b, data.size(), seqLen);
    for (int64_t j = 0; j < seqLen; ++j) {
      put(tokens, b * seqLen + j, data.at(start + j));
      put(targets, b * seqLen + j, data.at(start + j + 1));
    }
  }
  return Status::ok();
}

double LrSchedule::at(int64_t step) const {
  if (warmup > 0 && step < warmup)
    return lr * double(step + 1) / double(warmup);
  double minLr = lr * minLrRatio;
  int64_t span = totalSteps - warmup;
  if (span <= 0)
    return lr;
  double progress = std::min(1.0, double(step - warmup) / double(span));
  return minLr + (lr - minLr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

} // namespace gecko
