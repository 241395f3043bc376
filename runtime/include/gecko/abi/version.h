/*===- version.h - Versions shared by the compiler and the runtime -------===*\
|*                                                                            *|
|* The only contract between the two halves lives in gecko/abi/. These       *|
|* headers are plain C, include nothing, and are included by both the        *|
|* compiler (which writes artifacts) and the runtime (which verifies and     *|
|* executes them). Bump a version whenever its contract changes; readers     *|
|* reject versions they do not know.                                         *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef GECKO_ABI_VERSION_H
#define GECKO_ABI_VERSION_H

/* The project's release version. */
#define GECKO_VERSION_MAJOR 0
#define GECKO_VERSION_MINOR 1
#define GECKO_VERSION_PATCH 0
#define GECKO_VERSION_STRING "0.1.0"

/* Version of the .gkm artifact container (docs/artifact-format.md). */
#define GECKO_ARTIFACT_FORMAT_VERSION 1

/* Version of the kernel calling convention (gecko/abi/kernel_abi.h) that
 * the compiler writes. v2 added the `signal` field of the host-imports
 * table. The runtime also loads every version down to
 * GECKO_KERNEL_ABI_MIN_VERSION, calling each as its version defines. */
#define GECKO_KERNEL_ABI_VERSION 2
#define GECKO_KERNEL_ABI_MIN_VERSION 1

#endif /* GECKO_ABI_VERSION_H */
