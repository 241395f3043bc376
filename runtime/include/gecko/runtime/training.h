//===- training.h - The trainer behind `gecko-run train` --------*- C++ -*-===//
//
// Token data (byte-level text or GECKOTOK binary files, memory-mapped),
// deterministic batches, the learning-rate schedule, atomic checksummed
// checkpoints, and the training loop that calls an artifact's `train_step`
// function (forward, backward and the optimizer run in compiled code) and
// writes its `next:` results back. docs/training.md describes every format
// and rule.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_RUNTIME_TRAINING_H
#define GECKO_RUNTIME_TRAINING_H

#include "gecko/abi/artifact_format.h"
#include "gecko/runtime/communicator.h"
#include "gecko/runtime/executable.h"
#include "gecko/runtime/host_tensor.h"
#include "gecko/runtime/status.h"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gecko {

//===----------------------------------------------------------------------===//
// Token data
//===----------------------------------------------------------------------===//

namespace tokfile {
/// The first 8 bytes of a binary token file.
inline constexpr char kMagic[8] = {'G', 'E', 'C', 'K', 'O', 'T', 'O', 'K'};
/// magic, u32 version (1), u32 bytes per token (2: u16, 4: u32), u64 count.
inline constexpr size_t kHeaderSize = 24;
inline constexpr uint32_t kVersion = 1;
} // namespace tokfile

/// A read-only, memory-mapped token stream: a GECKOTOK binary file, or any
/// other file read as text with the built-in byte-level tokenizer
/// (token = byte value, vocabulary 256; the file is one stream of bytes).
class TokenData {
public:
  ~TokenData();
  TokenData(const TokenData &) = delete;
  TokenData &operator=(const TokenData &) = delete;

  /// Maps `path` and validates a binary file's header and size.
  static StatusOr<std::unique_ptr<TokenData>> open(const std::string &path);

  const std::string &path() const { return path_; }
  /// The file's size in bytes.
  uint64_t fileBytes() const { return fileBytes_; }
  /// "text", "u16" or "u32".
  const char *formatName() const;
  int64_t size() const { return count_; }
  int64_t at(int64_t i) const {
    const uint8_t *p = tokens_ + size_t(i) * width_;
    if (width_ == 1)
      return p[0];
    if (width_ == 2)
      return int64_t(p[0]) | int64_t(p[1]) << 8;
    return int64_t(p[0]) | int64_t(p[1]) << 8 | int64_t(p[2]) << 16 |
           int64_t(p[3]) << 24;
  }

  /// Every token must lie in [lo, hi); the error names the first offender's
  /// position and value.
  Status checkRange(int64_t lo, int64_t hi) const;

private:
  TokenData() = default;
  std::string path_;
  uint64_t fileBytes_ = 0;
  void *map_ = nullptr;
  size_t mapBytes_ = 0;
  const uint8_t *tokens_ = nullptr;
  size_t width_ = 1; ///< Bytes per token (1 for text).
  int64_t count_ = 0;
};

/// Writes a GECKOTOK file (atomically) with 2- or 4-byte tokens.
Status writeTokenFile(const std::string &path,
                      const std::vector<int64_t> &tokens, int bytesPerToken);

/// The start of window `row` of the batch for `step`: uniform in
/// [0, size - seqLen - 1], from Philox keyed by streamKey(seed, "data") with
/// counter (step, row).
int64_t windowStart(uint64_t seed, int64_t step, int64_t row, int64_t size,
                    int64_t seqLen);

/// Fills `tokens` and `targets` (integer tensors of shape [B, L]) for `step`:
/// row b holds the window of L+1 tokens at
/// windowStart(seed, step, firstRow + b, ...), tokens = window[:-1],
/// targets = window[1:]. A data-parallel rank r of a job with per-rank batch
/// B passes firstRow = r * B: its rows of the global batch. FailedPrecondition
/// when the data has fewer than L+1 tokens.
Status fillBatch(const TokenData &data, uint64_t seed, int64_t step,
                 HostTensor &tokens, HostTensor &targets, int64_t firstRow = 0);

//===----------------------------------------------------------------------===//
// Learning-rate schedule
//===----------------------------------------------------------------------===//

