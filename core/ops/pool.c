/* Resampling and pooling: nearest and bilinear upsampling, average, max and
 * adaptive average pooling (PyTorch semantics, NCHW).
 *
 * Every op here but max pooling is linear in its input, and max pooling is
 * linear once its argmax is fixed.  So all of them are one internal op,
 * resample (x, spec, transposed), that applies a fixed sparse linear map
 * (spec) per [H,W] plane or its transpose:
 *
 *   kind        map (forward)                   transpose (its gradient)
 *   NEAREST     y = x[h / s, w / s]             sum over each s x s block
 *   AVG         window means (count_include_pad) scatter g / count
 *   ADAPTIVE    means over floor/ceil windows   scatter g / count
 *   BILINEAR    4-tap interpolation             scatter with the 4 weights
 *   GATHER      y = x[argmax] (max pooling)     scatter to the argmax
 *
 * The backward of resample (x, spec, t) is resample (g, spec, !t), so every
 * op is differentiable any number of times (the R1 penalty differentiates
 * the gradients of upsample_nearest2d and avg_pool2d).  Loops run over
 * planes with OpenMP; f32 and f64 share the code.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ops-internal.h"

#include <math.h>

typedef T2iResampleSpec Spec;
#define RS_NEAREST T2I_RS_NEAREST
#define RS_AVG T2I_RS_AVG
#define RS_ADAPTIVE T2I_RS_ADAPTIVE
#define RS_BILINEAR T2I_RS_BILINEAR
#define RS_GATHER T2I_RS_GATHER

static const char *const rs_names[][2] = {
  {"upsample_nearest2d", "upsample_nearest2d_backward"},
  {"avg_pool2d", "avg_pool2d_backward"},
  {"adaptive_avg_pool2d", "adaptive_avg_pool2d_backward"},
  {"upsample_bilinear2d", "upsample_bilinear2d_backward"},
  {"max_pool2d_gather", "max_pool2d_backward"},
};

/* the [start, end) input range of output @o of an adaptive pool */
static inline void
adaptive_range (gint64 o, gint64 in, gint64 out, gint64 * start, gint64 * end)
{
  *start = (o * in) / out;
  *end = ((o + 1) * in + out - 1) / out;
}

/* window of an average pool along one axis; returns the divisor part */
static inline void
avg_range (const Spec * sp, gint64 o, gint64 in, gint64 * start, gint64 * end,
    gint64 * padded)
{
  gint64 a = o * sp->s - sp->p;
  gint64 b = MIN (a + sp->k, in + sp->p);
  *padded = b - a;
  *start = MAX (a, 0);
  *end = MIN (b, in);
}

/* PyTorch's area_pixel_compute_source_index for bilinear */
static inline void
bilinear_src (gint64 dst, gint64 in, gint64 out, gboolean align_corners,
    gint64 * i0, gint64 * i1, double *l1)
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
  *i0 = MIN ((gint64) src, in - 1);
  *i1 = *i0 + (*i0 < in - 1 ? 1 : 0);
  *l1 = src - (double) *i0;
}

/* per-plane kernels; @x an input plane, @y an output plane, @ix the plane's
 * argmax indices (GATHER).  The transposed kernels expect @y zeroed. */
