//===- TokenizerTest.cpp - Tests for the generate tokenizers --------------===//
//
// The byte-level tokenizer, createTokenizer()'s spellings, and (where the
// build has SentencePiece and its trainer library) SentencePiece models
// trained here on testdata/spm-corpus.txt: encoding, incremental decoding
// (spaces, byte-fallback pieces held back until a character is whole,
// control pieces, unknown ids), the vocabulary check against a smaller
// model, and missing, empty, corrupt and truncated model files.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <unistd.h>

#ifdef GECKO_TEST_HAVE_SPM_TRAIN
#include <sentencepiece_trainer.h>
#endif

using namespace gecko;

namespace {

std::string decodeAll(TextDecoder &d, const std::vector<int64_t> &ids,
                      std::vector<std::string> *chunks = nullptr) {
  std::string out;
  for (int64_t id : ids) {
    std::string piece = d.push(id);
    if (chunks)
      chunks->push_back(piece);
    out += piece;
  }
  return out + d.flush();
}

void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

TEST(ByteTokenizer, BytesInAndOut) {
  std::unique_ptr<Tokenizer> t = createByteTokenizer();
  EXPECT_EQ(t->name(), "byte");
  EXPECT_EQ(t->vocabSize(), 256);
  EXPECT_EQ(t->bosId(), -1);
  EXPECT_EQ(t->eosId(), -1);
  StatusOr<std::vector<int64_t>> ids = t->encode("h\xC3\xA9");
  ASSERT_TRUE(ids.isOk());
  EXPECT_EQ(*ids, (std::vector<int64_t>{'h', 0xC3, 0xA9}));
  std::unique_ptr<TextDecoder> d = t->newDecoder();
  EXPECT_EQ(decodeAll(*d, *ids), "h\xC3\xA9");
  EXPECT_EQ(decodeAll(*d, {0x1B, 300}), "\\x1B<|300|>");
  EXPECT_TRUE(t->checkFits(*ids, 256).isOk());
  Status st = t->checkFits(*ids, 16);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("prompt byte 0x68 at offset 0 is outside the "
                              "model's vocabulary [0, 16)"),
            std::string::npos)
      << st.message();
}

TEST(CreateTokenizer, Spellings) {
  StatusOr<std::unique_ptr<Tokenizer>> t = createTokenizer("byte");
  ASSERT_TRUE(t.isOk());
  EXPECT_EQ((*t)->name(), "byte");
  EXPECT_EQ(createTokenizer("bpe:x").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(createTokenizer("sentencepiece:").status().code(),
            StatusCode::kInvalidArgument);
  t = createTokenizer("sentencepiece:/nonexistent/sp.model");
  ASSERT_FALSE(t.isOk());
  if (sentencePieceSupported()) {
    EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
    EXPECT_NE(t.status().message().find("/nonexistent/sp.model"),
              std::string::npos);
  } else {
    EXPECT_EQ(t.status().code(), StatusCode::kUnimplemented);
    EXPECT_NE(t.status().message().find("lacks SentencePiece"),
              std::string::npos)
        << t.status().message();
  }
}

#ifdef GECKO_TEST_HAVE_SPM_TRAIN

/// Two models trained once on the bundled corpus: `small` (48 pieces, no
/// byte fallback) and `bytes` (400 pieces with the 256 byte pieces).
class SentencePieceTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    std::string base = ::testing::TempDir() + "gecko-spm-XXXXXX";
    std::vector<char> buf(base.begin(), base.end());
    buf.push_back('\0');
    const char *d = ::mkdtemp(buf.data());
    ASSERT_NE(d, nullptr);
    dir_ = new std::string(d);
    const std::string common = std::string("--input=") + GECKO_TEST_SPM_CORPUS +
                               " --character_coverage=0.98 --num_threads=1";
    for (auto [name, args] :
         {std::pair<const char *, const char *>{
              "small", " --vocab_size=48 --byte_fallback=false"},
          {"bytes", " --vocab_size=400 --byte_fallback=true"}}) {
      auto st = sentencepiece::SentencePieceTrainer::Train(
          common + args + " --model_prefix=" + *dir_ + "/" + name);
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static std::string path(const char *name) {
    return *dir_ + "/" + name + ".model";
  }
  static std::unique_ptr<Tokenizer> load(const char *name) {
    StatusOr<std::unique_ptr<Tokenizer>> t =
        createTokenizer(std::string("sentencepiece:") + path(name));
    EXPECT_TRUE(t.isOk()) << t.status().toString();
    return t.isOk() ? std::move(t).value() : nullptr;
  }

  static std::string *dir_;
};

std::string *SentencePieceTest::dir_ = nullptr;

TEST_F(SentencePieceTest, ModelFacts) {
  std::unique_ptr<Tokenizer> t = load("small");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name(), "sentencepiece:" + path("small"));
  EXPECT_EQ(t->vocabSize(), 48);
  EXPECT_EQ(t->bosId(), 1); // spm_train's defaults: unk 0, bos 1, eos 2
  EXPECT_EQ(t->eosId(), 2);
}

