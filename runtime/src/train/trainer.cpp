//===- trainer.cpp - The training loop behind `gecko-run train` -----------===//
//
// Binds an artifact's train function (forward, backward and optimizer in
// compiled code), feeds it deterministic batches and the learning rate,
// writes its `next:` results back into the params and state, and keeps
// atomic checkpoints from which a run resumes bit-exactly. With several
// ranks it runs data parallelism (grad, all-reduce, apply_gradients) or,
// with --chunk-parallel, chunk parallelism (chunk_loss and chunk_grad on
// this rank's piece of every sequence, the stream state sent forward and
// its cotangent backward, all-reduce, apply_gradients), optionally with
// data-parallel replicas of the chunk groups; docs/distributed.md.
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
#include <thread>
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
    if (!leader_)
      return;
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
  Status setUpDataParallel();
  Status setUpChunkParallel();
  StatusOr<TensorMap> chunkParallelStep(TensorMap &inputs, int64_t step,
                                        bool &stop);
  Status checkConsistency(int64_t stepsDone, const char *when);
  Status parseFaultInjection();
  void maybeInjectFault(int64_t step);
  Status resumeFromCheckpoint(bool &resumed);
  StatusOr<TensorMap> dataParallelStep(TensorMap &inputs, bool &stop);
  Status bindCalls();
  Status bindChunkCalls();
  Status chunkMessage(bool isSend, BoundCall &call,
                      const std::vector<const ArgSpec *> &args,
                      const char *prefix, size_t skip,
                      std::vector<unsigned char> &buf, TensorMap &staging,
                      int peer, int tag, const std::string &what);
  Status setUpOverlap();
  StatusOr<TensorMap> singleStep(TensorMap &inputs);
  Status commitStep();
  Status syncModel();
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

  // Data parallelism: the communicator (a local one when none is given),
  // and with more than one rank the grad and apply_gradients functions and
  // the tensors the plan says to all-reduce.
  std::unique_ptr<Communicator> ownComm_;
  Communicator *comm_ = nullptr;
  bool leader_ = true; ///< Rank 0: the only one that writes and prints.
  bool quiet_ = false;
  bool dp_ = false;
  const FunctionPlan *gradF_ = nullptr;
  const FunctionPlan *applyF_ = nullptr;
  std::vector<std::string> reduced_;
  bool reduceMean_ = true;
  bool deviceReduce_ = false; ///< The gradients are reduced by NCCL.
  /// The all-reduce overlaps grad (TrainOptions::overlap): buckets of
  /// about bucketBytes in grad's signal order, each reduced from the
  /// handler of the signal of its last tensor (bucketsAt_[id]).
  bool overlap_ = false;
  struct GradBucket {
    std::vector<BucketTensor> tensors;
    size_t bytes = 0;
  };
  std::vector<GradBucket> buckets_;
  std::vector<std::vector<size_t>> bucketsAt_;
  double inGradSeconds_ = 0; ///< Spent in the signal handlers this step.
  // The calls, bound once after the initial state is loaded: the params,
  // the optimizer state and the gradients stay in their buffers (on the GPU
  // for a cuda artifact) from step to step, and only the step's inputs and
  // scalar results cross to the host. model_ is refreshed from the buffers
  // for checkpoints and consistency checks (syncModel).
  std::unique_ptr<BoundCall> stepCall_, gradCall_, applyCall_;
  bool modelStale_ = false; ///< The buffers are newer than model_.
  /// Seconds of the last data-parallel step's phases (the metrics'
  /// "dp_phases"): grad, the gradient all-reduce, the loss and stop-flag
  /// all-reduce on the host, apply_gradients.
  /// With overlap, grad includes the collectives that ran inside it
  /// (inGrad: the time its signal handlers took: the blocking MPI
  /// all-reduces, or issuing the NCCL groups) and reduce is the tail wait
  /// after grad returned.
  struct {
    double grad = 0, reduce = 0, host = 0, apply = 0, inGrad = 0;
  } phases_;
  // Chunk parallelism: chunk_loss (gradF_ is chunk_grad), the stream state
  // args of chunk_loss and the state cotangent inputs of chunk_grad, in
  // plan order (what passes between ranks, packed in that order), the
  // piece length and the whole sequence's tokens and targets.
  bool cp_ = false;
  bool multi_ = false; ///< More than one rank (dp_ or cp_).
  /// The ranks per sequence (P), the data-parallel replicas (D; P x D is
  /// the job's size), this rank's piece (r) and replica (d):
  /// world rank = d P + r.
  int cpRanks_ = 1, cpReplicas_ = 1, cpPiece_ = 0, cpReplica_ = 0;
  const FunctionPlan *lossF_ = nullptr;
  std::vector<const ArgSpec *> streamState_;
  std::vector<const ArgSpec *> streamCotangents_;
  size_t stateBytes_ = 0, cotangentBytes_ = 0;
  /// chunk_loss bound like gradCall_ (chunk_grad) and applyCall_: the params
  /// live in applyCall_'s buffers, chunk_grad reads chunk_loss's state,
  /// tokens and targets, apply_gradients chunk_grad's gradients.
  std::unique_ptr<BoundCall> lossCall_;
  /// Host staging of the messages: the state received or sent, its
  /// cotangent, and the packed bytes (stateBytes_, cotangentBytes_).
  TensorMap stateIn_, cotangentIn_;
  std::vector<unsigned char> stateBuf_, cotangentBuf_;
  /// The messages go from device buffer to device buffer (NCCL).
  bool deviceMessages_ = false;
  /// Seconds of the last chunk-parallel step's phases (the metrics'
  /// "cp_phases_s"): chunk_loss, chunk_grad, waiting in send/recv, copying
  /// the messages between device and host, the gradient all-reduce, the
  /// loss and stop-flag all-reduce, apply_gradients.
  struct {
    double forward = 0, backward = 0, messages = 0, staging = 0, reduce = 0,
           host = 0, apply = 0;
  } cpPhases_;
  int64_t pieceLen_ = 0;
  HostTensor fullTokens_, fullTargets_;
  FunctionPlan persistentPlan_;
  std::string faultKind_; ///< "", "kill" or "hang".
  int faultRank_ = -1;
  int64_t faultStep_ = 0;
};

/// Finds `name` in `f`'s args.
const ArgSpec *findArg(const FunctionPlan &f, const std::string &name) {
  for (const ArgSpec &a : f.args)
    if (a.name == name)
      return &a;
  return nullptr;
}

/// Finds `name` in `f`'s results.
const TensorSpec *findResult(const FunctionPlan &f, const std::string &name) {
  for (const TensorSpec &r : f.results)
    if (r.name == name)
      return &r;
  return nullptr;
}

