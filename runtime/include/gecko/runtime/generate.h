//===- generate.h - Streaming inference and generation ----------*- C++ -*-===//
//
// A Stream feeds tokens through an artifact's `prefill` and `decode`
// functions (docs/generation.md), keeping the model's streaming state (the
// `state` args, updated from the `next:` results after every call) between
// calls, so a stream of any length runs in constant memory. Prompts are split
// into prefill calls where the chunk rules allow them and decode calls for
// the rest; generate() then samples tokens (greedy, temperature, top-k,
// top-p, deterministic under a seed) and decodes them one at a time. Stream
// state can be saved to and resumed from a checksummed safetensors file.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_RUNTIME_GENERATE_H
#define GECKO_RUNTIME_GENERATE_H

#include "gecko/abi/artifact_format.h"
#include "gecko/runtime/executable.h"
#include "gecko/runtime/host_tensor.h"
#include "gecko/runtime/status.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gecko {

//===----------------------------------------------------------------------===//
// Call planning
//===----------------------------------------------------------------------===//

enum class StreamCallKind { kPrefill, kDecode };
const char *streamCallKindName(StreamCallKind kind);

/// The calls that feed `count` tokens to a stream at `position` (tokens
/// already processed): a prefill call of `prefillLength` tokens wherever one
/// is legal (position % chunkSize == 0 and at least prefillLength tokens are
/// left; GECKO_MATH 4.2), else a single-token decode call. prefillLength 0
/// means the artifact has no prefill (decode only).
std::vector<StreamCallKind> planStreamCalls(int64_t position, int64_t count,
                                            int64_t prefillLength,
                                            int64_t chunkSize);

//===----------------------------------------------------------------------===//
// Stream
//===----------------------------------------------------------------------===//

struct StreamOptions {
  std::string prefillFunction = "prefill"; ///< Optional in the artifact.
  std::string decodeFunction = "decode";   ///< Required.
  /// The model's chunk size C (prefill only where position % C == 0). 0: the
  /// model config's "chunk_size", else the prefill length.
  int64_t chunkSize = 0;
};

/// Time and tokens per call kind (tokens count every batch row).
struct StreamStats {
  int64_t prefillCalls = 0, prefillTokens = 0;
  double prefillSeconds = 0;
  int64_t decodeCalls = 0, decodeTokens = 0;
  double decodeSeconds = 0;
};

/// The metadata key that marks a stream state file.
inline constexpr char kStreamStateMarker[] = "gecko_stream_state";
/// The state file tensor holding the last logits ([B, V] f32).
inline constexpr char kLastLogitsTensor[] = "runtime.last_logits";

class Stream {
public:
  /// Logits of one call: [B, L, V] (the result `output.logits`), and the
  /// stream position of its first token.
  using LogitsFn =
      std::function<void(const HostTensor &logits, int64_t firstPosition)>;

  /// Validates the artifact's decode (and optional prefill) function against
  /// the contract of docs/generation.md and binds `params` (only the param
  /// args are kept; missing or mismatched params are reported here). The
  /// state starts at zero (a fresh stream).
  static StatusOr<std::unique_ptr<Stream>>
  create(const Executable &exe, TensorMap params,
         const StreamOptions &options = {});

  int64_t batch() const { return batch_; }
  int64_t vocab() const { return vocab_; }
  /// Tokens per prefill call (0 without a prefill function).
  int64_t prefillLength() const { return prefillLength_; }
  int64_t chunkSize() const { return chunkSize_; }
  /// Tokens processed so far (per row) = position of the next token.
  int64_t position() const { return position_; }
  const FunctionPlan &decodeFunction() const { return *decode_; }
  const FunctionPlan *prefillFunction() const { return prefill_; }
  /// The decode function's state arg names, in plan order.
  std::vector<std::string> stateNames() const;
  /// The state tensor `name`, or nullptr.
  const HostTensor *stateTensor(const std::string &name) const;
  /// Total bytes of the state tensors (constant over the stream).
  uint64_t stateBytes() const;
  /// modelSignatureHash of the decode function (stored in state files).
  const std::string &modelHash() const { return modelHash_; }

  /// Back to a fresh stream: zero state, position 0, no last logits.
  Status reset();

  /// One call of `kind`: `tokens` holds B rows of `length` tokens, row b at
  /// tokens + b * stride. length must be 1 (decode) or prefillLength()
  /// (prefill, which also needs position() % chunkSize() == 0). Every token
  /// must lie in [0, vocab()).
  Status call(StreamCallKind kind, const int64_t *tokens, int64_t stride,
              int64_t length, const LogitsFn &onLogits = nullptr);

  /// Feeds B rows of `count` tokens (row b at tokens + b * count) with the
  /// calls planStreamCalls() gives.
  Status feed(const int64_t *tokens, int64_t count,
              const LogitsFn &onLogits = nullptr);

  /// The logits of the last token fed, [B * V] row-major (float), empty
  /// before the first call (unless restored by loadState()).
  const std::vector<float> &lastLogits() const { return lastLogits_; }

