/* Activations: relu, leaky_relu, gelu (erf), quick_gelu, tanh, sigmoid,
 * softplus, silu, glu.
 *
 * Forward runs one fused elementwise pass.  Backward has two forms: the
 * ordinary one (grad mode off, as t2i_backward() runs it) is one fused
 * pass g * f'(x); with grad mode on (create_graph, e.g. an R1 penalty) the
 * same derivative is built from the public ops so it is differentiable
 * again.  Kinks (relu, leaky_relu) use a constant mask, whose derivative
 * is zero almost everywhere.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ops-internal.h"

#include <math.h>

#define QUICK_GELU_K 1.702

/* 1.0 when the sign bit of @x is set, else 0.0.  Selects written as
 * s * a + (1 - s) * b with this keep loops that also call libm free of
 * floating-point comparisons, which GCC will not if-convert (and so not
 * vectorise) under the default -ftrapping-math. */
static inline float
sgn_f (float x)
{
  guint32 u;
  memcpy (&u, &x, sizeof u);
  return (float) (gint32) (u >> 31);
}

static inline double
sgn_d (double x)
{
  guint64 u;
  memcpy (&u, &x, sizeof u);
  return (double) (gint64) (u >> 63);
}

/* stable logistic function: e = exp(-|x|), 1/(1+e) or e/(1+e) */
static inline double
sigmoid_d (double x)
{
  double e = exp (-fabs (x)), s = sgn_d (x);
  return (s * e + (1.0 - s)) / (1.0 + e);
}

static inline float
sigmoid_f (float x)
{
  float e = expf (-fabsf (x)), s = sgn_f (x);
  return (s * e + (1.0f - s)) / (1.0f + e);
}

/* Defines T2iMapFn NAME over T; EXPR reads x, p0. */
#define DEF_MAP(NAME, T, EXPR)                                              \
T2I_OPS_CLONES static void                                                  \
NAME (const void *xv, void *ov, gint64 n, const double *p)                  \
{                                                                           \
  const T *restrict xs = xv;                                                \
  T *restrict o = ov;                                                       \
  const T p0 = p ? (T) p[0] : (T) 0;                                        \
  (void) p0;                                                                \
  _Pragma ("omp simd")                                                      \
  for (gint64 i = 0; i < n; i++) {                                          \
    const T x = xs[i];                                                      \
    o[i] = (EXPR);                                                          \
  }                                                                         \
}

/* Defines T2iZipFn NAME over T; EXPR reads g, x (or the saved y), p0. */
#define DEF_ZIP(NAME, T, EXPR)                                              \
T2I_OPS_CLONES static void                                                  \
NAME (const void *gv, const void *xv, void *ov, gint64 n, const double *p)  \
{                                                                           \
  const T *restrict gs = gv, *restrict xs = xv;                             \
  T *restrict o = ov;                                                       \
  const T p0 = p ? (T) p[0] : (T) 0;                                        \
  (void) p0;                                                                \
  _Pragma ("omp simd")                                                      \
  for (gint64 i = 0; i < n; i++) {                                          \
    const T g = gs[i], x = xs[i];                                           \
    o[i] = (EXPR);                                                          \
  }                                                                         \
}

#define M_SQRT1_2_F ((float) M_SQRT1_2)
#define INV_SQRT_2PI 0.39894228040143267794

