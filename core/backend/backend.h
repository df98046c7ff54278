/* t2i — the backend interface: one op table per device.
 *
 * Not installed.  The public ops (core/ops/, t2i/ops.h) check their
 * arguments, look up the table of their inputs' device once
 * (T2I_BACKEND (t)), call its entries for the arithmetic, and record the
 * autograd node; backward functions are written with the public ops and
 * these entries, so they run on whatever device their tensors live on.
 * An entry never records a graph and never checks arguments the op has
 * already checked.
 *
 * Every entry returns a value (a new tensor, %TRUE on success, a number)
 * and 0 / %NULL / %FALSE on failure after a g_critical().  That lets a
 * device that lacks an entry get a stub that says so by name
 * (t2i_backend_missing()); the test "backend" lists the entries the CUDA
 * table lacks and fails.
 *
 * Adding an op to both backends (docs/design.md, "Backends"):
 *   1. one line X (name, ret, (args)) below;
 *   2. t2i_cpu_<name> in the op family's file under core/ops/;
 *   3. t2i_cuda_<name> in one of core/cuda/cuda-*.c, with its kernels'
 *      argument structs and bodies in core/cuda/kernels/ (a .inc is
 *      compiled once per float type) and one line per kernel in
 *      T2I_KERNELS (core/cuda/kernels.h);
 *   4. a case in tests/core/test-backend.c, which runs it on the CUDA
 *      table (on the host emulator without a GPU) against the CPU.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "t2i/tensor.h"
#include "t2i/rng.h"
#include "../tensor/tensor-private.h"
#include "backend-enums.h"

G_BEGIN_DECLS

#define T2I_N_DEVICES 2

typedef T2iTensor T2iT;         /* keeps the table below readable */

/* ---- argument types shared by both backends ---- */

/* the shape of a convolution in its conv frame (core/ops/conv.c) */
typedef struct
{
  gint64 n, ci, h, w;           /* conv input */
  gint64 co, kh, kw;            /* weight [co, ci / g, kh, kw] */
  gint64 ho, wo;                /* conv output */
  gint64 sh, sw, ph, pw, dh, dw, g;
} T2iConvGeom;

/* a fixed linear map from [ih, iw] planes to [oh, ow] planes */
typedef struct
{
  T2iResampleKind kind;
  gint64 ih, iw, oh, ow;
  gint64 k, s, p;               /* NEAREST: s = scale; AVG: window */
  gboolean flag;                /* AVG: count_include_pad; BILINEAR: align_corners */
  T2iTensor *idx;               /* GATHER: i32 [N, C, oh, ow], flat in-plane */
} T2iResampleSpec;

/* layer / group norm: R rows of Cg * S elements, G groups of Cg channels */
typedef struct
{
  gint64 R, G, Cg, S;
} T2iNormDims;

/* one SGD step, the scalars as the CPU computes them (core/optim) */
typedef struct
{
  float lr, wd, mom, damp1;
  gboolean momentum, nesterov, first;
} T2iSgdArgs;

typedef struct
{
  float b1, one_m_b1, b2, one_m_b2, l2, shrink, neg_step_size, bc2_sqrt, eps;
  gboolean decoupled;
} T2iAdamArgs;

/* ---- the table ----
 * X (name, return type, (arguments)).  "T" arguments are tensors of the
 * table's device; outputs passed in are allocated by the caller with the
 * right shape (t2i_tensor_new_on (device, ...)). */
