//===- sentencepiece_tokenizer.cpp - SentencePiece via libsentencepiece ---===//
//
// This file implements the SentencePiece tokenizer (built only with
// GECKO_ENABLE_SENTENCEPIECE). Encoding is the library's. Decoding is
// incremental: the decoder keeps a short window of recent ids and decodes it
// whole, printing what the newest ids added (the library handles the U+2581
// space marker, byte-fallback pieces and control pieces). The window starts
// at the last ids already printed, so a word's leading space survives, and
// output waits while the window's text ends in an incomplete character
// (U+FFFD from the library), at most kMaxHeldIds ids.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/generate.h"
#include "gecko/runtime/tokenizer.h"

#include <sentencepiece_processor.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/wait.h>
#include <unistd.h>

namespace gecko {

namespace {

/// Ids a decoder holds back while they decode to an incomplete character
/// (a UTF-8 sequence is at most 4 bytes, one byte piece each).
constexpr size_t kMaxHeldIds = 4;
/// Ids of the context (the prompt) the first window starts with.
constexpr size_t kContextIds = 4;

const char kReplacementChar[] = "\xEF\xBF\xBD"; // U+FFFD

/// libsentencepiece trusts the normalization map of a model file that
/// parses, and a damaged map can crash it while it normalizes text. So the
/// work is done once in a forked child first: a crash there becomes an
/// error here. (If fork fails the work is simply not probed.)
template <typename Work>
Status probeInChild(const std::string &what, Work work) {
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid < 0)
    return Status::ok();
  if (pid == 0) {
    work();
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status))
    return dataLoss(what + " crashes libsentencepiece (" +
                    std::string(strsignal(WTERMSIG(status))) +
                    " while normalizing text): the model file is damaged");
  return Status::ok();
}

/// Text that walks the normalizer through ASCII, Latin-1, CJK and symbols.
const char kProbeText[] =
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
    "abcdefghijklmnopqrstuvwxyz{|}~ \xC3\xA9\xC3\xBC\xC3\x9F "
    "\xE4\xB8\xAD\xE6\x96\x87 \xE2\x80\x94 \xEF\xBC\xA1 "
    "\xF0\x9F\x98\x80\tend";

bool endsWithReplacement(const std::string &s) {
  const size_t n = sizeof(kReplacementChar) - 1;
  return s.size() >= n && s.compare(s.size() - n, n, kReplacementChar) == 0;
}

class SentencePieceDecoder : public TextDecoder {
public:
  SentencePieceDecoder(const sentencepiece::SentencePieceProcessor &sp,
                       const std::vector<int64_t> &context)
      : sp_(sp) {
    // The trailing ids of the context the model knows.
    size_t begin = context.size();
    while (begin > 0 && context.size() - begin < kContextIds &&
           known(context[begin - 1]))
      --begin;
    for (size_t i = begin; i < context.size(); ++i)
      ids_.push_back(int(context[i]));
    read_ = ids_.size();
  }

  std::string push(int64_t token) override {
    if (!known(token)) {
      std::string out = flush();
      return out + "<|" + std::to_string(token) + "|>";
    }
    ids_.push_back(int(token));
    return emit(/*force=*/false);
  }

  std::string flush() override {
    std::string out = emit(/*force=*/true);
    ids_.clear();
    read_ = 0;
    return out + safe_.flush();
  }

private:
  bool known(int64_t id) const { return id >= 0 && id < sp_.GetPieceSize(); }

  std::string decode(size_t end) const {
    std::string text;
    std::vector<int> window(ids_.begin(), ids_.begin() + long(end));
    if (!sp_.Decode(window, &text).ok()) // ids are known: cannot happen
      return std::string();
    return text;
  }

  /// Prints what ids_[read_, end) add to the text of ids_[0, read_), unless
  /// that ends in an incomplete character and waiting may still help.
  std::string emit(bool force) {
    if (read_ == ids_.size())
      return std::string();
    const std::string before = decode(read_), after = decode(ids_.size());
    if (!force && endsWithReplacement(after) &&
        ids_.size() - read_ < kMaxHeldIds)
      return std::string();
    std::string added;
    if (after.size() > before.size())
      added = after.substr(before.size());
    // The next window starts at the ids printed now.
    ids_.erase(ids_.begin(), ids_.begin() + long(read_));
    read_ = ids_.size();
    std::string out;
    for (char c : added)
      out += safe_.push(static_cast<unsigned char>(c));
    return out;
  }