/* forward maps */
DEF_MAP (relu_f32, float, x < 0 ? 0.0f : x)
DEF_MAP (relu_f64, double, x < 0 ? 0.0 : x)
DEF_MAP (lrelu_f32, float, x * (sgn_f (x) * p0 + (1.0f - sgn_f (x))))
DEF_MAP (lrelu_f64, double, x * (sgn_d (x) * p0 + (1.0 - sgn_d (x))))
DEF_MAP (gelu_f32, float, 0.5f * x * (1.0f + erff (x * M_SQRT1_2_F)))
DEF_MAP (gelu_f64, double, 0.5 * x * (1.0 + erf (x * M_SQRT1_2)))
DEF_MAP (ncdf_f32, float, 0.5f * (1.0f + erff (x * M_SQRT1_2_F)))
DEF_MAP (ncdf_f64, double, 0.5 * (1.0 + erf (x * M_SQRT1_2)))
DEF_MAP (qgelu_f32, float, x * sigmoid_f ((float) QUICK_GELU_K * x))
DEF_MAP (qgelu_f64, double, x * sigmoid_d (QUICK_GELU_K * x))
DEF_MAP (tanh_f32, float, tanhf (x))
DEF_MAP (tanh_f64, double, tanh (x))
DEF_MAP (sigmoid_f32, float, sigmoid_f (x))
DEF_MAP (sigmoid_f64, double, sigmoid_d (x))
DEF_MAP (softplus_f32, float, (x + fabsf (x)) * 0.5f + log1pf (expf (-fabsf (x))))
DEF_MAP (softplus_f64, double, (x + fabs (x)) * 0.5 + log1p (exp (-fabs (x))))
DEF_MAP (silu_f32, float, x * sigmoid_f (x))
DEF_MAP (silu_f64, double, x * sigmoid_d (x))
/* constant masks */
DEF_MAP (pos_f32, float, x > 0 ? 1.0f : 0.0f)
DEF_MAP (pos_f64, double, x > 0 ? 1.0 : 0.0)
DEF_MAP (lmask_f32, float, x > 0 ? 1.0f : p0)
DEF_MAP (lmask_f64, double, x > 0 ? 1.0 : p0)

/* fused backward: g * f'(x), or g * f'(y) from the saved output y */
DEF_ZIP (relu_bw_f32, float, x > 0 ? g : 0.0f)
DEF_ZIP (relu_bw_f64, double, x > 0 ? g : 0.0)
DEF_ZIP (lrelu_bw_f32, float, g * (x > 0 ? 1.0f : p0))
DEF_ZIP (lrelu_bw_f64, double, g * (x > 0 ? 1.0 : p0))
DEF_ZIP (gelu_bw_f32, float, g * (0.5f * (1.0f + erff (x * M_SQRT1_2_F))
        + x * (float) INV_SQRT_2PI * expf (-0.5f * x * x)))
DEF_ZIP (gelu_bw_f64, double, g * (0.5 * (1.0 + erf (x * M_SQRT1_2))
        + x * INV_SQRT_2PI * exp (-0.5 * x * x)))
DEF_ZIP (qgelu_bw_f32, float, g * (sigmoid_f ((float) QUICK_GELU_K * x)
        * (1.0f + (float) QUICK_GELU_K * x
            * (1.0f - sigmoid_f ((float) QUICK_GELU_K * x)))))
DEF_ZIP (qgelu_bw_f64, double, g * (sigmoid_d (QUICK_GELU_K * x)
        * (1.0 + QUICK_GELU_K * x * (1.0 - sigmoid_d (QUICK_GELU_K * x)))))
DEF_ZIP (tanh_bw_f32, float, g * (1.0f - x * x))       /* x is y */
DEF_ZIP (tanh_bw_f64, double, g * (1.0 - x * x))
DEF_ZIP (sigmoid_bw_f32, float, g * x * (1.0f - x))     /* x is y */
DEF_ZIP (sigmoid_bw_f64, double, g * x * (1.0 - x))
DEF_ZIP (softplus_bw_f32, float, g * sigmoid_f (x))
DEF_ZIP (softplus_bw_f64, double, g * sigmoid_d (x))
DEF_ZIP (silu_bw_f32, float, g * sigmoid_f (x) * (1.0f + x * (1.0f - sigmoid_f (x))))
DEF_ZIP (silu_bw_f64, double, g * sigmoid_d (x) * (1.0 + x * (1.0 - sigmoid_d (x))))

