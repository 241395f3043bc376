//===- cublaslt_gemm.cpp - gecko_host_imports.gemm through cuBLASLt -------===//
//
// libcublasLt is loaded on first use, like libcuda: only cublasLt.h's types
// are needed at build time, so a CUDA-enabled runtime builds and runs where
// the library is absent, and a GEMM there is an error of that call.
//
// The descriptor (kernel_abi.h) is row-major-first: C (m x n) is row-major,
// A and B may be either. cuBLASLt is column-major, so the product computed
// is C^T = B^T A^T: C row-major with leading dimension ldc is C^T
// column-major (n x m, ldc); a row-major B is B^T column-major (n x k, no
// transpose) and a column-major B is B itself (k x n, transposed by
// cuBLASLt); A likewise, as the second operand.
//
// dtype GECKO_GEMM_BF16_F32 (--precision=bf16) reads A and B as
// CUDA_R_16BF and C/D as CUDA_R_32F, with CUBLAS_COMPUTE_32F and f32 alpha
// and beta: the tensor cores multiply the bf16 values exactly and sum in
// f32.
//
// Everything but the pointers and alpha/beta (shape, strides, layouts,
// alignments) keys a cache of the matmul descriptor, the three layouts and
// the algorithm cublasLtMatmulAlgoGetHeuristic chose, so a repeated GEMM
// costs one map lookup and the cublasLtMatmul call. The workspace is
// allocated once, so cublasLtMatmul allocates nothing and is capture-safe.
//
//===----------------------------------------------------------------------===//

#include "cuda_internal.h"

#include <cublasLt.h>
#include <dlfcn.h>

#include <array>
#include <cstring>
#include <initializer_list>
#include <map>
#include <mutex>
#include <vector>