#define DEFINE_RS_KERNELS(T, SFX)                                             \
static void                                                                   \
rs_apply_##SFX (const Spec * sp, const T * x, T * y, const gint32 * ix)       \
{                                                                             \
  const gint64 IH = sp->ih, IW = sp->iw, OH = sp->oh, OW = sp->ow;            \
  switch (sp->kind) {                                                         \
    case RS_NEAREST:                                                          \
      for (gint64 h = 0; h < OH; h++) {                                       \
        const T *xr = x + (h / sp->s) * IW;                                   \
        T *yr = y + h * OW;                                                   \
        for (gint64 w = 0; w < IW; w++)                                       \
          for (gint64 j = 0; j < sp->s; j++)                                  \
            yr[w * sp->s + j] = xr[w];                                        \
      }                                                                       \
      break;                                                                  \
    case RS_AVG:                                                              \
      for (gint64 h = 0; h < OH; h++) {                                       \
        gint64 h0, h1, ph;                                                    \
        avg_range (sp, h, IH, &h0, &h1, &ph);                                 \
        for (gint64 w = 0; w < OW; w++) {                                     \
          gint64 w0, w1, pw;                                                  \
          double acc = 0;                                                     \
          avg_range (sp, w, IW, &w0, &w1, &pw);                               \
          for (gint64 i = h0; i < h1; i++)                                    \
            for (gint64 j = w0; j < w1; j++)                                  \
              acc += x[i * IW + j];                                           \
          y[h * OW + w] = (T) (acc / (double) (sp->flag ? ph * pw             \
                  : (h1 - h0) * (w1 - w0)));                                  \
        }                                                                     \
      }                                                                       \
      break;                                                                  \
    case RS_ADAPTIVE:                                                         \
      for (gint64 h = 0; h < OH; h++) {                                       \
        gint64 h0, h1;                                                        \
        adaptive_range (h, IH, OH, &h0, &h1);                                 \
        for (gint64 w = 0; w < OW; w++) {                                     \
          gint64 w0, w1;                                                      \
          double acc = 0;                                                     \
          adaptive_range (w, IW, OW, &w0, &w1);                               \
          for (gint64 i = h0; i < h1; i++)                                    \
            for (gint64 j = w0; j < w1; j++)                                  \
              acc += x[i * IW + j];                                           \
          y[h * OW + w] = (T) (acc / (double) ((h1 - h0) * (w1 - w0)));       \
        }                                                                     \
      }                                                                       \
      break;                                                                  \
    case RS_BILINEAR:                                                         \
      for (gint64 h = 0; h < OH; h++) {                                       \
        gint64 h0, h1;                                                        \
        double lh;                                                            \
        bilinear_src (h, IH, OH, sp->flag, &h0, &h1, &lh);                    \
        for (gint64 w = 0; w < OW; w++) {                                     \
          gint64 w0, w1;                                                      \
          double lw;                                                          \
          bilinear_src (w, IW, OW, sp->flag, &w0, &w1, &lw);                  \
          y[h * OW + w] = (T) ((1 - lh) * ((1 - lw) * x[h0 * IW + w0]         \
                  + lw * x[h0 * IW + w1])                                     \
              + lh * ((1 - lw) * x[h1 * IW + w0] + lw * x[h1 * IW + w1]));    \
        }                                                                     \
      }                                                                       \
      break;                                                                  \
    case RS_GATHER:                                                           \
      for (gint64 o = 0; o < OH * OW; o++)                                    \
        y[o] = x[ix[o]];                                                      \
      break;                                                                  \
  }                                                                           \
}                                                                             \
                                                                              \
