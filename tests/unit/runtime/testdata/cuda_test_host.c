/* Host object of the CUDA test artifact: what gecko-compile --target cuda
 * emits, written by hand (kernel_abi.h, "GPU targets"). Every entry only
 * computes addresses and launches kernels through gecko_host_imports; the
 * device image (GECKO_TEST_DEVICE_IMAGE, a fatbin or PTX file made by nvcc
 * from cuda_test_kernels.cu) is embedded with .incbin. */

#include "gecko/abi/kernel_abi.h"

#define N 1000
#define BLOCK 256
#define GRID ((N + BLOCK - 1) / BLOCK)

#define STR2(x) #x
#define STR(x) STR2(x)

#define IMAGE_PATH STR(GECKO_TEST_DEVICE_IMAGE)

/* gecko_device_image / gecko_device_image_size, exported. */
__asm__(
    ".section .rodata\n"
    ".balign 64\n"
    ".globl gecko_device_image\n"
    ".type gecko_device_image, @object\n"
    "gecko_device_image:\n"
    ".incbin \"" IMAGE_PATH "\"\n"
    "gecko_device_image_end:\n"
    ".byte 0\n"
    ".size gecko_device_image, gecko_device_image_end - gecko_device_image\n"
    ".balign 8\n"
    ".globl gecko_device_image_size\n"
    ".type gecko_device_image_size, @object\n"
    "gecko_device_image_size:\n"
    ".quad gecko_device_image_end - gecko_device_image\n"
    ".size gecko_device_image_size, 8\n"
    ".text\n");

gecko_host_imports_t gecko_host_imports;

const unsigned int gecko_kernel_abi_version = 1;

enum { kVadd = 0, kScale2 = 1, kTrap = 2, kAddOne = 3 };

static int launch1d(unsigned kernel, unsigned block, void **params) {
  return gecko_host_imports.launch(gecko_host_imports.context, kernel, GRID, 1,
                                   1, block, 1, 1, 0, params);
}

/* args: x, y, z (result), workspace */
void gecko_entry_vadd(void **args) {
  int n = N;
  void *params[] = {&args[0], &args[1], &args[2], &n};
  launch1d(kVadd, BLOCK, params);
}

/* z = 2 * (x + y) through the workspace: two launches in order. */
void gecko_entry_vadd2x(void **args) {
  int n = N;
  void *tmp = args[3];
  void *p1[] = {&args[0], &args[1], &tmp, &n};
  launch1d(kVadd, BLOCK, p1);
  void *p2[] = {&tmp, &args[2], &n};
  launch1d(kScale2, BLOCK, p2);
}

/* A kernel index the plan does not have, then a valid launch that the
 * runtime must skip. */
void gecko_entry_bad_index(void **args) {
  int n = N;
  void *params[] = {&args[0], &args[1], &args[2], &n};
  launch1d(99, BLOCK, params);
  launch1d(kVadd, BLOCK, params);
}

/* 4096 threads per block: cuLaunchKernel refuses it. */
void gecko_entry_bad_block(void **args) {
  int n = N;
  void *params[] = {&args[0], &args[1], &args[2], &n};
  launch1d(kVadd, 4096, params);
}

/* vadd asking for 96 KiB of dynamic shared memory: more than the default
 * 48 KiB, so the runtime must raise the kernel's limit first. */
void gecko_entry_vadd_smem(void **args) {
  int n = N;
  void *params[] = {&args[0], &args[1], &args[2], &n};
  gecko_host_imports.launch(gecko_host_imports.context, kVadd, GRID, 1, 1,
                            BLOCK, 1, 1, 96 * 1024, params);
}

/* A kernel that traps: the error appears when the stream is synchronized. */
void gecko_entry_trap(void **args) {
  (void)args;
  launch1d(kTrap, 32, 0);
}

/* args: state x, result next:x = x + 1, workspace */
void gecko_entry_step(void **args) {
  int n = N;
  void *params[] = {&args[0], &args[1], &n};
  launch1d(kAddOne, BLOCK, params);
}

