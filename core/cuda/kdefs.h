/* t2i — what every kernel body needs: the qualifiers that make a function
 * callable on the host and on the device, fixed-width integers, math.
 *
 * A kernel of the CUDA backend is three things in core/cuda/kernels/:
 *
 *   an argument struct   T2iK_<name>               (plain data)
 *   a body               t2i_k_<name> (i, &args)    (one index of the
 *                                                    launch: writes only
 *                                                    what index i owns)
 *   one line             X (<name>)  in T2I_KERNELS (kernels.h)
 *
 * The headers are valid C11 and CUDA C++.  nvcc compiles the bodies into
 * __global__ wrappers that run i over a grid (runtime-gpu.cu); the host
 * compiler compiles the same bodies into the emulator (runtime-emu.c),
 * which runs i in a loop, so tests/core/test-backend.c checks every
 * body's arithmetic against the CPU ops without a GPU.  Because an index
 * writes only its own outputs and reads nothing another index writes,
 * results do not depend on how the indices are scheduled: no atomics, the
 * same sums in the same order on the GPU and in the emulator.
 *
 * Rules for bodies: no GLib, no allocation, no globals; explicit casts
 * (C++); math from <math.h> (expf, log1p, erff ... exist on both sides);
 * T2I_KISNAN / T2I_KISINF rather than isnan / isinf.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <stdint.h>
#include <stddef.h>
#include <math.h>

#if defined(__CUDACC__)
#define T2I_KFN static __host__ __device__ inline
#else
#define T2I_KFN static inline
#endif

#define T2I_CAT(a, b) a##b
#define T2I_XCAT(a, b) T2I_CAT (a, b)

#define T2I_KMAX_DIMS 5

#define T2I_KISNAN(x) ((x) != (x))
#define T2I_KISINF(x) ((x) == (x) && ((x) - (x)) != ((x) - (x)))
#define T2I_KMIN(a, b) ((a) < (b) ? (a) : (b))
#define T2I_KMAX(a, b) ((a) > (b) ? (a) : (b))

/* dtype codes as T2iDType */
#define T2I_KF32 0
#define T2I_KF64 1
#define T2I_KI32 2
#define T2I_KU8 3

/* element @i of @p (of dtype code @dt) as a double, and back with the
 * conversions of t2i_tensor_get / t2i_tensor_set */
T2I_KFN double
t2i_k_load (const void *p, int dt, int64_t i)
{
  switch (dt) {
    case T2I_KF32:
      return (double) ((const float *) p)[i];
    case T2I_KF64:
      return ((const double *) p)[i];
    case T2I_KI32:
      return (double) ((const int32_t *) p)[i];
    default:
      return (double) ((const uint8_t *) p)[i];
  }
}

T2I_KFN void
t2i_k_store (void *p, int dt, int64_t i, double v)
{
  switch (dt) {
    case T2I_KF32:
      ((float *) p)[i] = (float) v;
      break;
    case T2I_KF64:
      ((double *) p)[i] = v;
      break;
    case T2I_KI32:
      ((int32_t *) p)[i] = (int32_t) v;
      break;
    default:
      ((uint8_t *) p)[i] = (uint8_t) (v < 0 ? 0 : (v > 255 ? 255 : v));
      break;
  }
}

/* offsets of flat index @i of @shape (@nd dims) under two stride sets */
T2I_KFN void
t2i_k_unravel2 (int64_t i, int nd, const int64_t * shape, const int64_t * sa,
    const int64_t * sb, int64_t * oa, int64_t * ob)
{
  int64_t a = 0, b = 0;
  for (int d = nd - 1; d >= 0; d--) {
    int64_t k = i % shape[d];
    i /= shape[d];
    a += k * sa[d];
    b += k * sb[d];
  }
  *oa = a;
  *ob = b;
}

T2I_KFN int64_t
t2i_k_unravel (int64_t i, int nd, const int64_t * shape, const int64_t * s)
{
  int64_t a = 0;
  for (int d = nd - 1; d >= 0; d--) {
    a += (i % shape[d]) * s[d];
    i /= shape[d];
  }
  return a;
}

#define T2I_K_SQRT1_2 0.70710678118654752440
#define T2I_K_INV_SQRT_2PI 0.39894228040143267794
#define T2I_K_QGELU 1.702
#define T2I_K_PI 3.14159265358979323846

/* a convolution in its conv frame (T2iConvGeom of core/backend) */
typedef struct
{
  int64_t n, ci, h, w;
  int64_t co, kh, kw;
  int64_t ho, wo;
  int64_t sh, sw, ph, pw, dh, dw, g;
} T2iKConvGeom;

/* a resampling map of core/ops/pool.c (T2iResampleSpec) */
typedef struct
{
  int kind, flag;
  int64_t ih, iw, oh, ow, k, s, p;
  const int32_t *idx;           /* GATHER: [planes, oh, ow] */
} T2iKResample;

/* the [start, end) input range of output @o of an adaptive pool */
T2I_KFN void
t2i_k_adaptive_range (int64_t o, int64_t in, int64_t out, int64_t * start,
    int64_t * end)
{
  *start = (o * in) / out;
  *end = ((o + 1) * in + out - 1) / out;
}

/* window of an average pool along one axis */
T2I_KFN void
t2i_k_avg_range (const T2iKResample * sp, int64_t o, int64_t in,
    int64_t * start, int64_t * end, int64_t * padded)
{
  int64_t a = o * sp->s - sp->p;
  int64_t b = T2I_KMIN (a + sp->k, in + sp->p);
  *padded = b - a;
  *start = T2I_KMAX (a, (int64_t) 0);
  *end = T2I_KMIN (b, in);
}

/* PyTorch's area_pixel_compute_source_index for bilinear */
T2I_KFN void
t2i_k_bilinear_src (int64_t dst, int64_t in, int64_t out, int align_corners,
    int64_t * i0, int64_t * i1, double *l1)
{
  double src;
  if (align_corners) {
    double scale = out > 1 ? (double) (in - 1) / (double) (out - 1) : 0.0;
    src = scale * (double) dst;
  } else {
    double scale = (double) in / (double) out;
    src = scale * ((double) dst + 0.5) - 0.5;
    if (src < 0)
      src = 0;
  }
  *i0 = T2I_KMIN ((int64_t) src, in - 1);
  *i1 = *i0 + (*i0 < in - 1 ? 1 : 0);
  *l1 = src - (double) *i0;
}
