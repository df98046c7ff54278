/* t2i — the small enums of the backend interface, without GLib, so that
 * the CUDA kernel headers (core/cuda/kernels/) read the same codes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

typedef enum
{
  T2I_BIN_ADD,
  T2I_BIN_SUB,
  T2I_BIN_MUL,
  T2I_BIN_DIV,
  T2I_BIN_MAX,                  /* NaN of a propagates */
  T2I_BIN_MAXW,                 /* d maximum(a,b)/da: 1, 1/2 on ties, 0 */
  T2I_BIN_COUNT
} T2iBinaryOp;

/* unary maps; p[0], p[1] are the op's scalars */
typedef enum
{
  T2I_UN_NEG,
  T2I_UN_EXP,
  T2I_UN_LOG,
  T2I_UN_SQRT,
  T2I_UN_RSQRT,
  T2I_UN_ABS,
  T2I_UN_SIGN,
  T2I_UN_SQUARE,
  T2I_UN_ADDS,                  /* x + p0 */
  T2I_UN_MULS,                  /* x * p0 */
  T2I_UN_POW,                   /* x^p0, exact loops for 1, 2, 3, 0.5, -0.5, -1, -2 */
  T2I_UN_CUBE,
  T2I_UN_RECIP,
  T2I_UN_RECIP2,
  T2I_UN_CLAMP,                 /* to [p0, p1] */
  T2I_UN_INSIDE,                /* 1 in [p0, p1], else 0 */
  T2I_UN_GT,                    /* 1 where x > p0 (in double), else 0 */
  T2I_UN_COUNT
} T2iUnaryOp;

/* activations: forward maps, masks, and fused backward g * f'(x) */
typedef enum
{
  T2I_ACT_RELU,
  T2I_ACT_LEAKY_RELU,           /* slope p */
  T2I_ACT_GELU,
  T2I_ACT_NORMAL_CDF,
  T2I_ACT_QUICK_GELU,
  T2I_ACT_TANH,                 /* backward reads the saved output */
  T2I_ACT_SIGMOID,              /* backward reads the saved output */
  T2I_ACT_SOFTPLUS,
  T2I_ACT_SILU,
  T2I_ACT_POS_MASK,             /* 1 where x > 0 (forward only) */
  T2I_ACT_LEAKY_MASK,           /* 1 where x > 0, else p (forward only) */
  T2I_ACT_COUNT
} T2iActOp;

/* resampling and pooling (core/ops/pool.c) */
typedef enum
{
  T2I_RS_NEAREST = 0,
  T2I_RS_AVG,
  T2I_RS_ADAPTIVE,
  T2I_RS_BILINEAR,
  T2I_RS_GATHER,
} T2iResampleKind;

/* what a tensor fill of t2i/rng.h draws */
typedef enum
{
  T2I_RNG_UNIFORM,              /* a = low, b = high */
  T2I_RNG_NORMAL,               /* a = mean, b = std */
  T2I_RNG_GUMBEL,
  T2I_RNG_BERNOULLI,            /* a = p */
} T2iRngFill;
