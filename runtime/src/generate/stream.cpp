//===- stream.cpp - Streaming calls, state files and generation -----------===//

#include "gecko/runtime/generate.h"
#include "gecko/runtime/training.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstring>

namespace gecko {

const char *streamCallKindName(StreamCallKind kind) {
  return kind == StreamCallKind::kPrefill ? "prefill" : "decode";
}

std::vector<StreamCallKind> planStreamCalls(int64_t position, int64_t count,
                                            int64_t prefillLength,
                                            int64_t chunkSize) {
  std::vector<StreamCallKind> calls;
  if (chunkSize <= 0)
    chunkSize = prefillLength > 0 ? prefillLength : 1;
  while (count > 0) {
    if (prefillLength > 0 && count >= prefillLength &&
        position % chunkSize == 0) {
      calls.push_back(StreamCallKind::kPrefill);
      position += prefillLength;
      count -= prefillLength;
    } else {
      calls.push_back(StreamCallKind::kDecode);
      ++position;
      --count;
    }
  }
  return calls;
}

namespace {

const char kTokens[] = "input.tokens";
const char kLogits[] = "output.logits";

bool isFloat(ElementType t) {
  return t == ElementType::kF32 || t == ElementType::kF64 ||
         t == ElementType::kBF16 || t == ElementType::kF16;
}

/// The function named `name`, else the only one whose mode is `name`.
const FunctionPlan *findStreamFunction(const ArtifactPlan &plan,
                                       const std::string &name) {
  if (const FunctionPlan *f = plan.findFunction(name))
    return f;
  const FunctionPlan *found = nullptr;
  for (const FunctionPlan &f : plan.functions)
    if (f.mode == name) {
      if (found)
        return nullptr;
      found = &f;
    }
  return found;
}

std::string describeArgs(const FunctionPlan &f, bool inputs) {
  std::string out;
  for (const ArgSpec &a : f.args)
    if ((a.kind == ArgKind::kInput) == inputs)
      out += std::string(argKindName(a.kind)) + " " + a.name + " " +
             elementTypeName(a.dtype) + " " + shapeToString(a.shape) + "\n";
  return out;
}

} // namespace

Status Stream::checkFunction(const FunctionPlan &f, int64_t length) const {
  const std::string where =
      exe_.source() + ": function '" + f.name + "' (mode " + f.mode + ")";
  const ArgSpec *tokens = nullptr;
  for (const ArgSpec &a : f.args) {
    if (a.kind != ArgKind::kInput)
      continue;
    if (a.name != kTokens)
      return invalidArgument(where + " has input '" + a.name +
                             "', which a stream cannot provide (only '" +
                             kTokens + "')");
    tokens = &a;
  }
  if (!tokens)
    return invalidArgument(where + " has no input '" + kTokens + "'");
  if ((tokens->dtype != ElementType::kI64 &&
       tokens->dtype != ElementType::kI32) ||
      tokens->shape.size() != 2 || tokens->shape[0] < 1 ||
      tokens->shape[1] < 1 || (length > 0 && tokens->shape[1] != length))
    return invalidArgument(
        where + ": '" + kTokens + "' is " + elementTypeName(tokens->dtype) +
        " " + shapeToString(tokens->shape) + "; expected i64 [B, " +
        (length > 0 ? std::to_string(length) : std::string("P")) + "]");
  const TensorSpec *logits = nullptr;
  for (const TensorSpec &r : f.results)
    if (r.name == kLogits)
      logits = &r;
  if (!logits)
    return invalidArgument(where + " has no result '" + kLogits + "'");
  if (!isFloat(logits->dtype) || logits->shape.size() != 3 ||
      logits->shape[0] != tokens->shape[0] ||
      logits->shape[1] != tokens->shape[1] || logits->shape[2] < 1)
    return invalidArgument(where + ": '" + kLogits + "' is " +
                           elementTypeName(logits->dtype) + " " +
                           shapeToString(logits->shape) + "; expected float [" +
                           std::to_string(tokens->shape[0]) + ", " +
                           std::to_string(tokens->shape[1]) + ", V]");
  return Status::ok();
}

StatusOr<std::unique_ptr<Stream>> Stream::create(const Executable &exe,
                                                 TensorMap params,
                                                 const StreamOptions &options) {
  std::unique_ptr<Stream> s(new Stream(exe));
  const ArtifactPlan &plan = exe.plan();
  s->decode_ = findStreamFunction(plan, options.decodeFunction);
  if (!s->decode_) {
    std::string names;
    for (const FunctionPlan &f : plan.functions)
      names +=
          (names.empty() ? "'" : ", '") + f.name + "' (mode " + f.mode + ")";
    return notFound(exe.source() + " has no '" + options.decodeFunction +
                    "' function (it has " + names +
                    "); streaming needs an artifact compiled with "
                    "`gecko-compile --mode generate`");
  }
  s->prefill_ = findStreamFunction(plan, options.prefillFunction);
  if (s->prefill_ == s->decode_)
    s->prefill_ = nullptr;
  GECKO_RETURN_IF_ERROR(s->checkFunction(*s->decode_, 1));
  const ArgSpec *tok = nullptr;
  for (const ArgSpec &a : s->decode_->args)
    if (a.name == kTokens)
      tok = &a;
  s->tokenType_ = tok->dtype;
  s->batch_ = tok->shape[0];
  for (const TensorSpec &r : s->decode_->results)
    if (r.name == kLogits)
      s->vocab_ = r.shape[2];
  if (s->prefill_) {
    GECKO_RETURN_IF_ERROR(s->checkFunction(*s->prefill_, 0));
    for (const ArgSpec &a : s->prefill_->args)
      if (a.name == kTokens)
        s->prefillLength_ = a.shape[1];
    if (describeArgs(*s->prefill_, false) != describeArgs(*s->decode_, false))
      return invalidArgument(
          exe.source() + ": functions '" + s->prefill_->name + "' and '" +
          s->decode_->name +
          "' must take the same params and state args (name, dtype, shape)");
    const TensorSpec *pl = nullptr, *dl = nullptr;
    for (const TensorSpec &r : s->prefill_->results)
      if (r.name == kLogits)
        pl = &r;
    for (const TensorSpec &r : s->decode_->results)
      if (r.name == kLogits)
        dl = &r;
    if (pl->shape[0] != dl->shape[0] || pl->shape[2] != dl->shape[2])
      return invalidArgument(
          exe.source() + ": '" + kLogits + "' of '" + s->prefill_->name +
          "' is " + shapeToString(pl->shape) + " but of '" + s->decode_->name +
          "' " + shapeToString(dl->shape) +
          " (batch and vocabulary must agree)");
  }

  int64_t chunk = options.chunkSize;
  if (chunk <= 0 && !plan.modelJson.empty()) {
    nlohmann::json j = nlohmann::json::parse(plan.modelJson, nullptr, false);
    if (j.is_object() && j.contains("chunk_size") &&
        j["chunk_size"].is_number_integer() &&
        j["chunk_size"].get<int64_t>() > 0)
      chunk = j["chunk_size"].get<int64_t>();
  }
  if (chunk <= 0)
    chunk = s->prefillLength_ > 0 ? s->prefillLength_ : 1;
  s->chunkSize_ = chunk;
  if (s->prefillLength_ > 0 && s->prefillLength_ % chunk != 0)
    return invalidArgument(exe.source() + ": the prefill length " +
                           std::to_string(s->prefillLength_) +
                           " is not a multiple of the chunk size " +
                           std::to_string(chunk));

  for (const ArgSpec &a : s->decode_->args)
    if (a.kind == ArgKind::kParam) {
      auto it = params.find(a.name);
      if (it != params.end())
        s->bound_.emplace(a.name, std::move(it->second));
    }
  GECKO_RETURN_IF_ERROR(s->reset());
  // Report missing or mismatched params now rather than at the first call.
  TensorMap inputs;
  GECKO_ASSIGN_OR_RETURN(HostTensor zeros,
                         HostTensor::zeros(s->tokenType_, {s->batch_, 1}));
  inputs.emplace(kTokens, std::move(zeros));
  GECKO_RETURN_IF_ERROR(exe.checkBindings(*s->decode_, s->bound_, inputs));
  s->modelHash_ = modelSignatureHash(plan, *s->decode_);
  return s;
}

std::vector<std::string> Stream::stateNames() const {
  std::vector<std::string> names;
  for (const ArgSpec &a : decode_->args)
    if (a.kind == ArgKind::kState)
      names.push_back(a.name);
  return names;
}

const HostTensor *Stream::stateTensor(const std::string &name) const {
  for (const ArgSpec &a : decode_->args)
    if (a.kind == ArgKind::kState && a.name == name) {
      auto it = bound_.find(name);
      return it == bound_.end() ? nullptr : &it->second;
    }
  return nullptr;
}

uint64_t Stream::stateBytes() const {
  uint64_t total = 0;
  for (const ArgSpec &a : decode_->args)
    if (a.kind == ArgKind::kState)
      total += a.byteSize();
  return total;
}

Status Stream::reset() {
  for (const ArgSpec &a : decode_->args)
    if (a.kind == ArgKind::kState) {
      GECKO_ASSIGN_OR_RETURN(HostTensor z, HostTensor::zeros(a.dtype, a.shape));
      bound_[a.name] = std::move(z);
    }
  position_ = 0;
  lastLogits_.clear();
  return Status::ok();
}

Status Stream::call(StreamCallKind kind, const int64_t *tokens, int64_t stride,
                    int64_t length, const LogitsFn &onLogits) {
  const FunctionPlan *f = kind == StreamCallKind::kPrefill ? prefill_ : decode_;
  if (!f)
    return failedPrecondition(exe_.source() + " has no prefill function");
  int64_t want = kind == StreamCallKind::kPrefill ? prefillLength_ : 1;
  if (length != want)
    return invalidArgument(std::string(streamCallKindName(kind)) + " call of " +
                           std::to_string(length) + " tokens; the function '" +
                           f->name + "' takes " + std::to_string(want));
  if (kind == StreamCallKind::kPrefill && position_ % chunkSize_ != 0)
    return failedPrecondition("prefill at stream position " +
                              std::to_string(position_) +
                              ", which is not a multiple of the chunk size " +
                              std::to_string(chunkSize_) + " (GECKO_MATH 4.2)");
  GECKO_ASSIGN_OR_RETURN(HostTensor in,
                         HostTensor::zeros(tokenType_, {batch_, length}));
  for (int64_t b = 0; b < batch_; ++b)
    for (int64_t t = 0; t < length; ++t) {
      int64_t v = tokens[b * stride + t];
      if (v < 0 || v >= vocab_)
        return invalidArgument("token " + std::to_string(v) + " (row " +
                               std::to_string(b) + ", stream position " +
                               std::to_string(position_ + t) +
                               ") is outside the model's vocabulary [0, " +
                               std::to_string(vocab_) + ")");
      if (tokenType_ == ElementType::kI64)
        in.dataAs<int64_t>()[b * length + t] = v;
      else
        in.dataAs<int32_t>()[b * length + t] = int32_t(v);
    }
  TensorMap inputs;
  inputs.emplace(kTokens, std::move(in));
  RunStats rs;
  GECKO_ASSIGN_OR_RETURN(TensorMap out, exe_.run(f->name, bound_, inputs, &rs));
  for (auto &kv : out) {
    std::string target = nextResultTarget(kv.first);
    if (!target.empty())
      bound_[target] = std::move(kv.second);
  }
  const HostTensor &logits = out.at(kLogits);
  const int64_t v = logits.shape()[2];
  lastLogits_.resize(size_t(batch_ * v));
  for (int64_t b = 0; b < batch_; ++b) {
    int64_t base = (b * length + length - 1) * v;
    if (logits.dtype() == ElementType::kF32)
      std::memcpy(&lastLogits_[size_t(b * v)], logits.dataAs<float>() + base,
                  size_t(v) * sizeof(float));
    else
      for (int64_t i = 0; i < v; ++i)
        lastLogits_[size_t(b * v + i)] =
            float(logits.elementAsDouble(base + i));
  }
  int64_t first = position_;
  position_ += length;
  if (kind == StreamCallKind::kPrefill) {
    ++stats_.prefillCalls;
    stats_.prefillTokens += batch_ * length;
    stats_.prefillSeconds += rs.totalSeconds;
  } else {
    ++stats_.decodeCalls;
    stats_.decodeTokens += batch_ * length;
    stats_.decodeSeconds += rs.totalSeconds;
  }
  if (onLogits)
    onLogits(logits, first);
  return Status::ok();
}

Status Stream::feed(const int64_t *tokens, int64_t count,
                    const LogitsFn &onLogits) {
  int64_t offset = 0;
  for (StreamCallKind kind :
       planStreamCalls(position_, count, prefillLength_, chunkSize_)) {
    int64_t length = kind == StreamCallKind::kPrefill ? prefillLength_ : 1;
    GECKO_RETURN_IF_ERROR(call(kind, tokens + offset, count, length, onLogits));
    offset += length;
  }
  return Status::ok();
}

Status Stream::saveState(const std::string &path,
                         std::map<std::string, std::string> extra) const {
  TensorMap tensors;
  for (const ArgSpec &a : decode_->args)
    if (a.kind == ArgKind::kState) {
      GECKO_ASSIGN_OR_RETURN(HostTensor t, bound_.at(a.name).clone());
      tensors.emplace(a.name, std::move(t));
    }
  if (!lastLogits_.empty()) {
    GECKO_ASSIGN_OR_RETURN(
        HostTensor t,
        HostTensor::fromBytes(
            ElementType::kF32, {batch_, int64_t(lastLogits_.size()) / batch_},
            lastLogits_.data(), lastLogits_.size() * sizeof(float)));
    tensors.emplace(kLastLogitsTensor, std::move(t));
  }
  extra[kStreamStateMarker] = "1";
  extra["model_hash"] = modelHash_;
  extra["position"] = std::to_string(position_);
  extra["batch"] = std::to_string(batch_);
  extra["vocab"] = std::to_string(vocab_);
  return writeCheckpointFile(path, tensors, std::move(extra));
}

Status Stream::loadState(const std::string &path) {
  GECKO_ASSIGN_OR_RETURN(Checkpoint ck, readCheckpointFile(path));
  auto meta = [&](const char *key) -> std::string {
    auto it = ck.metadata.find(key);
    return it == ck.metadata.end() ? "" : it->second;
  };
  if (meta(kStreamStateMarker).empty())
    return invalidArgument(path + " is not a Gecko stream state file (no '" +
                           kStreamStateMarker + "' in its metadata)");
  if (meta("model_hash") != modelHash_)
    return invalidArgument(
        path + " holds the stream state of a different model (model hash " +
        meta("model_hash") + "; " + exe_.source() + " has " + modelHash_ +
        "): a state only continues the model, batch size and state layout "
        "it was written with");
  char *end = nullptr;
  std::string posText = meta("position");
  long long pos = std::strtoll(posText.c_str(), &end, 10);
  if (posText.empty() || *end || pos < 0)
    return invalidArgument(path + ": bad 'position' in the metadata: '" +
                           posText + "'");
  std::string problems;
  for (const ArgSpec &a : decode_->args) {
    if (a.kind != ArgKind::kState)
      continue;
    auto it = ck.tensors.find(a.name);
    if (it == ck.tensors.end())
      problems += "\n  missing state '" + a.name + "'";
    else if (it->second.dtype() != a.dtype || it->second.shape() != a.shape)
      problems += "\n  state '" + a.name + "' is " +
                  elementTypeName(it->second.dtype()) + " " +
                  shapeToString(it->second.shape()) + ", expected " +
                  elementTypeName(a.dtype) + " " + shapeToString(a.shape);
  }
  auto ll = ck.tensors.find(kLastLogitsTensor);
  if (ll != ck.tensors.end() &&
      (ll->second.dtype() != ElementType::kF32 ||
       ll->second.shape() != std::vector<int64_t>{batch_, vocab_}))
    problems += std::string("\n  '") + kLastLogitsTensor + "' is " +
                elementTypeName(ll->second.dtype()) + " " +
                shapeToString(ll->second.shape());
  if (!problems.empty())
    return invalidArgument(path + ": not a state of this stream:" + problems);
  for (const ArgSpec &a : decode_->args)
    if (a.kind == ArgKind::kState)
      bound_[a.name] = std::move(ck.tensors.at(a.name));
  position_ = pos;
  lastLogits_.clear();
  if (ll != ck.tensors.end())
    lastLogits_.assign(ll->second.dataAs<float>(),
                       ll->second.dataAs<float>() + ll->second.numel());
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// generate()
//===----------------------------------------------------------------------===//

StatusOr<GenerateResult> generate(Stream &stream,
                                  const std::vector<int64_t> &prompt,
                                  int64_t count,
                                  const GenerateOptions &options) {
  using Clock = std::chrono::steady_clock;
  GECKO_RETURN_IF_ERROR(validateSampling(options.sampling));
  if (options.maxTokens < 0)
    return invalidArgument("max tokens must be >= 0");
  const int64_t batch = stream.batch(), vocab = stream.vocab();
  if (count < 0 || (prompt.size() != size_t(count) &&
                    prompt.size() != size_t(count * batch)))
    return invalidArgument("the prompt holds " + std::to_string(prompt.size()) +
                           " tokens; expected " + std::to_string(count) +
                           " (one row for every stream) or " +
                           std::to_string(count * batch) + " (" +
                           std::to_string(batch) + " rows)");
  GenerateResult result;
  result.tokens.resize(size_t(batch));
  result.promptTokens = count;
  Clock::time_point t0 = Clock::now();
  if (count > 0) {
    std::vector<int64_t> rows;
    const std::vector<int64_t> *p = &prompt;
    if (prompt.size() != size_t(count * batch)) {
      rows.reserve(size_t(count * batch));
      for (int64_t b = 0; b < batch; ++b)
        rows.insert(rows.end(), prompt.begin(), prompt.end());
      p = &rows;
    }
    GECKO_RETURN_IF_ERROR(stream.feed(p->data(), count));
  }
  Clock::time_point t1 = Clock::now();
  result.promptSeconds = std::chrono::duration<double>(t1 - t0).count();
  if (options.maxTokens > 0 && stream.lastLogits().empty())
    return failedPrecondition(
        "nothing to generate from: give a prompt (or a stream state saved "
        "after at least one token)");
  std::vector<int64_t> next(static_cast<size_t>(batch));
  std::vector<bool> ended(static_cast<size_t>(batch), false);
  int64_t endedRows = 0;
  for (int64_t i = 0; i < options.maxTokens; ++i) {
    const std::vector<float> &logits = stream.lastLogits();
    for (int64_t b = 0; b < batch; ++b) {
      const float *row = logits.data() + b * vocab;
      bool nan = false;
      for (int64_t v = 0; v < vocab && !nan; ++v)
        nan = std::isnan(row[v]);
      if (nan)
        return failedPrecondition(
            "the logits of row " + std::to_string(b) + " at stream position " +
            std::to_string(stream.position() - 1) + " are NaN");
      next[size_t(b)] = sampleToken(
          row, vocab, options.sampling,
          samplingUniform(options.sampling.seed, stream.position(), b));
      result.tokens[size_t(b)].push_back(next[size_t(b)]);
      if (options.stopToken >= 0 && next[size_t(b)] == options.stopToken &&
          !ended[size_t(b)]) {
        ended[size_t(b)] = true;
        ++endedRows;
      }
    }
    GECKO_RETURN_IF_ERROR(
        stream.call(StreamCallKind::kDecode, next.data(), 1, 1));
    if (options.onTokens && !options.onTokens(i, next))
      break;
    if (endedRows == batch)
      break;
  }
  result.generateSeconds =
      std::chrono::duration<double>(Clock::now() - t1).count();
  return result;
}

} // namespace gecko