TEST_F(SentencePieceTest, RoundTripsText) {
  const std::string text = "the gecko climbs the warm stone wall at dusk";
  for (const char *name : {"small", "bytes"}) {
    std::unique_ptr<Tokenizer> t = load(name);
    ASSERT_TRUE(t);
    StatusOr<std::vector<int64_t>> ids = t->encode(text);
    ASSERT_TRUE(ids.isOk()) << ids.status().toString();
    ASSERT_FALSE(ids->empty());
    for (int64_t id : *ids) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, t->vocabSize());
    }
    EXPECT_LT(ids->size(), text.size()) << name << ": pieces, not letters";
    EXPECT_TRUE(t->checkFits(*ids, t->vocabSize()).isOk());
    std::unique_ptr<TextDecoder> d = t->newDecoder();
    std::vector<std::string> chunks;
    EXPECT_EQ(decodeAll(*d, *ids, &chunks), text) << name;
    // Incremental: no output waits for the end.
    EXPECT_EQ(chunks.back().empty(), false) << name;
  }
}

TEST_F(SentencePieceTest, DecodingKeepsTheSpaceAfterAContext) {
  std::unique_ptr<Tokenizer> t = load("small");
  ASSERT_TRUE(t);
  StatusOr<std::vector<int64_t>> ctx = t->encode("the gecko");
  StatusOr<std::vector<int64_t>> more = t->encode(" runs on the wall");
  ASSERT_TRUE(ctx.isOk() && more.isOk());
  // After the prompt the first word keeps its space; without one the text
  // starts at the first letter, as the library's Decode does.
  std::vector<int64_t> prompt = {t->bosId()};
  prompt.insert(prompt.end(), ctx->begin(), ctx->end());
  EXPECT_EQ(decodeAll(*t->newDecoder(prompt), *more), " runs on the wall");
  EXPECT_EQ(decodeAll(*t->newDecoder(), *more), "runs on the wall");
}

TEST_F(SentencePieceTest, ControlUnknownAndOutOfRangeIds) {
  std::unique_ptr<Tokenizer> t = load("small");
  ASSERT_TRUE(t);
  StatusOr<std::vector<int64_t>> a = t->encode("the gecko");
  ASSERT_TRUE(a.isOk());
  std::vector<int64_t> ids = {t->bosId()};
  ids.insert(ids.end(), a->begin(), a->end());
  ids.push_back(t->eosId());
  EXPECT_EQ(decodeAll(*t->newDecoder(), ids), "the gecko");
  std::unique_ptr<TextDecoder> d = t->newDecoder();
  EXPECT_EQ(decodeAll(*d, {a->front(), 48, 1000, -3}),
            decodeAll(*t->newDecoder(), {a->front()}) + "<|48|><|1000|><|-3|>");
  // A letter outside the 48 pieces encodes as the unknown piece, which
  // decodes as the library's " \u2047 ".
  StatusOr<std::vector<int64_t>> q = t->encode("Q");
  ASSERT_TRUE(q.isOk());
  EXPECT_NE(std::find(q->begin(), q->end(), 0), q->end());
  EXPECT_NE(decodeAll(*t->newDecoder(), *q).find("\xE2\x81\x87"),
            std::string::npos);
}

