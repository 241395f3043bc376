//===- trainer.cpp - The training loop behind `gecko-run train` -----------===//
//
// Binds an artifact's train function (forward, backward and optimizer in
// compiled code), feeds it deterministic batches and the learning rate,
// writes its `next:` results back into the params and state, and keeps
// atomic checkpoints from which a run resumes bit-exactly.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/init.h"
#include "gecko/runtime/safetensors.h"
#include "gecko/runtime/training.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace gecko {

namespace {

volatile std::sig_atomic_t gStopRequested = 0;

void onSigint(int) { gStopRequested = 1; }

std::string quote(const std::string &s) { return "'" + s + "'"; }

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

std::string shortNum(double v, const char *format = "%.6g") {
  char buf[40];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

std::string duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    return "?";
  char buf[32];
  if (seconds < 60) {
    std::snprintf(buf, sizeof(buf), "%.1fs", seconds);
    return buf;
  }
  long long s = (long long)(seconds + 0.5);
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", s / 3600, s / 60 % 60,
                  s % 60);
  else
    std::snprintf(buf, sizeof(buf), "%lld:%02lld", s / 60, s % 60);
  return buf;
}

std::string rate(double tokensPerSecond) {
  if (tokensPerSecond >= 1e6)
    return shortNum(tokensPerSecond / 1e6, "%.2fM");
  if (tokensPerSecond >= 1e4)
    return shortNum(tokensPerSecond / 1e3, "%.1fk");
  return shortNum(tokensPerSecond, "%.0f");
}

Status makeDirs(const std::string &dir) {
  if (dir.empty())
    return invalidArgument("empty checkpoint directory");
  std::string path;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    path = dir.substr(0, pos);
    if (path.empty() || path == "/")
      continue;
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
      return unavailable(path +
                         ": cannot create directory: " + std::strerror(errno));
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return invalidArgument(dir + ": not a directory");
  return Status::ok();
}

/// The train function's signature, checked once.
struct TrainSignature {
  const ArgSpec *tokens = nullptr;
  const ArgSpec *targets = nullptr;
  const ArgSpec *lr = nullptr;
  const ArgSpec *step = nullptr;
  std::vector<const ArgSpec *> persistent; ///< Params and state.
  bool hasGradNorm = false;
};

StatusOr<TrainSignature> checkSignature(const Executable &exe,
                                        const FunctionPlan &f) {
  TrainSignature sig;
  std::string fn = exe.source() + ": function " + quote(f.name);
  for (const ArgSpec &a : f.args) {
    if (a.kind != ArgKind::kInput) {
      sig.persistent.push_back(&a);
      continue;
    }
    if (a.name == "input.tokens")
      sig.tokens = &a;
    else if (a.name == "input.targets")
      sig.targets = &a;
    else if (a.name == "input.lr")
      sig.lr = &a;
    else if (a.name == "input.step")
      sig.step = &a;
    else
      return invalidArgument(fn + ": input " + quote(a.name) +
                             " cannot be provided by the trainer (it "
                             "provides input.tokens, input.targets, "
                             "input.lr and input.step)");
  }
  auto isIndex = [](const ArgSpec *a) {
    return a->dtype == ElementType::kI64 || a->dtype == ElementType::kI32;
  };
  if (!sig.tokens || !sig.targets)
    return invalidArgument(fn + " is not a train step: it needs inputs "
                                "'input.tokens' and 'input.targets'");
  if (!isIndex(sig.tokens) || sig.tokens->shape.size() != 2 ||
      sig.tokens->shape[0] <= 0 || sig.tokens->shape[1] <= 0)
    return invalidArgument(fn +
                           ": input.tokens must be i64 or i32 [B, L], "
                           "not " +
                           std::string(elementTypeName(sig.tokens->dtype)) +
                           " " + shapeToString(sig.tokens->shape));
  if (sig.targets->dtype != sig.tokens->dtype ||
      sig.targets->shape != sig.tokens->shape)
    return invalidArgument(fn + ": input.targets must have input.tokens' "
                                "dtype and shape");
  if (sig.lr &&
      (!sig.lr->shape.empty() || (sig.lr->dtype != ElementType::kF32 &&
                                  sig.lr->dtype != ElementType::kF64)))
    return invalidArgument(fn + ": input.lr must be an f32 or f64 scalar");
  if (sig.step && (!sig.step->shape.empty() || !isIndex(sig.step)))
    return invalidArgument(fn + ": input.step must be an i64 or i32 scalar");
  const TensorSpec *loss = nullptr;
  for (const TensorSpec &r : f.results) {
    if (r.name == "output.loss")
      loss = &r;
    if (r.name == "output.grad_norm")
      sig.hasGradNorm = true;
  }
  if (!loss || loss->numel() != 1 || isIntegerType(loss->dtype))
    return invalidArgument(fn + " has no float scalar result 'output.loss'");
  return sig;
}