Status Trainer::setUpDataParallel() {
  std::string src = exe_.source();
  auto need = [&](const char *name) -> StatusOr<const FunctionPlan *> {
    const FunctionPlan *f = exe_.plan().findFunction(name);
    if (!f)
      return failedPrecondition(
          src + " has no function '" + name +
          "', which data-parallel "
          "training over " +
          std::to_string(comm_->size()) +
          " ranks needs; compile it with gecko-compile --mode train "
          "--data-parallel");
    return f;
  };
  GECKO_ASSIGN_OR_RETURN(gradF_, need("grad"));
  GECKO_ASSIGN_OR_RETURN(applyF_, need("apply_gradients"));
  std::string gfn = src + ": function 'grad'", afn = src + ": function "
                                                           "'apply_gradients'";
  // grad: the train step's tokens and targets, and its params.
  for (const ArgSpec &a : gradF_->args) {
    if (a.kind == ArgKind::kInput) {
      const ArgSpec *mine = a.name == "input.tokens"    ? sig_.tokens
                            : a.name == "input.targets" ? sig_.targets
                                                        : nullptr;
      if (!mine)
        return invalidArgument(gfn + ": input " + quote(a.name) +
                               " cannot be provided by the trainer");
      if (mine->dtype != a.dtype || mine->shape != a.shape)
        return invalidArgument(gfn + ": " + quote(a.name) +
                               " differs from the train step's");
    } else if (!findArg(*f_, a.name)) {
      return invalidArgument(gfn + ": " + argKindName(a.kind) + " " +
                             quote(a.name) + " is not an argument of " +
                             quote(f_->name));
    }
  }
  // apply_gradients: one collective over the gradients, lr, step, and the
  // train step's params and state.
  if (applyF_->collectives.size() != 1)
    return invalidArgument(afn +
                           " must have exactly one collective (the "
                           "gradient all-reduce), not " +
                           std::to_string(applyF_->collectives.size()));
  const CollectiveSpec &c = applyF_->collectives[0];
  if (c.op != "all_reduce" || c.group != "data")
    return invalidArgument(afn + ": collective " + c.op + " over group " +
                           c.group + " is not supported by the trainer");
  reduceMean_ = c.reduction == "mean";
  reduced_ = c.tensors;
  for (const ArgSpec &a : applyF_->args) {
    bool isReduced =
        std::find(reduced_.begin(), reduced_.end(), a.name) != reduced_.end();
    if (a.kind != ArgKind::kInput) {
      if (!findArg(*f_, a.name))
        return invalidArgument(afn + ": " + argKindName(a.kind) + " " +
                               quote(a.name) + " is not an argument of " +
                               quote(f_->name));
      continue;
    }
    if (a.name == "input.lr" || a.name == "input.step") {
      const ArgSpec *mine = a.name == "input.lr" ? sig_.lr : sig_.step;
      if (!mine || mine->dtype != a.dtype || !a.shape.empty())
        return invalidArgument(afn + ": " + quote(a.name) +
                               " differs from the train step's");
      continue;
    }
    if (!isReduced)
      return invalidArgument(afn + ": input " + quote(a.name) +
                             " is neither reduced nor provided by the "
                             "trainer");
    const TensorSpec *r = nullptr;
    for (const TensorSpec &t : gradF_->results)
      if (t.name == a.name)
        r = &t;
    if (!r || r->dtype != a.dtype || r->shape != a.shape)
      return invalidArgument(afn + ": the reduced input " + quote(a.name) +
                             " is not a result of 'grad' with its dtype and "
                             "shape");
  }
  // grad's ready signals, when it has them, make exactly the reduced
  // tensors final, each once (validatePlan: once at most).
  if (!gradF_->signals.empty()) {
    size_t signalled = 0;
    for (const SignalSpec &sg : gradF_->signals)
      for (const std::string &t : sg.tensors) {
        if (std::find(reduced_.begin(), reduced_.end(), t) == reduced_.end())
          return invalidArgument(gfn + ": ready signal " +
                                 std::to_string(sg.id) + " names " + quote(t) +
                                 ", which apply_gradients does not reduce");
        ++signalled;
      }
    if (signalled != reduced_.size())
      return invalidArgument(gfn + ": its ready signals name " +
                             std::to_string(signalled) + " of the " +
                             std::to_string(reduced_.size()) +
                             " tensors apply_gradients reduces");
  }
  return Status::ok();
}

/// Compares a CRC-32C of the params and state across ranks: every rank
/// contributes its CRC at its own slot of a vector summed over the ranks.
Status Trainer::checkConsistency(int64_t stepsDone, const char *when) {
  if (comm_->size() == 1)
    return Status::ok();
  GECKO_RETURN_IF_ERROR(syncModel());
  TensorMap view;
  for (const ArgSpec *a : sig_.persistent)
    view[a->name] = std::move(model_[a->name]);
  uint32_t crc = tensorsCrc32c(view);
  for (auto &kv : view)
    model_[kv.first] = std::move(kv.second);
  std::vector<double> crcs(size_t(comm_->size()), 0.0);
  crcs[size_t(comm_->rank())] = double(crc);
  GECKO_RETURN_IF_ERROR(comm_->allReduce(
      crcs.data(), int64_t(crcs.size()), ElementType::kF64, ReduceOp::kSum,
      std::string("the weight checksums (") + when + ")"));
  std::string differ, all;
  for (size_t r = 0; r < crcs.size(); ++r) {
    char buf[48];
    std::snprintf(buf, sizeof(buf), "%srank %zu %08llx", r ? ", " : "", r,
                  (unsigned long long)crcs[r]);
    all += buf;
    if (crcs[r] != crcs[0])
      differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  }
  if (!differ.empty())
    return internalError(std::string("the params and optimizer state diverged "
                                     "across ") +
                         (cp_ ? "chunk" : "data") + "-parallel ranks " +
                         std::string(when) + " (after step " +
                         std::to_string(stepsDone) + "): rank" +
                         (differ.find(',') == std::string::npos ? " " : "s ") +
                         differ + " differ from rank 0 (CRC-32C: " + all + ")");
  return Status::ok();
}

/// Binds the calls the steps run (see stepCall_) and uploads model_.
/// Data parallel: grad reads the params apply_gradients updates, and
/// apply_gradients reads the gradients grad writes, from shared buffers.
Status Trainer::bindCalls() {
  auto upload = [&](BoundCall &call) -> Status {
    for (const ArgSpec &a : call.function().args)
      if (a.kind != ArgKind::kInput && model_.count(a.name))
        GECKO_RETURN_IF_ERROR(call.setArg(a.name, model_.at(a.name)));
    return Status::ok();
  };
  if (cp_)
    return bindChunkCalls();
  if (!dp_) {
    GECKO_ASSIGN_OR_RETURN(stepCall_, exe_.bind(f_->name));
    return upload(*stepCall_);
  }
  GECKO_ASSIGN_OR_RETURN(gradCall_, exe_.bind(gradF_->name));
  GECKO_ASSIGN_OR_RETURN(applyCall_, exe_.bind(applyF_->name));
  GECKO_RETURN_IF_ERROR(upload(*applyCall_));
  for (const ArgSpec &a : gradF_->args) {
    if (a.kind == ArgKind::kInput)
      continue;
    if (findArg(*applyF_, a.name))
      GECKO_RETURN_IF_ERROR(
          gradCall_->shareBuffer(a.name, *applyCall_, a.name));
    else // Not updated by apply_gradients: constant over training.
      GECKO_RETURN_IF_ERROR(gradCall_->setArg(a.name, model_.at(a.name)));
  }
  for (const std::string &name : reduced_)
    GECKO_RETURN_IF_ERROR(applyCall_->shareBuffer(name, *gradCall_, name));
  deviceReduce_ = exe_.onCuda() && comm_->hasDeviceCollectives();
  if (comm_->hasDeviceCollectives() && !exe_.onCuda())
    return invalidArgument(std::string("the '") + comm_->backend() +
                           "' communicator reduces device memory, but " +
                           exe_.source() + " runs on the CPU");
  return setUpOverlap();
}

