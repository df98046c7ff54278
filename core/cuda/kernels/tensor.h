/* Kernels that are not templated on a float type: dtype conversion and
 * the i32 argmax.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "../kdefs.h"

/* dst[i] = src[i] with the conversions of t2i_tensor_get/_set */
typedef struct
{
  int sdt, ddt;
  const void *src;
  void *dst;
} T2iK_convert;

T2I_KFN void
t2i_k_convert (int64_t i, const T2iK_convert * k)
{
  t2i_k_store (k->dst, k->ddt, i, t2i_k_load (k->src, k->sdt, i));
}

/* first argmax of every line of an i32 tensor (lines of n spaced inner) */
typedef struct
{
  int64_t n, inner;
  const int32_t *x;
  int32_t *idx;
} T2iK_argmax_i32;

T2I_KFN void
t2i_k_argmax_i32 (int64_t j, const T2iK_argmax_i32 * k)
{
  const int32_t *p = k->x + (j / k->inner) * k->n * k->inner + j % k->inner;
  int32_t m = p[0];
  int64_t mi = 0;
  for (int64_t q = 1; q < k->n; q++)
    if (p[q * k->inner] > m) {
      m = p[q * k->inner];
      mi = q;
    }
  k->idx[j] = (int32_t) mi;
}