static void                                                                   \
rs_adjoint_##SFX (const Spec * sp, const T * g, T * dx, const gint32 * ix)    \
{                                                                             \
  const gint64 IH = sp->ih, IW = sp->iw, OH = sp->oh, OW = sp->ow;            \
  switch (sp->kind) {                                                         \
    case RS_NEAREST:                                                          \
      for (gint64 h = 0; h < OH; h++) {                                       \
        const T *gr = g + h * OW;                                             \
        T *xr = dx + (h / sp->s) * IW;                                        \
        for (gint64 w = 0; w < IW; w++)                                       \
          for (gint64 j = 0; j < sp->s; j++)                                  \
            xr[w] += gr[w * sp->s + j];                                       \
      }                                                                       \
      break;                                                                  \
    case RS_AVG:                                                              \
      for (gint64 h = 0; h < OH; h++) {                                       \
        gint64 h0, h1, ph;                                                    \
        avg_range (sp, h, IH, &h0, &h1, &ph);                                 \
        for (gint64 w = 0; w < OW; w++) {                                     \
          gint64 w0, w1, pw;                                                  \
          avg_range (sp, w, IW, &w0, &w1, &pw);                               \
          const T v = (T) (g[h * OW + w] / (double) (sp->flag ? ph * pw       \
                  : (h1 - h0) * (w1 - w0)));                                  \
          for (gint64 i = h0; i < h1; i++)                                    \
            for (gint64 j = w0; j < w1; j++)                                  \
              dx[i * IW + j] += v;                                            \
        }                                                                     \
      }                                                                       \
      break;                                                                  \
    case RS_ADAPTIVE:                                                         \
      for (gint64 h = 0; h < OH; h++) {                                       \
        gint64 h0, h1;                                                        \
        adaptive_range (h, IH, OH, &h0, &h1);                                 \
        for (gint64 w = 0; w < OW; w++) {                                     \
          gint64 w0, w1;                                                      \
          adaptive_range (w, IW, OW, &w0, &w1);                               \
          const T v = (T) (g[h * OW + w] / (double) ((h1 - h0) * (w1 - w0))); \
          for (gint64 i = h0; i < h1; i++)                                    \
            for (gint64 j = w0; j < w1; j++)                                  \
              dx[i * IW + j] += v;                                            \
        }                                                                     \
      }                                                                       \
      break;                                                                  \
    case RS_BILINEAR:                                                         \
      for (gint64 h = 0; h < OH; h++) {                                       \
        gint64 h0, h1;                                                        \
        double lh;                                                            \
        bilinear_src (h, IH, OH, sp->flag, &h0, &h1, &lh);                    \
        for (gint64 w = 0; w < OW; w++) {                                     \
          gint64 w0, w1;                                                      \
          double lw, v = g[h * OW + w];                                       \
          bilinear_src (w, IW, OW, sp->flag, &w0, &w1, &lw);                  \
          dx[h0 * IW + w0] += (T) ((1 - lh) * (1 - lw) * v);                  \
          dx[h0 * IW + w1] += (T) ((1 - lh) * lw * v);                        \
          dx[h1 * IW + w0] += (T) (lh * (1 - lw) * v);                        \
          dx[h1 * IW + w1] += (T) (lh * lw * v);                              \
        }                                                                     \
      }                                                                       \
      break;                                                                  \
    case RS_GATHER:                                                           \
      for (gint64 o = 0; o < OH * OW; o++)                                    \
        dx[ix[o]] += g[o];                                                    \
      break;                                                                  \
  }                                                                           \
}                                                                             \
                                                                              \
static void                                                                   \
rs_run_##SFX (const Spec * sp, gboolean transposed, gint64 planes,            \
    const T * in, T * out)                                                    \
{                                                                             \
  const gint64 isz = transposed ? sp->oh * sp->ow : sp->ih * sp->iw;          \
  const gint64 osz = transposed ? sp->ih * sp->iw : sp->oh * sp->ow;          \
  const gint32 *idx = sp->idx ? t2i_tensor_i32 (sp->idx) : NULL;              \
  _Pragma ("omp parallel for schedule(static) if (planes > 1 && planes * (isz + osz) >= T2I_OPS_PARALLEL_THRESHOLD)") \
  for (gint64 c = 0; c < planes; c++) {                                       \
    const gint32 *ix = idx ? idx + c * sp->oh * sp->ow : NULL;                \
    if (transposed) {                                                         \
      T *o = out + c * osz;                                                   \
      for (gint64 i = 0; i < osz; i++)                                        \
        o[i] = 0;                                                             \
      rs_adjoint_##SFX (sp, in + c * isz, o, ix);                             \
    } else {                                                                  \
      rs_apply_##SFX (sp, in + c * isz, out + c * osz, ix);                   \
    }                                                                         \
  }                                                                           \
}

DEFINE_RS_KERNELS (double, f64)
DEFINE_RS_KERNELS (float, f32)

/* ---- the CPU table's entries ---- */

gboolean
t2i_cpu_resample (const Spec * sp, gboolean transposed, const T2iTensor * x,
    T2iTensor * y)
{
  if (x->dtype == T2I_F32)
    rs_run_f32 (sp, transposed, x->shape[0] * x->shape[1], x->data, y->data);
  else
    rs_run_f64 (sp, transposed, x->shape[0] * x->shape[1], x->data, y->data);
  return TRUE;
}

/* ---- the differentiable op ---- */

static void
spec_store (T2iNode * node, const Spec * sp, gboolean transposed)
{
  node->i[0] = sp->kind;
  node->i[1] = sp->ih;
  node->i[2] = sp->iw;
  node->i[3] = sp->oh;
  node->i[4] = sp->ow;
  node->i[5] = sp->k;
  node->i[6] = sp->s;
  node->i[7] = sp->p;
  node->i[8] = sp->flag;
  node->i[9] = transposed;
  if (sp->idx)
    t2i_node_save (node, 0, sp->idx);
}