namespace gecko::detail {
namespace {

/// The subset of cuBLASLt used here, resolved with dlsym.
struct LtApi {
  decltype(&::cublasLtCreate) create = nullptr;
  decltype(&::cublasLtDestroy) destroy = nullptr;
  decltype(&::cublasLtMatmulDescCreate) descCreate = nullptr;
  decltype(&::cublasLtMatmulDescDestroy) descDestroy = nullptr;
  decltype(&::cublasLtMatmulDescSetAttribute) descSet = nullptr;
  decltype(&::cublasLtMatrixLayoutCreate) layoutCreate = nullptr;
  decltype(&::cublasLtMatrixLayoutDestroy) layoutDestroy = nullptr;
  decltype(&::cublasLtMatrixLayoutSetAttribute) layoutSet = nullptr;
  decltype(&::cublasLtMatmulPreferenceCreate) prefCreate = nullptr;
  decltype(&::cublasLtMatmulPreferenceDestroy) prefDestroy = nullptr;
  decltype(&::cublasLtMatmulPreferenceSetAttribute) prefSet = nullptr;
  decltype(&::cublasLtMatmulAlgoGetHeuristic) heuristic = nullptr;
  decltype(&::cublasLtMatmul) matmul = nullptr;
  // Optional (absent from old libraries).
  decltype(&::cublasLtGetStatusName) statusName = nullptr;
  decltype(&::cublasLtGetStatusString) statusString = nullptr;
};

constexpr const char *kPrimaryName = "libcublasLt.so.13";

template <typename Fn> bool sym(void *lib, const char *name, Fn &fn) {
  fn = reinterpret_cast<Fn>(dlsym(lib, name));
  return fn != nullptr;
}

StatusOr<const LtApi *> loadCublasLt() {
  static std::once_flag once;
  static LtApi api;
  static Status loadStatus;
  std::call_once(once, [] {
    void *lib = nullptr;
    std::string firstError;
    std::vector<std::string> names = {kPrimaryName, "libcublasLt.so.12",
                                      "libcublasLt.so"};
#ifdef GECKO_CUDA_LIBRARY_DIR
    // The toolkit the runtime was built with, where the loader path lacks it.
    for (const char *n : {"libcublasLt.so.13", "libcublasLt.so.12"})
      names.push_back(std::string(GECKO_CUDA_LIBRARY_DIR) + "/" + n);
#endif
    for (const std::string &name : names) {
      lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib)
        break;
      const char *err = dlerror();
      if (firstError.empty())
        firstError = err ? err : "unknown error";
    }
    if (!lib) {
      loadStatus = unavailable(
          std::string("cuBLASLt (") + kPrimaryName +
          ") cannot be loaded: " + firstError +
          " (also tried libcublasLt.so.12 and libcublasLt.so; "
          "gecko_host_imports.gemm needs the CUDA toolkit's cuBLASLt)");
      return;
    }
    LtApi &a = api;
    const char *missing = nullptr;
    auto need = [&](const char *name, auto &fn) {
      if (!missing && !sym(lib, name, fn))
        missing = name;
    };
    need("cublasLtCreate", a.create);
    need("cublasLtDestroy", a.destroy);
    need("cublasLtMatmulDescCreate", a.descCreate);
    need("cublasLtMatmulDescDestroy", a.descDestroy);
    need("cublasLtMatmulDescSetAttribute", a.descSet);
    need("cublasLtMatrixLayoutCreate", a.layoutCreate);
    need("cublasLtMatrixLayoutDestroy", a.layoutDestroy);
    need("cublasLtMatrixLayoutSetAttribute", a.layoutSet);
    need("cublasLtMatmulPreferenceCreate", a.prefCreate);
    need("cublasLtMatmulPreferenceDestroy", a.prefDestroy);
    need("cublasLtMatmulPreferenceSetAttribute", a.prefSet);
    need("cublasLtMatmulAlgoGetHeuristic", a.heuristic);
    need("cublasLtMatmul", a.matmul);
    if (missing) {
      loadStatus = unavailable(std::string("cuBLASLt (") + kPrimaryName +
                               ") cannot be loaded: the library lacks " +
                               missing + " (CUDA 11.4 or newer is needed)");
      return;
    }
    (void)sym(lib, "cublasLtGetStatusName", a.statusName);
    (void)sym(lib, "cublasLtGetStatusString", a.statusString);
  });
  if (!loadStatus.isOk())
    return loadStatus;
  return &api;
}

Status ltError(const LtApi &api, cublasStatus_t rc, const std::string &call) {
  std::string name = api.statusName ? api.statusName(rc) : "";
  if (name.empty())
    name = "cublasStatus " + std::to_string(int(rc));
  std::string msg = call + " failed: " + name;
  if (api.statusString)
    msg += std::string(" (") + api.statusString(rc) + ")";
  if (rc == CUBLAS_STATUS_ALLOC_FAILED)
    return resourceExhausted(msg);
  if (rc == CUBLAS_STATUS_INVALID_VALUE || rc == CUBLAS_STATUS_NOT_SUPPORTED)
    return invalidArgument(msg);
  return internalError(msg);
}

#define GECKO_LT_CHECK(api, call, name)                                        \
  do {                                                                         \
    cublasStatus_t gecko_lt_rc_ = (call);                                      \
    if (gecko_lt_rc_ != CUBLAS_STATUS_SUCCESS)                                 \
      return ltError(api, gecko_lt_rc_, name);                                 \
  } while (false)

/// The element types a descriptor's dtype names (kernel_abi.h); dtype
/// must be one of the three known codes.
struct DtypeInfo {
  cudaDataType_t input, output; ///< A and B; C.
  int64_t inputBytes, outputBytes;
  const char *name; ///< In profile labels and errors.
};

DtypeInfo dtypeInfo(unsigned dtype) {
  switch (dtype) {
  case GECKO_GEMM_F64:
    return {CUDA_R_64F, CUDA_R_64F, 8, 8, "f64"};
  case GECKO_GEMM_BF16_F32:
    return {CUDA_R_16BF, CUDA_R_32F, 2, 4, "bf16>f32"};
  default:
    return {CUDA_R_32F, CUDA_R_32F, 4, 4, "f32"};
  }
}

/// One operand as cuBLASLt sees it.
struct Layout {
  bool colMajor = false; ///< In the descriptor's (row-major) terms.
  int64_t ld = 0;
};

std::string dimsText(long long r, long long c) {
  return std::to_string(r) + " x " + std::to_string(c);
}

/// Decides whether r x c matrix `name` with `strides` is row-major
/// (strides[1] == 1, strides[0] >= c) or column-major (strides[0] == 1,
/// strides[1] >= r). A stride along an extent of 1 is never used and may be
/// anything.
Status layoutOf(const char *name, long long r, long long c,
                const long long *strides, bool allowColMajor, Layout &out) {
  long long s0 = strides[0], s1 = strides[1];
  bool row = (c == 1 || s1 == 1) && (r == 1 || s0 >= c);
  bool col = (r == 1 || s0 == 1) && (c == 1 || s1 >= r);
  if (row) {
    out.colMajor = false;
    out.ld = r == 1 ? c : s0;
    return Status::ok();
  }
  if (col && allowColMajor) {
    out.colMajor = true;
    out.ld = c == 1 ? r : s1;
    return Status::ok();
  }
  std::string msg = std::string(name) + " (" + dimsText(r, c) +
                    ") has strides [" + std::to_string(s0) + ", " +
                    std::to_string(s1) + "]: it must be row-major (strides[1]" +
                    " == 1 and strides[0] >= " + std::to_string(c) + ")";
  if (allowColMajor)
    msg += " or column-major (strides[0] == 1 and strides[1] >= " +
           std::to_string(r) + ")";
  return invalidArgument(msg);
}

/// The largest power of two up to 256 dividing the address of every batch.
int64_t alignmentOf(const void *p, long long batchStrideBytes,
                    long long batch) {
  uint64_t v = uint64_t(reinterpret_cast<uintptr_t>(p));
  if (batch > 1)
    v |= uint64_t(batchStrideBytes);
  if (v == 0)
    return 256;
  uint64_t a = v & (~v + 1);
  return int64_t(a > 256 ? 256 : a);
}

// Key fields (all int64): dtype, m, n, k, batch, lda, ldb, ldc, A/B col-major,
// batch strides of A, B, C, alignments of A, B, C.
using Key = std::array<int64_t, 15>;

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t first = nullptr;  ///< cuBLASLt's A: our B.
  cublasLtMatrixLayout_t second = nullptr; ///< cuBLASLt's B: our A.
  cublasLtMatrixLayout_t out = nullptr;    ///< C and D: our C^T.
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  unsigned shape = 0; ///< Index into labels_.
};

