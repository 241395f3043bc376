/*===- kernel_abi.h - Calling convention of compiled CPU kernels ---------===*\
|*                                                                            *|
|* Kernel ABI v2 (GECKO_KERNEL_ABI_VERSION in version.h). Plain C, no        *|
|* includes: the compiler emits code that follows it and the runtime calls   *|
|* that code through it. docs/artifact-format.md describes it in full.       *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef GECKO_ABI_KERNEL_ABI_H
#define GECKO_ABI_KERNEL_ABI_H

/* Every buffer the runtime passes to a kernel (arguments, results and the
 * workspace) starts at an address aligned to at least this many bytes. */
#define GECKO_KERNEL_BUFFER_ALIGNMENT 64

/* Optional: a code section may export a `const unsigned int` with this name
 * holding the kernel ABI version it was compiled for. When present, the
 * runtime refuses to load the code unless it equals the version in the
 * artifact's header.
 *
 * Versions: v1 is the original convention. v2 adds the `signal` field of
 * gecko_host_imports_t (ready signals, below) and lets CPU code sections
 * export the table too. The runtime loads both (GECKO_KERNEL_ABI_MIN_VERSION
 * to GECKO_KERNEL_ABI_VERSION) and fills a v1 table's three fields only. */
#define GECKO_KERNEL_ABI_VERSION_SYMBOL "gecko_kernel_abi_version"

