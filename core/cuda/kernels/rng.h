/* Philox 4x32-10 fills (t2i/rng.h, core/rng/philox.c): one Philox block
 * of four words per index, mapped to values exactly as the CPU maps them,
 * so a seed draws the same words on both backends (the values agree up to
 * the last bit of the device's log / sqrt / sin / cos).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "../kdefs.h"

T2I_KFN void
t2i_k_philox (uint64_t seed, uint64_t block, uint32_t out[4])
{
  uint32_t c0 = (uint32_t) block, c1 = (uint32_t) (block >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t) seed, k1 = (uint32_t) (seed >> 32);
  for (int r = 0; r < 10; r++) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    uint64_t p0 = (uint64_t) 0xD2511F53u * c0;
    uint64_t p1 = (uint64_t) 0xCD9E8D57u * c2;
    uint32_t hi0 = (uint32_t) (p0 >> 32), lo0 = (uint32_t) p0;
    uint32_t hi1 = (uint32_t) (p1 >> 32), lo1 = (uint32_t) p1;
    uint32_t n0 = hi1 ^ c1 ^ k0;
    uint32_t n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

#define T2I_K_M24 (1.0 / 16777216.0)
#define T2I_K_M53 (1.0 / 9007199254740992.0)

T2I_KFN double
t2i_k_u24 (uint32_t w)
{
  return (double) (w >> 8) * T2I_K_M24;
}

T2I_KFN double
t2i_k_u53 (uint32_t hi, uint32_t lo, double add)
{
  return ((double) ((((uint64_t) hi << 32) | lo) >> 11) + add) * T2I_K_M53;
}

T2I_KFN void
t2i_k_box_muller (double u1, double u2, double *z0, double *z1)
{
  double r = sqrt (-2.0 * log (u1));
  double theta = 2.0 * T2I_K_PI * u2;
  *z0 = r * cos (theta);
  *z1 = r * sin (theta);
}

/* kind: T2I_RNG_*; dt: f32, f64 or (bernoulli) u8; block b of the call's
 * first_block + b; a, b and top as the CPU derives them */
typedef struct
{
  int kind, dt;
  int64_t n;
  uint64_t seed, first;
  double a, b, top;
  void *out;
} T2iK_rng;

T2I_KFN void
t2i_k_rng (int64_t blk, const T2iK_rng * k)
{
  uint32_t w[4];
  const int64_t n = k->n;
  t2i_k_philox (k->seed, k->first + (uint64_t) blk, w);
  float *of = (float *) k->out;
  double *od = (double *) k->out;
  uint8_t *ou = (uint8_t *) k->out;
  const int f32 = k->dt == T2I_KF32;
  /* one word per value (4 per block) or two (2 per block) */
  const int per_word = k->kind == T2I_RNG_BERNOULLI || f32;

  if (k->kind == T2I_RNG_NORMAL) {
    if (f32) {
      for (int j = 0; j < 4 && blk * 4 + j < n; j += 2) {
        double z0, z1;
        int64_t i = blk * 4 + j;
        t2i_k_box_muller (((double) (w[j] >> 8) + 1.0) * T2I_K_M24,
            t2i_k_u24 (w[j + 1]), &z0, &z1);
        of[i] = (float) (k->a + k->b * z0);
        if (i + 1 < n)
          of[i + 1] = (float) (k->a + k->b * z1);
      }
    } else {
      double z0, z1;
      int64_t i = blk * 2;
      t2i_k_box_muller (t2i_k_u53 (w[0], w[1], 1.0), t2i_k_u53 (w[2], w[3], 0),
          &z0, &z1);
      od[i] = k->a + k->b * z0;
      if (i + 1 < n)
        od[i + 1] = k->a + k->b * z1;
    }
    return;
  }
  if (per_word) {
    for (int j = 0; j < 4 && blk * 4 + j < n; j++) {
      const int64_t i = blk * 4 + j;
      const uint32_t x = w[j];
      switch (k->kind) {
        case T2I_RNG_UNIFORM:{
          float v = (float) (k->a + t2i_k_u24 (x) * (k->b - k->a));
          of[i] = T2I_KMIN (v, (float) k->top);
          break;
        }
        case T2I_RNG_GUMBEL:
          of[i] = (float) -log (-log (((double) (x >> 8) + 0.5) * T2I_K_M24));
          break;
        default:{              /* T2I_RNG_BERNOULLI */
          const int one = t2i_k_u24 (x) < k->a;
          if (k->dt == T2I_KF32)
            of[i] = one ? 1.0f : 0.0f;
          else if (k->dt == T2I_KF64)
            od[i] = one ? 1.0 : 0.0;
          else
            ou[i] = (uint8_t) one;
          break;
        }
      }
    }
    return;
  }
  for (int j = 0; j < 2 && blk * 2 + j < n; j++) {
    const int64_t i = blk * 2 + j;
    const uint32_t hi = w[2 * j], lo = w[2 * j + 1];
    if (k->kind == T2I_RNG_UNIFORM) {
      double v = k->a + t2i_k_u53 (hi, lo, 0) * (k->b - k->a);
      od[i] = T2I_KMIN (v, k->top);
    } else {                   /* T2I_RNG_GUMBEL */
      od[i] = -log (-log (t2i_k_u53 (hi, lo, 0.5)));
    }
  }
}