static Spec
spec_load (const T2iNode * node, gboolean * transposed)
{
  Spec sp = { (T2iResampleKind) node->i[0], node->i[1], node->i[2], node->i[3],
    node->i[4], node->i[5], node->i[6], node->i[7], (gboolean) node->i[8],
    node->saved[0]
  };
  *transposed = (gboolean) node->i[9];
  return sp;
}

static T2iTensor *resample (T2iTensor * x, const Spec * sp,
    gboolean transposed);

static void
resample_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gboolean transposed;
  Spec sp = spec_load (node, &transposed);

  gin[0] = resample (g, &sp, !transposed);
}

/* applies @sp (or its transpose) to every plane of @x [N, C, h, w] */
static T2iTensor *
resample (T2iTensor * x, const Spec * sp, gboolean transposed)
{
  const gint64 ih = transposed ? sp->oh : sp->ih;
  const gint64 iw = transposed ? sp->ow : sp->iw;
  T2iTensor *y;
  T2iNode *node;

  if (x->ndim != 4 || x->shape[2] != ih || x->shape[3] != iw
      || (sp->idx && (sp->idx->shape[0] != x->shape[0]
              || sp->idx->shape[1] != x->shape[1]))) {
    g_autofree char *s = t2i_shape_to_string (x->ndim, x->shape);
    g_critical ("t2i %s: input %s does not fit", rs_names[sp->kind][transposed],
        s);
    return NULL;
  }
  y = t2i_tensor_new_on (x->device, x->dtype, 4, (gint64[]) { x->shape[0],
          x->shape[1], transposed ? sp->ih : sp->oh,
          transposed ? sp->iw : sp->ow });
  if (y && !T2I_BACKEND (x)->resample (sp, transposed, x, y))
    g_clear_pointer (&y, t2i_tensor_unref);
  node = T2I_RECORD (y, rs_names[sp->kind][transposed], resample_backward, x);
  if (node)
    spec_store (node, sp, transposed);
  return y;
}

static gboolean
check_nchw (const char *op, T2iTensor * x)
{
  T2I_CHECK_FLOAT (x, FALSE);
  if (x->ndim != 4) {
    g_autofree char *s = t2i_shape_to_string (x->ndim, x->shape);
    g_critical ("%s: x must be [N,C,H,W], not %s", op, s);
    return FALSE;
  }
  return TRUE;
}

/* ---- public ops ---- */

/**
 * t2i_upsample_nearest2d:
 * @x: [N, C, H, W]
 * @scale: integer factor >= 1
 *
 * Each pixel repeated @scale x @scale times (F.interpolate mode "nearest"
 * with an integer scale factor).  Its gradient is a sum over each block.
 *
 * Returns: [N, C, H * scale, W * scale]
 */
T2iTensor *
t2i_upsample_nearest2d (T2iTensor * x, gint scale)
{
  Spec sp = { RS_NEAREST };

  if (!check_nchw ("t2i_upsample_nearest2d", x))
    return NULL;
  if (scale < 1) {
    g_critical ("t2i_upsample_nearest2d: scale must be >= 1, not %d", scale);
    return NULL;
  }
  sp.ih = x->shape[2];
  sp.iw = x->shape[3];
  sp.oh = sp.ih * scale;
  sp.ow = sp.iw * scale;
  sp.s = scale;
  return resample (x, &sp, FALSE);
}

/**
 * t2i_upsample_bilinear2d:
 * @x: [N, C, H, W]
 * @out_h: output height >= 1
 * @out_w: output width >= 1
 * @align_corners: as F.interpolate (mode "bilinear", size given): %TRUE
 *   maps the corner pixels' centres onto each other; %FALSE uses pixel
 *   areas, src = (dst + 0.5) * in / out - 0.5, clamped at 0
 *
 * Returns: [N, C, out_h, out_w]
 */