/// Decides whether the all-reduce overlaps grad, and if so forms the
/// buckets in signal order and installs grad's signal handler.
Status Trainer::setUpOverlap() {
  bool hasSignals = !gradF_->signals.empty();
  // In place in grad's buffers: host memory (CPU) or NCCL (CUDA). A cuda
  // artifact reduced through host copies (--dist mpi) cannot.
  bool inPlace = !exe_.onCuda() || deviceReduce_;
  using Overlap = TrainOptions::Overlap;
  if (opt_.overlap == Overlap::kOn && (!hasSignals || !inPlace))
    return failedPrecondition(
        std::string("--overlap on: ") +
        (!hasSignals
             ? exe_.source() +
                   ": function 'grad' raises no ready signals (compile the "
                   "artifact with this gecko-compile --data-parallel)"
             : std::string("the '") + comm_->backend() +
                   "' communicator reduces a cuda artifact's gradients "
                   "through host copies, after grad (use NCCL)"));
  // kAuto is off: on one host with NVLink (4 x H100) the NCCL kernels
  // running beside the backward slowed it by more than the 1-3% of the
  // step they hid (docs/perf.md, "Data parallelism").
  overlap_ = hasSignals && inPlace && opt_.overlap == Overlap::kOn;
  if (!overlap_)
    return Status::ok();
  buckets_.clear();
  bucketsAt_.assign(gradF_->signals.size(), {});
  GradBucket open;
  for (const SignalSpec &sg : gradF_->signals) {
    for (const std::string &name : sg.tensors) {
      const TensorSpec *r = findResult(*gradF_, name);
      GECKO_ASSIGN_OR_RETURN(void *p, gradCall_->buffer(name));
      open.tensors.push_back({p, r->numel(), r->dtype});
      open.bytes += size_t(r->byteSize());
      if (open.bytes >= opt_.bucketBytes) {
        bucketsAt_[sg.id].push_back(buckets_.size());
        buckets_.push_back(std::move(open));
        open = GradBucket();
      }
    }
    if (!open.tensors.empty() && &sg == &gradF_->signals.back()) {
      bucketsAt_[sg.id].push_back(buckets_.size());
      buckets_.push_back(std::move(open));
      open = GradBucket();
    }
  }
  gradCall_->setSignalHandler([this](unsigned id) -> Status {
    using Clock = std::chrono::steady_clock;
    Clock::time_point t0 = Clock::now();
    for (size_t b : bucketsAt_[id]) {
      std::string n =
          std::to_string(b + 1) + "/" + std::to_string(buckets_.size());
      // bucketedAllReduce appends its own "bucket i/n" (a bucket larger
      // than its staging buffer goes in pieces).
      // One bucket reads as the all-reduce after grad does.
      std::string what = buckets_.size() == 1 ? std::string("the gradients")
                         : deviceReduce_
                             ? "the gradients bucket " + n
                             : "the gradients (overlapped bucket " + n + ")";
      if (deviceReduce_)
        GECKO_RETURN_IF_ERROR(comm_->startAllReduceOnDevice(
            buckets_[b].tensors, reduceMean_, gradCall_->nativeStream(), what));
      else // In place in grad's host buffers, inside the call.
        GECKO_RETURN_IF_ERROR(bucketedAllReduce(*comm_, buckets_[b].tensors,
                                                opt_.bucketBytes, reduceMean_,
                                                what)
                                  .status());
    }
    inGradSeconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
    return Status::ok();
  });
  return Status::ok();
}

/// Copies the params and state from the bound buffers into model_ (after
/// steps have run). With several ranks every rank must call it: it only
/// reads local buffers, but the callers are collective.
Status Trainer::syncModel() {
  if (!modelStale_)
    return Status::ok();
  for (const ArgSpec *a : sig_.persistent) {
    BoundCall *from = !dp_ && !cp_                 ? stepCall_.get()
                      : findArg(*applyF_, a->name) ? applyCall_.get()
                                                   : nullptr;
    if (!from)
      continue; // Constant: model_ holds it.
    GECKO_ASSIGN_OR_RETURN(model_[a->name], from->read(a->name));
  }
  modelStale_ = false;
  return Status::ok();
}

/// The step's inputs in, one call of the train step, its scalar results
/// out (the `next:` results stay in their buffers until commitStep).
StatusOr<TensorMap> Trainer::singleStep(TensorMap &inputs) {
  for (const ArgSpec &a : f_->args)
    if (a.kind == ArgKind::kInput)
      GECKO_RETURN_IF_ERROR(stepCall_->setArg(a.name, inputs.at(a.name)));
  GECKO_RETURN_IF_ERROR(stepCall_->run());
  TensorMap out;
  GECKO_ASSIGN_OR_RETURN(out["output.loss"], stepCall_->result("output.loss"));
  if (sig_.hasGradNorm) {
    GECKO_ASSIGN_OR_RETURN(HostTensor norm,
                           stepCall_->result("output.grad_norm"));
    out["output.grad_norm"] = std::move(norm);
  }
  return out;
}

/// Makes the step's `next:` results the params and state of the next one.
Status Trainer::commitStep() {
  modelStale_ = true;
  return (dp_ || cp_ ? applyCall_ : stepCall_)->applyNextResults();
}

/// grad on this rank's rows, the all-reduce of the gradients (NCCL in
/// device memory, else bucketed on the host), the all-reduce of the loss
/// and the stop flag, then apply_gradients. Returns the mean loss as
/// "output.loss" (and apply_gradients' grad norm); `stop` becomes true on
/// every rank when any rank asked to stop.
StatusOr<TensorMap> Trainer::dataParallelStep(TensorMap &inputs, bool &stop) {
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  Clock::time_point t = Clock::now();
  for (const ArgSpec &a : gradF_->args)
    if (a.kind == ArgKind::kInput)
      GECKO_RETURN_IF_ERROR(gradCall_->setArg(a.name, inputs.at(a.name)));
  phases_.inGrad = 0;
  if (overlap_) {
    // grad's signal handlers reduce every bucket during the call (MPI:
    // done when it returns; NCCL: started on the communication stream).
    inGradSeconds_ = 0;
    GECKO_RETURN_IF_ERROR(gradCall_->run());
    phases_.grad = since(t);
    phases_.inGrad = inGradSeconds_;
    t = Clock::now();
    if (deviceReduce_)
      GECKO_RETURN_IF_ERROR(comm_->waitDeviceAllReduces(
          gradCall_->nativeStream(), "the gradients"));
  } else if (deviceReduce_) {
    // Waiting for grad costs nothing (the all-reduce waits for it anyway)
    // and separates the phases in the metrics.
    GECKO_RETURN_IF_ERROR(gradCall_->run());
    phases_.grad = since(t);
    t = Clock::now();
    std::vector<BucketTensor> tensors;
    for (const std::string &name : reduced_) {
      const TensorSpec *r = findResult(*gradF_, name);
      GECKO_ASSIGN_OR_RETURN(void *p, gradCall_->buffer(name));
      tensors.push_back({p, r->numel(), r->dtype});
    }
    GECKO_RETURN_IF_ERROR(comm_->allReduceOnDevice(
        tensors, reduceMean_, gradCall_->nativeStream(), "the gradients"));
  } else {
    GECKO_RETURN_IF_ERROR(gradCall_->run());
    phases_.grad = since(t);
    t = Clock::now();
    TensorMap grads;
    std::vector<BucketTensor> buckets;
    for (const std::string &name : reduced_) {
      GECKO_ASSIGN_OR_RETURN(HostTensor t, gradCall_->read(name));
      buckets.push_back({t.data(), t.numel(), t.dtype()});
      grads.emplace(name, std::move(t));
    }
    GECKO_RETURN_IF_ERROR(bucketedAllReduce(*comm_, buckets, opt_.bucketBytes,
                                            reduceMean_, "the gradients")
                              .status());
    // apply_gradients reads grad's result buffers: write the sums there.
    for (const std::string &name : reduced_)
      GECKO_RETURN_IF_ERROR(applyCall_->setArg(name, grads.at(name)));
  }
  phases_.reduce = since(t);
  t = Clock::now();
  GECKO_ASSIGN_OR_RETURN(HostTensor rankLoss, gradCall_->result("output.loss"));
  // The loss is a mean over the rank's B x L positions, so the mean over
  // ranks is the mean over the global batch.
  double stats[2] = {rankLoss.elementAsDouble(0), stop ? 1.0 : 0.0};
  GECKO_RETURN_IF_ERROR(comm_->allReduce(
      stats, 2, ElementType::kF64, ReduceOp::kSum, "the loss and stop flag"));
  stop = stats[1] > 0;
  double loss = stats[0] / double(comm_->size());
  phases_.host = since(t);
  t = Clock::now();
  TensorMap out;
  if (std::isfinite(loss)) {
    for (const ArgSpec &a : applyF_->args)
      if (a.kind == ArgKind::kInput && inputs.count(a.name))
        GECKO_RETURN_IF_ERROR(applyCall_->setArg(a.name, inputs.at(a.name)));
    GECKO_RETURN_IF_ERROR(applyCall_->run());
    if (findResult(*applyF_, "output.grad_norm")) {
      GECKO_ASSIGN_OR_RETURN(HostTensor norm,
                             applyCall_->result("output.grad_norm"));
      out["output.grad_norm"] = std::move(norm);
    }
  }
  phases_.apply = since(t);
  GECKO_ASSIGN_OR_RETURN(HostTensor lossTensor,
                         HostTensor::zeros(ElementType::kF64, {}));
  *lossTensor.dataAs<double>() = loss;
  out["output.loss"] = std::move(lossTensor);
  return out;
}