#define T2I_BACKEND_OPS(X)                                                   \
  /* storage and whole tensors (core/tensor) */                             \
  X (alloc, gboolean, (Storage * s))                                         \
  X (release, gboolean, (Storage * s))                                       \
  X (fill, gboolean, (T2iT * t, double value))                              \
  X (copy, gboolean, (T2iT * dst, const T2iT * src))                        \
  X (convert, gboolean, (T2iT * dst, const T2iT * src))                     \
  X (read, gboolean, (const T2iT * t, gsize offset, gsize nbytes,           \
          gpointer host))                                                    \
  X (write, gboolean, (T2iT * t, gsize offset, gsize nbytes,                \
          gconstpointer host))                                               \
  X (accumulate, gboolean, (T2iT * dst, const T2iT * src))                  \
  /* elementwise (core/ops/elementwise.c) */                                \
  X (binary, T2iT *, (T2iBinaryOp op, const T2iT * a, const T2iT * b))      \
  X (unary, T2iT *, (T2iUnaryOp op, const T2iT * x, const double *p))       \
  X (sum_reduce, T2iT *, (const T2iT * g, const gint64 * kshape,            \
          gint out_ndim, const gint64 * out_shape, double scale))            \
  X (strided_copy, gboolean, (T2iT * dst, const T2iT * src, gint ndim,      \
          const gint64 * shape, const gint64 * strides))                     \
  /* activations (core/ops/activation.c) */                                 \
  X (activation, T2iT *, (T2iActOp op, const T2iT * x, double p))           \
  X (activation_bw, T2iT *, (T2iActOp op, const T2iT * g, const T2iT * x,   \
          double p))                                                         \
  X (glu, gboolean, (const T2iT * x, gint axis, T2iT * y))                  \
  X (glu_bw, gboolean, (const T2iT * x, const T2iT * g, gint axis,          \
          T2iT * gx))                                                        \
  /* reductions along one axis (core/ops/reduce.c); axis may be           \
   * T2I_ALL_AXES */                                                         \
  X (max_lines, gboolean, (const T2iT * a, gint axis, T2iT * out,           \
          T2iT * idx))                                                       \
  X (logsumexp_lines, gboolean, (const T2iT * a, gint axis, T2iT * out))    \
  X (softmax_lines, gboolean, (const T2iT * a, gint axis, gboolean log,     \
          T2iT * out))                                                       \
  X (softmax_bw_lines, gboolean, (const T2iT * y, const T2iT * g,           \
          gint axis, gboolean log, T2iT * gx))                               \
  X (max_onehot, T2iT *, (const T2iT * a, gint axis, const T2iT * idx))     \
  /* shape (core/ops/shape.c) */                                            \
  X (copy_axis_range, gboolean, (T2iT * dst, gint64 dstart,                 \
          const T2iT * src, gint64 sstart, gint axis, gint64 len))           \
  X (index_check, gboolean, (const T2iT * index, gint64 n, gint64 * bad_pos, \
          gint32 * bad_value))                                               \
  X (index_select, gboolean, (const T2iT * a, gint axis,                    \
          const T2iT * index, T2iT * out))                                   \
  X (index_add, gboolean, (const T2iT * g, gint axis, const T2iT * index,   \
          T2iT * out))                                                       \
  X (gather_rows, gboolean, (const T2iT * a, const T2iT * idx, T2iT * out)) \
  X (scatter_rows, gboolean, (const T2iT * g, const T2iT * idx,             \
          T2iT * out))                                                       \
  X (pad2d, gboolean, (const T2iT * a, gint top, gint left, T2iT * out))    \
  /* linear algebra (core/ops/linear.c) */                                  \
  X (matmul, gboolean, (const T2iT * a, const T2iT * b, gboolean ta,        \
          gboolean tb, T2iT * out))                                          \
  X (mm, gboolean, (const T2iT * a, const T2iT * b, gboolean ta,            \
          gboolean tb, gint64 M, gint64 N, gint64 K, T2iT * out))            \
  X (linear, gboolean, (const T2iT * x, const T2iT * w, const T2iT * b,     \
          T2iT * y))                                                         \
  /* convolution (core/ops/conv.c) */                                       \
  X (conv_fwd, gboolean, (const T2iConvGeom * G, const T2iT * x,            \
          const T2iT * w, const T2iT * b, T2iT * y))                         \
  X (conv_bwd_data, gboolean, (const T2iConvGeom * G, const T2iT * y,       \
          const T2iT * w, const T2iT * b, T2iT * x))                         \
  X (conv_bwd_weights, gboolean, (const T2iConvGeom * G, const T2iT * x,    \
          const T2iT * dy, T2iT * dw))                                       \
  X (channel_sum, T2iT *, (const T2iT * g))                                 \
  X (channel_bias, gboolean, (T2iT * y, const T2iT * b))                    \
  /* resampling and pooling (core/ops/pool.c) */                            \
  X (resample, gboolean, (const T2iResampleSpec * sp, gboolean transposed,  \
          const T2iT * x, T2iT * y))                                         \
  X (max_pool, gboolean, (const T2iResampleSpec * sp, const T2iT * x,       \
          T2iT * y, T2iT * idx))                                             \
  /* normalisation (core/ops/norm.c) */                                     \
  X (row_norm, gboolean, (const T2iNormDims * d, const T2iT * x,            \
          const T2iT * w, const T2iT * b, double eps, T2iT * y,             \
          T2iT * mean, T2iT * rstd))                                         \
  X (row_norm_bw, gboolean, (const T2iNormDims * d, const T2iT * x,         \
          const T2iT * g, const T2iT * w, const T2iT * mean,                 \
          const T2iT * rstd, T2iT * gx, T2iT * gw, T2iT * gb))               \
  X (batch_norm_stats, gboolean, (const T2iT * x, gboolean batch_stats,     \
          T2iT * running_mean, T2iT * running_var, gboolean update,          \
          double momentum, double eps, T2iT * mean, T2iT * rstd))            \
  X (batch_norm_apply, gboolean, (const T2iT * x, const T2iT * w,           \
          const T2iT * b, const T2iT * mean, const T2iT * rstd, T2iT * y))   \
  X (batch_norm_bw, gboolean, (const T2iT * x, const T2iT * g,              \
          const T2iT * w, const T2iT * mean, const T2iT * rstd,              \
          gboolean batch_stats, T2iT * gx, T2iT * gw, T2iT * gb))            \
  X (adaln, gboolean, (const T2iT * x, const T2iT * scale,                  \
          const T2iT * shift, T2iT * y))                                     \
  X (l2_normalize, gboolean, (const T2iT * x, gint axis, double eps,        \
          T2iT * y, T2iT * den))                                             \
  X (l2_clamp_mask, T2iT *, (const T2iT * den, double eps))                 \
  /* attention (core/ops/attention.c) */                                    \
  X (sdpa, gboolean, (const T2iT * q, const T2iT * k, const T2iT * v,       \
          gboolean causal, double scale, T2iT * P, T2iT * out))              \
  X (causal_mask, T2iT *, (T2iDType dtype, gint64 Lq, gint64 Lk))           \
  /* dropout (core/ops/misc.c) and random fills (core/rng) */              \
  X (dropout_mask, gboolean, (T2iT * mask, double p, T2iRng * rng))         \
  X (lerp_mean, gboolean, (T2iT * avg, const T2iT * x, double beta))        \
  X (rng_fill, gboolean, (T2iRng * rng, T2iRngFill kind, T2iT * t,          \
          double a, double b))                                               \
  /* losses (core/ops/loss.c); g is the 0-d upstream gradient */           \
  X (cross_entropy, T2iT *, (const T2iT * x, const T2iT * labels))          \
  X (cross_entropy_bw, T2iT *, (const T2iT * x, const T2iT * labels,        \
          const T2iT * g))                                                   \
  X (one_hot, T2iT *, (const T2iT * labels, T2iDType dtype, gint64 c))      \
  X (bce, T2iT *, (const T2iT * x, const T2iT * t))                         \
  X (bce_bw, T2iT *, (const T2iT * x, const T2iT * t, const T2iT * g,       \
          gboolean target))                                                  \
  X (dist_loss, T2iT *, (const T2iT * a, const T2iT * b, gboolean l1))      \
  X (sign_diff, T2iT *, (const T2iT * a, const T2iT * b))                   \
  /* optimizers, moving averages, clipping (core/optim) */                  \
  X (sgd_step, gboolean, (T2iT * p, const T2iT * g, T2iT * buf,             \
          const T2iSgdArgs * args))                                          \
  X (adam_step, gboolean, (T2iT * p, const T2iT * g, T2iT * m, T2iT * v,    \
          const T2iAdamArgs * args))                                         \
  X (ema_step, gboolean, (T2iT * shadow, const T2iT * live, double decay))  \
  X (sq_sum, double, (const T2iT * t))                                      \
  X (scale, gboolean, (T2iT * t, double c))                                 \
  X (swap, gboolean, (T2iT * a, T2iT * b))