T2iTensor *
t2i_upsample_bilinear2d (T2iTensor * x, gint out_h, gint out_w,
    gboolean align_corners)
{
  Spec sp = { RS_BILINEAR };

  if (!check_nchw ("t2i_upsample_bilinear2d", x))
    return NULL;
  if (out_h < 1 || out_w < 1 || x->shape[2] < 1 || x->shape[3] < 1) {
    g_critical ("t2i_upsample_bilinear2d: bad size %dx%d", out_h, out_w);
    return NULL;
  }
  sp.ih = x->shape[2];
  sp.iw = x->shape[3];
  sp.oh = out_h;
  sp.ow = out_w;
  sp.flag = align_corners;
  return resample (x, &sp, FALSE);
}

static gboolean
check_window (const char *op, T2iTensor * x, gint k, gint stride, gint padding)
{
  if (k < 1 || stride < 1 || padding < 0 || padding > k / 2) {
    g_critical ("%s: bad window (kernel %d, stride %d, padding %d; padding "
        "must be at most half the kernel)", op, k, stride, padding);
    return FALSE;
  }
  if (x->shape[2] + 2 * padding < k || x->shape[3] + 2 * padding < k) {
    g_autofree char *s = t2i_shape_to_string (x->ndim, x->shape);
    g_critical ("%s: kernel %d larger than padded input %s", op, k, s);
    return FALSE;
  }
  return TRUE;
}

/**
 * t2i_avg_pool2d:
 * @x: [N, C, H, W]
 * @k: square window
 * @stride: step (0 means @k)
 * @padding: implicit zero padding, at most @k / 2
 * @count_include_pad: divide by k * k (%TRUE) or by the number of
 *   non-padding elements in the window (%FALSE)
 *
 * As F.avg_pool2d with ceil_mode=False.
 *
 * Returns: [N, C, (H + 2 p - k) / s + 1, (W + 2 p - k) / s + 1]
 */
T2iTensor *
t2i_avg_pool2d (T2iTensor * x, gint k, gint stride, gint padding,
    gboolean count_include_pad)
{
  Spec sp = { RS_AVG };

  if (stride == 0)
    stride = k;
  if (!check_nchw ("t2i_avg_pool2d", x)
      || !check_window ("t2i_avg_pool2d", x, k, stride, padding))
    return NULL;
  sp.ih = x->shape[2];
  sp.iw = x->shape[3];
  sp.oh = (sp.ih + 2 * padding - k) / stride + 1;
  sp.ow = (sp.iw + 2 * padding - k) / stride + 1;
  sp.k = k;
  sp.s = stride;
  sp.p = padding;
  sp.flag = count_include_pad;
  return resample (x, &sp, FALSE);
}

/**
 * t2i_adaptive_avg_pool2d:
 * @x: [N, C, H, W]
 * @out_h: output height >= 1
 * @out_w: output width >= 1
 *
 * As F.adaptive_avg_pool2d: output (i, j) averages rows
 * [floor(i H / out_h), ceil((i + 1) H / out_h)) and likewise columns.
 *
 * Returns: [N, C, out_h, out_w]
 */
T2iTensor *
t2i_adaptive_avg_pool2d (T2iTensor * x, gint out_h, gint out_w)
{
  Spec sp = { RS_ADAPTIVE };

  if (!check_nchw ("t2i_adaptive_avg_pool2d", x))
    return NULL;
  if (out_h < 1 || out_w < 1 || x->shape[2] < 1 || x->shape[3] < 1) {
    g_critical ("t2i_adaptive_avg_pool2d: bad size %dx%d", out_h, out_w);
    return NULL;
  }
  sp.ih = x->shape[2];
  sp.iw = x->shape[3];
  sp.oh = out_h;
  sp.ow = out_w;
  return resample (x, &sp, FALSE);
}

static void
max_pool2d_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gboolean transposed;
  Spec sp = spec_load (node, &transposed);

  gin[0] = resample (g, &sp, TRUE);
}