/* the CPU table's activation entries: forward maps and fused backward */
static const T2iMapFn act_fns[][2] = {
  [T2I_ACT_RELU] = {relu_f32, relu_f64},
  [T2I_ACT_LEAKY_RELU] = {lrelu_f32, lrelu_f64},
  [T2I_ACT_GELU] = {gelu_f32, gelu_f64},
  [T2I_ACT_NORMAL_CDF] = {ncdf_f32, ncdf_f64},
  [T2I_ACT_QUICK_GELU] = {qgelu_f32, qgelu_f64},
  [T2I_ACT_TANH] = {tanh_f32, tanh_f64},
  [T2I_ACT_SIGMOID] = {sigmoid_f32, sigmoid_f64},
  [T2I_ACT_SOFTPLUS] = {softplus_f32, softplus_f64},
  [T2I_ACT_SILU] = {silu_f32, silu_f64},
  [T2I_ACT_POS_MASK] = {pos_f32, pos_f64},
  [T2I_ACT_LEAKY_MASK] = {lmask_f32, lmask_f64},
};

G_STATIC_ASSERT (G_N_ELEMENTS (act_fns) == T2I_ACT_COUNT);

static const T2iZipFn act_bw_fns[][2] = {
  [T2I_ACT_RELU] = {relu_bw_f32, relu_bw_f64},
  [T2I_ACT_LEAKY_RELU] = {lrelu_bw_f32, lrelu_bw_f64},
  [T2I_ACT_GELU] = {gelu_bw_f32, gelu_bw_f64},
  [T2I_ACT_QUICK_GELU] = {qgelu_bw_f32, qgelu_bw_f64},
  [T2I_ACT_TANH] = {tanh_bw_f32, tanh_bw_f64},
  [T2I_ACT_SIGMOID] = {sigmoid_bw_f32, sigmoid_bw_f64},
  [T2I_ACT_SOFTPLUS] = {softplus_bw_f32, softplus_bw_f64},
  [T2I_ACT_SILU] = {silu_bw_f32, silu_bw_f64},
};

T2iTensor *
t2i_cpu_activation (T2iActOp op, const T2iTensor * x, double p)
{
  const double prm[1] = { p };
  return t2i_ops_map (x, act_fns[op][0], act_fns[op][1], prm);
}

T2iTensor *
t2i_cpu_activation_bw (T2iActOp op, const T2iTensor * g, const T2iTensor * x,
    double p)
{
  const double prm[1] = { p };
  g_return_val_if_fail (act_bw_fns[op][0] != NULL, NULL);
  return t2i_ops_zip (g, x, act_bw_fns[op][0], act_bw_fns[op][1], prm);
}

#define MAP(x, OP, p) (T2I_BACKEND (x)->activation ((OP), (x), (p)))
#define ZIP(g, x, OP, p) (T2I_BACKEND (x)->activation_bw ((OP), (g), (x), (p)))

/* s * (1 - s), differentiable */
static T2iTensor *
sigmoid_deriv (T2iTensor * s)
{
  g_autoptr (T2iTensor) sq = t2i_square (s);
  return t2i_sub (s, sq);
}

/* ------------------------------------------------------------------ */
/* backward functions                                                  */
/* ------------------------------------------------------------------ */

static void
relu_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0];
  if (!t2i_grad_enabled ()) {
    gin[0] = ZIP (g, x, T2I_ACT_RELU, 0);
    return;
  }
  g_autoptr (T2iTensor) m = MAP (x, T2I_ACT_POS_MASK, 0);
  gin[0] = t2i_mul (g, m);
}

static void
leaky_relu_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0];
  if (!t2i_grad_enabled ()) {
    gin[0] = ZIP (g, x, T2I_ACT_LEAKY_RELU, node->f[0]);
    return;
  }
  g_autoptr (T2iTensor) m = MAP (x, T2I_ACT_LEAKY_MASK, node->f[0]);
  gin[0] = t2i_mul (g, m);
}

static void normal_cdf_backward (T2iNode * node, T2iTensor * g,
    T2iTensor ** gin);

/* Phi(x), the standard normal CDF, as a differentiable internal op */
static T2iTensor *
normal_cdf (T2iTensor * x)
{
  T2iTensor *out = MAP (x, T2I_ACT_NORMAL_CDF, 0);
  T2I_RECORD (out, "normal_cdf", normal_cdf_backward, x);
  return out;
}