bool sameLayout(const TensorSpec &a, const TensorSpec &b) {
  return a.dtype == b.dtype && a.shape == b.shape;
}

/// The message tags of chunk parallelism (one message each way per step).
constexpr int kStateTag = 1, kCotangentTag = 2;

Status Trainer::setUpChunkParallel() {
  std::string src = exe_.source();
  auto need = [&](const char *name) -> StatusOr<const FunctionPlan *> {
    const FunctionPlan *f = exe_.plan().findFunction(name);
    if (!f)
      return failedPrecondition(src + " has no function '" + name +
                                "', which --chunk-parallel needs; compile it "
                                "with gecko-compile --mode chunk-train");
    return f;
  };
  GECKO_ASSIGN_OR_RETURN(lossF_, need("chunk_loss"));
  int ranks = comm_->size();
  cpRanks_ = opt_.chunkRanks > 0 ? opt_.chunkRanks : ranks;
  if (opt_.chunkRanks < 0 || ranks % cpRanks_ != 0)
    return invalidArgument(
        "--chunk-ranks " + std::to_string(opt_.chunkRanks) +
        " does not divide the job's " + std::to_string(ranks) +
        " ranks into data-parallel replicas of that many ranks each");
  cpReplicas_ = ranks / cpRanks_;
  cpPiece_ = comm_->rank() % cpRanks_;
  cpReplica_ = comm_->rank() / cpRanks_;
  GECKO_ASSIGN_OR_RETURN(gradF_, need("chunk_grad"));
  GECKO_ASSIGN_OR_RETURN(applyF_, need("apply_gradients"));
  std::string lfn = src + ": function 'chunk_loss'",
              gfn = src + ": function 'chunk_grad'",
              afn = src + ": function 'apply_gradients'";

  // apply_gradients: the optimizer on the gradients summed over the ranks.
  if (applyF_->collectives.size() != 1)
    return invalidArgument(afn +
                           " must have exactly one collective (the "
                           "gradient all-reduce), not " +
                           std::to_string(applyF_->collectives.size()));
  const CollectiveSpec &c = applyF_->collectives[0];
  if (c.op != "all_reduce" || c.group != "chunk" || c.reduction != "sum")
    return invalidArgument(
        afn + ": collective " + c.op + " (" + c.reduction + ") over group '" +
        c.group +
        "' is not chunk parallelism's all_reduce (sum) over group 'chunk'; "
        "compile the artifact with gecko-compile --mode chunk-train (a "
        "--data-parallel artifact trains without --chunk-parallel)");
  reduceMean_ = false;
  reduced_ = c.tensors;
  TrainSignature sig;
  for (const ArgSpec &a : applyF_->args) {
    if (a.kind != ArgKind::kInput) {
      sig.persistent.push_back(&a);
      continue;
    }
    if (a.name == "input.lr" || a.name == "input.step") {
      (a.name == "input.lr" ? sig.lr : sig.step) = &a;
      continue;
    }
    if (std::find(reduced_.begin(), reduced_.end(), a.name) == reduced_.end())
      return invalidArgument(afn + ": input " + quote(a.name) +
                             " is neither reduced nor provided by the "
                             "trainer");
    const TensorSpec *r = findResult(*gradF_, a.name);
    if (!r || !sameLayout(*r, a))
      return invalidArgument(afn + ": the reduced input " + quote(a.name) +
                             " is not a result of 'chunk_grad' with its "
                             "dtype and shape");
  }
  if (sig.lr && (!sig.lr->shape.empty() || isIntegerType(sig.lr->dtype)))
    return invalidArgument(afn + ": input.lr must be a float scalar");
  if (sig.step && (!sig.step->shape.empty() || !isIntegerType(sig.step->dtype)))
    return invalidArgument(afn + ": input.step must be an integer scalar");
  sig.hasGradNorm = findResult(*applyF_, "output.grad_norm") != nullptr;

  // chunk_loss: this rank's tokens and targets, the params (the trained
  // ones are apply_gradients', the buffers only chunk_loss's: they join the
  // persistent tensors), the stream state; output.loss and the next state.
  streamState_.clear();
  for (const ArgSpec &a : lossF_->args) {
    const ArgSpec *applied = findArg(*applyF_, a.name);
    if (a.name == "input.tokens") {
      sig.tokens = &a;
    } else if (a.name == "input.targets") {
      sig.targets = &a;
    } else if (a.kind == ArgKind::kState && !applied) {
      streamState_.push_back(&a);
    } else if (a.kind == ArgKind::kParam &&
               (!applied || (applied->kind == ArgKind::kParam &&
                             sameLayout(*applied, a)))) {
      if (!applied)
        sig.persistent.push_back(&a);
    } else {
      return invalidArgument(lfn + ": " + argKindName(a.kind) + " " +
                             quote(a.name) +
                             " is neither an input the trainer provides, "
                             "the stream state, nor a param (of "
                             "'apply_gradients' with its dtype and shape)");
    }
  }
  if (!sig.tokens || !sig.targets || sig.tokens->shape.size() != 2 ||
      !isIntegerType(sig.tokens->dtype) ||
      !sameLayout(*sig.tokens, *sig.targets))
    return invalidArgument(lfn + " needs integer inputs 'input.tokens' and "
                                 "'input.targets' of one shape [B, L]");
  const TensorSpec *loss = findResult(*lossF_, "output.loss");
  if (!loss || loss->numel() != 1 || isIntegerType(loss->dtype))
    return invalidArgument(lfn + " has no float scalar result 'output.loss'");
  stateBytes_ = 0;
  for (const ArgSpec *a : streamState_) {
    const TensorSpec *next = findResult(*lossF_, "next:" + a->name);
    if (!next || !sameLayout(*next, *a))
      return invalidArgument(lfn + ": state " + quote(a->name) +
                             " has no result 'next:" + a->name +
                             "' of its dtype and shape");
    stateBytes_ += a->byteSize();
  }

  // chunk_grad: the same args plus the seeds; output.loss, the reduced
  // gradients and grad.<s> for every cotangent.<s> seed.
  streamCotangents_.clear();
  cotangentBytes_ = 0;
  for (const ArgSpec &a : gradF_->args) {
    if (a.kind == ArgKind::kInput && a.name.rfind("cotangent.", 0) == 0) {
      if (a.name == "cotangent.output.loss") {
        if (a.numel() != 1 || isIntegerType(a.dtype))
          return invalidArgument(gfn + ": cotangent.output.loss must be a "
                                       "float scalar");
        continue;
      }
      std::string state = a.name.substr(std::strlen("cotangent."));
      const ArgSpec *st = findArg(*lossF_, state);
      const TensorSpec *g = findResult(*gradF_, "grad." + state);
      if (!st || st->kind != ArgKind::kState || !sameLayout(*st, a) || !g ||
          !sameLayout(*g, a))
        return invalidArgument(gfn + ": input " + quote(a.name) +
                               " is not the cotangent of a state of "
                               "'chunk_loss' with a result 'grad." +
                               state + "'");
      streamCotangents_.push_back(&a);
      cotangentBytes_ += a.byteSize();
      continue;
    }
    const ArgSpec *mine = findArg(*lossF_, a.name);
    if (!mine || mine->kind != a.kind || !sameLayout(*mine, a))
      return invalidArgument(gfn + ": " + argKindName(a.kind) + " " +
                             quote(a.name) +
                             " is not an argument of 'chunk_loss' with its "
                             "kind, dtype and shape");
  }
  if (!findArg(*gradF_, "cotangent.output.loss"))
    return invalidArgument(gfn + " has no input 'cotangent.output.loss'");

  // Pieces of whole chunks: the state passed between ranks is the state at
  // a chunk boundary (attention history, working memory).
  pieceLen_ = sig.tokens->shape[1];
  nlohmann::json model = nlohmann::json::parse(exe_.plan().modelJson, nullptr,
                                               /*allow_exceptions=*/false);
  if (!model.is_discarded() && model.contains("chunk_size") &&
      model["chunk_size"].is_number_integer()) {
    int64_t chunk = model["chunk_size"].get<int64_t>();
    if (chunk > 0 && pieceLen_ % chunk != 0)
      return invalidArgument(
          lfn + ": the piece length " + std::to_string(pieceLen_) +
          " (input.tokens [B, L]) is not a multiple of the model's "
          "chunk_size " +
          std::to_string(chunk) +
          ": each rank must hold whole chunks; recompile with --mode "
          "chunk-train --seq-len a multiple of " +
          std::to_string(chunk));
  }
  // The persistent tensors as one function (the checkpoints' model hash
  // and messages): with the buffers, the same set and hash as train_step's
  // of a --mode train artifact of the model.
  persistentPlan_ = FunctionPlan();
  persistentPlan_.name = applyF_->name;
  for (const ArgSpec *a : sig.persistent)
    persistentPlan_.args.push_back(*a);
  sig_ = sig;
  f_ = &persistentPlan_;
  return Status::ok();
}

