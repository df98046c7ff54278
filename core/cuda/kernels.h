/* t2i — every kernel of the CUDA backend: argument structs, bodies (see
 * kdefs.h for what a kernel is) and the list T2I_KERNELS, from which the
 * GPU launchers (runtime-gpu.cu), the emulator's host loops
 * (runtime-emu.c) and the runtime table's fields are generated.
 *
 * Valid C11 and CUDA C++.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "kdefs.h"
#include "../backend/backend-enums.h"
#include "kernels/tensor.h"
#include "kernels/optim.h"
#include "kernels/rng.h"

/* ---- data movement, once per element size ---- */
#define KA(n) T2I_XCAT (T2iK_##n##_, T2I_SFX)
#define KB(n) T2I_XCAT (t2i_k_##n##_, T2I_SFX)

#define U uint8_t
#define T2I_SFX u8
#include "kernels/copy.inc"
#undef U
#undef T2I_SFX

#define U uint32_t
#define T2I_SFX u32
#include "kernels/copy.inc"
#undef U
#undef T2I_SFX

#define U uint64_t
#define T2I_SFX u64
#include "kernels/copy.inc"
#undef U
#undef T2I_SFX

/* ---- float kernels, once per float type ---- */
#define T float
#define T2I_SFX f32
#define T2I_KIS_F32 1
#define KEXP expf
#define KLOG logf
#define KSQRT sqrtf
#define KFABS fabsf
#define KPOW powf
#define KTANH tanhf
#define KERF erff
#define KLOG1P log1pf
#include "kernels/elementwise.inc"
#include "kernels/reduce.inc"
#include "kernels/shape.inc"
#include "kernels/conv.inc"
#include "kernels/pool.inc"
#include "kernels/norm.inc"
#include "kernels/loss.inc"
#undef T
#undef T2I_SFX
#undef T2I_KIS_F32
#undef KEXP
#undef KLOG
#undef KSQRT
#undef KFABS
#undef KPOW
#undef KTANH
#undef KERF
#undef KLOG1P

#define T double
#define T2I_SFX f64
#define T2I_KIS_F32 0
#define KEXP exp
#define KLOG log
#define KSQRT sqrt
#define KFABS fabs
#define KPOW pow
#define KTANH tanh
#define KERF erf
#define KLOG1P log1p
#include "kernels/elementwise.inc"
#include "kernels/reduce.inc"
#include "kernels/shape.inc"
#include "kernels/conv.inc"
#include "kernels/pool.inc"
#include "kernels/norm.inc"
#include "kernels/loss.inc"
#undef T
#undef T2I_SFX
#undef T2I_KIS_F32
#undef KEXP
#undef KLOG
#undef KSQRT
#undef KFABS
#undef KPOW
#undef KTANH
#undef KERF
#undef KLOG1P

#undef KA
#undef KB

/* ---- the list: X (name) per kernel ---- */
#define T2I_KERNELS_BY_SIZE(X, n) X (n##_u8) X (n##_u32) X (n##_u64)
#define T2I_KERNELS_BY_FLOAT(X, n) X (n##_f32) X (n##_f64)

