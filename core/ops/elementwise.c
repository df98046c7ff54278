/* Elementwise ops with NumPy broadcasting, their backward functions, and
 * the graph-free map/zip drivers other op families reuse.
 *
 * Forward kernels: same shape and scalar operands run as one flat loop in
 * chunks (OpenMP above t2i_ops_parallel_threshold); other broadcasts are
 * reduced to rows of the innermost collapsed dim whose operands advance by
 * 1 or 0, so [N,C,H,W] + [1,C,1,1], [N,D] * [N,1] and [N,D] + [D] all run
 * contiguous SIMD rows.  Backward functions are written with the public
 * ops so that, run with grad mode on, they are differentiable again.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ops-internal.h"

#include <math.h>

#define CHUNK 16384

/* ------------------------------------------------------------------ */
/* graph-free drivers                                                  */
/* ------------------------------------------------------------------ */

T2iTensor *
t2i_ops_map (const T2iTensor * x, T2iMapFn f32, T2iMapFn f64, const double *p)
{
  T2iTensor *out = t2i_tensor_new_like (x);
  T2iMapFn f = x->dtype == T2I_F32 ? f32 : f64;
  gsize es = t2i_dtype_size (x->dtype);
  gint64 n = x->numel, nch = (n + CHUNK - 1) / CHUNK;
  const char *src = x->data;
  char *dst = out->data;

#pragma omp parallel for if (n >= T2I_OPS_PARALLEL_THRESHOLD)
  for (gint64 c = 0; c < nch; c++) {
    gint64 s = c * CHUNK;
    f (src + s * es, dst + s * es, MIN (CHUNK, n - s), p);
  }
  return out;
}

T2iTensor *
t2i_ops_zip (const T2iTensor * a, const T2iTensor * b, T2iZipFn f32,
    T2iZipFn f64, const double *p)
{
  T2iTensor *out = t2i_tensor_new_like (a);
  T2iZipFn f = a->dtype == T2I_F32 ? f32 : f64;
  gsize es = t2i_dtype_size (a->dtype);
  gint64 n = a->numel, nch = (n + CHUNK - 1) / CHUNK;
  const char *pa = a->data, *pb = b->data;
  char *dst = out->data;

#pragma omp parallel for if (n >= T2I_OPS_PARALLEL_THRESHOLD)
  for (gint64 c = 0; c < nch; c++) {
    gint64 s = c * CHUNK;
    f (pa + s * es, pb + s * es, dst + s * es, MIN (CHUNK, n - s), p);
  }
  return out;
}

/* Defines a T2iMapFn @NAME over element type T; @EXPR reads x, p0, p1. */
#define DEF_MAP(NAME, T, EXPR)                                              \
T2I_OPS_CLONES static void                                                  \
NAME (const void *xv, void *ov, gint64 n, const double *p)                  \
{                                                                           \
  const T *restrict xs = xv;                                                \
  T *restrict o = ov;                                                       \
  const T p0 = p ? (T) p[0] : (T) 0, p1 = p ? (T) p[1] : (T) 0;             \
  (void) p0;                                                                \
  (void) p1;                                                                \
  _Pragma ("omp simd")                                                      \
  for (gint64 i = 0; i < n; i++) {                                          \
    const T x = xs[i];                                                      \
    o[i] = (EXPR);                                                          \
  }                                                                         \
}

/* ------------------------------------------------------------------ */
/* binary broadcast kernels                                            */
/* ------------------------------------------------------------------ */

typedef void (*BinKernel) (const void *a, gint64 sa, const void *b, gint64 sb,
    void *o, gint64 n);