class CublasLtGemm final : public GemmEngine {
public:
  CublasLtGemm(const LtApi &api, CudaContext &ctx, GemmOptions options)
      : api_(api), ctx_(ctx), options_(options) {}

  ~CublasLtGemm() override {
    for (auto &entry : plans_)
      destroyPlan(entry.second);
    if (pref_)
      api_.prefDestroy(pref_);
    if (handle_)
      api_.destroy(handle_);
  }

  Status init() {
    GECKO_LT_CHECK(api_, api_.create(&handle_), "cublasLtCreate");
    GECKO_LT_CHECK(api_, api_.prefCreate(&pref_),
                   "cublasLtMatmulPreferenceCreate");
    StatusOr<Buffer> ws = ctx_.device().allocate(options_.workspaceBytes);
    if (!ws.isOk())
      return ws.status().withContext("allocating the cuBLASLt workspace");
    workspace_ = std::move(ws).value();
    uint64_t bytes = options_.workspaceBytes;
    GECKO_LT_CHECK(api_,
                   api_.prefSet(pref_, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                &bytes, sizeof(bytes)),
                   "cublasLtMatmulPreferenceSetAttribute");
    return Status::ok();
  }

  Status enqueue(const gecko_gemm_desc &d, void *stream,
                 unsigned *shape) override {
    const bool f64 = d.dtype == GECKO_GEMM_F64;
    if (d.dtype != GECKO_GEMM_F32 && !f64 && d.dtype != GECKO_GEMM_BF16_F32)
      return invalidArgument("gemm: unknown dtype " + std::to_string(d.dtype) +
                             " (GECKO_GEMM_F32 = 0, GECKO_GEMM_F64 = 1 or "
                             "GECKO_GEMM_BF16_F32 = 2)");
    if (d.flags != 0)
      return invalidArgument("gemm: flags must be 0, got " +
                             std::to_string(d.flags));
    if (d.m < 1 || d.n < 1 || d.k < 1 || d.batch < 1)
      return invalidArgument(
          "gemm: m, n, k and batch must be >= 1, got m=" + std::to_string(d.m) +
          " n=" + std::to_string(d.n) + " k=" + std::to_string(d.k) +
          " batch=" + std::to_string(d.batch));
    if (d.batch > 0x7fffffffLL)
      return invalidArgument("gemm: batch " + std::to_string(d.batch) +
                             " exceeds cuBLASLt's 32-bit batch count");
    if (!d.a || !d.b || !d.c)
      return invalidArgument("gemm: null pointer for A, B or C");
    Layout la, lb, lc;
    GECKO_RETURN_IF_ERROR(layoutOf("gemm: A", d.m, d.k, d.a_strides, true, la));
    GECKO_RETURN_IF_ERROR(layoutOf("gemm: B", d.k, d.n, d.b_strides, true, lb));
    GECKO_RETURN_IF_ERROR(
        layoutOf("gemm: C", d.m, d.n, d.c_strides, false, lc));
    long long sa = d.batch > 1 ? d.a_strides[2] : 0;
    long long sb = d.batch > 1 ? d.b_strides[2] : 0;
    long long sc = d.batch > 1 ? d.c_strides[2] : 0;
    if (sa < 0 || sb < 0 || sc < 0)
      return invalidArgument("gemm: negative batch stride");
    // Batches of C may follow each other (each a block of m rows) or be
    // interleaved inside the rows (e.g. attention scores laid out [i, h, j]:
    // the batch stride is n and the leading dimension batch * n). Anything
    // else may overlap and is refused.
    bool blocks = sc >= (d.m - 1) * lc.ld + d.n;
    bool interleaved =
        d.m == 1 ? sc >= d.n : sc >= d.n && (d.batch - 1) * sc + d.n <= lc.ld;
    if (d.batch > 1 && !blocks && !interleaved)
      return invalidArgument("gemm: C's batch stride " + std::to_string(sc) +
                             " makes the batches of C overlap (batch " +
                             std::to_string(d.batch) + ", " +
                             dimsText(d.m, d.n) + ", leading dimension " +
                             std::to_string(lc.ld) + ")");
    const DtypeInfo types = dtypeInfo(d.dtype);
    const int64_t elemAB = types.inputBytes, elemC = types.outputBytes;
    int64_t alA = alignmentOf(d.a, sa * elemAB, d.batch);
    int64_t alB = alignmentOf(d.b, sb * elemAB, d.batch);
    int64_t alC = alignmentOf(d.c, sc * elemC, d.batch);
    if (alA < elemAB || alB < elemAB || alC < elemC)
      return invalidArgument(
          "gemm: A, B and C must be aligned to their elements (" +
          std::to_string(elemAB) + ", " + std::to_string(elemAB) + " and " +
          std::to_string(elemC) + " bytes)");
    Key key = {int64_t(d.dtype),
               d.m,
               d.n,
               d.k,
               d.batch,
               la.ld,
               lb.ld,
               lc.ld,
               la.colMajor + 2 * lb.colMajor,
               sa,
               sb,
               sc,
               alA,
               alB,
               alC};
    auto it = plans_.find(key);
    if (it == plans_.end()) {
      // A new shape: descriptors and heuristics are host-only work, done in
      // relaxed capture mode in case a capture is in progress.
      int old = ctx_.exchangeCaptureMode(2);
      Plan plan;
      Status s = makePlan(d, la, lb, lc, sa, sb, sc, alA, alB, alC, plan);
      ctx_.exchangeCaptureMode(old);
      if (!s.isOk()) {
        destroyPlan(plan);
        return s.withContext(label(d));
      }
      it = plans_.emplace(key, plan).first;
    }
    const Plan &p = it->second;
    *shape = p.shape;
    // The scale type is the output's: f32 for f32 and bf16 inputs.
    float alpha32 = float(d.alpha), beta32 = float(d.beta);
    const void *alpha = f64 ? static_cast<const void *>(&d.alpha) : &alpha32;
    const void *beta = f64 ? static_cast<const void *>(&d.beta) : &beta32;
    GECKO_LT_CHECK(api_,
                   api_.matmul(handle_, p.desc, alpha, d.b, p.first, d.a,
                               p.second, beta, d.c, p.out, d.c, p.out, &p.algo,
                               workspace_.data(), p.workspace,
                               static_cast<cudaStream_t>(stream)),
                   "cublasLtMatmul");
    return Status::ok();
  }