void putScalar(HostTensor &t, double v) {
  switch (t.dtype()) {
  case ElementType::kF32:
    *t.dataAs<float>() = float(v);
    break;
  case ElementType::kF64:
    *t.dataAs<double>() = v;
    break;
  case ElementType::kI64:
    *t.dataAs<int64_t>() = int64_t(v);
    break;
  case ElementType::kI32:
    *t.dataAs<int32_t>() = int32_t(v);
    break;
  default:
    break;
  }
}

/// Settings stored in a checkpoint and taken from it on resume.
struct Settings {
  int64_t steps = 0;
  uint64_t seed = 0;
  double lr = 3e-4;
  double minLrRatio = 0.1;
  int64_t warmup = 0;
};

bool parseInt(const std::map<std::string, std::string> &m, const char *key,
              int64_t &out) {
  auto it = m.find(key);
  if (it == m.end())
    return false;
  char *end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (!end || *end || it->second.empty())
    return false;
  out = v;
  return true;
}

bool parseReal(const std::map<std::string, std::string> &m, const char *key,
               double &out) {
  auto it = m.find(key);
  if (it == m.end())
    return false;
  char *end = nullptr;
  out = std::strtod(it->second.c_str(), &end);
  return end && !*end && !it->second.empty();
}

class Trainer {
public:
  Trainer(const Executable &exe, const TrainOptions &opt)
      : exe_(exe), opt_(opt) {}

  StatusOr<TrainResult> run();

private:
  void note(const std::string &msg) {
    endProgressLine();
    std::fprintf(opt_.err, "gecko-run: %s\n", msg.c_str());
    std::fflush(opt_.err);
  }
  void endProgressLine() {
    if (progressDrawn_) {
      std::fputc('\n', opt_.out);
      progressDrawn_ = false;
    }
  }
  Status loadInitialState();
  Status resumeFromCheckpoint(bool &resumed);
  Status saveCheckpoint(int64_t stepsDone, double lastLoss);
  Status openMetrics();
  void report(const StepRecord &r, bool force);

  const Executable &exe_;
  const TrainOptions &opt_;
  const FunctionPlan *f_ = nullptr;
  TrainSignature sig_;
  std::unique_ptr<TokenData> data_;
  std::string modelHash_;
  Settings settings_;
  TensorMap model_;
  int64_t startStep_ = 0;
  std::string lastCheckpoint_;
  int64_t lastCheckpointStep_ = -1;
  std::FILE *metrics_ = nullptr;
  std::vector<std::pair<double, double>> curve_;
  bool progressDrawn_ = false;
  double lastDraw_ = -1;
  int64_t tokensPerStep_ = 0;
  double elapsed_ = 0;
};