/* a row kernel: a and b advance by sa / sb (each 0 or 1) */
#define DEF_BIN(NAME, T, EXPR)                                              \
T2I_OPS_CLONES static void                                                  \
NAME (const void *av, gint64 sa, const void *bv, gint64 sb, void *ov,       \
    gint64 n)                                                               \
{                                                                           \
  const T *restrict pa = av, *restrict pb = bv;                             \
  T *restrict o = ov;                                                       \
  if (sa && sb) {                                                           \
    _Pragma ("omp simd")                                                    \
    for (gint64 i = 0; i < n; i++) {                                        \
      const T x = pa[i], y = pb[i];                                         \
      o[i] = (EXPR);                                                        \
    }                                                                       \
  } else if (sa) {                                                          \
    const T y = pb[0];                                                      \
    _Pragma ("omp simd")                                                    \
    for (gint64 i = 0; i < n; i++) {                                        \
      const T x = pa[i];                                                    \
      o[i] = (EXPR);                                                        \
    }                                                                       \
  } else if (sb) {                                                          \
    const T x = pa[0];                                                      \
    _Pragma ("omp simd")                                                    \
    for (gint64 i = 0; i < n; i++) {                                        \
      const T y = pb[i];                                                    \
      o[i] = (EXPR);                                                        \
    }                                                                       \
  } else {                                                                  \
    const T x = pa[0], y = pb[0];                                           \
    const T v = (EXPR);                                                     \
    for (gint64 i = 0; i < n; i++)                                          \
      o[i] = v;                                                             \
  }                                                                         \
}

DEF_BIN (add_f32, float, x + y)
DEF_BIN (add_f64, double, x + y)
DEF_BIN (sub_f32, float, x - y)
DEF_BIN (sub_f64, double, x - y)
DEF_BIN (mul_f32, float, x * y)
DEF_BIN (mul_f64, double, x * y)
DEF_BIN (div_f32, float, x / y)
DEF_BIN (div_f64, double, x / y)
DEF_BIN (max_f32, float, (x >= y || isnan (x)) ? x : y)
DEF_BIN (max_f64, double, (x >= y || isnan (x)) ? x : y)
/* weight of a in d maximum(a,b): 1 where a > b, 1/2 on ties, 0 below */
DEF_BIN (maxw_f32, float, x > y ? 1.0f : (x == y ? 0.5f : 0.0f))
DEF_BIN (maxw_f64, double, x > y ? 1.0 : (x == y ? 0.5 : 0.0))

static const BinKernel bin_kernels[][2] = {
  [T2I_BIN_ADD] = {add_f32, add_f64},
  [T2I_BIN_SUB] = {sub_f32, sub_f64},
  [T2I_BIN_MUL] = {mul_f32, mul_f64},
  [T2I_BIN_DIV] = {div_f32, div_f64},
  [T2I_BIN_MAX] = {max_f32, max_f64},
  [T2I_BIN_MAXW] = {maxw_f32, maxw_f64},
};

G_STATIC_ASSERT (G_N_ELEMENTS (bin_kernels) == T2I_BIN_COUNT);

/* The CPU table's binary entry: a (op) b with broadcasting; no graph.
 * Arguments checked. */