/// Copies columns [col0, col0 + piece.shape[1]) of every row of `full` into
/// `piece` (both [B, *] of one dtype).
void copyColumns(const HostTensor &full, HostTensor &piece, int64_t col0) {
  size_t width = elementTypeSize(full.dtype());
  int64_t rows = full.shape()[0], L = full.shape()[1], n = piece.shape()[1];
  for (int64_t b = 0; b < rows; ++b)
    std::memcpy(static_cast<unsigned char *>(piece.data()) +
                    size_t(b * n) * width,
                static_cast<const unsigned char *>(full.data()) +
                    size_t(b * L + col0) * width,
                size_t(n) * width);
}

/// Binds chunk_loss, chunk_grad and apply_gradients once and uploads
/// model_: apply_gradients owns the params and optimizer state (updated in
/// place by commitStep), chunk_loss reads the params from its buffers and
/// the buffers only chunk_loss has (constant) from its own, chunk_grad reads
/// every arg it shares with chunk_loss (params, the stream state, tokens
/// and targets) from chunk_loss's buffers, and apply_gradients reads the
/// gradients from chunk_grad's result buffers. The stream state and the
/// state cotangent seeds start zero-filled and are only written by received
/// messages, so rank 0 always starts from the zero state and the last rank
/// always seeds zero cotangents.
Status Trainer::bindChunkCalls() {
  GECKO_ASSIGN_OR_RETURN(lossCall_, exe_.bind(lossF_->name));
  GECKO_ASSIGN_OR_RETURN(gradCall_, exe_.bind(gradF_->name));
  GECKO_ASSIGN_OR_RETURN(applyCall_, exe_.bind(applyF_->name));
  for (const ArgSpec &a : applyF_->args)
    if (a.kind != ArgKind::kInput)
      GECKO_RETURN_IF_ERROR(applyCall_->setArg(a.name, model_.at(a.name)));
  for (const ArgSpec &a : lossF_->args) {
    if (a.kind == ArgKind::kInput ||
        std::find(streamState_.begin(), streamState_.end(), &a) !=
            streamState_.end())
      continue;
    if (findArg(*applyF_, a.name))
      GECKO_RETURN_IF_ERROR(
          lossCall_->shareBuffer(a.name, *applyCall_, a.name));
    else // A buffer apply_gradients does not update: constant.
      GECKO_RETURN_IF_ERROR(lossCall_->setArg(a.name, model_.at(a.name)));
  }
  for (const ArgSpec &a : gradF_->args)
    if (a.name.rfind("cotangent.", 0) != 0) // setUpChunkParallel: in chunk_loss
      GECKO_RETURN_IF_ERROR(gradCall_->shareBuffer(a.name, *lossCall_, a.name));
  for (const std::string &name : reduced_)
    GECKO_RETURN_IF_ERROR(applyCall_->shareBuffer(name, *gradCall_, name));
  // The pieces' gradients summed over every rank are the global batch's
  // when each piece's loss cotangent is 1/(P D) (sections 5.2 and 5.4 of
  // docs/distributed.md).
  const ArgSpec *seed = findArg(*gradF_, "cotangent.output.loss");
  GECKO_ASSIGN_OR_RETURN(HostTensor lossSeed,
                         HostTensor::zeros(seed->dtype, seed->shape));
  putScalar(lossSeed, 1.0 / double(cpRanks_ * cpReplicas_));
  GECKO_RETURN_IF_ERROR(gradCall_->setArg(seed->name, lossSeed));

  stateIn_.clear();
  cotangentIn_.clear();
  for (const ArgSpec *a : streamState_) {
    GECKO_ASSIGN_OR_RETURN(stateIn_[a->name],
                           HostTensor::zeros(a->dtype, a->shape));
  }
  for (const ArgSpec *a : streamCotangents_) {
    GECKO_ASSIGN_OR_RETURN(cotangentIn_[a->name],
                           HostTensor::zeros(a->dtype, a->shape));
  }
  stateBuf_.assign(stateBytes_, 0);
  cotangentBuf_.assign(cotangentBytes_, 0);
  if (comm_->hasDeviceCollectives() && !exe_.onCuda())
    return invalidArgument(std::string("the '") + comm_->backend() +
                           "' communicator reduces device memory, but " +
                           exe_.source() + " runs on the CPU");
  deviceReduce_ = exe_.onCuda() && comm_->hasDeviceCollectives();
  using Messages = TrainOptions::ChunkMessages;
  if (opt_.chunkMessages == Messages::kDevice && !deviceReduce_)
    return invalidArgument(
        std::string("--chunk-messages device needs a cuda artifact and the "
                    "NCCL communicator (--dist nccl); this run has ") +
        (exe_.onCuda() ? "a cuda" : "a cpu") + " artifact and the '" +
        comm_->backend() + "' communicator");
  deviceMessages_ = deviceReduce_ && opt_.chunkMessages != Messages::kHost;
  return Status::ok();
}

