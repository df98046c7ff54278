/* t2i — the CUDA runtime interface: what the CUDA op table (cuda-*.c)
 * needs from a device.  Two implementations:
 *
 *   runtime-gpu.cu   a GPU through cudart (linked statically: it loads
 *                    the driver on first use), cuBLAS and cuDNN (dlopen()ed
 *                    on first use); built when nvcc is found
 *   runtime-emu.c    the host: memory is host memory, a launch runs the
 *                    kernel body over its indices in a loop, GEMM and
 *                    convolution are reference loops
 *
 * Everything above this interface (shapes, which kernels, scratch
 * buffers, the choice of GEMM transposes) is shared by both, so the
 * emulator tests it on any machine.  Valid C11 and CUDA C++.
 *
 * All functions return 0 on failure; error() then says why (per thread).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct T2iCudaRuntime T2iCudaRuntime;

struct T2iCudaRuntime
{
  const char *name;             /* "cuda" or "emulator" */
  const char *(*error) (void);
  const char *(*device_name) (void);

  void *(*malloc) (size_t nbytes);
  void (*free) (void *ptr);
  /* host <-> device copies return when the host buffer may be reused */
  int (*h2d) (void *dst, const void *src, size_t nbytes, void *stream);
  int (*d2h) (void *dst, const void *src, size_t nbytes, void *stream);
  int (*d2d) (void *dst, const void *src, size_t nbytes, void *stream);
  void *(*stream_new) (void);
  void (*stream_free) (void *stream);
  int (*sync) (void *stream);

  /* C[b] = op(A[b]) op(B[b]) + beta C[b], row-major, f64 or f32, for b
   * in [0, batch) with element strides sa, sb, sc between matrices
   * (cuBLAS's strided batched GEMM); lda, ldb, ldc are row strides */
  int (*gemm) (void *stream, int f64, int ta, int tb, int64_t M, int64_t N,
      int64_t K, const void *A, int64_t lda, int64_t sa, const void *B,
      int64_t ldb, int64_t sb, double beta, void *C, int64_t ldc,
      int64_t sc, int64_t batch);

  /* a convolution by a library (cuDNN): kind 0 forward y = conv (x, w),
   * 1 backward-data x = conv^T (y, w), 2 backward-weights w = (x, y);
   * the first two tensors are inputs, the third the output.  Returns 1
   * done, 0 failed, -1 not handled here (the caller runs its kernels) */
  int (*conv) (void *stream, int kind, int f64, const T2iKConvGeom * g,
      const void *in0, const void *in1, void *out);

  /* one launcher per kernel: runs body i for i in [0, n) */
#define T2I_RT_LAUNCHER(name) \
  int (*k_##name) (void *stream, int64_t n, const T2iK_##name * args);
  T2I_KERNELS (T2I_RT_LAUNCHER)
#undef T2I_RT_LAUNCHER
};

/* the GPU runtime, or NULL with @why (no device, no driver, not built) */
const T2iCudaRuntime *t2i_cuda_runtime_gpu (const char **why);
/* the host emulator (always there) */
const T2iCudaRuntime *t2i_cuda_runtime_emu (void);

/* emulator bookkeeping for the tests: how often each kernel ran */
typedef struct
{
  const char *name;
  unsigned long launches;
} T2iCudaKernelCount;

/* the emulator's launch counts, one per kernel, in T2I_KERNELS order
 * (@n_out: how many) */
const T2iCudaKernelCount *t2i_cuda_emu_counts (int *n_out);

#ifdef __cplusplus
}
#endif