T2iTensor *
t2i_cpu_binary (T2iBinaryOp op, const T2iTensor * a, const T2iTensor * b)
{
  gint nd;
  gint64 shape[T2I_MAX_DIMS];

  if (!t2i_broadcast_shape (a, b, &nd, shape))
    return NULL;

  T2iTensor *out = t2i_tensor_new (a->dtype, nd, shape);
  BinKernel k = bin_kernels[op][a->dtype == T2I_F32 ? 0 : 1];
  gsize es = t2i_dtype_size (a->dtype);
  gint64 n = out->numel;
  const char *pa = a->data, *pb = b->data;
  char *po = out->data;

  if (n == 0)
    return out;

  gboolean flat_a = a->numel == n, flat_b = b->numel == n;
  if ((flat_a || a->numel == 1) && (flat_b || b->numel == 1)) {
    /* same shape, or a scalar operand: one flat loop */
    gint64 sa = flat_a ? 1 : 0, sb = flat_b ? 1 : 0;
    gint64 nch = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for if (n >= T2I_OPS_PARALLEL_THRESHOLD)
    for (gint64 c = 0; c < nch; c++) {
      gint64 s = c * CHUNK;
      k (pa + s * sa * es, sa, pb + s * sb * es, sb, po + s * es,
          MIN (CHUNK, n - s));
    }
    return out;
  }

  /* general broadcast: collapse dims, then rows of the innermost dim */
  gint64 st_a[T2I_MAX_DIMS], st_b[T2I_MAX_DIMS];
  t2i_broadcast_strides (a->ndim, a->shape, nd, shape, st_a);
  t2i_broadcast_strides (b->ndim, b->shape, nd, shape, st_b);

  gint cd = 0;
  gint64 cs[T2I_MAX_DIMS], ca[T2I_MAX_DIMS], cb[T2I_MAX_DIMS];
  for (gint d = 0; d < nd; d++) {
    if (shape[d] == 1)
      continue;
    if (cd > 0 && ca[cd - 1] == st_a[d] * shape[d]
        && cb[cd - 1] == st_b[d] * shape[d]) {
      cs[cd - 1] *= shape[d];
      ca[cd - 1] = st_a[d];
      cb[cd - 1] = st_b[d];
    } else {
      cs[cd] = shape[d];
      ca[cd] = st_a[d];
      cb[cd] = st_b[d];
      cd++;
    }
  }
  g_assert (cd >= 1);

  gint64 len = cs[cd - 1], ia = ca[cd - 1], ib = cb[cd - 1];
  gint64 rows = n / len;

#pragma omp parallel for if (n >= T2I_OPS_PARALLEL_THRESHOLD && rows > 1)
  for (gint64 r = 0; r < rows; r++) {
    gint64 rem = r, oa = 0, ob = 0;
    for (gint d = cd - 2; d >= 0; d--) {
      gint64 idx = rem % cs[d];
      rem /= cs[d];
      oa += idx * ca[d];
      ob += idx * cb[d];
    }
    k (pa + oa * es, ia, pb + ob * es, ib, po + r * len * es, len);
  }
  return out;
}

/* ------------------------------------------------------------------ */
/* binary ops                                                          */
/* ------------------------------------------------------------------ */

static void
add_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  for (gint i = 0; i < 2; i++)
    if (node->needs_grad[i])
      gin[i] = t2i_sum_to_shape (g, node->inputs[i]->ndim,
          node->inputs[i]->shape);
}

static void
sub_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0], *b = node->inputs[1];
  if (node->needs_grad[0])
    gin[0] = t2i_sum_to_shape (g, a->ndim, a->shape);
  if (node->needs_grad[1]) {
    g_autoptr (T2iTensor) s = t2i_sum_to_shape (g, b->ndim, b->shape);
    gin[1] = t2i_neg (s);
  }
}

static void
mul_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0], *b = node->inputs[1];
  if (node->needs_grad[0]) {
    g_autoptr (T2iTensor) t = t2i_mul (g, b);
    gin[0] = t2i_sum_to_shape (t, a->ndim, a->shape);
  }
  if (node->needs_grad[1]) {
    g_autoptr (T2iTensor) t = t2i_mul (g, a);
    gin[1] = t2i_sum_to_shape (t, b->ndim, b->shape);
  }
}

static void
div_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0], *b = node->inputs[1];
  g_autoptr (T2iTensor) gb = t2i_div (g, b);    /* g / b */
  if (node->needs_grad[0])
    gin[0] = t2i_sum_to_shape (gb, a->ndim, a->shape);
  if (node->needs_grad[1]) {
    /* d(a/b)/db = -(a/b) / b */
    g_autoptr (T2iTensor) y = t2i_grad_enabled ()? t2i_div (a, b)
        : t2i_tensor_ref (node->saved[0]);
    g_autoptr (T2iTensor) t = t2i_mul (gb, y);
    g_autoptr (T2iTensor) s = t2i_sum_to_shape (t, b->ndim, b->shape);
    gin[1] = t2i_neg (s);
  }
}