/* phi(x) = exp(-x^2/2) / sqrt(2 pi), from public ops */
static T2iTensor *
normal_pdf (T2iTensor * x)
{
  g_autoptr (T2iTensor) sq = t2i_square (x);
  g_autoptr (T2iTensor) h = t2i_mul_scalar (sq, -0.5);
  g_autoptr (T2iTensor) e = t2i_exp (h);
  return t2i_mul_scalar (e, INV_SQRT_2PI);
}

static void
normal_cdf_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  g_autoptr (T2iTensor) pdf = normal_pdf (node->inputs[0]);
  gin[0] = t2i_mul (g, pdf);
}

static void
gelu_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0];
  if (!t2i_grad_enabled ()) {
    gin[0] = ZIP (g, x, T2I_ACT_GELU, 0);
    return;
  }
  /* Phi(x) + x phi(x) */
  g_autoptr (T2iTensor) cdf = normal_cdf (x);
  g_autoptr (T2iTensor) pdf = normal_pdf (x);
  g_autoptr (T2iTensor) xp = t2i_mul (x, pdf);
  g_autoptr (T2iTensor) d = t2i_add (cdf, xp);
  gin[0] = t2i_mul (g, d);
}

static void
quick_gelu_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0];
  if (!t2i_grad_enabled ()) {
    gin[0] = ZIP (g, x, T2I_ACT_QUICK_GELU, 0);
    return;
  }
  /* s + k x s (1 - s), s = sigmoid(k x) */
  g_autoptr (T2iTensor) kx = t2i_mul_scalar (x, QUICK_GELU_K);
  g_autoptr (T2iTensor) s = t2i_sigmoid (kx);
  g_autoptr (T2iTensor) ds = sigmoid_deriv (s);
  g_autoptr (T2iTensor) t = t2i_mul (kx, ds);
  g_autoptr (T2iTensor) d = t2i_add (s, t);
  gin[0] = t2i_mul (g, d);
}

static void
tanh_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  if (!t2i_grad_enabled ()) {
    gin[0] = ZIP (g, node->saved[0], T2I_ACT_TANH, 0);
    return;
  }
  g_autoptr (T2iTensor) y = t2i_tanh (node->inputs[0]);
  g_autoptr (T2iTensor) sq = t2i_square (y);
  g_autoptr (T2iTensor) ns = t2i_neg (sq);
  g_autoptr (T2iTensor) d = t2i_add_scalar (ns, 1.0);
  gin[0] = t2i_mul (g, d);
}

static void
sigmoid_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  if (!t2i_grad_enabled ()) {
    gin[0] = ZIP (g, node->saved[0], T2I_ACT_SIGMOID, 0);
    return;
  }
  g_autoptr (T2iTensor) y = t2i_sigmoid (node->inputs[0]);
  g_autoptr (T2iTensor) d = sigmoid_deriv (y);
  gin[0] = t2i_mul (g, d);
}

static void
softplus_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0];
  if (!t2i_grad_enabled ()) {
    gin[0] = ZIP (g, x, T2I_ACT_SOFTPLUS, 0);
    return;
  }
  g_autoptr (T2iTensor) s = t2i_sigmoid (x);
  gin[0] = t2i_mul (g, s);
}

static void
silu_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0];
  if (!t2i_grad_enabled ()) {
    gin[0] = ZIP (g, x, T2I_ACT_SILU, 0);
    return;
  }
  /* s + x s (1 - s) */
  g_autoptr (T2iTensor) s = t2i_sigmoid (x);
  g_autoptr (T2iTensor) ds = sigmoid_deriv (s);
  g_autoptr (T2iTensor) t = t2i_mul (x, ds);
  g_autoptr (T2iTensor) d = t2i_add (s, t);
  gin[0] = t2i_mul (g, d);
}

/* ------------------------------------------------------------------ */
/* public ops                                                          */
/* ------------------------------------------------------------------ */