#define T2I_KERNELS(X)                                                       \
  X (convert)                                                                \
  X (argmax_i32)                                                             \
  X (sgd)                                                                    \
  X (adam)                                                                   \
  X (rng)                                                                    \
  T2I_KERNELS_BY_SIZE (X, strided)                                           \
  T2I_KERNELS_BY_SIZE (X, range)                                             \
  T2I_KERNELS_BY_SIZE (X, select)                                            \
  T2I_KERNELS_BY_SIZE (X, rows)                                              \
  X (pad_u32) X (pad_u64)                                                    \
  T2I_KERNELS_BY_SIZE (X, swap)                                              \
  T2I_KERNELS_BY_SIZE (X, fill)                                              \
  T2I_KERNELS_BY_FLOAT (X, binary)                                           \
  T2I_KERNELS_BY_FLOAT (X, unary)                                            \
  T2I_KERNELS_BY_FLOAT (X, act)                                              \
  T2I_KERNELS_BY_FLOAT (X, act_bw)                                           \
  T2I_KERNELS_BY_FLOAT (X, glu)                                              \
  T2I_KERNELS_BY_FLOAT (X, glu_bw)                                           \
  T2I_KERNELS_BY_FLOAT (X, accumulate)                                       \
  T2I_KERNELS_BY_FLOAT (X, scale)                                            \
  T2I_KERNELS_BY_FLOAT (X, sign_diff)                                        \
  T2I_KERNELS_BY_FLOAT (X, channel_bias)                                     \
  T2I_KERNELS_BY_FLOAT (X, bias_rows)                                        \
  T2I_KERNELS_BY_FLOAT (X, causal_mask)                                      \
  T2I_KERNELS_BY_FLOAT (X, one_hot)                                          \
  T2I_KERNELS_BY_FLOAT (X, max_onehot)                                       \
  T2I_KERNELS_BY_FLOAT (X, ema)                                              \
  T2I_KERNELS_BY_FLOAT (X, lerp_mean)                                        \
  T2I_KERNELS_BY_FLOAT (X, sum_partial)                                      \
  T2I_KERNELS_BY_FLOAT (X, sum_finish)                                       \
  T2I_KERNELS_BY_FLOAT (X, mean_finish)                                      \
  T2I_KERNELS_BY_FLOAT (X, sq_partial)                                       \
  T2I_KERNELS_BY_FLOAT (X, max_lines)                                        \
  T2I_KERNELS_BY_FLOAT (X, lse_lines)                                        \
  T2I_KERNELS_BY_FLOAT (X, softmax_lines)                                    \
  T2I_KERNELS_BY_FLOAT (X, softmax_bw)                                       \
  T2I_KERNELS_BY_FLOAT (X, attn_softmax)                                     \
  T2I_KERNELS_BY_FLOAT (X, index_add)                                        \
  T2I_KERNELS_BY_FLOAT (X, conv_fwd)                                         \
  T2I_KERNELS_BY_FLOAT (X, conv_bwd_data)                                    \
  T2I_KERNELS_BY_FLOAT (X, conv_bwd_w)                                       \
  T2I_KERNELS_BY_FLOAT (X, channel_sum)                                      \
  T2I_KERNELS_BY_FLOAT (X, resample)                                         \
  T2I_KERNELS_BY_FLOAT (X, resample_adj)                                     \
  T2I_KERNELS_BY_FLOAT (X, max_pool)                                         \
  T2I_KERNELS_BY_FLOAT (X, row_stats)                                        \
  T2I_KERNELS_BY_FLOAT (X, row_apply)                                        \
  T2I_KERNELS_BY_FLOAT (X, row_bw_sums)                                      \
  T2I_KERNELS_BY_FLOAT (X, row_bw_gx)                                        \
  T2I_KERNELS_BY_FLOAT (X, row_bw_affine)                                    \
  T2I_KERNELS_BY_FLOAT (X, bn_stats)                                         \
  T2I_KERNELS_BY_FLOAT (X, bn_running)                                       \
  T2I_KERNELS_BY_FLOAT (X, bn_apply)                                         \
  T2I_KERNELS_BY_FLOAT (X, bn_bw_sums)                                       \
  T2I_KERNELS_BY_FLOAT (X, bn_bw_gx)                                         \
  T2I_KERNELS_BY_FLOAT (X, adaln)                                            \
  T2I_KERNELS_BY_FLOAT (X, l2norm)                                           \
  T2I_KERNELS_BY_FLOAT (X, ce_rows)                                          \
  T2I_KERNELS_BY_FLOAT (X, ce_grad)                                          \
  T2I_KERNELS_BY_FLOAT (X, bce_partial)                                      \
  T2I_KERNELS_BY_FLOAT (X, bce_grad)                                         \
  T2I_KERNELS_BY_FLOAT (X, dist_partial)
