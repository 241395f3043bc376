//===- tokenizer.cpp - The byte-level tokenizer and the factory -----------===//
//
// This file implements the byte-level tokenizer and createTokenizer(). The
// SentencePiece tokenizer lives in sentencepiece_tokenizer.cpp, built only
// with GECKO_ENABLE_SENTENCEPIECE; without it the loader reports that the
// build lacks SentencePiece.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/tokenizer.h"
#include "gecko/runtime/generate.h"

#include <cstdio>

namespace gecko {

namespace {

class ByteDecoder : public TextDecoder {
public:
  std::string push(int64_t token) override { return printer_.push(token); }
  std::string flush() override { return printer_.flush(); }

private:
  Utf8Printer printer_;
};

class ByteTokenizer : public Tokenizer {
public:
  std::string name() const override { return "byte"; }
  int64_t vocabSize() const override { return 256; }

  StatusOr<std::vector<int64_t>>
  encode(const std::string &text) const override {
    std::vector<int64_t> ids;
    ids.reserve(text.size());
    for (char c : text)
      ids.push_back(static_cast<unsigned char>(c));
    return ids;
  }

  Status checkFits(const std::vector<int64_t> &ids,
                   int64_t modelVocab) const override {
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] < 0 || ids[i] >= modelVocab) {
        char what[96];
        std::snprintf(what, sizeof(what), "prompt byte 0x%02llX at offset %zu",
                      (unsigned long long)ids[i], i);
        return invalidArgument(std::string(what) +
                               " is outside the model's vocabulary [0, " +
                               std::to_string(modelVocab) +
                               "); the byte-level tokenizer needs a "
                               "vocabulary of at least 256");
      }
    return Status::ok();
  }

  std::unique_ptr<TextDecoder>
  newDecoder(const std::vector<int64_t> &) const override {
    return std::make_unique<ByteDecoder>();
  }
};

} // namespace

std::unique_ptr<Tokenizer> createByteTokenizer() {
  return std::make_unique<ByteTokenizer>();
}

#ifndef GECKO_HAVE_SENTENCEPIECE
bool sentencePieceSupported() { return false; }

StatusOr<std::unique_ptr<Tokenizer>>
loadSentencePieceTokenizer(const std::string &modelPath) {
  return unimplemented(
      "cannot load the SentencePiece model " + modelPath +
      ": this build of Gecko lacks SentencePiece (install "
      "libsentencepiece-dev and rebuild with GECKO_ENABLE_SENTENCEPIECE=ON; "
      "or tokenize elsewhere and pass token ids)");
}
#endif

StatusOr<std::unique_ptr<Tokenizer>> createTokenizer(const std::string &spec) {
  if (spec == "byte")
    return createByteTokenizer();
  const std::string sp = "sentencepiece:";
  if (spec.compare(0, sp.size(), sp) == 0) {
    if (spec.size() == sp.size())
      return invalidArgument("tokenizer 'sentencepiece:' needs a model path "
                             "(sentencepiece:MODEL)");
    return loadSentencePieceTokenizer(spec.substr(sp.size()));
  }
  return invalidArgument("unknown tokenizer '" + spec +
                         "' (expected 'byte' or 'sentencepiece:MODEL')");
}

} // namespace gecko