Status Trainer::resumeFromCheckpoint(bool &resumed) {
  resumed = false;
  auto list = listCheckpoints(opt_.checkpointDir);
  if (list.empty()) {
    note("no checkpoint in " + opt_.checkpointDir + "; starting from scratch");
    return Status::ok();
  }
  std::vector<std::string> rejected;
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    const std::string &path = it->second;
    StatusOr<Checkpoint> ck = readCheckpointFile(path);
    std::string problem;
    if (!ck.isOk()) {
      problem = ck.status().message();
    } else {
      auto &md = ck->metadata;
      auto hash = md.find("model_hash");
      if (md["format"] != "gecko-train-checkpoint" || hash == md.end())
        problem = path + ": not a Gecko training checkpoint";
      else if (hash->second != modelHash_)
        return failedPrecondition(
            path + " was written for a different model (model hash " +
            hash->second + ", this artifact's is " + modelHash_ +
            "); use another --checkpoint-dir");
      int64_t step = 0;
      if (problem.empty() && (!parseInt(md, "step", step) || step != it->first))
        problem = path + ": metadata step does not match the file name";
      for (const ArgSpec *a : sig_.persistent) {
        if (!problem.empty())
          break;
        auto t = ck->tensors.find(a->name);
        if (t == ck->tensors.end())
          problem =
              path + ": lacks " + argKindName(a->kind) + " " + quote(a->name);
        else if (t->second.dtype() != a->dtype || t->second.shape() != a->shape)
          problem = path + ": " + quote(a->name) +
                    " has the wrong dtype or "
                    "shape";
      }
    }
    if (!problem.empty()) {
      note("warning: checkpoint " + path + " is unusable: " + problem +
           (std::next(it) != list.rend() ? "; trying the previous one" : ""));
      rejected.push_back(path);
      continue;
    }
    auto &md = ck->metadata;
    startStep_ = it->first;
    int64_t v;
    double d;
    if (!opt_.steps && parseInt(md, "total_steps", v))
      settings_.steps = v;
    if (!opt_.seed && parseInt(md, "seed", v))
      settings_.seed = uint64_t(v);
    if (!opt_.lr && parseReal(md, "lr", d))
      settings_.lr = d;
    if (!opt_.minLrRatio && parseReal(md, "min_lr_ratio", d))
      settings_.minLrRatio = d;
    if (!opt_.warmup && parseInt(md, "warmup", v))
      settings_.warmup = v;
    auto differs = [&](const char *key, const std::string &now) {
      auto m = md.find(key);
      if (m != md.end() && m->second != now)
        note(std::string("note: ") + key + " is " + now +
             ", the checkpoint was written with " + m->second);
    };
    differs("total_steps", std::to_string(settings_.steps));
    differs("seed", std::to_string(settings_.seed));
    differs("lr", num(settings_.lr));
    differs("min_lr_ratio", num(settings_.minLrRatio));
    differs("warmup", std::to_string(settings_.warmup));
    differs("data_bytes", std::to_string(data_->fileBytes()));
    for (const ArgSpec *a : sig_.persistent)
      model_[a->name] = std::move(ck->tensors[a->name]);
    lastCheckpoint_ = path;
    lastCheckpointStep_ = startStep_;
    resumed = true;
    return Status::ok();
  }
  return dataLoss("no usable checkpoint in " + opt_.checkpointDir + " (" +
                  std::to_string(rejected.size()) +
                  " rejected; see the warnings above)");
}