/// The device buffers of `call` named `prefix` + each arg's name less its
/// first `skip` characters (see packFrom), for Communicator::sendOnDevice
/// and recvOnDevice.
StatusOr<std::vector<BucketTensor>>
deviceTensors(const BoundCall &call, const std::vector<const ArgSpec *> &args,
              const char *prefix, size_t skip) {
  std::vector<BucketTensor> out;
  for (const ArgSpec *a : args) {
    GECKO_ASSIGN_OR_RETURN(void *p, call.buffer(prefix + a->name.substr(skip)));
    out.push_back({p, a->numel(), a->dtype});
  }
  return out;
}

/// Packs, in the order of `args`, the tensors of `call` named `prefix` +
/// the arg's name less its first `skip` characters ("next:stream.x" for
/// "stream.x", "grad.stream.x" for "cotangent.stream.x") into `buf`, which
/// holds exactly their bytes (read() copies each from the device).
Status packFrom(const BoundCall &call, const std::vector<const ArgSpec *> &args,
                const char *prefix, size_t skip,
                std::vector<unsigned char> &buf) {
  size_t at = 0;
  for (const ArgSpec *a : args) {
    GECKO_ASSIGN_OR_RETURN(HostTensor t,
                           call.read(prefix + a->name.substr(skip)));
    std::memcpy(buf.data() + at, t.data(), t.byteSize());
    at += t.byteSize();
  }
  return Status::ok();
}

/// The inverse of packFrom() for args: copies `buf` into the staging
/// tensors `into` and from there into `call`'s args of the same names.
Status unpackInto(BoundCall &call, const std::vector<const ArgSpec *> &args,
                  const std::vector<unsigned char> &buf, TensorMap &into) {
  size_t at = 0;
  for (const ArgSpec *a : args) {
    HostTensor &t = into.at(a->name);
    std::memcpy(t.data(), buf.data() + at, t.byteSize());
    at += t.byteSize();
    GECKO_RETURN_IF_ERROR(call.setArg(a->name, t));
  }
  return Status::ok();
}

/// One message of chunk parallelism with world rank `peer`: sends the
/// tensors of `call` named `prefix` + each of `args`' names less its first
/// `skip` characters (as packFrom), or receives into `call`'s args `args`.
/// With deviceMessages_ from device buffers to device buffers (NCCL, on
/// the calls' stream), else staged through the host: `buf` holds the
/// packed bytes and, on receive, `staging` the tensors for setArg. Adds
/// its time to cpPhases_ (the copies between device and host as staging).
Status Trainer::chunkMessage(bool isSend, BoundCall &call,
                             const std::vector<const ArgSpec *> &args,
                             const char *prefix, size_t skip,
                             std::vector<unsigned char> &buf,
                             TensorMap &staging, int peer, int tag,
                             const std::string &what) {
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  Clock::time_point t = Clock::now();
  if (deviceMessages_) {
    GECKO_ASSIGN_OR_RETURN(std::vector<BucketTensor> tensors,
                           deviceTensors(call, args, prefix, skip));
    Status s =
        isSend ? comm_->sendOnDevice(tensors, peer, call.nativeStream(), what)
               : comm_->recvOnDevice(tensors, peer, call.nativeStream(), what);
    cpPhases_.messages += since(t);
    return s;
  }
  if (isSend) {
    GECKO_RETURN_IF_ERROR(packFrom(call, args, prefix, skip, buf));
    cpPhases_.staging += since(t);
    t = Clock::now();
    Status s = comm_->send(buf.data(), buf.size(), peer, tag, what);
    cpPhases_.messages += since(t);
    return s;
  }
  GECKO_RETURN_IF_ERROR(comm_->recv(buf.data(), buf.size(), peer, tag, what));
  cpPhases_.messages += since(t);
  t = Clock::now();
  GECKO_RETURN_IF_ERROR(unpackInto(call, args, buf, staging));
  cpPhases_.staging += since(t);
  return Status::ok();
}

/// One step of chunk parallelism on piece r of P of a replica
/// (docs/distributed.md), on the bound calls (bindChunkCalls): chunk_loss
/// on piece r from the state piece r-1 sends (zeros for r = 0), the next
/// state to piece r+1; chunk_grad on the same state with the state
/// cotangents piece r+1 sends back (zeros for the last piece) and loss
/// cotangent 1/(P D), the state cotangents to piece r-1; then the sum
/// all-reduce of the gradients over all P D ranks (NCCL in device memory,
/// else bucketed on the host), the all-reduce of the piece losses and the
/// stop flag, and apply_gradients. The messages (578192 bytes each way for
/// the tiny model and one sequence) go GPU to GPU or through host memory
/// (chunkMessage; section 5.2 of docs/distributed.md).
StatusOr<TensorMap> Trainer::chunkParallelStep(TensorMap &inputs, int64_t step,
                                               bool &stop) {
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  cpPhases_ = {};
  // Piece r of P of replica d; its neighbours are the world ranks me - 1
  // and me + 1 (world rank me = d P + r).
  int r = cpPiece_, P = cpRanks_, me = comm_->rank();
  std::string at = " of step " + std::to_string(step + 1);
  for (const char *name : {"input.tokens", "input.targets"})
    GECKO_RETURN_IF_ERROR(lossCall_->setArg(name, inputs.at(name)));
  std::string state = "the stream state" + at,
              cotangent = "the stream state's cotangent" + at;
  size_t skip = std::strlen("cotangent.");
  if (r > 0)
    GECKO_RETURN_IF_ERROR(chunkMessage(/*isSend=*/false, *lossCall_,
                                       streamState_, "", 0, stateBuf_, stateIn_,
                                       me - 1, kStateTag, state));
  Clock::time_point t = Clock::now();
  GECKO_RETURN_IF_ERROR(lossCall_->run());
  cpPhases_.forward = since(t);
  if (r + 1 < P)
    GECKO_RETURN_IF_ERROR(chunkMessage(/*isSend=*/true, *lossCall_,
                                       streamState_, "next:", 0, stateBuf_,
                                       stateIn_, me + 1, kStateTag, state));

  // Backward on the same state (chunk_grad shares chunk_loss's buffers),
  // seeded with the cotangent of the next state; grad.<s> is the cotangent
  // of the state this piece started from.
  if (r + 1 < P)
    GECKO_RETURN_IF_ERROR(chunkMessage(
        /*isSend=*/false, *gradCall_, streamCotangents_, "", 0, cotangentBuf_,
        cotangentIn_, me + 1, kCotangentTag, cotangent));
  t = Clock::now();
  GECKO_RETURN_IF_ERROR(gradCall_->run());
  cpPhases_.backward = since(t);
  if (r > 0)
    GECKO_RETURN_IF_ERROR(chunkMessage(
        /*isSend=*/true, *gradCall_, streamCotangents_, "grad.", skip,
        cotangentBuf_, cotangentIn_, me - 1, kCotangentTag, cotangent));
  t = Clock::now();

  // The pieces' gradients (each with loss cotangent 1/(P D)) sum over all
  // P D ranks to the global batch's; its loss is the mean of the P D
  // piece losses (every piece has B x L positions).
  if (deviceReduce_) {
    std::vector<BucketTensor> tensors;
    for (const std::string &name : reduced_) {
      const TensorSpec *g = findResult(*gradF_, name);
      GECKO_ASSIGN_OR_RETURN(void *p, gradCall_->buffer(name));
      tensors.push_back({p, g->numel(), g->dtype});
    }
    GECKO_RETURN_IF_ERROR(comm_->allReduceOnDevice(
        tensors, /*mean=*/false, gradCall_->nativeStream(), "the gradients"));
  } else {
    TensorMap grads;
    std::vector<BucketTensor> buckets;
    for (const std::string &name : reduced_) {
      GECKO_ASSIGN_OR_RETURN(HostTensor g, gradCall_->read(name));
      buckets.push_back({g.data(), g.numel(), g.dtype()});
      grads.emplace(name, std::move(g));
    }
    GECKO_RETURN_IF_ERROR(bucketedAllReduce(*comm_, buckets, opt_.bucketBytes,
                                            /*mean=*/false, "the gradients")
                              .status());
    // apply_gradients reads chunk_grad's result buffers: the sums go there.
    for (const std::string &name : reduced_)
      GECKO_RETURN_IF_ERROR(applyCall_->setArg(name, grads.at(name)));
  }
  cpPhases_.reduce = since(t);
  t = Clock::now();
  GECKO_ASSIGN_OR_RETURN(HostTensor pieceLoss,
                         lossCall_->result("output.loss"));
  double stats[2] = {pieceLoss.elementAsDouble(0), stop ? 1.0 : 0.0};
  GECKO_RETURN_IF_ERROR(comm_->allReduce(
      stats, 2, ElementType::kF64, ReduceOp::kSum, "the loss and stop flag"));
  stop = stats[1] > 0;
  double loss = stats[0] / double(comm_->size());
  cpPhases_.host = since(t);
  t = Clock::now();
  TensorMap out;
  if (std::isfinite(loss)) {
    for (const ArgSpec &a : applyF_->args)
      if (a.kind == ArgKind::kInput && inputs.count(a.name))
        GECKO_RETURN_IF_ERROR(applyCall_->setArg(a.name, inputs.at(a.name)));
    GECKO_RETURN_IF_ERROR(applyCall_->run());
    if (sig_.hasGradNorm) {
      GECKO_ASSIGN_OR_RETURN(HostTensor norm,
                             applyCall_->result("output.grad_norm"));
      out["output.grad_norm"] = std::move(norm);
    }
  }
  cpPhases_.apply = since(t);
  GECKO_ASSIGN_OR_RETURN(HostTensor lossTensor,
                         HostTensor::zeros(ElementType::kF64, {}));
  *lossTensor.dataAs<double>() = loss;
  out["output.loss"] = std::move(lossTensor);
  return out;
}