  std::string describe(unsigned shape) const override {
    return shape < labels_.size() ? labels_[shape] : "gemm";
  }

private:
  static std::string label(const gecko_gemm_desc &d) {
    std::string s = std::string("gemm ") + dtypeInfo(d.dtype).name + " " +
                    std::to_string(d.m) + " x " + std::to_string(d.n) + " x " +
                    std::to_string(d.k);
    if (d.batch > 1)
      s += " (batch " + std::to_string(d.batch) + ")";
    return s;
  }

  void destroyPlan(Plan &p) {
    if (p.desc)
      api_.descDestroy(p.desc);
    for (cublasLtMatrixLayout_t l : {p.first, p.second, p.out})
      if (l)
        api_.layoutDestroy(l);
    p = Plan();
  }

  Status makeLayout(cudaDataType_t type, uint64_t rows, uint64_t cols,
                    int64_t ld, long long batch, long long stride,
                    cublasLtMatrixLayout_t &out) {
    GECKO_LT_CHECK(api_, api_.layoutCreate(&out, type, rows, cols, ld),
                   "cublasLtMatrixLayoutCreate");
    if (batch > 1) {
      int32_t count = int32_t(batch);
      int64_t offset = stride;
      GECKO_LT_CHECK(api_,
                     api_.layoutSet(out, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                    &count, sizeof(count)),
                     "cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)");
      GECKO_LT_CHECK(api_,
                     api_.layoutSet(out,
                                    CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                    &offset, sizeof(offset)),
                     "cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)");
    }
    return Status::ok();
  }