static T2iTensor *
activation (T2iTensor * a, T2iActOp op, double p, const char *name,
    T2iBackwardFn bw, gboolean save_out)
{
  T2I_CHECK_FLOAT (a, NULL);
  T2iTensor *out = T2I_BACKEND (a)->activation (op, a, p);
  T2iNode *node = T2I_RECORD (out, name, bw, a);
  if (node) {
    node->f[0] = p;
    if (save_out)
      t2i_ops_save_output (node, 0, out);
  }
  return out;
}

/** t2i_relu: max(a, 0) */
T2iTensor *
t2i_relu (T2iTensor * a)
{
  return activation (a, T2I_ACT_RELU, 0, "relu", relu_backward, FALSE);
}

/** t2i_leaky_relu: a for a >= 0, @slope * a below */
T2iTensor *
t2i_leaky_relu (T2iTensor * a, double slope)
{
  return activation (a, T2I_ACT_LEAKY_RELU, slope, "leaky_relu",
      leaky_relu_backward, FALSE);
}

/** t2i_gelu: a * Phi(a), the exact (erf) form */
T2iTensor *
t2i_gelu (T2iTensor * a)
{
  return activation (a, T2I_ACT_GELU, 0, "gelu", gelu_backward, FALSE);
}

/** t2i_quick_gelu: a * sigmoid(1.702 a) (CLIP) */
T2iTensor *
t2i_quick_gelu (T2iTensor * a)
{
  return activation (a, T2I_ACT_QUICK_GELU, 0, "quick_gelu",
      quick_gelu_backward, FALSE);
}

/** t2i_tanh: hyperbolic tangent */
T2iTensor *
t2i_tanh (T2iTensor * a)
{
  return activation (a, T2I_ACT_TANH, 0, "tanh", tanh_backward, TRUE);
}

/** t2i_sigmoid: 1 / (1 + e^-a), computed without overflow */
T2iTensor *
t2i_sigmoid (T2iTensor * a)
{
  return activation (a, T2I_ACT_SIGMOID, 0, "sigmoid", sigmoid_backward,
      TRUE);
}

/** t2i_softplus: log(1 + e^a) = max(a, 0) + log1p(e^-|a|) */
T2iTensor *
t2i_softplus (T2iTensor * a)
{
  return activation (a, T2I_ACT_SOFTPLUS, 0, "softplus", softplus_backward,
      FALSE);
}

/** t2i_silu: a * sigmoid(a) */
T2iTensor *
t2i_silu (T2iTensor * a)
{
  return activation (a, T2I_ACT_SILU, 0, "silu", silu_backward, FALSE);
}

/* ------------------------------------------------------------------ */
/* glu                                                                 */
/* ------------------------------------------------------------------ */

#define DEF_GLU(NAME, T, SIG)                                               \
static void                                                                 \
NAME (const T * x, T * y, gint64 outer, gint64 h, gint64 inner)             \
{                                                                           \
  gint64 blk = h * inner;                                                   \
  _Pragma ("omp parallel for if (outer * blk >= T2I_OPS_PARALLEL_THRESHOLD && outer > 1)") \
  for (gint64 o = 0; o < outer; o++) {                                      \
    const T *a = x + o * 2 * blk, *b = a + blk;                             \
    T *q = y + o * blk;                                                     \
    _Pragma ("omp simd")                                                    \
    for (gint64 i = 0; i < blk; i++)                                        \
      q[i] = a[i] * SIG (b[i]);                                             \
  }                                                                         \
}

DEF_GLU (glu_f32, float, sigmoid_f)
DEF_GLU (glu_f64, double, sigmoid_d)

