/* t2i — private helpers of the CUDA op table (core/cuda/cuda-*.c): the
 * selected runtime, the calling thread's stream, device memory, and the
 * launch macros.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "../backend/backend.h"
#include "runtime.h"

G_BEGIN_DECLS

/* the runtime in use, NULL when CUDA is unavailable (see
 * t2i_cuda_unavailable_reason()) */
G_GNUC_INTERNAL const T2iCudaRuntime *t2i_cuda_rt (void);
/* the calling thread's stream handle (NULL: the default stream) */
G_GNUC_INTERNAL void *t2i_cuda_stream (void);

/* device memory from the caching allocator (per stream; off under
 * AddressSanitizer); @block is what t2i_cuda_mem_free() takes */
G_GNUC_INTERNAL gpointer t2i_cuda_mem_alloc (gsize nbytes, gpointer * block);
G_GNUC_INTERNAL void t2i_cuda_mem_free (gpointer block);

/* TRUE when @ok; otherwise g_critical() naming @what and the runtime's
 * error */
G_GNUC_INTERNAL gboolean t2i_cuda_check (const char *what, int ok);

/* runs kernel @name (a T2I_KERNELS entry) over @n indices with the
 * argument struct *@kp; TRUE on success */
#define T2I_CUDA_RUN(name, n, kp)                                            \
  t2i_cuda_check (#name, t2i_cuda_rt ()->k_##name (t2i_cuda_stream (),      \
          (int64_t) (n), (kp)))

/* runs kernel @name with an argument struct `k`, zeroed, then filled by
 * the statements that follow @n (for example k.x = x->data; ...) */
#define T2I_CUDA_K(name, n, ...)                                             \
  ({ T2iK_##name k = { 0 }; __VA_ARGS__; T2I_CUDA_RUN (name, n, &k); })

/* the same for the f32 or f64 instance of @name, by @dtype */
#define T2I_CUDA_FT(dtype, name, n, ...)                                     \
  ((dtype) == T2I_F32                                                       \
      ? ({ T2iK_##name##_f32 k = { 0 }; __VA_ARGS__;                        \
          T2I_CUDA_RUN (name##_f32, n, &k); })                              \
      : ({ T2iK_##name##_f64 k = { 0 }; __VA_ARGS__;                        \
          T2I_CUDA_RUN (name##_f64, n, &k); }))

/* the same for the data-movement kernel @name of element size @es */
#define T2I_CUDA_ES(es, name, n, ...)                                        \
  ((es) == 4                                                                \
      ? ({ T2iK_##name##_u32 k = { 0 }; __VA_ARGS__;                        \
          T2I_CUDA_RUN (name##_u32, n, &k); })                              \
      : (es) == 8                                                           \
      ? ({ T2iK_##name##_u64 k = { 0 }; __VA_ARGS__;                        \
          T2I_CUDA_RUN (name##_u64, n, &k); })                              \
      : ({ T2iK_##name##_u8 k = { 0 }; __VA_ARGS__;                         \
          T2I_CUDA_RUN (name##_u8, n, &k); }))

/* a device scratch buffer of @nbytes (the caching allocator makes these
 * cheap); free with t2i_cuda_mem_free (block) */
static inline gpointer
t2i_cuda_scratch (gsize nbytes, gpointer * block)
{
  return t2i_cuda_mem_alloc (nbytes, block);
}

/* the number of partial sums for a reduction of @n elements into
 * @outputs results: enough indices to fill a GPU, at least 64 elements
 * each */
static inline gint64
t2i_cuda_chunks (gint64 outputs, gint64 n)
{
  gint64 c = outputs >= 8192 ? 1 : 65536 / MAX (outputs, 1);
  c = MIN (c, MAX (n / 64, 1));
  return MAX (c, 1);
}

/* g[0] of a one-element device tensor, copied to the host */
G_GNUC_INTERNAL gboolean t2i_cuda_download (const T2iTensor * t, gpointer host);

G_END_DECLS