  const StreamStats &stats() const { return stats_; }
  void resetStats() { stats_ = StreamStats(); }

  /// Writes every state tensor, the last logits and metadata
  /// (kStreamStateMarker, model_hash, position, batch, vocab; plus `extra`)
  /// atomically, with a tensor checksum (writeCheckpointFile).
  Status saveState(const std::string &path,
                   std::map<std::string, std::string> extra = {}) const;
  /// Continues the stream saved in `path`. Rejects (InvalidArgument) a file
  /// that is not a stream state, or one from another model (model hash), and
  /// a checksum mismatch (DataLoss).
  Status loadState(const std::string &path);

private:
  Stream(const Executable &exe) : exe_(exe) {}
  Status checkFunction(const FunctionPlan &f, int64_t length) const;

  const Executable &exe_;
  const FunctionPlan *decode_ = nullptr;
  const FunctionPlan *prefill_ = nullptr;
  ElementType tokenType_ = ElementType::kI64;
  int64_t batch_ = 0, vocab_ = 0, prefillLength_ = 0, chunkSize_ = 0;
  int64_t position_ = 0;
  TensorMap bound_; ///< Params and state, bound by name on every call.
  std::vector<float> lastLogits_;
  StreamStats stats_;
  std::string modelHash_;
};

//===----------------------------------------------------------------------===//
// Sampling
//===----------------------------------------------------------------------===//

struct SamplingOptions {
  double temperature = 0; ///< 0: greedy (argmax, lowest index on ties).
  int64_t topK = 0;       ///< Keep the K most likely tokens (0: all).
  double topP = 1;        ///< Keep the smallest most-likely set of mass >= P.
  uint64_t seed = 0;
};

/// InvalidArgument for a negative/non-finite temperature, a negative top-k
/// or a top-p outside (0, 1].
Status validateSampling(const SamplingOptions &options);

/// The distribution sampleToken() draws from: softmax(logits / T) restricted
/// to the top-k, then to the top-p nucleus (in order of decreasing logit,
/// ties by index), renormalized; one-hot at the argmax for T == 0. NaN and
/// -inf logits get probability 0; all of them so gives one-hot at index 0.
std::vector<double> samplingDistribution(const float *logits, int64_t vocab,
                                         const SamplingOptions &options);

/// Draws a token from samplingDistribution() with the uniform `u` in [0, 1)
/// (inverse CDF in index order). Greedy ignores `u`.
int64_t sampleToken(const float *logits, int64_t vocab,
                    const SamplingOptions &options, double u);

/// The uniform of row `row` for the token at stream `position`: Philox-4x32
/// keyed by streamKey(seed, "sample"), counter (position lo, position hi,
/// row, 0). Depends on nothing else, so a resumed stream draws the same.
double samplingUniform(uint64_t seed, int64_t position, int64_t row);

//===----------------------------------------------------------------------===//
// Generation
//===----------------------------------------------------------------------===//

struct GenerateOptions {
  int64_t maxTokens = 128;
  SamplingOptions sampling;
  /// Called after each sampled step with its index (0-based) and the B new
  /// tokens; return false to stop.
  std::function<bool(int64_t index, const std::vector<int64_t> &tokens)>
      onTokens;
  /// The token that ends a text (the tokenizer's EOS; -1: none). Generation
  /// stops after the step in which the last row samples it; a row that
  /// ended earlier keeps sampling in lock step, so its tokens after the
  /// first stopToken are not part of its text.
  int64_t stopToken = -1;
};

struct GenerateResult {
  std::vector<std::vector<int64_t>> tokens; ///< Per row, the new tokens.
  int64_t promptTokens = 0;                 ///< Per row.
  double promptSeconds = 0;                 ///< Wall time of feeding it.
  double generateSeconds = 0;               ///< Wall time of the rest.
};

/// Feeds `prompt` (one row of `count` tokens given to every batch row, or B
/// rows: prompt.size() == count or B * count), then samples a token per row
/// from the last logits and decodes it, maxTokens times. The sampled tokens
/// are fed back, so the state afterwards covers prompt and output. With an
/// empty prompt the stream's last logits are used (a resumed stream);
/// FailedPrecondition when there are none.
StatusOr<GenerateResult> generate(Stream &stream,
                                  const std::vector<int64_t> &prompt,
                                  int64_t count,
                                  const GenerateOptions &options);

//===----------------------------------------------------------------------===//
// Byte-level text output
//===----------------------------------------------------------------------===//

/// Turns a stream of byte tokens into printable UTF-8: complete valid
/// sequences pass through; invalid bytes, C0 controls other than \n \t \r,
/// DEL, and tokens >= 256 print as escapes (`\xNN`, `<|N|>`).
class Utf8Printer {
public:
  /// Text to print after token `token` (may be empty while a multi-byte
  /// sequence is incomplete).
  std::string push(int64_t token);
  /// Escapes of an incomplete trailing sequence.
  std::string flush();

private:
  std::string pending_;
  int need_ = 0; ///< Continuation bytes still expected.
};

} // namespace gecko

#endif // GECKO_RUNTIME_GENERATE_H