static void
maximum_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0], *b = node->inputs[1];
  /* constant weights: 1 where a wins, 1/2 on ties (as PyTorch) */
  g_autoptr (T2iTensor) wa = T2I_BACKEND (a)->binary (T2I_BIN_MAXW, a, b);
  if (node->needs_grad[0]) {
    g_autoptr (T2iTensor) t = t2i_mul (g, wa);
    gin[0] = t2i_sum_to_shape (t, a->ndim, a->shape);
  }
  if (node->needs_grad[1]) {
    g_autoptr (T2iTensor) wb = T2I_BACKEND (a)->binary (T2I_BIN_MAXW, b, a);
    g_autoptr (T2iTensor) t = t2i_mul (g, wb);
    gin[1] = t2i_sum_to_shape (t, b->ndim, b->shape);
  }
}

static T2iTensor *
binary_op (T2iBinaryOp op, const char *name, T2iBackwardFn bw, T2iTensor * a,
    T2iTensor * b)
{
  T2iTensor *out = T2I_BACKEND (a)->binary (op, a, b);
  T2iNode *node = T2I_RECORD (out, name, bw, a, b);
  if (node && op == T2I_BIN_DIV)
    t2i_ops_save_output (node, 0, out);
  return out;
}

/**
 * t2i_add:
 * a + b with NumPy broadcasting.
 */
T2iTensor *
t2i_add (T2iTensor * a, T2iTensor * b)
{
  T2I_CHECK_FLOAT (a, NULL);
  T2I_CHECK_SAME_DTYPE (a, b, NULL);
  return binary_op (T2I_BIN_ADD, "add", add_backward, a, b);
}

/**
 * t2i_sub:
 * a - b with NumPy broadcasting.
 */
T2iTensor *
t2i_sub (T2iTensor * a, T2iTensor * b)
{
  T2I_CHECK_FLOAT (a, NULL);
  T2I_CHECK_SAME_DTYPE (a, b, NULL);
  return binary_op (T2I_BIN_SUB, "sub", sub_backward, a, b);
}

/**
 * t2i_mul:
 * a * b with NumPy broadcasting.
 */
T2iTensor *
t2i_mul (T2iTensor * a, T2iTensor * b)
{
  T2I_CHECK_FLOAT (a, NULL);
  T2I_CHECK_SAME_DTYPE (a, b, NULL);
  return binary_op (T2I_BIN_MUL, "mul", mul_backward, a, b);
}

/**
 * t2i_div:
 * a / b with NumPy broadcasting.
 */
T2iTensor *
t2i_div (T2iTensor * a, T2iTensor * b)
{
  T2I_CHECK_FLOAT (a, NULL);
  T2I_CHECK_SAME_DTYPE (a, b, NULL);
  return binary_op (T2I_BIN_DIV, "div", div_backward, a, b);
}

/**
 * t2i_maximum:
 * Elementwise max(a, b) with broadcasting; NaN propagates from @a.  The
 * gradient goes to the larger input, split in half on ties.
 */
T2iTensor *
t2i_maximum (T2iTensor * a, T2iTensor * b)
{
  T2I_CHECK_FLOAT (a, NULL);
  T2I_CHECK_SAME_DTYPE (a, b, NULL);
  return binary_op (T2I_BIN_MAX, "maximum", maximum_backward, a, b);
}

/* ------------------------------------------------------------------ */
/* unary ops                                                           */
/* ------------------------------------------------------------------ */