Status Trainer::loadInitialState() {
  std::string fn = exe_.source() + ": function " + quote(f_->name);
  if (!opt_.weightsPath.empty()) {
    GECKO_ASSIGN_OR_RETURN(SafetensorsFile w,
                           SafetensorsFile::open(opt_.weightsPath));
    std::vector<std::string> names;
    for (const ArgSpec *a : sig_.persistent)
      names.push_back(a->name);
    GECKO_ASSIGN_OR_RETURN(TensorMap loaded, loadTensors(w, names));
    for (auto &kv : loaded)
      model_[kv.first] = std::move(kv.second);
  }
  std::vector<std::string> missing;
  for (const ArgSpec *a : sig_.persistent) {
    if (model_.count(a->name))
      continue;
    if (a->kind == ArgKind::kState) {
      GECKO_ASSIGN_OR_RETURN(model_[a->name],
                             HostTensor::zeros(a->dtype, a->shape));
    } else if (a->init) {
      StatusOr<HostTensor> t = initializeTensor(*a, *a->init, settings_.seed);
      if (!t.isOk())
        return t.status().withContext(fn);
      model_[a->name] = std::move(t).value();
    } else {
      missing.push_back(a->name);
    }
  }
  if (!missing.empty()) {
    std::string list;
    for (const std::string &m : missing)
      list += (list.empty() ? "" : ", ") + quote(m);
    return invalidArgument(
        fn + ": param" + (missing.size() == 1 ? " " : "s ") + list +
        (opt_.weightsPath.empty()
             ? " ha" + std::string(missing.size() == 1 ? "s" : "ve") +
                   " no init spec in the plan; pass --weights"
             : " missing from " + opt_.weightsPath +
                   " and without an init spec in the plan"));
  }
  // Every persistent tensor must match the plan (a --weights file may not).
  std::string problems;
  for (const ArgSpec *a : sig_.persistent) {
    const HostTensor &t = model_.at(a->name);
    if (t.dtype() != a->dtype || t.shape() != a->shape)
      problems += std::string("\n  ") + argKindName(a->kind) + " " +
                  quote(a->name) + " is " + elementTypeName(t.dtype()) + " " +
                  shapeToString(t.shape()) + ", the plan expects " +
                  elementTypeName(a->dtype) + " " + shapeToString(a->shape);
  }
  if (!problems.empty())
    return invalidArgument(opt_.weightsPath + " does not fit " + fn + ":" +
                           problems);
  return Status::ok();
}

Status Trainer::saveCheckpoint(int64_t stepsDone, double lastLoss) {
  std::map<std::string, std::string> md = {
      {"format", "gecko-train-checkpoint"},
      {"format_version", "1"},
      {"producer", "gecko-run " GECKO_VERSION_STRING},
      {"function", f_->name},
      {"model_hash", modelHash_},
      {"step", std::to_string(stepsDone)},
      {"total_steps", std::to_string(settings_.steps)},
      {"seed", std::to_string(settings_.seed)},
      {"lr", num(settings_.lr)},
      {"min_lr_ratio", num(settings_.minLrRatio)},
      {"warmup", std::to_string(settings_.warmup)},
      {"data_path", data_->path()},
      {"data_bytes", std::to_string(data_->fileBytes())},
      {"data_tokens", std::to_string(data_->size())},
      {"data_format", data_->formatName()},
      {"batch_rng", "philox4x32-10 key=streamKey(seed, 'data') "
                    "counter=(step, row); next step " +
                        std::to_string(stepsDone)},
      {"loss", num(lastLoss)},
  };
  // Only the plan's params and state: write them without copying.
  TensorMap subset;
  for (const ArgSpec *a : sig_.persistent)
    subset[a->name] = std::move(model_[a->name]);
  std::string path = opt_.checkpointDir + "/" + checkpointFileName(stepsDone);
  Status s = writeCheckpointFile(path, subset, md);
  for (auto &kv : subset)
    model_[kv.first] = std::move(kv.second);
  GECKO_RETURN_IF_ERROR(s);
  lastCheckpoint_ = path;
  lastCheckpointStep_ = stepsDone;
  // Keep the newest `keepCheckpoints`; the one just written is the newest.
  auto list = listCheckpoints(opt_.checkpointDir);
  int keep = std::max(1, opt_.keepCheckpoints);
  for (size_t i = 0; i + size_t(keep) < list.size(); ++i)
    if (list[i].second != path)
      ::unlink(list[i].second.c_str());
  return Status::ok();
}

Status Trainer::openMetrics() {
  if (opt_.metricsPath.empty())
    return Status::ok();
  // On resume keep the records up to the checkpoint (later ones belong to
  // steps that are about to be redone) and collect them for the plot.
  std::string kept;
  if (startStep_ > 0) {
    std::ifstream in(opt_.metricsPath);
    std::string line;
    while (std::getline(in, line)) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("step") ||
          !j["step"].is_number_integer())
        continue;
      int64_t step = j["step"].get<int64_t>();
      if (step > startStep_)
        continue;
      kept += line + "\n";
      if (j.contains("loss") && j["loss"].is_number())
        curve_.emplace_back(double(step), j["loss"].get<double>());
    }
  }
  metrics_ = std::fopen(opt_.metricsPath.c_str(), "w");
  if (!metrics_)
    return unavailable(opt_.metricsPath +
                       ": cannot write: " + std::strerror(errno));
  std::fputs(kept.c_str(), metrics_);
  std::fflush(metrics_);
  return Status::ok();
}