/* gx = [g s, g a s (1 - s)] */
#define DEF_GLU_BW(NAME, T, SIG)                                            \
static void                                                                 \
NAME (const T * x, const T * g, T * gx, gint64 outer, gint64 h,             \
    gint64 inner)                                                           \
{                                                                           \
  gint64 blk = h * inner;                                                   \
  _Pragma ("omp parallel for if (outer * blk >= T2I_OPS_PARALLEL_THRESHOLD && outer > 1)") \
  for (gint64 o = 0; o < outer; o++) {                                      \
    const T *a = x + o * 2 * blk, *b = a + blk, *go = g + o * blk;          \
    T *ga = gx + o * 2 * blk, *gb = ga + blk;                               \
    _Pragma ("omp simd")                                                    \
    for (gint64 i = 0; i < blk; i++) {                                      \
      T s = SIG (b[i]);                                                     \
      ga[i] = go[i] * s;                                                    \
      gb[i] = go[i] * a[i] * s * (1 - s);                                   \
    }                                                                       \
  }                                                                         \
}

DEF_GLU_BW (glu_bw_f32, float, sigmoid_f)
DEF_GLU_BW (glu_bw_f64, double, sigmoid_d)

gboolean
t2i_cpu_glu (const T2iTensor * a, gint axis, T2iTensor * out)
{
  gint64 outer, n, inner;
  t2i_ops_axis_split (a, axis, &outer, &n, &inner);
  if (a->dtype == T2I_F32)
    glu_f32 (a->data, out->data, outer, n / 2, inner);
  else
    glu_f64 (a->data, out->data, outer, n / 2, inner);
  return TRUE;
}

gboolean
t2i_cpu_glu_bw (const T2iTensor * x, const T2iTensor * g, gint axis,
    T2iTensor * gx)
{
  gint64 outer, n, inner;
  t2i_ops_axis_split (x, axis, &outer, &n, &inner);
  if (x->dtype == T2I_F32)
    glu_bw_f32 (x->data, g->data, gx->data, outer, n / 2, inner);
  else
    glu_bw_f64 (x->data, g->data, gx->data, outer, n / 2, inner);
  return TRUE;
}

static void
glu_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0];
  gint axis = (gint) node->i[0];
  gint64 outer, n, inner;

  t2i_ops_axis_split (x, axis, &outer, &n, &inner);
  if (!t2i_grad_enabled ()) {
    gin[0] = t2i_tensor_new_like (x);
    if (gin[0] && !T2I_BACKEND (x)->glu_bw (x, g, axis, gin[0]))
      g_clear_pointer (&gin[0], t2i_tensor_unref);
    return;
  }
  g_autoptr (T2iTensor) a = t2i_slice (x, axis, 0, n / 2);
  g_autoptr (T2iTensor) b = t2i_slice (x, axis, n / 2, n);
  g_autoptr (T2iTensor) s = t2i_sigmoid (b);
  g_autoptr (T2iTensor) ds = sigmoid_deriv (s);
  g_autoptr (T2iTensor) ga = t2i_mul (g, s);
  g_autoptr (T2iTensor) gaa = t2i_mul (g, a);
  g_autoptr (T2iTensor) gb = t2i_mul (gaa, ds);
  T2iTensor *parts[2] = { ga, gb };
  gin[0] = t2i_concat (parts, 2, axis);
}

/**
 * t2i_glu:
 * Splits @a in two halves along @axis (its size must be even) and returns
 * first * sigmoid(second).
 */
T2iTensor *
t2i_glu (T2iTensor * a, gint axis)
{
  gint64 outer, n, inner;

  T2I_CHECK_FLOAT (a, NULL);
  if (!t2i_ops_norm_axis (axis, a->ndim, &axis))
    return NULL;
  if (a->shape[axis] % 2) {
    g_critical ("t2i_glu: axis %d has odd size %" G_GINT64_FORMAT, axis,
        a->shape[axis]);
    return NULL;
  }
  t2i_ops_axis_split (a, axis, &outer, &n, &inner);
  gint64 sh[T2I_MAX_DIMS];
  memcpy (sh, a->shape, sizeof (sh));
  sh[axis] = n / 2;
  T2iTensor *out = t2i_ops_new_shape (a, a->ndim, sh);
  if (out && !T2I_BACKEND (a)->glu (a, axis, out))
    g_clear_pointer (&out, t2i_tensor_unref);
  T2iNode *node = T2I_RECORD (out, "glu", glu_backward, a);
  if (node)
    node->i[0] = axis;
  return out;
}