/// Linear warmup over `warmup` steps, then cosine decay from lr to
/// minLrRatio * lr, reached at step `totalSteps`. Steps are 0-based:
/// at(s) = lr * (s + 1) / warmup for s < warmup, else
/// min + (lr - min) * (1 + cos(pi * (s - warmup) / (totalSteps - warmup))) / 2.
struct LrSchedule {
  double lr = 3e-4;
  double minLrRatio = 0.1;
  int64_t warmup = 0;
  int64_t totalSteps = 1;
  double at(int64_t step) const;
};

//===----------------------------------------------------------------------===//
// Checkpoints
//===----------------------------------------------------------------------===//

/// "step-00000012.safetensors".
std::string checkpointFileName(int64_t step);

/// The checkpoints in `dir` by step, ascending. Only names of exactly the
/// form step-NNNNNNNN.safetensors count (temporary files are ignored).
std::vector<std::pair<int64_t, std::string>>
listCheckpoints(const std::string &dir);

/// Writes `tensors` with `metadata` to `path` atomically, adding
/// "tensors_crc32c" (CRC-32C over every tensor's name, dtype, shape and
/// bytes, in name order) so a corrupt data section is detected on load.
Status writeCheckpointFile(const std::string &path, const TensorMap &tensors,
                           std::map<std::string, std::string> metadata);

/// A verified checkpoint: every tensor and the metadata.
struct Checkpoint {
  std::string path;
  TensorMap tensors;
  std::map<std::string, std::string> metadata;
};
/// Reads `path` and verifies its structure and "tensors_crc32c" (DataLoss
/// when it does not match).
StatusOr<Checkpoint> readCheckpointFile(const std::string &path);

/// CRC-32C over the tensors' names, dtypes, shapes and bytes, in name order
/// (the checkpoint's "tensors_crc32c").
uint32_t tensorsCrc32c(const TensorMap &tensors);

/// A hash identifying a model for checkpoint compatibility: the model config
/// and every param and state arg (name, dtype, shape) of `function`. The
/// same model compiled with other options keeps its hash. 16 hex digits.
std::string modelSignatureHash(const ArtifactPlan &plan,
                               const FunctionPlan &function);

//===----------------------------------------------------------------------===//
// The training loop
//===----------------------------------------------------------------------===//

/// One finished step (1-based `step`: the number of steps done).
struct StepRecord {
  int64_t step = 0;
  double loss = 0;
  double gradNorm = 0;
  double lr = 0;
  double tokensPerSecond = 0;
  double elapsedSeconds = 0;
};

struct TrainOptions {
  std::string function = "train_step";
  std::string dataPath;
  std::string checkpointDir;
  /// Total steps of the schedule. On --resume, unset values come from the
  /// checkpoint (steps, seed, lr, minLrRatio, warmup).
  std::optional<int64_t> steps;
  std::optional<uint64_t> seed;
  std::optional<double> lr;
  std::optional<double> minLrRatio;
  std::optional<int64_t> warmup;
  /// Stop (with a checkpoint) once this many steps are done, though the
  /// schedule runs to `steps`; 0 = run to the end.
  int64_t stopAt = 0;
  int64_t checkpointEvery = 100; ///< 0: only at the end (and on a stop).
  int keepCheckpoints = 3;
  bool resume = false;
  std::string weightsPath; ///< Initial params (and state) by name.
  std::string metricsPath; ///< JSONL, one object per step; "" for none.
  std::string plotPath;    ///< SVG loss curve; "" for none.
  bool quiet = false;
  int64_t logEvery = 10; ///< Plain-output line every N steps.
  /// Draw an in-place progress bar (on a terminal) instead of plain lines.
  bool progressBar = false;
  FILE *out = stdout; ///< Progress and summary; notes go to `err`.
  FILE *err = stderr;
  /// Called after every step (tests request a stop from here).
  std::function<void(const StepRecord &)> onStep;

