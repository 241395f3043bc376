//===- tokenizer.h - Text to token ids and back -----------------*- C++ -*-===//
//
// The tokenizers of `gecko-run generate` (docs/generation.md, section 5):
// the built-in byte-level one (a token is a byte) and SentencePiece (a
// `.model` file read with libsentencepiece, where the build has it). A
// Tokenizer encodes a prompt and hands out TextDecoders, which turn the
// generated tokens back into printable text one token at a time.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_RUNTIME_TOKENIZER_H
#define GECKO_RUNTIME_TOKENIZER_H

#include "gecko/runtime/status.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gecko {

/// Turns a stream of token ids into printable UTF-8 as they arrive. Output
/// never holds raw control bytes other than \n, \t and \r (they print as
/// `\xNN`), and ids the tokenizer does not know print as `<|N|>`.
class TextDecoder {
public:
  virtual ~TextDecoder() = default;
  /// The text to print after `token`; empty while the decoder waits for the
  /// rest of a character (a multi-byte UTF-8 sequence).
  virtual std::string push(int64_t token) = 0;
  /// Whatever is still held back, at the end of the stream (an incomplete
  /// sequence prints escaped or as U+FFFD).
  virtual std::string flush() = 0;
};

class Tokenizer {
public:
  virtual ~Tokenizer() = default;

  /// "byte", or "sentencepiece:PATH".
  virtual std::string name() const = 0;
  /// encode() gives ids in [0, vocabSize()).
  virtual int64_t vocabSize() const = 0;
  /// The begin- and end-of-sequence ids, -1 where the tokenizer has none.
  virtual int64_t bosId() const { return -1; }
  virtual int64_t eosId() const { return -1; }

  /// The ids of `text`, without BOS or EOS.
  virtual StatusOr<std::vector<int64_t>>
  encode(const std::string &text) const = 0;

  /// InvalidArgument unless every one of `ids` (a prompt from encode(), BOS
  /// included) lies in [0, modelVocab), the vocabulary of the model that is
  /// to read them; the message names the first offending token and why.
  virtual Status checkFits(const std::vector<int64_t> &ids,
                           int64_t modelVocab) const = 0;

  /// A fresh decoder for generated text that follows `context` (e.g. the
  /// prompt's ids): tokenizers whose pieces carry their leading space need
  /// it to tell whether the first generated word starts with a space.
  virtual std::unique_ptr<TextDecoder>
  newDecoder(const std::vector<int64_t> &context = {}) const = 0;
};

/// The byte-level tokenizer: token = byte (vocabulary 256, no BOS/EOS); its
/// decoder is Utf8Printer.
std::unique_ptr<Tokenizer> createByteTokenizer();

/// Whether this build has SentencePiece (GECKO_ENABLE_SENTENCEPIECE).
bool sentencePieceSupported();

/// Loads a SentencePiece model (`.model`, a serialized ModelProto).
/// NotFound for a missing file, DataLoss for one that is not a (valid)
/// SentencePiece model, Unimplemented when the build lacks SentencePiece.
StatusOr<std::unique_ptr<Tokenizer>>
loadSentencePieceTokenizer(const std::string &modelPath);

/// A tokenizer from its command-line spelling: `byte` or
/// `sentencepiece:MODEL` (InvalidArgument for anything else).
StatusOr<std::unique_ptr<Tokenizer>> createTokenizer(const std::string &spec);

} // namespace gecko

#endif // GECKO_RUNTIME_TOKENIZER_H