void Trainer::report(const StepRecord &r, bool force) {
  if (opt_.quiet)
    return;
  int64_t total = settings_.steps;
  int64_t doneThisRun = r.step - startStep_;
  int64_t end = opt_.stopAt > 0 ? std::min(total, opt_.stopAt) : total;
  double eta = doneThisRun > 0 ? r.elapsedSeconds / double(doneThisRun) *
                                     double(end - r.step)
                               : 0;
  double avgRate =
      r.elapsedSeconds > 0
          ? double(doneThisRun) * double(tokensPerStep_) / r.elapsedSeconds
          : r.tokensPerSecond;
  if (opt_.progressBar) {
    // Redraw at most 10 times a second (and on the first and last step).
    if (!force && r.elapsedSeconds - lastDraw_ < 0.1)
      return;
    lastDraw_ = r.elapsedSeconds;
    const int width = 24;
    int filled = total > 0 ? int(double(r.step) / double(total) * width) : 0;
    std::string bar(size_t(filled), '=');
    if (filled < width)
      bar += '>' + std::string(size_t(width - filled - 1), ' ');
    std::fprintf(opt_.out,
                 "\rstep %lld/%lld [%s] loss %.4f | %s tok/s | ETA %s\033[K",
                 (long long)r.step, (long long)total, bar.c_str(), r.loss,
                 rate(avgRate).c_str(), duration(eta).c_str());
    std::fflush(opt_.out);
    progressDrawn_ = true;
    return;
  }
  if (!force && opt_.logEvery > 0 && r.step % opt_.logEvery != 0)
    return;
  std::fprintf(opt_.out,
               "step %lld/%lld  loss %.6f  grad_norm %.4g  lr %.3e  %s tok/s  "
               "elapsed %s  eta %s\n",
               (long long)r.step, (long long)total, r.loss, r.gradNorm, r.lr,
               rate(avgRate).c_str(), duration(r.elapsedSeconds).c_str(),
               duration(eta).c_str());
  std::fflush(opt_.out);
}