  const sentencepiece::SentencePieceProcessor &sp_;
  std::vector<int> ids_; ///< The window: printed ids, then held ones.
  size_t read_ = 0;      ///< ids_[0, read_) are printed.
  Utf8Printer safe_;     ///< Escapes control bytes.
};

class SentencePieceTokenizer : public Tokenizer {
public:
  SentencePieceTokenizer(
      std::string path,
      std::unique_ptr<sentencepiece::SentencePieceProcessor> sp)
      : path_(std::move(path)), sp_(std::move(sp)) {}

  std::string name() const override { return "sentencepiece:" + path_; }
  int64_t vocabSize() const override { return sp_->GetPieceSize(); }
  int64_t bosId() const override { return sp_->bos_id(); }
  int64_t eosId() const override { return sp_->eos_id(); }

  StatusOr<std::vector<int64_t>>
  encode(const std::string &text) const override {
    std::vector<int> ids;
    GECKO_RETURN_IF_ERROR(probeInChild("SentencePiece model " + path_, [&] {
      std::vector<int> scratch;
      (void)sp_->Encode(text, &scratch);
    }));
    sentencepiece::util::Status st = sp_->Encode(text, &ids);
    if (!st.ok())
      return invalidArgument("SentencePiece model " + path_ +
                             " cannot encode the text: " + st.ToString());
    return std::vector<int64_t>(ids.begin(), ids.end());
  }

  Status checkFits(const std::vector<int64_t> &ids,
                   int64_t modelVocab) const override {
    for (size_t i = 0; i < ids.size(); ++i) {
      const int64_t id = ids[i];
      if (id >= 0 && id < modelVocab)
        continue;
      std::string what = "prompt token " + std::to_string(id);
      if (id >= 0 && id < vocabSize())
        what += " ('" + sp_->IdToPiece(int(id)) + "')";
      what += " at index " + std::to_string(i) +
              " is outside the model's vocabulary [0, " +
              std::to_string(modelVocab) + ")";
      if (vocabSize() > modelVocab)
        what += ": the SentencePiece model " + path_ + " has a vocabulary of " +
                std::to_string(vocabSize()) +
                " pieces but the artifact's vocabulary is " +
                std::to_string(modelVocab) +
                "; use the SentencePiece model the artifact's model was "
                "trained with";
      return invalidArgument(what);
    }
    return Status::ok();
  }

  std::unique_ptr<TextDecoder>
  newDecoder(const std::vector<int64_t> &context) const override {
    return std::make_unique<SentencePieceDecoder>(*sp_, context);
  }

private:
  std::string path_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

} // namespace

bool sentencePieceSupported() { return true; }

StatusOr<std::unique_ptr<Tokenizer>>
loadSentencePieceTokenizer(const std::string &modelPath) {
  FILE *f = std::fopen(modelPath.c_str(), "rb");
  if (!f)
    return notFound("SentencePiece model " + modelPath + ": " +
                    std::strerror(errno));
  std::string bytes;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
    bytes.append(buf, n);
  const int readErrno = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (readErrno != 0)
    return dataLoss("SentencePiece model " + modelPath +
                    ": cannot read it: " + std::strerror(readErrno));
  if (bytes.empty())
    return dataLoss("SentencePiece model " + modelPath +
                    " is empty (expected a .model file written by "
                    "spm_train)");
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  sentencepiece::util::Status st = sp->LoadFromSerializedProto(bytes);
  if (!st.ok())
    return dataLoss("SentencePiece model " + modelPath +
                    " is not a valid SentencePiece model (" + st.ToString() +
                    "); expected a .model file written by spm_train");
  if (sp->GetPieceSize() <= 0)
    return dataLoss("SentencePiece model " + modelPath + " has no pieces");
  GECKO_RETURN_IF_ERROR(probeInChild("SentencePiece model " + modelPath, [&] {
    std::vector<int> ids;
    (void)sp->Encode(kProbeText, &ids);
    std::string text;
    (void)sp->Decode(ids, &text);
  }));
  return std::unique_ptr<Tokenizer>(
      new SentencePieceTokenizer(modelPath, std::move(sp)));
}

} // namespace gecko