Status Trainer::parseFaultInjection() {
  const std::string &spec = opt_.faultInject;
  if (spec.empty())
    return Status::ok();
  size_t a = spec.find(':'),
         b = a == std::string::npos ? std::string::npos : spec.find(':', a + 1);
  char *end = nullptr;
  if (b != std::string::npos) {
    faultKind_ = spec.substr(0, a);
    std::string rank = spec.substr(a + 1, b - a - 1), step = spec.substr(b + 1);
    faultRank_ = int(std::strtol(rank.c_str(), &end, 10));
    bool rankOk = !rank.empty() && end && !*end;
    faultStep_ = std::strtoll(step.c_str(), &end, 10);
    bool stepOk = !step.empty() && end && !*end && faultStep_ >= 1;
    if ((faultKind_ == "kill" || faultKind_ == "hang") && rankOk && stepOk &&
        faultRank_ >= 0)
      return Status::ok();
  }
  faultKind_.clear();
  return invalidArgument("GECKO_FAULT_INJECT='" + spec +
                         "' is not kill:RANK:STEP or hang:RANK:STEP");
}

void Trainer::maybeInjectFault(int64_t step) {
  if (faultKind_.empty() || faultRank_ != comm_->rank() || faultStep_ != step)
    return;
  std::fprintf(opt_.err,
               "gecko-run: rank %d: GECKO_FAULT_INJECT: %s before step %lld\n",
               comm_->rank(),
               faultKind_ == "kill" ? "killing this rank (SIGKILL)"
                                    : "this rank stops calling collectives",
               (long long)step);
  std::fflush(opt_.err);
  if (faultKind_ == "kill")
    ::raise(SIGKILL);
  for (;;)
    std::this_thread::sleep_for(std::chrono::seconds(1));
}

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
  if (!leader_) {
    // Rank 0 writes; the others only track where it is.
    lastCheckpoint_ = opt_.checkpointDir + "/" + checkpointFileName(stepsDone);
    lastCheckpointStep_ = stepsDone;
    return Status::ok();
  }
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
      {"data_parallel_ranks",
       std::to_string(cp_ ? cpReplicas_ : comm_->size())},
  };
  GECKO_RETURN_IF_ERROR(syncModel());
  if (cp_)
    md["chunk_parallel_ranks"] = std::to_string(cpRanks_);
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
  if (opt_.metricsPath.empty() || !leader_)
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
  if (quiet_)
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
  if (!opt_.keepStopRequest)
    gStopRequested = 0;
  comm_ = opt_.comm;
  if (!comm_) {
    ownComm_ = createLocalCommunicator();
    comm_ = ownComm_.get();
  }
  leader_ = comm_->rank() == 0;
  quiet_ = opt_.quiet || !leader_;
  multi_ = comm_->size() > 1;
  cp_ = opt_.chunkParallel;
  if (cp_) {
    GECKO_RETURN_IF_ERROR(setUpChunkParallel());
  } else {
    StatusOr<const FunctionPlan *> f = exe_.function(opt_.function);
    if (!f.isOk() && exe_.plan().findFunction("chunk_loss"))
      return Status(f.status().code(),
                    f.status().message() +
                        " (a --mode chunk-train artifact: train it with "
                        "--chunk-parallel)");
    GECKO_ASSIGN_OR_RETURN(f_, std::move(f));
    GECKO_ASSIGN_OR_RETURN(sig_, checkSignature(exe_, *f_));
  }
  modelHash_ = modelSignatureHash(exe_.plan(), *f_);
  dp_ = !cp_ && multi_;
  if (dp_)
    GECKO_RETURN_IF_ERROR(setUpDataParallel());
  GECKO_RETURN_IF_ERROR(parseFaultInjection());
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
  int64_t ranks = comm_->size();
  // Chunk parallelism: the P ranks of a replica hold pieces of the same B
  // sequences; the D replicas hold different rows.
  if (cp_)
    seqLen *= cpRanks_;
  int64_t rows = (cp_ ? cpReplicas_ : ranks) * batch;
  tokensPerStep_ = rows * seqLen;
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
  if (multi_) {
    // Every rank must start from the same step and the same weights.
    int64_t minMax[2] = {startStep_, startStep_};
    GECKO_RETURN_IF_ERROR(comm_->allReduce(&minMax[0], 1, ElementType::kI64,
                                           ReduceOp::kMin, "the start step"));
    GECKO_RETURN_IF_ERROR(comm_->allReduce(&minMax[1], 1, ElementType::kI64,
                                           ReduceOp::kMax, "the start step"));
    if (minMax[0] != minMax[1])
      return failedPrecondition(
          std::string("the ") + (cp_ ? "chunk" : "data") +
          "-parallel ranks start from different steps (" +
          std::to_string(minMax[0]) + " to " + std::to_string(minMax[1]) +
          "; this rank " + std::to_string(startStep_) +
          "): every rank must see the same --checkpoint-dir (a shared "
          "file system) and the same options");
    GECKO_RETURN_IF_ERROR(checkConsistency(startStep_, "at the start"));
  }
  GECKO_RETURN_IF_ERROR(bindCalls());
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
  if (!quiet_ && dp_ && !overlap_)
    std::fprintf(opt_.out,
                 "data parallel over %lld ranks (%s): grad + all-reduce "
                 "(%s, %zu-byte buckets) + apply_gradients, per-rank batch "
                 "%lld, global batch %lld\n",
                 (long long)ranks, comm_->backend(),
                 reduceMean_ ? "mean" : "sum", opt_.bucketBytes,
                 (long long)batch, (long long)(ranks * batch));
  if (!quiet_ && dp_ && overlap_)
    std::fprintf(
        opt_.out,
        "data parallel over %lld ranks (%s): grad with the "
        "all-reduce overlapped (%s, %zu bucket%s of about %zu "
        "bytes in the order of grad's %zu ready signals) + "
        "apply_gradients, per-rank batch %lld, global batch %lld\n",
        (long long)ranks, comm_->backend(), reduceMean_ ? "mean" : "sum",
        buckets_.size(), buckets_.size() == 1 ? "" : "s", opt_.bucketBytes,
        gradF_->signals.size(), (long long)batch, (long long)(ranks * batch));
  if (!quiet_ && cp_) {
    std::string replicas =
        cpReplicas_ == 1
            ? ""
            : " x " + std::to_string(cpReplicas_) + " data-parallel replicas";
    std::string reduce =
        deviceReduce_ ? "on the device"
                      : std::to_string(opt_.bucketBytes) + "-byte buckets";
    std::fprintf(opt_.out,
                 "chunk parallel over %d rank%s%s (%s): sequences of %lld "
                 "tokens in pieces of %lld; chunk_loss, the stream state "
                 "(%zu bytes) to the next rank, chunk_grad, its cotangent "
                 "(%zu bytes) to the previous rank (%s), all-reduce (sum, "
                 "%s) + apply_gradients\n",
                 cpRanks_, cpRanks_ == 1 ? "" : "s", replicas.c_str(),
                 comm_->backend(), (long long)seqLen, (long long)pieceLen_,
                 stateBytes_, cotangentBytes_,
                 deviceMessages_ ? "device to device" : "through the host",
                 reduce.c_str());
  }
  if (cp_) {
    std::vector<int64_t> full = {batch, seqLen};
    GECKO_ASSIGN_OR_RETURN(fullTokens_,
                           HostTensor::zeros(sig_.tokens->dtype, full));
    GECKO_ASSIGN_OR_RETURN(fullTargets_,
                           HostTensor::zeros(sig_.targets->dtype, full));
  }
  if (!quiet_)
    std::fprintf(opt_.out,
                 "training %s (%s) on %s: %lld %s tokens, batch %lld x %lld, "
                 "steps %lld..%lld of %lld, lr %.3g (warmup %lld, min ratio "
                 "%.3g), seed %llu%s\n",
                 exe_.source().c_str(), f_->name.c_str(), data_->path().c_str(),
                 (long long)data_->size(), data_->formatName(), (long long)rows,
                 (long long)seqLen, (long long)startStep_ + 1, (long long)end,
                 (long long)settings_.steps, settings_.lr,
                 (long long)settings_.warmup, settings_.minLrRatio,
                 (unsigned long long)settings_.seed,
                 resumed ? (", resumed from " + lastCheckpoint_).c_str() : "");

  Clock::time_point start = Clock::now();
  double lastLoss = NAN;
  int64_t step = startStep_;
  for (; step < end; ++step) {
    Clock::time_point stepStart = Clock::now();
    maybeInjectFault(step + 1);
    if (cp_) {
      // The whole sequences (as one rank with --seq-len P x L draws them),
      // then this rank's columns.
      GECKO_RETURN_IF_ERROR(fillBatch(*data_, settings_.seed, step, fullTokens_,
                                      fullTargets_,
                                      int64_t(cpReplica_) * batch));
      copyColumns(fullTokens_, inputs["input.tokens"], cpPiece_ * pieceLen_);
      copyColumns(fullTargets_, inputs["input.targets"], cpPiece_ * pieceLen_);
    } else {
      GECKO_RETURN_IF_ERROR(
          fillBatch(*data_, settings_.seed, step, inputs["input.tokens"],
                    inputs["input.targets"], int64_t(comm_->rank()) * batch));
    }
    double lr = schedule.at(step);
    if (sig_.lr)
      putScalar(inputs["input.lr"], lr);
    if (sig_.step)
      putScalar(inputs["input.step"], double(step + 1));
    bool stopNow = gStopRequested != 0;
    StatusOr<TensorMap> out = dp_   ? dataParallelStep(inputs, stopNow)
                              : cp_ ? chunkParallelStep(inputs, step, stopNow)
                                    : singleStep(inputs);
    if (!out.isOk()) {
      endProgressLine();
      return out.status();
    }
    double loss = out->at("output.loss").elementAsDouble(0);
    double gradNorm = sig_.hasGradNorm && out->count("output.grad_norm")
                          ? out->at("output.grad_norm").elementAsDouble(0)
                          : NAN;
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
    if (Status s = commitStep(); !s.isOk()) {
      endProgressLine();
      return s;
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
        stepSeconds > 0 ? double(tokensPerStep_) / stepSeconds : 0;
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
      if (dp_)
        j["dp_phases_s"] = {{"grad", phases_.grad},
                            {"all_reduce", phases_.reduce},
                            {"host_sync", phases_.host},
                            {"apply", phases_.apply},
                            {"overlap", overlap_},
                            {"all_reduce_in_grad", phases_.inGrad}};
      if (cp_)
        j["cp_phases_s"] = {{"chunk_loss", cpPhases_.forward},
                            {"chunk_grad", cpPhases_.backward},
                            {"messages", cpPhases_.messages},
                            {"staging", cpPhases_.staging},
                            {"all_reduce", cpPhases_.reduce},
                            {"host_sync", cpPhases_.host},
                            {"apply", cpPhases_.apply}};
      std::fprintf(metrics_, "%s\n", j.dump().c_str());
      std::fflush(metrics_);
    }
    report(rec, step == startStep_ || step + 1 == end);
    if (opt_.onStep)
      opt_.onStep(rec);
    int64_t done = step + 1;
    if (multi_ && opt_.consistencyCheckEvery > 0 &&
        done % opt_.consistencyCheckEvery == 0 && done != end) {
      Status s = checkConsistency(done, "at a periodic check");
      if (!s.isOk()) {
        endProgressLine();
        return s;
      }
    }
    if (opt_.checkpointEvery > 0 && done % opt_.checkpointEvery == 0 &&
        done != end) {
      Status s = saveCheckpoint(done, loss);
      if (!s.isOk()) {
        endProgressLine();
        return s;
      }
    }
    if ((dp_ || cp_ ? stopNow : gStopRequested != 0) && done < end) {
      result.interrupted = true;
      ++step;
      break;
    }
  }
  endProgressLine();
  if (multi_)
    GECKO_RETURN_IF_ERROR(checkConsistency(step, "at the end"));
  if (step != lastCheckpointStep_)
    GECKO_RETURN_IF_ERROR(saveCheckpoint(step, lastLoss));
  result.endStep = step;
  result.lastLoss = lastLoss;
  result.lastCheckpoint = lastCheckpoint_;

  if (!opt_.plotPath.empty() && !curve_.empty() && leader_) {
    std::string svg = lossCurveSvg(curve_, "training loss: " + exe_.source());
    GECKO_RETURN_IF_ERROR(
        writeFileAtomically(opt_.plotPath, svg.data(), svg.size()));
  }
  if (!quiet_) {
    int64_t ran = step - startStep_;
    std::fprintf(
        opt_.out,
        "%s after step %lld/%lld: %lld step%s in %s (%s tok/s), "
        "final loss %.6f\n",
        result.interrupted ? "interrupted" : "done", (long long)step,
        (long long)settings_.steps, (long long)ran, ran == 1 ? "" : "s",
        duration(elapsed_).c_str(),
        rate(elapsed_ > 0 ? double(ran * tokensPerStep_) / elapsed_ : 0)
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