DEF_MAP (neg_f32, float, -x)
DEF_MAP (neg_f64, double, -x)
DEF_MAP (exp_f32, float, expf (x))
DEF_MAP (exp_f64, double, exp (x))
DEF_MAP (log_f32, float, logf (x))
DEF_MAP (log_f64, double, log (x))
DEF_MAP (sqrt_f32, float, sqrtf (x))
DEF_MAP (sqrt_f64, double, sqrt (x))
DEF_MAP (rsqrt_f32, float, 1.0f / sqrtf (x))
DEF_MAP (rsqrt_f64, double, 1.0 / sqrt (x))
DEF_MAP (abs_f32, float, fabsf (x))
DEF_MAP (abs_f64, double, fabs (x))
DEF_MAP (sign_f32, float, (float) ((x > 0) - (x < 0)))
DEF_MAP (sign_f64, double, (double) ((x > 0) - (x < 0)))
DEF_MAP (square_f32, float, x * x)
DEF_MAP (square_f64, double, x * x)
DEF_MAP (adds_f32, float, x + p0)
DEF_MAP (adds_f64, double, x + p0)
DEF_MAP (muls_f32, float, x * p0)
DEF_MAP (muls_f64, double, x * p0)
DEF_MAP (pow_f32, float, powf (x, p0))
DEF_MAP (pow_f64, double, pow (x, p0))
DEF_MAP (cube_f32, float, x * x * x)
DEF_MAP (cube_f64, double, x * x * x)
DEF_MAP (recip_f32, float, 1.0f / x)
DEF_MAP (recip_f64, double, 1.0 / x)
DEF_MAP (recip2_f32, float, 1.0f / (x * x))
DEF_MAP (recip2_f64, double, 1.0 / (x * x))
DEF_MAP (clamp_f32, float, x < p0 ? p0 : (x > p1 ? p1 : x))
DEF_MAP (clamp_f64, double, x < p0 ? p0 : (x > p1 ? p1 : x))
/* 1 inside [p0, p1], 0 outside: the clamp gradient mask */
DEF_MAP (inside_f32, float, (x >= p0 && x <= p1) ? 1.0f : 0.0f)
DEF_MAP (inside_f64, double, (x >= p0 && x <= p1) ? 1.0 : 0.0)
/* 1 above p[0] (compared in double, as l2_normalize's backward compares
 * its saved norms with eps), 0 elsewhere */
DEF_MAP (gt_f32, float, (double) x > p[0] ? 1.0f : 0.0f)
DEF_MAP (gt_f64, double, x > p[0] ? 1.0 : 0.0)

/* the CPU loops of the unary entry, by op */
static const T2iMapFn unary_fns[][2] = {
  [T2I_UN_NEG] = {neg_f32, neg_f64},
  [T2I_UN_EXP] = {exp_f32, exp_f64},
  [T2I_UN_LOG] = {log_f32, log_f64},
  [T2I_UN_SQRT] = {sqrt_f32, sqrt_f64},
  [T2I_UN_RSQRT] = {rsqrt_f32, rsqrt_f64},
  [T2I_UN_ABS] = {abs_f32, abs_f64},
  [T2I_UN_SIGN] = {sign_f32, sign_f64},
  [T2I_UN_SQUARE] = {square_f32, square_f64},
  [T2I_UN_ADDS] = {adds_f32, adds_f64},
  [T2I_UN_MULS] = {muls_f32, muls_f64},
  [T2I_UN_POW] = {pow_f32, pow_f64},
  [T2I_UN_CUBE] = {cube_f32, cube_f64},
  [T2I_UN_RECIP] = {recip_f32, recip_f64},
  [T2I_UN_RECIP2] = {recip2_f32, recip2_f64},
  [T2I_UN_CLAMP] = {clamp_f32, clamp_f64},
  [T2I_UN_INSIDE] = {inside_f32, inside_f64},
  [T2I_UN_GT] = {gt_f32, gt_f64},
};

G_STATIC_ASSERT (G_N_ELEMENTS (unary_fns) == T2I_UN_COUNT);

/* The CPU table's unary entry.  T2I_UN_POW takes exact dedicated loops
 * for the common exponents (0 aside: 1, 2, 3, 0.5, -0.5, -1, -2). */
