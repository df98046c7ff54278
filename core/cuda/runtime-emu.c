/* The CUDA runtime on the host: "device" memory is host memory, a launch
 * runs the kernel's body for every index (OpenMP across indices: a body
 * writes only what its index owns, so any schedule gives the same
 * result), GEMM is a reference loop and convolutions fall back to the
 * backend's own kernels.  It exists so that the CUDA op table and every
 * kernel body can be tested on a machine without a GPU
 * (tests/core/test-backend.c); select it with $T2I_CUDA_EMULATE=1 or
 * t2i_cuda_set_emulation().
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "runtime.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

/* ---- launch counts, for the test that every kernel ran ---- */

enum
{
#define T2I_KID(name) KID_##name,
  T2I_KERNELS (T2I_KID)
#undef T2I_KID
  KID_COUNT
};

static T2iCudaKernelCount counts[KID_COUNT] = {
#define T2I_KNAME(name) { #name, 0 },
  T2I_KERNELS (T2I_KNAME)
#undef T2I_KNAME
};

const T2iCudaKernelCount *
t2i_cuda_emu_counts (int *n_out)
{
  *n_out = KID_COUNT;
  return counts;
}

/* ---- launchers: the body over every index ---- */

#define T2I_EMU_LAUNCHER(name)                                              \
static int                                                                  \
emu_##name (void *stream, int64_t n, const T2iK_##name * a)                 \
{                                                                           \
  (void) stream;                                                            \
  __atomic_fetch_add (&counts[KID_##name].launches, 1, __ATOMIC_RELAXED);  \
  _Pragma ("omp parallel for if (n >= 16384)")                              \
  for (int64_t i = 0; i < n; i++)                                           \
    t2i_k_##name (i, a);                                                    \
  return 1;                                                                 \
}
T2I_KERNELS (T2I_EMU_LAUNCHER)
#undef T2I_EMU_LAUNCHER

/* ---- memory ---- */

static const char *
emu_error (void)
{
  return "emulator: out of memory";
}

static const char *
emu_device_name (void)
{
  return "host emulator";
}

static void *
emu_malloc (size_t nbytes)
{
  void *p = NULL;
  if (posix_memalign (&p, 64, nbytes ? nbytes : 1) != 0)
    return NULL;
  return p;
}

static void
emu_free (void *p)
{
  free (p);
}

static int
emu_copy (void *dst, const void *src, size_t nbytes, void *stream)
{
  if (nbytes)
    memmove (dst, src, nbytes);
  return 1;
}

static void *
emu_stream_new (void)
{
  return g_malloc (1);
}

static void
emu_stream_free (void *stream)
{
  g_free (stream);
}

static int
emu_sync (void *stream)
{
  return 1;
}

/* ---- libraries ---- */

#define DEF_GEMM(NAME, T)                                                   \
static void                                                                 \
NAME (int ta, int tb, int64_t M, int64_t N, int64_t K, const T * A,         \
    int64_t lda, const T * B, int64_t ldb, double beta, T * C, int64_t ldc) \
{                                                                           \
  _Pragma ("omp parallel for if (M * N * K >= (1 << 18))")                  \
  for (int64_t i = 0; i < M; i++)                                           \
    for (int64_t j = 0; j < N; j++) {                                       \
      double acc = 0;                                                       \
      for (int64_t k = 0; k < K; k++)                                       \
        acc += (double) (ta ? A[k * lda + i] : A[i * lda + k])              \
            * (double) (tb ? B[j * ldb + k] : B[k * ldb + j]);              \
      T *c = C + i * ldc + j;                                               \
      *c = beta != 0 ? (T) (acc + beta * (double) *c) : (T) acc;            \
    }                                                                       \
}

DEF_GEMM (gemm_f32, float)
DEF_GEMM (gemm_f64, double)

static int
emu_gemm (void *stream, int f64, int ta, int tb, int64_t M, int64_t N,
    int64_t K, const void *A, int64_t lda, int64_t sa, const void *B,
    int64_t ldb, int64_t sb, double beta, void *C, int64_t ldc, int64_t sc,
    int64_t batch)
{
  for (int64_t b = 0; b < batch; b++) {
    if (f64)
      gemm_f64 (ta, tb, M, N, K, (const double *) A + b * sa, lda,
          (const double *) B + b * sb, ldb, beta, (double *) C + b * sc, ldc);
    else
      gemm_f32 (ta, tb, M, N, K, (const float *) A + b * sa, lda,
          (const float *) B + b * sb, ldb, beta, (float *) C + b * sc, ldc);
  }
  return 1;
}

static int
emu_conv (void *stream, int kind, int f64, const T2iKConvGeom * g,
    const void *in0, const void *in1, void *out)
{
  return -1;                    /* the backend's direct kernels */
}

static const T2iCudaRuntime emu = {
  .name = "emulator",
  .error = emu_error,
  .device_name = emu_device_name,
  .malloc = emu_malloc,
  .free = emu_free,
  .h2d = emu_copy,
  .d2h = emu_copy,
  .d2d = emu_copy,
  .stream_new = emu_stream_new,
  .stream_free = emu_stream_free,
  .sync = emu_sync,
  .gemm = emu_gemm,
  .conv = emu_conv,
#define T2I_EMU_FIELD(name) .k_##name = emu_##name,
  T2I_KERNELS (T2I_EMU_FIELD)
#undef T2I_EMU_FIELD
};

const T2iCudaRuntime *
t2i_cuda_runtime_emu (void)
{
  return &emu;
}
