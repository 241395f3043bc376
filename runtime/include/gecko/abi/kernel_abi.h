/*===- kernel_abi.h - Calling convention of compiled CPU kernels ---------===*\
|*                                                                            *|
|* Kernel ABI v1 (GECKO_KERNEL_ABI_VERSION in version.h). Plain C, no        *|
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
 * runtime refuses to load the code unless it equals GECKO_KERNEL_ABI_VERSION.
 */
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

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GECKO_ABI_KERNEL_ABI_H */