typedef struct _T2iBackend T2iBackend;

struct _T2iBackend
{
  const char *name;
  T2iDevice device;
#define T2I_BACKEND_FIELD(name, ret, args) ret (*name) args;
  T2I_BACKEND_OPS (T2I_BACKEND_FIELD)
#undef T2I_BACKEND_FIELD
};

/* indexed by T2iDevice; filled (missing entries with stubs) at load */
extern const T2iBackend *t2i_backends[T2I_N_DEVICES];

/* the table of @t's device: the one lookup an op makes */
#define T2I_BACKEND(t) (t2i_backends[(t)->device])

/* the table of @device */
static inline const T2iBackend *
t2i_backend_get (T2iDevice device)
{
  return t2i_backends[device];
}

/* names of the entries the CPU table has and @device's lacks
 * (%NULL-terminated, static strings; free the array only) */
const char **t2i_backend_missing (T2iDevice device);
/* every entry's name, in table order (%NULL-terminated, static) */
const char *const *t2i_backend_entry_names (void);

/* same device for all non-NULL tensors; otherwise g_critical naming @op */
gboolean t2i_backend_same_device (const char *op, gint n, T2iTensor ** ts);

/* declarations of every backend's entries: t2i_cpu_<name> (all defined),
 * t2i_cuda_<name> (weak: a missing one is NULL and gets a stub) */
#define T2I_BACKEND_DECL_CPU(name, ret, args) \
  G_GNUC_INTERNAL ret t2i_cpu_##name args;
#define T2I_BACKEND_DECL_CUDA(name, ret, args) \
  G_GNUC_INTERNAL ret t2i_cuda_##name args __attribute__ ((weak));
T2I_BACKEND_OPS (T2I_BACKEND_DECL_CPU)
T2I_BACKEND_OPS (T2I_BACKEND_DECL_CUDA)
#undef T2I_BACKEND_DECL_CPU
#undef T2I_BACKEND_DECL_CUDA

G_END_DECLS