/*===--- GEMMs through gecko_host_imports.gemm (cuBLASLt) ---------------===*/

#define GM 37
#define GK 61
#define GN 45
#define GB 3

static int gemm(const gecko_gemm_desc *d) {
  return gecko_host_imports.gemm(gecko_host_imports.context, d);
}

static gecko_gemm_desc desc(unsigned dtype, double alpha, double beta,
                            const void *a, long long a0, long long a1,
                            long long a2, const void *b, long long b0,
                            long long b1, long long b2, void *c) {
  gecko_gemm_desc d = {dtype, 0u,
                       GM,    GN,
                       GK,    1,
                       alpha, beta,
                       a,     {a0, a1, a2},
                       b,     {b0, b1, b2},
                       c,     {GN, 1, (long long)GM * GN}};
  return d;
}

/* args: a [M,K], b [K,N], c [M,N] (result): c = 1.5 a b, both row-major. */
void gecko_entry_gemm_rr(void **args) {
  gecko_gemm_desc d = desc(GECKO_GEMM_F32, 1.5, 0.0, args[0], GK, 1, 0, args[1],
                           GN, 1, 0, args[2]);
  gemm(&d);
}

/* args: a [M,K], w [N,K], c [M,N]: c = a w^T (B column-major, ld K). */
void gecko_entry_gemm_rc(void **args) {
  gecko_gemm_desc d = desc(GECKO_GEMM_F32, 1.0, 0.0, args[0], GK, 1, 0, args[1],
                           1, GK, 0, args[2]);
  gemm(&d);
}

/* args: a [M,K] (every batch), b [B,K,N], c [B,M,N]: c_i = a b_i, then
 * c_i = a b_i + 0.5 c_i (beta, and two GEMMs in order): 1.5 a b_i. */
void gecko_entry_gemm_batched(void **args) {
  gecko_gemm_desc d = desc(GECKO_GEMM_F32, 1.0, 0.0, args[0], GK, 1, 0, args[1],
                           GN, 1, (long long)GK * GN, args[2]);
  d.batch = GB;
  gemm(&d);
  d.beta = 0.5;
  gemm(&d);
}

/* f64. args: at [K,M] (A stored transposed: column-major A), b [K,N],
 * c [M,N]: c = 2 at^T b. */
void gecko_entry_gemm_f64(void **args) {
  gecko_gemm_desc d = desc(GECKO_GEMM_F64, 2.0, 0.0, args[0], 1, GM, 0, args[1],
                           GN, 1, 0, args[2]);
  gemm(&d);
}

/* args: a [M*K+1] flat, b [K,N], c [M,N]: A starts one element in, so it
 * is aligned to 4 bytes only. */
void gecko_entry_gemm_offset(void **args) {
  gecko_gemm_desc d = desc(GECKO_GEMM_F32, 1.0, 0.0, (float *)args[0] + 1, GK,
                           1, 0, args[1], GN, 1, 0, args[2]);
  gemm(&d);
}

/* args as gemm_rr: A with strides [3, 2] (no unit stride) is refused; the
 * valid GEMM after it must be skipped. */
void gecko_entry_gemm_bad(void **args) {
  gecko_gemm_desc d = desc(GECKO_GEMM_F32, 1.0, 0.0, args[0], 3, 2, 0, args[1],
                           GN, 1, 0, args[2]);
  gemm(&d);
  d.a_strides[0] = GK;
  d.a_strides[1] = 1;
  gemm(&d);
}

/* bf16 inputs, f32 output (GECKO_GEMM_BF16_F32). args: a [M,K] bf16,
 * w [N,K] bf16, c [M,N] f32: c = a w^T, then c = a w^T + 0.5 c (beta on
 * the f32 C): 1.5 a w^T. */
void gecko_entry_gemm_bf16(void **args) {
  gecko_gemm_desc d = desc(GECKO_GEMM_BF16_F32, 1.0, 0.0, args[0], GK, 1, 0,
                           args[1], 1, GK, 0, args[2]);
  gemm(&d);
  d.beta = 0.5;
  gemm(&d);
}