  Status makePlan(const gecko_gemm_desc &d, const Layout &la, const Layout &lb,
                  const Layout &lc, long long sa, long long sb, long long sc,
                  int64_t alA, int64_t alB, int64_t alC, Plan &p) {
    const DtypeInfo types = dtypeInfo(d.dtype);
    // The inputs' and the output's types; the scale type (alpha, beta) is
    // the output's. bf16 inputs multiply exactly and sum in f32
    // (CUBLAS_COMPUTE_32F); TF32 applies to f32 inputs only.
    cudaDataType_t inType = types.input, outType = types.output;
    cublasComputeType_t compute = d.dtype == GECKO_GEMM_F64 ? CUBLAS_COMPUTE_64F
                                  : (d.dtype == GECKO_GEMM_F32 && options_.tf32)
                                      ? CUBLAS_COMPUTE_32F_FAST_TF32
                                      : CUBLAS_COMPUTE_32F;
    GECKO_LT_CHECK(api_, api_.descCreate(&p.desc, compute, outType),
                   "cublasLtMatmulDescCreate");
    // cuBLASLt's A is our B: row-major B is B^T (n x k) as stored, a
    // column-major B is B (k x n) and must be transposed. Likewise A.
    cublasOperation_t opFirst = lb.colMajor ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t opSecond = la.colMajor ? CUBLAS_OP_T : CUBLAS_OP_N;
    GECKO_LT_CHECK(api_,
                   api_.descSet(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opFirst,
                                sizeof(opFirst)),
                   "cublasLtMatmulDescSetAttribute(TRANSA)");
    GECKO_LT_CHECK(api_,
                   api_.descSet(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opSecond,
                                sizeof(opSecond)),
                   "cublasLtMatmulDescSetAttribute(TRANSB)");
    uint64_t n = uint64_t(d.n), m = uint64_t(d.m), k = uint64_t(d.k);
    GECKO_RETURN_IF_ERROR(makeLayout(inType, lb.colMajor ? k : n,
                                     lb.colMajor ? n : k, lb.ld, d.batch, sb,
                                     p.first));
    GECKO_RETURN_IF_ERROR(makeLayout(inType, la.colMajor ? m : k,
                                     la.colMajor ? k : m, la.ld, d.batch, sa,
                                     p.second));
    GECKO_RETURN_IF_ERROR(makeLayout(outType, n, m, lc.ld, d.batch, sc, p.out));
    // The heuristics assume 256-byte aligned pointers unless told otherwise.
    uint32_t align[3] = {uint32_t(alB), uint32_t(alA), uint32_t(alC)};
    GECKO_LT_CHECK(api_,
                   api_.prefSet(pref_,
                                CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                &align[0], sizeof(uint32_t)),
                   "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_A)");
    GECKO_LT_CHECK(api_,
                   api_.prefSet(pref_,
                                CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                &align[1], sizeof(uint32_t)),
                   "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_B)");
    for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
      GECKO_LT_CHECK(api_,
                     api_.prefSet(pref_, attr, &align[2], sizeof(uint32_t)),
                     "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_C)");
    cublasLtMatmulHeuristicResult_t result;
    std::memset(&result, 0, sizeof(result));
    int found = 0;
    GECKO_LT_CHECK(api_,
                   api_.heuristic(handle_, p.desc, p.first, p.second, p.out,
                                  p.out, pref_, 1, &result, &found),
                   "cublasLtMatmulAlgoGetHeuristic");
    if (found < 1)
      return invalidArgument("cuBLASLt has no algorithm for this product");
    p.algo = result.algo;
    p.workspace = result.workspaceSize;
    std::string l = label(d);
    auto known = labelIds_.find(l);
    if (known == labelIds_.end()) {
      known = labelIds_.emplace(l, unsigned(labels_.size())).first;
      labels_.push_back(l);
    }
    p.shape = known->second;
    return Status::ok();
  }

  const LtApi &api_;
  CudaContext &ctx_;
  GemmOptions options_;
  cublasLtHandle_t handle_ = nullptr;
  cublasLtMatmulPreference_t pref_ = nullptr;
  Buffer workspace_;
  std::map<Key, Plan> plans_;
  std::vector<std::string> labels_;
  std::map<std::string, unsigned> labelIds_;
};

} // namespace

StatusOr<std::unique_ptr<GemmEngine>>
createCublasLtGemmEngine(CudaContext &context, const GemmOptions &options) {
  GECKO_ASSIGN_OR_RETURN(const LtApi *api, loadCublasLt());
  // The handle and the workspace may be made while a capture is in progress
  // (the first GEMM of a captured call): allocations are allowed in relaxed
  // mode and are not part of the graph.
  int old = context.exchangeCaptureMode(2);
  auto engine = std::make_unique<CublasLtGemm>(*api, context, options);
  Status s = engine->init();
  context.exchangeCaptureMode(old);
  if (!s.isOk())
    return s.withContext("creating the cuBLASLt GEMM engine");
  return std::unique_ptr<GemmEngine>(std::move(engine));
}

} // namespace gecko::detail
