//===- sampling.cpp - Token sampling and byte-level text output -----------===//

#include "gecko/runtime/generate.h"
#include "gecko/runtime/init.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace gecko {

Status validateSampling(const SamplingOptions &o) {
  if (!std::isfinite(o.temperature) || o.temperature < 0)
    return invalidArgument("temperature must be a finite number >= 0 (got " +
                           std::to_string(o.temperature) + ")");
  if (o.topK < 0)
    return invalidArgument("top-k must be >= 0 (0 keeps every token)");
  if (!(o.topP > 0 && o.topP <= 1))
    return invalidArgument("top-p must lie in (0, 1] (got " +
                           std::to_string(o.topP) + ")");
  return Status::ok();
}

namespace {

int64_t argmax(const float *logits, int64_t vocab) {
  int64_t best = -1;
  for (int64_t i = 0; i < vocab; ++i) {
    float v = logits[i];
    if (std::isnan(v))
      continue;
    if (best < 0 || v > logits[best])
      best = i;
  }
  return best < 0 ? 0 : best;
}

} // namespace

std::vector<double> samplingDistribution(const float *logits, int64_t vocab,
                                         const SamplingOptions &o) {
  std::vector<double> dist(size_t(vocab), 0.0);
  if (vocab <= 0)
    return dist;
  if (o.temperature == 0) {
    dist[size_t(argmax(logits, vocab))] = 1.0;
    return dist;
  }
  std::vector<int64_t> idx;
  idx.reserve(size_t(vocab));
  for (int64_t i = 0; i < vocab; ++i)
    if (!std::isnan(logits[i]) && logits[i] != -INFINITY)
      idx.push_back(i);
  if (idx.empty()) {
    dist[0] = 1.0;
    return dist;
  }
  auto better = [&](int64_t a, int64_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  };
  size_t keep = idx.size();
  if (o.topK > 0 && size_t(o.topK) < keep) {
    keep = size_t(o.topK);
    std::partial_sort(idx.begin(), idx.begin() + long(keep), idx.end(), better);
    idx.resize(keep);
  } else {
    std::sort(idx.begin(), idx.end(), better);
  }
  // +inf logits: uniform over them.
  if (logits[idx[0]] == INFINITY) {
    size_t n = 0;
    while (n < idx.size() && logits[idx[n]] == INFINITY)
      ++n;
    for (size_t i = 0; i < n; ++i)
      dist[size_t(idx[i])] = 1.0 / double(n);
    return dist;
  }
  const double inv = 1.0 / o.temperature, top = double(logits[idx[0]]);
  std::vector<double> p(idx.size());
  double sum = 0;
  for (size_t i = 0; i < idx.size(); ++i) {
    p[i] = std::exp((double(logits[idx[i]]) - top) * inv);
    sum += p[i];
  }
  size_t n = idx.size();
  if (o.topP < 1) {
    double cum = 0;
    for (size_t i = 0; i < idx.size(); ++i) {
      cum += p[i] / sum;
      if (cum >= o.topP) {
        n = i + 1;
        break;
      }
    }
  }
  double kept = 0;
  for (size_t i = 0; i < n; ++i)
    kept += p[i];
  for (size_t i = 0; i < n; ++i)
    dist[size_t(idx[i])] = p[i] / kept;
  return dist;
}

int64_t sampleToken(const float *logits, int64_t vocab,
                    const SamplingOptions &o, double u) {
  if (o.temperature == 0 || vocab <= 1)
    return vocab <= 0 ? 0 : argmax(logits, vocab);
  std::vector<double> dist = samplingDistribution(logits, vocab, o);
  double target = u * std::accumulate(dist.begin(), dist.end(), 0.0);
  double cum = 0;
  int64_t last = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    if (dist[size_t(i)] <= 0)
      continue;
    cum += dist[size_t(i)];
    last = i;
    if (target < cum)
      return i;
  }
  return last;
}

double samplingUniform(uint64_t seed, int64_t position, int64_t row) {
  static const std::string kName = "sample";
  std::array<uint32_t, 2> key = streamKey(seed, kName);
  uint64_t pos = uint64_t(position);
  std::array<uint32_t, 4> r = philox4x32(
      {uint32_t(pos), uint32_t(pos >> 32), uint32_t(uint64_t(row)), 0}, key);
  return uniform01(r[0], r[1]);
}

//===----------------------------------------------------------------------===//
// Utf8Printer
//===----------------------------------------------------------------------===//

namespace {

std::string escapeByte(unsigned byte) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "\\x%02X", byte & 0xFFu);
  return buf;
}

std::string escapeAll(const std::string &bytes) {
  std::string out;
  for (char c : bytes)
    out += escapeByte(static_cast<unsigned char>(c));
  return out;
}

} // namespace

std::string Utf8Printer::flush() {
  std::string out = escapeAll(pending_);
  pending_.clear();
  need_ = 0;
  return out;
}

std::string Utf8Printer::push(int64_t token) {
  std::string out;
  if (token < 0 || token > 255) {
    out = flush();
    return out + "<|" + std::to_string(token) + "|>";
  }
  unsigned b = unsigned(token);
  if (need_ > 0) {
    unsigned lead = static_cast<unsigned char>(pending_[0]);
    unsigned lo = 0x80, hi = 0xBF;
    if (pending_.size() == 1) { // second byte: no overlongs or surrogates
      if (lead == 0xE0)
        lo = 0xA0;
      else if (lead == 0xED)
        hi = 0x9F;
      else if (lead == 0xF0)
        lo = 0x90;
      else if (lead == 0xF4)
        hi = 0x8F;
    }
    if (b >= lo && b <= hi) {
      pending_ += char(b);
      if (--need_ == 0) {
        out = pending_;
        pending_.clear();
      }
      return out;
    }
    out = flush();
  }
  if (b < 0x80) {
    if ((b < 0x20 && b != '\n' && b != '\t' && b != '\r') || b == 0x7F)
      return out + escapeByte(b);
    return out + char(b);
  }
  if (b >= 0xC2 && b <= 0xDF)
    need_ = 1;
  else if (b >= 0xE0 && b <= 0xEF)
    need_ = 2;
  else if (b >= 0xF0 && b <= 0xF4)
    need_ = 3;
  else
    return out + escapeByte(b);
  pending_ = std::string(1, char(b));
  return out;
}

} // namespace gecko