T2iTensor *
t2i_cpu_unary (T2iUnaryOp op, const T2iTensor * x, const double *p)
{
  T2iMapFn f32 = unary_fns[op][0], f64 = unary_fns[op][1];
  if (op == T2I_UN_POW) {
    const double e = p[0];
    if (e == 1.0) {
      f32 = muls_f32;
      f64 = muls_f64;
    } else if (e == 2.0) {
      f32 = square_f32;
      f64 = square_f64;
    } else if (e == 3.0) {
      f32 = cube_f32;
      f64 = cube_f64;
    } else if (e == 0.5) {
      f32 = sqrt_f32;
      f64 = sqrt_f64;
    } else if (e == -0.5) {
      f32 = rsqrt_f32;
      f64 = rsqrt_f64;
    } else if (e == -1.0) {
      f32 = recip_f32;
      f64 = recip_f64;
    } else if (e == -2.0) {
      f32 = recip2_f32;
      f64 = recip2_f64;
    }
  }
  return t2i_ops_map (x, f32, f64, p);
}

#define MAP(x, OP, p) (T2I_BACKEND (x)->unary ((OP), (x), (p)))

static void
neg_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gin[0] = t2i_neg (g);
}

static void
exp_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  g_autoptr (T2iTensor) y = t2i_grad_enabled ()? t2i_exp (node->inputs[0])
      : t2i_tensor_ref (node->saved[0]);
  gin[0] = t2i_mul (g, y);
}

static void
log_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gin[0] = t2i_div (g, node->inputs[0]);
}

static void
sqrt_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  g_autoptr (T2iTensor) y = t2i_grad_enabled ()? t2i_sqrt (node->inputs[0])
      : t2i_tensor_ref (node->saved[0]);
  g_autoptr (T2iTensor) t = t2i_div (g, y);
  gin[0] = t2i_mul_scalar (t, 0.5);
}

static void
rsqrt_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  /* d x^-1/2 = -1/2 x^-3/2 */
  g_autoptr (T2iTensor) p = t2i_pow_scalar (node->inputs[0], -1.5);
  g_autoptr (T2iTensor) t = t2i_mul (g, p);
  gin[0] = t2i_mul_scalar (t, -0.5);
}

static void
abs_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  g_autoptr (T2iTensor) s = MAP (node->inputs[0], T2I_UN_SIGN, NULL);
  gin[0] = t2i_mul (g, s);
}

static void
square_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  g_autoptr (T2iTensor) t = t2i_mul (g, node->inputs[0]);
  gin[0] = t2i_mul_scalar (t, 2.0);
}

static void
add_scalar_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gin[0] = t2i_tensor_ref (g);
}

static void
mul_scalar_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gin[0] = t2i_mul_scalar (g, node->f[0]);
}

static void
pow_scalar_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  double p = node->f[0];
  if (p == 0.0) {
    gin[0] = t2i_tensor_zeros_like (node->inputs[0]);
    return;
  }
  if (p == 1.0) {
    gin[0] = t2i_tensor_ref (g);
    return;
  }
  /* p x^(p-1) g */
  g_autoptr (T2iTensor) d = t2i_pow_scalar (node->inputs[0], p - 1.0);
  g_autoptr (T2iTensor) t = t2i_mul (g, d);
  gin[0] = t2i_mul_scalar (t, p);
}

static void
clamp_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  double lim[2] = { node->f[0], node->f[1] };
  g_autoptr (T2iTensor) m = MAP (node->inputs[0], T2I_UN_INSIDE, lim);
  gin[0] = t2i_mul (g, m);
}

/* computes y = op(a), records node @name with @bw; saves y when @save */
static T2iTensor *
unary_op (T2iTensor * a, T2iUnaryOp op, const double *p, const char *name,
    T2iBackwardFn bw, gboolean save)
{
  T2I_CHECK_FLOAT (a, NULL);
  T2iTensor *out = T2I_BACKEND (a)->unary (op, a, p);
  T2iNode *node = T2I_RECORD (out, name, bw, a);
  if (node) {
    if (p) {
      node->f[0] = p[0];
      node->f[1] = p[1];
    }
    if (save)
      t2i_ops_save_output (node, 0, out);
  }
  return out;
}