  /// Data parallelism (docs/distributed.md). With a communicator of more
  /// than one rank every step runs `grad` on this rank's rows of the global
  /// batch (size x B rows), all-reduces the gradients named by the plan's
  /// collectives of `apply_gradients` in buckets, and runs apply_gradients.
  /// Rank 0 alone writes checkpoints, metrics, the plot and progress.
  /// nullptr or one rank: `function` (train_step) as without it.
  Communicator *comm = nullptr;
  /// Bytes per all-reduce bucket (the gradients are flattened into them).
  size_t bucketBytes = size_t(25) << 20;
  /// Overlap the gradient all-reduce with the backward pass: when `grad`
  /// raises ready signals (kernel ABI v2), buckets of about bucketBytes are
  /// formed in signal order and each is reduced (NCCL: started on a
  /// communication stream; MPI: reduced in place inside the call) as soon
  /// as its last tensor is signalled. kOff: the all-reduce after grad
  /// returns. kAuto (the default): off for now, since on 4 x H100 over
  /// NVLink the overlapped NCCL kernels slowed the backward more than they
  /// hid (docs/perf.md); a policy for slower links would go here. kOn: an
  /// error without signals.
  enum class Overlap { kAuto, kOn, kOff };
  Overlap overlap = Overlap::kAuto;
  /// Compare a checksum of the params and optimizer state across ranks
  /// every this many steps (also at the start and the end); 0: only at the
  /// start and the end. Diverged ranks are an error naming them.
  int64_t consistencyCheckEvery = 50;
  /// Chunk parallelism (docs/distributed.md): train a `gecko-compile --mode
  /// chunk-train` artifact whose chunk_loss covers L tokens on size() ranks
  /// as one sequence of size() x L tokens per row: rank r runs its piece
  /// [r L, (r + 1) L) of every sequence, receives the stream state from
  /// rank r - 1 and sends its next state to r + 1, then passes the state's
  /// cotangent back the same way; the gradients are summed over the ranks
  /// and every rank runs apply_gradients. Works with one rank (P = 1).
  bool chunkParallel = false;
  /// With chunkParallel: the ranks per sequence P (0: all of them). The
  /// size() ranks form size() / P data-parallel replicas of P consecutive
  /// ranks each (replica d: ranks [d P, (d + 1) P)); replica d trains rows
  /// [d B, (d + 1) B) of a global batch of size() / P x B sequences of
  /// P x L tokens. size() must be a multiple of P.
  int chunkRanks = 0;
  /// With chunkParallel: how the stream state and its cotangent pass
  /// between ranks. kHost: copied to the host and sent by
  /// Communicator::send/recv; kDevice: from device buffer to device buffer
  /// (Communicator::sendOnDevice/recvOnDevice, NCCL and a cuda artifact);
  /// kAuto: kDevice where possible, else kHost.
  enum class ChunkMessages { kAuto, kHost, kDevice };
  ChunkMessages chunkMessages = ChunkMessages::kAuto;
  /// Fault injection for tests ("kill:RANK:STEP" or "hang:RANK:STEP": that
  /// rank kills itself with SIGKILL, or stops calling collectives, before
  /// step STEP). gecko-run passes GECKO_FAULT_INJECT.
  std::string faultInject;
  /// Keep a stop request made before train() was entered instead of
  /// clearing it. For ranks run as threads of one process (a process starts
  /// with none), so that a Ctrl-C while a rank is still starting is not
  /// lost.
  bool keepStopRequest = false;
};

struct TrainResult {
  int64_t startStep = 0;    ///< Steps done before this run (resume point).
  int64_t endStep = 0;      ///< Steps done after it.
  bool interrupted = false; ///< Stopped by requestTrainingStop() (SIGINT).
  double lastLoss = 0;
  std::string lastCheckpoint;
};

/// Trains `exe`'s train function. Non-finite loss: FailedPrecondition naming
/// the step; the update of that step is discarded and no checkpoint is
/// written for it (the last good one stays). Several train() calls may run
/// concurrently on different threads, each with its own Executable and
/// communicator (the ranks of a "threads" group: gecko-run train --ranks
/// N); they share only the process-wide stop request below.
StatusOr<TrainResult> train(const Executable &exe, const TrainOptions &options);

/// Asks a running train() to stop after its current step and write a
/// checkpoint (async-signal-safe). train() clears the request on entry
/// unless TrainOptions::keepStopRequest. The request is process-wide: with
/// ranks as threads every rank sees it, and they agree on the step to stop
/// at in the step's all-reduce.
void requestTrainingStop();
bool trainingStopRequested();
/// Installs a SIGINT handler calling requestTrainingStop(); a second SIGINT
/// terminates the process as usual.
void installTrainingSigintHandler();

//===----------------------------------------------------------------------===//
// Loss-curve plot
//===----------------------------------------------------------------------===//

/// An SVG line plot of `points` (x = step, y = loss) with axes, ticks,
/// labels, the raw line and an exponentially smoothed line.
std::string lossCurveSvg(const std::vector<std::pair<double, double>> &points,
                         const std::string &title);

} // namespace gecko

#endif // GECKO_RUNTIME_TRAINING_H