#ifdef __cplusplus
extern "C" {
#endif

/* The entry point of one plan function (the plan's "entry" symbol, exported
 * with C linkage and default visibility from the code section).
 *
 * `args` holds, in this order:
 *   1. one pointer per plan argument ("args", in plan order): read-only;
 *   2. one pointer per plan result ("results", in plan order): the kernel
 *      writes every element of every result;
 *   3. the workspace pointer: workspace.bytes writable scratch bytes aligned to
 *      max(workspace.alignment, GECKO_KERNEL_BUFFER_ALIGNMENT), uninitialized;
 *      NULL when workspace.bytes == 0.
 *
 * Every tensor buffer is caller-allocated, dense, row-major (the last
 * dimension is contiguous), little-endian, with the plan's dtype and shape
 * and no padding between elements; i1 is stored as one byte (0 or 1); a
 * scalar (shape []) is one element. Buffers never alias each other. The
 * kernel keeps no pointer after it returns and reports no errors: the runtime
 * validates every binding (shapes, dtypes, declared input ranges) before the
 * call. */
typedef void (*gecko_kernel_entry_fn)(void **args);

/*===----------------------------------------------------------------------===*
 * GPU targets (plan target.kind "cuda")
 *===----------------------------------------------------------------------===*
 * The code section is still a host ELF shared object whose entry points
 * follow gecko_kernel_entry_fn, but every pointer in `args` (arguments,
 * results, workspace) is a device address. The host code only computes
 * addresses and launches kernels; it never dereferences a buffer. The device
 * code is an image embedded in the same object, exported as
 *
 *   const unsigned char      gecko_device_image[];       (fatbin, cubin or PTX)
 *   const unsigned long long gecko_device_image_size;
 *
 * and kernel i of that image is named by the plan's target.kernels[i]. The
 * object also exports a writable, zero-initialized
 *
 *   gecko_host_imports_t gecko_host_imports;
 *
 * which the runtime fills after loading the object and before the first
 * entry call (every field of the object's version; gemm may report an
 * error when called if the machine lacks cuBLASLt). The host code launches
 * kernel i by calling imports.launch(imports.context, i, grid, block, shared
 * bytes, params), where params[j] points at the value of the kernel's j-th
 * parameter (as in cuLaunchKernel). Launches of one entry call are issued in
 * program order on one stream; launch() returns 0 when the launch was queued
 * and nonzero otherwise, and the runtime, not the host code, handles a failure:
 * it records the first one, ignores every later launch of the same call, and
 * reports the error when the entry returns. */

#define GECKO_HOST_IMPORTS_SYMBOL "gecko_host_imports"
#define GECKO_DEVICE_IMAGE_SYMBOL "gecko_device_image"
#define GECKO_DEVICE_IMAGE_SIZE_SYMBOL "gecko_device_image_size"

typedef int (*gecko_launch_fn)(void *context, unsigned int kernel,
                               unsigned int grid_x, unsigned int grid_y,
                               unsigned int grid_z, unsigned int block_x,
                               unsigned int block_y, unsigned int block_z,
                               unsigned int shared_bytes, void **params);

/* A matrix product queued on the same stream as the launches, in program
 * order (the runtime implements it with cuBLASLt):
 *
 *   for b in [0, batch):  C_b = alpha * A_b B_b + beta * C_b
 *
 * A_b is m x k, B_b is k x n, C_b is m x n, and element (i, j) of X_b is
 * X[b * strides[2] + i * strides[0] + j * strides[1]] (in elements). For A
 * and B one of strides[0], strides[1] is 1 (row- or column-major with the
 * other as leading dimension); for C strides[1] is 1. m, n, k, batch >= 1.
 * The pointers are device addresses of elements of the types `dtype`
 * names; C does not overlap A or B. Returns 0 when queued; failures are
 * handled as for launch().
 *
 * dtype: the element types of A, B and C and the arithmetic.
 *   GECKO_GEMM_F32       A, B, C f32; f32 products and sums (TF32 only
 *                        where the runtime is told to, GECKO_CUDA_TF32)
 *   GECKO_GEMM_F64       A, B, C f64; f64 arithmetic
 *   GECKO_GEMM_BF16_F32  A, B bf16, C f32; the products of the bf16 values
 *                        (exact in f32) are summed in f32, and alpha and
 *                        beta are applied in f32 (--precision=bf16) */
#define GECKO_GEMM_F32 0u
#define GECKO_GEMM_F64 1u
#define GECKO_GEMM_BF16_F32 2u

typedef struct gecko_gemm_desc {
  unsigned int dtype; /* GECKO_GEMM_F32, _F64 or _BF16_F32 */
  unsigned int flags; /* 0 */
  long long m, n, k, batch;
  double alpha, beta;
  const void *a;
  long long a_strides[3]; /* row, column, batch */
  const void *b;
  long long b_strides[3];
  void *c;
  long long c_strides[3];
} gecko_gemm_desc; /* 152 bytes on LP64 */

typedef int (*gecko_gemm_fn)(void *context, const gecko_gemm_desc *desc);

/* Ready signals (v2). A function whose plan lists "signals" calls
 * imports.signal(imports.context, id) once per call for each of them, in
 * the plan's order (ids 0, 1, ...), at the point after which the results
 * the signal names are final: no later operation of the call reads or
 * writes them. On the CPU every earlier operation has executed; on CUDA it
 * has been queued on the call's stream (not necessarily run). The runtime
 * may then start a collective on those buffers, in place, while the call
 * goes on. The hook returns 0 on success; on failure the runtime records
 * the error, ignores later signals (and, on CUDA, later launches) of the
 * call, and reports it when the entry returns; the host code ignores the
 * value. The code skips the call while `signal` is NULL (a JIT that fills
 * no table). A CPU code section with signals exports gecko_host_imports
 * as a CUDA one does; the runtime sets its context and signal fields and
 * leaves launch and gemm NULL. */
typedef int (*gecko_signal_fn)(void *context, unsigned int id);

/* Field order and types are part of the ABI: the compiler reads `context`
 * at offset 0, `launch` at offset 8, `gemm` at offset 16 and (v2) `signal`
 * at offset 24 (LP64). A v1 object's table ends after `gemm`. */
typedef struct gecko_host_imports_t {
  void *context;
  gecko_launch_fn launch;
  gecko_gemm_fn gemm;
  gecko_signal_fn signal; /* v2 */
} gecko_host_imports_t;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GECKO_ABI_KERNEL_ABI_H */