/** t2i_neg: -a */
T2iTensor *
t2i_neg (T2iTensor * a)
{
  return unary_op (a, T2I_UN_NEG, NULL, "neg", neg_backward, FALSE);
}

/** t2i_exp: e^a */
T2iTensor *
t2i_exp (T2iTensor * a)
{
  return unary_op (a, T2I_UN_EXP, NULL, "exp", exp_backward, TRUE);
}

/** t2i_log: natural logarithm */
T2iTensor *
t2i_log (T2iTensor * a)
{
  return unary_op (a, T2I_UN_LOG, NULL, "log", log_backward, FALSE);
}

/** t2i_sqrt: square root */
T2iTensor *
t2i_sqrt (T2iTensor * a)
{
  return unary_op (a, T2I_UN_SQRT, NULL, "sqrt", sqrt_backward, TRUE);
}

/** t2i_rsqrt: 1 / sqrt(a) */
T2iTensor *
t2i_rsqrt (T2iTensor * a)
{
  return unary_op (a, T2I_UN_RSQRT, NULL, "rsqrt", rsqrt_backward, FALSE);
}

/** t2i_abs: |a|; the gradient at 0 is 0 */
T2iTensor *
t2i_abs (T2iTensor * a)
{
  return unary_op (a, T2I_UN_ABS, NULL, "abs", abs_backward, FALSE);
}

/** t2i_square: a * a */
T2iTensor *
t2i_square (T2iTensor * a)
{
  return unary_op (a, T2I_UN_SQUARE, NULL, "square", square_backward, FALSE);
}

/** t2i_add_scalar: a + s */
T2iTensor *
t2i_add_scalar (T2iTensor * a, double s)
{
  double p[2] = { s, 0 };
  return unary_op (a, T2I_UN_ADDS, p, "add_scalar",
      add_scalar_backward, FALSE);
}

/** t2i_mul_scalar: a * s */
T2iTensor *
t2i_mul_scalar (T2iTensor * a, double s)
{
  double p[2] = { s, 0 };
  return unary_op (a, T2I_UN_MULS, p, "mul_scalar",
      mul_scalar_backward, FALSE);
}

/**
 * t2i_pow_scalar:
 * a^p.  Common exponents (0, 1, 2, 3, 0.5, -0.5, -1, -2) take exact
 * dedicated loops; others call pow().
 */
T2iTensor *
t2i_pow_scalar (T2iTensor * a, double p)
{
  T2I_CHECK_FLOAT (a, NULL);
  double prm[2] = { p, 0 };
  T2iTensor *out = T2I_BACKEND (a)->unary (T2I_UN_POW, a, prm);
  T2iNode *node = T2I_RECORD (out, "pow_scalar", pow_scalar_backward, a);
  if (node)
    node->f[0] = p;
  return out;
}

/**
 * t2i_clamp:
 * min(max(a, lo), hi); the gradient passes where lo <= a <= hi.
 */
T2iTensor *
t2i_clamp (T2iTensor * a, double lo, double hi)
{
  double p[2] = { lo, hi };
  return unary_op (a, T2I_UN_CLAMP, p, "clamp", clamp_backward,
      FALSE);
}

/* ------------------------------------------------------------------ */
/* broadcasting and its backward                                       */
/* ------------------------------------------------------------------ */

static void
sum_to_shape_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *in = node->inputs[0];
  gin[0] = t2i_expand (g, in->ndim, in->shape);
}

static void
expand_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *in = node->inputs[0];
  gin[0] = t2i_sum_to_shape (g, in->ndim, in->shape);
}

/* A tensor with @a's data and shape, and an identity node @name (used
 * when a shape op is a no-op but a graph must still be recorded). */