TEST_F(SentencePieceTest, ByteFallbackPrintsWholeCharacters) {
  std::unique_ptr<Tokenizer> t = load("bytes");
  ASSERT_TRUE(t);
  // Not in the corpus: the lizard and Omega become byte pieces.
  const std::string text =
      "the gecko \xF0\x9F\xA6\x8E and \xCE\xA9 caf\xC3\xA9";
  StatusOr<std::vector<int64_t>> ids = t->encode(text);
  ASSERT_TRUE(ids.isOk());
  std::unique_ptr<TextDecoder> d = t->newDecoder();
  std::vector<std::string> chunks;
  EXPECT_EQ(decodeAll(*d, *ids, &chunks), text);
  // Held back until whole: the lizard's four byte pieces print at once and
  // nothing printed is an incomplete character (U+FFFD).
  EXPECT_NE(std::find(chunks.begin(), chunks.end(), "\xF0\x9F\xA6\x8E"),
            chunks.end());
  for (const std::string &c : chunks)
    EXPECT_EQ(c.find("\xEF\xBF\xBD"), std::string::npos) << c;
  // A lone continuation byte can never complete: it prints (as U+FFFD)
  // once text follows, or after at most four held ids.
  const int64_t cont = 3 + 0x80; // <0x80>: the byte pieces follow unk/bos/eos
  StatusOr<std::vector<int64_t>> word = t->encode("the");
  ASSERT_TRUE(word.isOk());
  std::vector<int64_t> bad = {cont};
  bad.insert(bad.end(), word->begin(), word->end());
  chunks.clear();
  std::string all = decodeAll(*t->newDecoder(), bad, &chunks);
  EXPECT_EQ(all, "\xEF\xBF\xBD the");
  EXPECT_EQ(chunks[0], "");
  EXPECT_EQ(chunks[1], all);
  chunks.clear();
  all = decodeAll(*t->newDecoder(), {cont, cont, cont, cont, cont}, &chunks);
  EXPECT_EQ(chunks[0] + chunks[1] + chunks[2], "");
  EXPECT_EQ(chunks[3], "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(all, chunks[3] + "\xEF\xBF\xBD");
}

TEST_F(SentencePieceTest, ControlBytesPrintEscaped) {
  std::unique_ptr<Tokenizer> t = load("bytes");
  ASSERT_TRUE(t);
  const int64_t esc = 3 + 0x1B; // <0x1B>
  std::string out = decodeAll(*t->newDecoder(), {esc, esc});
  EXPECT_EQ(out, "\\x1B\\x1B");
}

TEST_F(SentencePieceTest, RejectsIdsOutsideASmallerModel) {
  std::unique_ptr<Tokenizer> t = load("bytes");
  ASSERT_TRUE(t);
  StatusOr<std::vector<int64_t>> ids = t->encode("the gecko \xCE\xA9");
  ASSERT_TRUE(ids.isOk());
  Status st = t->checkFits(*ids, 50);
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("is outside the model's vocabulary [0, 50)"),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("has a vocabulary of 400 pieces but the "
                              "artifact's vocabulary is 50"),
            std::string::npos)
      << st.message();
  EXPECT_TRUE(t->checkFits(*ids, 400).isOk());
}

TEST_F(SentencePieceTest, BadModelFiles) {
  const std::string bad = *dir_ + "/bad.model";
  auto loadStatus = [](const std::string &p) {
    return createTokenizer("sentencepiece:" + p).status();
  };
  Status st = loadStatus(*dir_ + "/missing.model");
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_NE(st.message().find("missing.model"), std::string::npos);

  writeFile(bad, "");
  st = loadStatus(bad);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("is empty"), std::string::npos) << st.message();

  for (const std::string &junk :
       {std::string("this is not a sentencepiece model\n"),
        std::string("\x0A\xFF\xFF\xFF\xFF\x0F garbage", 12),
        readFile(path("small")).substr(0, 200)}) {
    writeFile(bad, junk);
    st = loadStatus(bad);
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.toString();
    EXPECT_NE(st.message().find("not a valid SentencePiece model"),
              std::string::npos)
        << st.message();
  }
  // A directory is not a model either.
  st = loadStatus(*dir_);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.toString();
  EXPECT_NE(st.message().find("cannot read it"), std::string::npos)
      << st.message();
}

// Damaged model files are errors, never crashes: bytes of a trained model
// are overwritten at random (fixed seed); each mutant either loads and
// encodes text, or fails with a Status. libsentencepiece itself crashes on
// some damaged normalization maps; the tokenizer probes that in a child.
TEST_F(SentencePieceTest, DamagedModelsAreErrorsNotCrashes) {
  const std::string original = readFile(path("bytes"));
  ASSERT_FALSE(original.empty());
  const std::string mutant = *dir_ + "/mutant.model";
  std::mt19937 rng(20261127);
  int loaded = 0, rejected = 0, crashesCaught = 0;
  for (int i = 0; i < 600; ++i) {
    std::string bytes = original;
    int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits; ++e)
      bytes[rng() % bytes.size()] = char(rng() & 0xff);
    writeFile(mutant, bytes);
    StatusOr<std::unique_ptr<Tokenizer>> t =
        createTokenizer("sentencepiece:" + mutant);
    Status st = t.status();
    if (t.isOk()) {
      StatusOr<std::vector<int64_t>> ids =
          (*t)->encode("the gecko climbs the warm stone wall, \xC3\xA9!");
      st = ids.status();
    }
    if (st.isOk()) {
      ++loaded;
      continue;
    }
    ++rejected;
    EXPECT_FALSE(st.message().empty());
    if (st.message().find("crashes libsentencepiece") != std::string::npos)
      ++crashesCaught;
  }
  EXPECT_GT(loaded + rejected, 0);
  std::printf("damaged models: %d usable, %d rejected (%d of them would have "
              "crashed libsentencepiece)\n",
              loaded, rejected, crashesCaught);
}

#endif // GECKO_TEST_HAVE_SPM_TRAIN

TEST(SentencePieceSupport, TrainedModelsAreTestedWhereSupported) {
#ifndef GECKO_TEST_HAVE_SPM_TRAIN
  GTEST_SKIP() << "this build has no SentencePiece (or no "
                  "libsentencepiece_train to train test models)";
#else
  EXPECT_TRUE(sentencePieceSupported());
#endif
}

} // namespace