StatusOr<TrainResult> Trainer::run() {
  using Clock = std::chrono::steady_clock;
  gStopRequested = 0;
  GECKO_ASSIGN_OR_RETURN(f_, exe_.function(opt_.function));
  GECKO_ASSIGN_OR_RETURN(sig_, checkSignature(exe_, *f_));
  modelHash_ = modelSignatureHash(exe_.plan(), *f_);
  if (opt_.checkpointDir.empty())
    return invalidArgument("a checkpoint directory is required");

  GECKO_ASSIGN_OR_RETURN(data_, TokenData::open(opt_.dataPath));
  for (const ArgSpec *a : {sig_.tokens, sig_.targets})
    if (a->range) {
      Status s = data_->checkRange(a->range->lo, a->range->hi);
      if (!s.isOk())
        return Status(s.code(), s.message() + " (the range of " +
                                    quote(a->name) + " in " + exe_.source() +
                                    ")");
    }
  int64_t batch = sig_.tokens->shape[0], seqLen = sig_.tokens->shape[1];
  tokensPerStep_ = batch * seqLen;
  if (data_->size() < seqLen + 1)
    return failedPrecondition(
        data_->path() + ": " + std::to_string(data_->size()) +
        " tokens are too few for one training window of " +
        std::to_string(seqLen + 1) + " (sequence length " +
        std::to_string(seqLen) + " + 1)");

  GECKO_RETURN_IF_ERROR(makeDirs(opt_.checkpointDir));
  if (opt_.steps)
    settings_.steps = *opt_.steps;
  if (opt_.seed)
    settings_.seed = *opt_.seed;
  if (opt_.lr)
    settings_.lr = *opt_.lr;
  if (opt_.minLrRatio)
    settings_.minLrRatio = *opt_.minLrRatio;
  if (opt_.warmup)
    settings_.warmup = *opt_.warmup;

  bool resumed = false;
  if (opt_.resume) {
    GECKO_RETURN_IF_ERROR(resumeFromCheckpoint(resumed));
  } else if (!listCheckpoints(opt_.checkpointDir).empty()) {
    return failedPrecondition(
        opt_.checkpointDir + " already holds checkpoints (newest " +
        listCheckpoints(opt_.checkpointDir).back().second +
        "); pass --resume to continue from it, or use another directory");
  }
  if (settings_.steps <= 0)
    return invalidArgument("the number of steps must be positive");
  if (!resumed)
    GECKO_RETURN_IF_ERROR(loadInitialState());
  GECKO_RETURN_IF_ERROR(openMetrics());
  struct CloseMetrics {
    std::FILE *&f;
    ~CloseMetrics() {
      if (f)
        std::fclose(f);
      f = nullptr;
    }
  } closeMetrics{metrics_};

  LrSchedule schedule{settings_.lr, settings_.minLrRatio, settings_.warmup,
                      settings_.steps};
  GECKO_ASSIGN_OR_RETURN(
      HostTensor tokens,
      HostTensor::zeros(sig_.tokens->dtype, sig_.tokens->shape));
  TensorMap inputs;
  inputs.emplace("input.tokens", std::move(tokens));
  GECKO_ASSIGN_OR_RETURN(
      inputs["input.targets"],
      HostTensor::zeros(sig_.targets->dtype, sig_.targets->shape));
  if (sig_.lr) {
    GECKO_ASSIGN_OR_RETURN(inputs["input.lr"],
                           HostTensor::zeros(sig_.lr->dtype, {}));
  }
  if (sig_.step) {
    GECKO_ASSIGN_OR_RETURN(inputs["input.step"],
                           HostTensor::zeros(sig_.step->dtype, {}));
  }

  TrainResult result;
  result.startStep = startStep_;
  int64_t end = settings_.steps;
  if (opt_.stopAt > 0)
    end = std::min(end, opt_.stopAt);
  if (!opt_.quiet)
    std::fprintf(opt_.out,
                 "training %s (%s) on %s: %lld %s tokens, batch %lld x %lld, "
                 "steps %lld..%lld of %lld, lr %.3g (warmup %lld, min ratio "
                 "%.3g), seed %llu%s\n",
                 exe_.source().c_str(), f_->name.c_str(), data_->path().c_str(),
                 (long long)data_->size(), data_->formatName(),
                 (long long)batch, (long long)seqLen, (long long)startStep_ + 1,
                 (long long)end, (long long)settings_.steps, settings_.lr,
                 (long long)settings_.warmup, settings_.minLrRatio,
                 (unsigned long long)settings_.seed,
                 resumed ? (", resumed from " + lastCheckpoint_).c_str() : "");

  Clock::time_point start = Clock::now();
  double lastLoss = NAN;
  int64_t step = startStep_;
  for (; step < end; ++step) {
    Clock::time_point stepStart = Clock::now();
    GECKO_RETURN_IF_ERROR(fillBatch(*data_, settings_.seed, step,
                                    inputs["input.tokens"],
                                    inputs["input.targets"]));
    double lr = schedule.at(step);
    if (sig_.lr)
      putScalar(inputs["input.lr"], lr);
    if (sig_.step)
      putScalar(inputs["input.step"], double(step + 1));
    StatusOr<TensorMap> out = exe_.run(f_->name, model_, inputs);
    if (!out.isOk()) {
      endProgressLine();
      return out.status();
    }
    double loss = out->at("output.loss").elementAsDouble(0);
    double gradNorm =
        sig_.hasGradNorm ? out->at("output.grad_norm").elementAsDouble(0) : NAN;
    if (!std::isfinite(loss)) {
      endProgressLine();
      return failedPrecondition(
          "loss is " + std::string(std::isnan(loss) ? "NaN" : "infinite") +
          " at step " + std::to_string(step + 1) + " (lr " + shortNum(lr) +
          "); training stopped without applying that step" +
          (lastCheckpoint_.empty()
               ? "; no checkpoint was written"
               : "; the last good checkpoint is " + lastCheckpoint_));
    }
    for (auto &kv : *out) {
      std::string target = nextResultTarget(kv.first);
      if (!target.empty())
        model_[target] = std::move(kv.second);
    }
    Clock::time_point stepEnd = Clock::now();
    double stepSeconds =
        std::chrono::duration<double>(stepEnd - stepStart).count();
    elapsed_ = std::chrono::duration<double>(stepEnd - start).count();
    lastLoss = loss;
    StepRecord rec;
    rec.step = step + 1;
    rec.loss = loss;
    rec.gradNorm = gradNorm;
    rec.lr = lr;
    rec.tokensPerSecond =
        stepSeconds > 0 ? double(batch * seqLen) / stepSeconds : 0;
    rec.elapsedSeconds = elapsed_;
    curve_.emplace_back(double(rec.step), loss);
    if (metrics_) {
      nlohmann::ordered_json j;
      j["step"] = rec.step;
      j["loss"] = rec.loss;
      if (std::isfinite(rec.gradNorm))
        j["grad_norm"] = rec.gradNorm;
      else
        j["grad_norm"] = nullptr;
      j["lr"] = rec.lr;
      j["tokens_per_s"] = rec.tokensPerSecond;
      j["elapsed_s"] = rec.elapsedSeconds;
      std::fprintf(metrics_, "%s\n", j.dump().c_str());
      std::fflush(metrics_);
    }
    report(rec, step == startStep_ || step + 1 == end);
    if (opt_.onStep)
      opt_.onStep(rec);
    int64_t done = step + 1;
    if (opt_.checkpointEvery > 0 && done % opt_.checkpointEvery == 0 &&
        done != end) {
      Status s = saveCheckpoint(done, loss);
      if (!s.isOk()) {
        endProgressLine();
        return s;
      }
    }
    if (gStopRequested && done < end) {
      result.interrupted = true;
      ++step;
      break;
    }
  }
  endProgressLine();
  if (step != lastCheckpointStep_)
    GECKO_RETURN_IF_ERROR(saveCheckpoint(step, lastLoss));
  result.endStep = step;
  result.lastLoss = lastLoss;
  result.lastCheckpoint = lastCheckpoint_;

  if (!opt_.plotPath.empty() && !curve_.empty()) {
    std::string svg = lossCurveSvg(curve_, "training loss: " + exe_.source());
    GECKO_RETURN_IF_ERROR(
        writeFileAtomically(opt_.plotPath, svg.data(), svg.size()));
  }
  if (!opt_.quiet) {
    int64_t ran = step - startStep_;
    std::fprintf(
        opt_.out,
        "%s after step %lld/%lld: %lld step%s in %s (%s tok/s), "
        "final loss %.6f\n",
        result.interrupted ? "interrupted" : "done", (long long)step,
        (long long)settings_.steps, (long long)ran, ran == 1 ? "" : "s",
        duration(elapsed_).c_str(),
        rate(elapsed_ > 0 ? double(ran * batch * seqLen) / elapsed_ : 0)
            .c_str(),
        lastLoss);
    std::fprintf(opt_.out, "checkpoint %s\n", lastCheckpoint_.c_str());
    if (!opt_.metricsPath.empty())
      std::fprintf(opt_.out, "metrics %s\n", opt_.metricsPath.c_str());
    if (!opt_.plotPath.empty() && !curve_.empty())
      std::fprintf(opt_.out, "plot %s\n", opt_.plotPath.c_str());
  }
  return result;
}

} // namespace

void requestTrainingStop() { gStopRequested = 1; }

bool trainingStopRequested() { return gStopRequested != 0; }

void installTrainingSigintHandler() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = onSigint;
  sa.sa_flags = SA_RESETHAND; // a second Ctrl-C terminates as usual
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
}

StatusOr<TrainResult> train(const Executable &exe,
                            const TrainOptions &options) {
  Trainer t(exe, options);
  return t.run();
}

} // namespace gecko