static T2iTensor *
identity_with_node (T2iTensor * a, const char *name, T2iBackwardFn bw)
{
  if (!t2i_any_requires_grad (1, &a))
    return t2i_tensor_ref (a);
  T2iTensor *out = t2i_tensor_copy (a);
  T2I_RECORD (out, name, bw, a);
  return out;
}

/**
 * t2i_sum_to_shape:
 * Sums @g over its broadcast dims so that it has @ndim/@shape, which must
 * broadcast to @g's shape (the backward of broadcasting).
 */
T2iTensor *
t2i_sum_to_shape (T2iTensor * g, gint ndim, const gint64 * shape)
{
  T2I_CHECK_FLOAT (g, NULL);
  g_return_val_if_fail (ndim >= 0 && ndim <= T2I_MAX_DIMS, NULL);

  gint nd;
  gint64 bs[T2I_MAX_DIMS];
  if (ndim > g->ndim
      || !t2i_broadcast_shapes (ndim, shape, g->ndim, g->shape, &nd, bs)
      || t2i_shape_numel (nd, bs) != g->numel) {
    g_autofree char *sg = t2i_shape_to_string (g->ndim, g->shape);
    g_autofree char *st = t2i_shape_to_string (ndim, shape);
    g_critical ("t2i_sum_to_shape: %s does not broadcast to %s", st, sg);
    return NULL;
  }
  for (gint d = 0; d < g->ndim; d++)
    if (bs[d] != g->shape[d]) {
      g_autofree char *sg = t2i_shape_to_string (g->ndim, g->shape);
      g_autofree char *st = t2i_shape_to_string (ndim, shape);
      g_critical ("t2i_sum_to_shape: %s does not broadcast to %s", st, sg);
      return NULL;
    }

  if (ndim == g->ndim && t2i_shape_numel (ndim, shape) == g->numel)
    return identity_with_node (g, "sum_to_shape", sum_to_shape_backward);

  gint64 kshape[T2I_MAX_DIMS];
  for (gint d = 0; d < g->ndim; d++) {
    gint i = ndim - g->ndim + d;
    kshape[d] = i >= 0 ? shape[i] : 1;
  }
  T2iTensor *out = T2I_BACKEND (g)->sum_reduce (g, kshape, ndim, shape, 1.0);
  T2I_RECORD (out, "sum_to_shape", sum_to_shape_backward, g);
  return out;
}

/**
 * t2i_expand:
 * Broadcasts @a to @ndim/@shape (NumPy rules; @a's shape must broadcast to
 * it) as a contiguous copy.
 */
T2iTensor *
t2i_expand (T2iTensor * a, gint ndim, const gint64 * shape)
{
  T2I_CHECK_NOT_NULL (a, NULL);
  g_return_val_if_fail (ndim >= 0 && ndim <= T2I_MAX_DIMS, NULL);

  gint nd;
  gint64 bs[T2I_MAX_DIMS];
  gboolean ok = a->ndim <= ndim
      && t2i_broadcast_shapes (a->ndim, a->shape, ndim, shape, &nd, bs);
  for (gint d = 0; ok && d < ndim; d++)
    ok = bs[d] == shape[d];
  if (!ok) {
    g_autofree char *sa = t2i_shape_to_string (a->ndim, a->shape);
    g_autofree char *st = t2i_shape_to_string (ndim, shape);
    g_critical ("t2i_expand: %s does not broadcast to %s", sa, st);
    return NULL;
  }
  if (ndim == a->ndim && t2i_shape_numel (ndim, shape) == a->numel)
    return identity_with_node (a, "expand", expand_backward);

  T2iTensor *out = t2i_ops_new_shape (a, ndim, shape);
  gint64 st[T2I_MAX_DIMS];
  t2i_broadcast_strides (a->ndim, a->shape, ndim, shape, st);
  if (out && !T2I_BACKEND (a)->strided_copy (out, a, ndim, shape, st))
    g_clear_pointer (&out, t2i_tensor_unref);
  T2I_RECORD (out, "expand", expand_backward, a);
  return out;
}