#define DEFINE_MAXPOOL(T, SFX)                                                \
static void                                                                   \
max_pool_##SFX (const Spec * sp, gint64 planes, const T * x, T * y,           \
    gint32 * idx)                                                             \
{                                                                             \
  const gint64 IH = sp->ih, IW = sp->iw, OH = sp->oh, OW = sp->ow;            \
  _Pragma ("omp parallel for schedule(static) if (planes > 1 && planes * IH * IW >= T2I_OPS_PARALLEL_THRESHOLD)") \
  for (gint64 c = 0; c < planes; c++) {                                       \
    const T *xp = x + c * IH * IW;                                            \
    for (gint64 h = 0; h < OH; h++) {                                         \
      const gint64 h0 = MAX (h * sp->s - sp->p, 0);                           \
      const gint64 h1 = MIN (h * sp->s - sp->p + sp->k, IH);                  \
      for (gint64 w = 0; w < OW; w++) {                                       \
        const gint64 w0 = MAX (w * sp->s - sp->p, 0);                         \
        const gint64 w1 = MIN (w * sp->s - sp->p + sp->k, IW);                \
        gint64 best = h0 * IW + w0;                                           \
        T m = -INFINITY;                                                      \
        for (gint64 i = h0; i < h1; i++)                                      \
          for (gint64 j = w0; j < w1; j++) {                                  \
            const T v = xp[i * IW + j];                                       \
            if (v > m || isnan (v)) {                                         \
              m = v;                                                          \
              best = i * IW + j;                                              \
              if (isnan (v))                                                  \
                goto done_##SFX;                                              \
            }                                                                 \
          }                                                                   \
      done_##SFX:                                                             \
        y[(c * OH + h) * OW + w] = m;                                         \
        idx[(c * OH + h) * OW + w] = (gint32) best;                           \
      }                                                                       \
    }                                                                         \
  }                                                                           \
}

DEFINE_MAXPOOL (double, f64)
DEFINE_MAXPOOL (float, f32)

gboolean
t2i_cpu_max_pool (const Spec * sp, const T2iTensor * x, T2iTensor * y,
    T2iTensor * idx)
{
  const gint64 planes = x->shape[0] * x->shape[1];
  if (x->dtype == T2I_F32)
    max_pool_f32 (sp, planes, x->data, y->data, idx->data);
  else
    max_pool_f64 (sp, planes, x->data, y->data, idx->data);
  return TRUE;
}

/**
 * t2i_max_pool2d:
 * @x: [N, C, H, W]
 * @k: square window
 * @stride: step (0 means @k)
 * @padding: implicit -inf padding, at most @k / 2
 *
 * As F.max_pool2d with ceil_mode=False.  The gradient goes to the first
 * maximum of each window (a NaN counts as the maximum); the gradient op is
 * itself differentiable (a gather at the same positions).
 *
 * Returns: [N, C, (H + 2 p - k) / s + 1, (W + 2 p - k) / s + 1]
 */
T2iTensor *
t2i_max_pool2d (T2iTensor * x, gint k, gint stride, gint padding)
{
  Spec sp = { RS_GATHER };
  T2iTensor *y, *idx;
  T2iNode *node;

  if (stride == 0)
    stride = k;
  if (!check_nchw ("t2i_max_pool2d", x)
      || !check_window ("t2i_max_pool2d", x, k, stride, padding))
    return NULL;
  if (x->shape[2] * x->shape[3] > G_MAXINT32) {
    g_critical ("t2i_max_pool2d: planes larger than 2^31 elements");
    return NULL;
  }
  sp.ih = x->shape[2];
  sp.iw = x->shape[3];
  sp.oh = (sp.ih + 2 * padding - k) / stride + 1;
  sp.ow = (sp.iw + 2 * padding - k) / stride + 1;
  sp.k = k;
  sp.s = stride;
  sp.p = padding;
  y = t2i_tensor_new_on (x->device, x->dtype, 4, (gint64[]) { x->shape[0],
          x->shape[1], sp.oh, sp.ow });
  idx = y ? t2i_tensor_new_on (x->device, T2I_I32, 4, y->shape) : NULL;
  if (!idx || !T2I_BACKEND (x)->max_pool (&sp, x, y, idx)) {
    g_clear_pointer (&idx, t2i_tensor_unref);
    g_clear_pointer (&y, t2i_tensor_unref);
    return NULL;
  }
  sp.idx = idx;
  node = T2I_RECORD (y, "max_pool2d", max_pool2d_backward, x);
  if (node)
    spec_store (node, &sp, FALSE);
  t2i_tensor_unref (idx);
  return y;
}
