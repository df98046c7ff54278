/* 2-D convolution family: conv2d, conv_transpose2d and the weight gradient
 * of conv2d as a differentiable op of its own.
 *
 * All three are the same linear map seen from three sides.  In the "conv
 * frame" of a convolution x [N,Ci,H,W] * w [Co,Ci/g,kh,kw] -> y [N,Co,Ho,Wo]:
 *
 *   conv2d (x, w)                = forward       x, w  -> y
 *   conv_transpose2d (y', w)     = backward-data y, w  -> x  (w in PyTorch's
 *                                  ConvT layout [Cin_T, Cout_T/g, kh, kw] is
 *                                  exactly the conv weight [Co, Ci/g, kh, kw])
 *   conv2d_weight_grad (x, y')   = backward-weights x, y -> w
 *
 * so the backward of each is built from the other two (and double backward,
 * needed by the R1 penalty, comes for free):
 *
 *   conv2d:             dx = conv_transpose2d (g, w)  (output_padding picked
 *                            so dx has x's shape)
 *                       dw = conv2d_weight_grad (x, g),  db = sum_{N,H,W} g
 *   conv_transpose2d:   dx = conv2d (g, w)
 *                       dw = conv2d_weight_grad (g, x),  db = sum_{N,H,W} g
 *   conv2d_weight_grad (x, gy) -> W', incoming G (weight-shaped):
 *                       dx  = conv_transpose2d (gy, G)   (x's shape)
 *                       dgy = conv2d (x, G)
 *
 * f32 runs on oneDNN (convolution forward / backward-data / backward-weights
 * and deconvolution primitives, cached by shape in dnnl-util.c, plain NCHW
 * buffers in and out, blocked layouts inside); f64 runs direct loops, the
 * reference for gradient checks.  Configurations oneDNN refuses fall back
 * to the same direct loops in f32.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ops-internal.h"
#include "dnnl-util.h"

#include <string.h>

/* the shape of the convolution in its conv frame (see above) */
typedef T2iConvGeom Geom;

static void
geom_init (Geom * G, const gint64 * xs, gint64 co, gint64 kh, gint64 kw,
    const T2iConvParams * p)
{
  G->n = xs[0];
  G->ci = xs[1];
  G->h = xs[2];
  G->w = xs[3];
  G->co = co;
  G->kh = kh;
  G->kw = kw;
  G->sh = p->stride[0];
  G->sw = p->stride[1];
  G->ph = p->padding[0];
  G->pw = p->padding[1];
  G->dh = p->dilation[0];
  G->dw = p->dilation[1];
  G->g = p->groups;
  G->ho = (G->h + 2 * G->ph - G->dh * (kh - 1) - 1) / G->sh + 1;
  G->wo = (G->w + 2 * G->pw - G->dw * (kw - 1) - 1) / G->sw + 1;
}

/* the (dilated) kernel fits in the padded input: at least one output */
static gboolean
geom_fits (const Geom * G)
{
  return G->kh >= 1 && G->kw >= 1
      && G->h + 2 * G->ph >= G->dh * (G->kh - 1) + 1
      && G->w + 2 * G->pw >= G->dw * (G->kw - 1) + 1;
}

/* ---- reference loops (f64, and the f32 fallback) ---- */

/* below this many multiply-adds the loops run on one thread */
#define REF_PARALLEL_MACS (1 << 17)

static inline gint64
geom_macs (const Geom * G)
{
  return G->n * G->co * G->ho * G->wo * (G->ci / G->g) * G->kh * G->kw;
}

#define DEFINE_REF_KERNELS(T, SFX)                                            \
static void                                                                   \
ref_fwd_##SFX (const Geom * G, const T * x, const T * wt, const T * b, T * y) \
{                                                                             \
  const gint64 cig = G->ci / G->g, cog = G->co / G->g;                        \
  const gboolean par = geom_macs (G) >= REF_PARALLEL_MACS;                    \
  _Pragma ("omp parallel for collapse(2) schedule(static) if (par)")          \
  for (gint64 n = 0; n < G->n; n++)                                           \
    for (gint64 o = 0; o < G->co; o++) {                                      \
      const gint64 c0 = (o / cog) * cig;                                      \
      T *yp = y + (n * G->co + o) * G->ho * G->wo;                            \
      for (gint64 oh = 0; oh < G->ho; oh++)                                   \
        for (gint64 ow = 0; ow < G->wo; ow++) {                               \
          double acc = b ? (double) b[o] : 0.0;                               \
          for (gint64 i = 0; i < cig; i++) {                                  \
            const T *xp = x + (n * G->ci + c0 + i) * G->h * G->w;             \
            const T *wp = wt + (o * cig + i) * G->kh * G->kw;                 \
            for (gint64 r = 0; r < G->kh; r++) {                              \
              const gint64 ih = oh * G->sh - G->ph + r * G->dh;               \
              if (ih < 0 || ih >= G->h)                                       \
                continue;                                                     \
              for (gint64 s = 0; s < G->kw; s++) {                            \
                const gint64 iw = ow * G->sw - G->pw + s * G->dw;             \
                if (iw < 0 || iw >= G->w)                                     \
                  continue;                                                   \
                acc += (double) xp[ih * G->w + iw] * wp[r * G->kw + s];       \
              }                                                               \
            }                                                                 \
          }                                                                   \
          yp[oh * G->wo + ow] = (T) acc;                                      \
        }                                                                     \
    }                                                                         \
}                                                                             \
                                                                              \
/* dx = conv^T (dy, w): gathers, so every dx element is written once */       \
static void                                                                   \
ref_bwd_data_##SFX (const Geom * G, const T * dy, const T * wt, T * dx)       \
{                                                                             \
  const gint64 cig = G->ci / G->g, cog = G->co / G->g;                        \
  const gboolean par = geom_macs (G) >= REF_PARALLEL_MACS;                    \
  _Pragma ("omp parallel for collapse(2) schedule(static) if (par)")          \
  for (gint64 n = 0; n < G->n; n++)                                           \
    for (gint64 c = 0; c < G->ci; c++) {                                      \
      const gint64 grp = c / cig, i = c % cig;                                \
      T *xp = dx + (n * G->ci + c) * G->h * G->w;                             \
      for (gint64 ih = 0; ih < G->h; ih++)                                    \
        for (gint64 iw = 0; iw < G->w; iw++) {                                \
          double acc = 0.0;                                                   \
          for (gint64 j = 0; j < cog; j++) {                                  \
            const gint64 o = grp * cog + j;                                   \
            const T *yp = dy + (n * G->co + o) * G->ho * G->wo;               \
            const T *wp = wt + (o * cig + i) * G->kh * G->kw;                 \
            for (gint64 r = 0; r < G->kh; r++) {                              \
              const gint64 th = ih + G->ph - r * G->dh;                       \
              if (th < 0 || th % G->sh)                                       \
                continue;                                                     \
              const gint64 oh = th / G->sh;                                   \
              if (oh >= G->ho)                                                \
                continue;                                                     \
              for (gint64 s = 0; s < G->kw; s++) {                            \
                const gint64 tw = iw + G->pw - s * G->dw;                     \
                if (tw < 0 || tw % G->sw)                                     \
                  continue;                                                   \
                const gint64 ow = tw / G->sw;                                 \
                if (ow >= G->wo)                                              \
                  continue;                                                   \
                acc += (double) yp[oh * G->wo + ow] * wp[r * G->kw + s];      \
              }                                                               \
            }                                                                 \
          }                                                                   \
          xp[ih * G->w + iw] = (T) acc;                                       \
        }                                                                     \
    }                                                                         \
}                                                                             \
                                                                              \
static void                                                                   \
ref_bwd_weights_##SFX (const Geom * G, const T * x, const T * dy, T * dw)     \
{                                                                             \
  const gint64 cig = G->ci / G->g, cog = G->co / G->g;                        \
  const gboolean par = geom_macs (G) >= REF_PARALLEL_MACS;                    \
  _Pragma ("omp parallel for collapse(2) schedule(static) if (par)")          \
  for (gint64 o = 0; o < G->co; o++)                                          \
    for (gint64 i = 0; i < cig; i++) {                                        \
      const gint64 c = (o / cog) * cig + i;                                   \
      for (gint64 r = 0; r < G->kh; r++)                                      \
        for (gint64 s = 0; s < G->kw; s++) {                                  \
          double acc = 0.0;                                                   \
          for (gint64 n = 0; n < G->n; n++) {                                 \
            const T *xp = x + (n * G->ci + c) * G->h * G->w;                  \
            const T *yp = dy + (n * G->co + o) * G->ho * G->wo;               \
            for (gint64 oh = 0; oh < G->ho; oh++) {                           \
              const gint64 ih = oh * G->sh - G->ph + r * G->dh;               \
              if (ih < 0 || ih >= G->h)                                       \
                continue;                                                     \
              for (gint64 ow = 0; ow < G->wo; ow++) {                         \
                const gint64 iw = ow * G->sw - G->pw + s * G->dw;             \
                if (iw < 0 || iw >= G->w)                                     \
                  continue;                                                   \
                acc += (double) xp[ih * G->w + iw] * yp[oh * G->wo + ow];     \
              }                                                               \
            }                                                                 \
          }                                                                   \
          dw[((o * cig + i) * G->kh + r) * G->kw + s] = (T) acc;              \
        }                                                                     \
    }                                                                         \
}

DEFINE_REF_KERNELS (double, f64)
DEFINE_REF_KERNELS (float, f32)

/* y[n, c, ...] += b[c] over @plane elements per channel */
gboolean
t2i_cpu_channel_bias (T2iTensor * y, const T2iTensor * b)
{
  const gint64 n = y->shape[0], c = y->shape[1], plane = y->numel / MAX (n * c,
      1);

  if (y->dtype == T2I_F32) {
    float *yd = y->data;
    const float *bd = b->data;
#pragma omp parallel for collapse(2) if (y->numel >= T2I_OPS_PARALLEL_THRESHOLD)
    for (gint64 i = 0; i < n; i++)
      for (gint64 j = 0; j < c; j++) {
        float *p = yd + (i * c + j) * plane;
        for (gint64 k = 0; k < plane; k++)
          p[k] += bd[j];
      }
  } else {
    double *yd = y->data;
    const double *bd = b->data;
    for (gint64 i = 0; i < n; i++)
      for (gint64 j = 0; j < c; j++) {
        double *p = yd + (i * c + j) * plane;
        for (gint64 k = 0; k < plane; k++)
          p[k] += bd[j];
      }
  }
  return TRUE;
}

/* ---- oneDNN paths ---- */

typedef enum
{
  KIND_CONV_FWD = 1,
  KIND_CONV_BWD_DATA,
  KIND_DECONV_FWD,
  KIND_CONV_BWD_WEIGHTS,
} Kind;

typedef struct
{
  const Geom *G;
  Kind kind;
  gboolean bias;
  const gint64 *xs;             /* element strides of the conv input, or NULL */
  const gint64 *ys;             /* same for the conv output */
  gboolean wt_io;               /* weights in [ci, co/g, kh, kw] order */
  gboolean bf16;                /* multiply in bf16 (T2I_PRECISION_BF16) */
} BuildArgs;

static void
dims4 (gint64 * d, gint64 a, gint64 b, gint64 c, gint64 e)
{
  d[0] = a;
  d[1] = b;
  d[2] = c;
  d[3] = e;
}

/* strides, dilations (oneDNN counts from 0) and paddings of @G */
static void
geom_dnnl_params (const Geom * G, dnnl_dims_t st, dnnl_dims_t di,
    dnnl_dims_t pl, dnnl_dims_t pr)
{
  st[0] = G->sh;
  st[1] = G->sw;
  di[0] = G->dh - 1;
  di[1] = G->dw - 1;
  pl[0] = G->ph;
  pl[1] = G->pw;
  pr[0] = (G->ho - 1) * G->sh + (G->kh - 1) * G->dh + 1 - G->h - G->ph;
  pr[1] = (G->wo - 1) * G->sw + (G->kw - 1) * G->dw + 1 - G->w - G->pw;
}

/* conv weight descriptors: the user's [co, ci/g, kh, kw] (or, with @io,
 * the transposed order [ci, co/g, kh, kw] with the group split from ci)
 * and "any" */
static gboolean
conv_weight_mds (const Geom * G, gboolean io, dnnl_memory_desc_t * user,
    dnnl_memory_desc_t * any)
{
  const gint64 cig = G->ci / G->g, cog = G->co / G->g, kk = G->kh * G->kw;

  if (G->g == 1) {
    gint64 d[4], s[4] = { kk, G->co * kk, G->kw, 1 };
    dims4 (d, G->co, G->ci, G->kh, G->kw);
    t2i_dnnl_md_any (any, 4, d);
    if (!io)
      t2i_dnnl_md_plain (user, 4, d);
    else if (!t2i_dnnl_md_strided (user, 4, d, s))
      return FALSE;
  } else {
    gint64 d[5] = { G->g, cog, cig, G->kh, G->kw };
    gint64 s[5] = { cig * cog * kk, kk, cog * kk, G->kw, 1 };
    t2i_dnnl_md_any (any, 5, d);
    if (!io)
      t2i_dnnl_md_plain (user, 5, d);
    else if (!t2i_dnnl_md_strided (user, 5, d, s))
      return FALSE;
  }
  return TRUE;
}

/* forward conv descriptor (also the hint for the backward primitives);
 * with @bf16 its source and weights are bf16, its output f32 */
static gboolean
conv_fwd_desc (const Geom * G, gboolean bias, gboolean bf16,
    dnnl_convolution_desc_t * cd)
{
  dnnl_memory_desc_t src, wt_user, wt, bmd, dst;
  dnnl_dims_t st, di, pl, pr;
  gint64 d[4];

  dims4 (d, G->n, G->ci, G->h, G->w);
  t2i_dnnl_md_any (&src, 4, d);
  t2i_dnnl_md_any_bf16 (&src, bf16);
  dims4 (d, G->n, G->co, G->ho, G->wo);
  t2i_dnnl_md_any (&dst, 4, d);
  conv_weight_mds (G, FALSE, &wt_user, &wt);
  t2i_dnnl_md_any_bf16 (&wt, bf16);
  if (bias)
    t2i_dnnl_md_plain (&bmd, 1, &G->co);
  geom_dnnl_params (G, st, di, pl, pr);
  return dnnl_dilated_convolution_forward_desc_init (cd, dnnl_forward_training,
      dnnl_convolution_direct, &src, &wt, bias ? &bmd : NULL, &dst, st, di,
      pl, pr) == dnnl_success;
}

static dnnl_primitive_desc_t
make_pd (const_dnnl_op_desc_t desc, const_dnnl_primitive_desc_t hint)
{
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_attr_t attr = t2i_dnnl_attr_new ();

  if (dnnl_primitive_desc_create (&pd, desc, attr, t2i_dnnl_engine (), hint)
      != dnnl_success)
    pd = NULL;
  dnnl_primitive_attr_destroy (attr);
  return pd;
}

static T2iDnnlPrim *
build_prim (gconstpointer user)
{
  const BuildArgs *a = user;
  const Geom *G = a->G;
  T2iDnnlArgSpec args[4];
  dnnl_memory_desc_t x_user, y_user, wt_user, wt_any, b_user;
  dnnl_dims_t st, di, pl, pr;
  gint64 d[5];
  gint n = 0;

  memset (args, 0, sizeof (args));
  dims4 (d, G->n, G->ci, G->h, G->w);
  if (!a->xs)
    t2i_dnnl_md_plain (&x_user, 4, d);
  else if (!t2i_dnnl_md_strided (&x_user, 4, d, a->xs))
    return NULL;
  dims4 (d, G->n, G->co, G->ho, G->wo);
  if (!a->ys)
    t2i_dnnl_md_plain (&y_user, 4, d);
  else if (!t2i_dnnl_md_strided (&y_user, 4, d, a->ys))
    return NULL;
  if (!conv_weight_mds (G, a->wt_io, &wt_user, &wt_any))
    return NULL;
  geom_dnnl_params (G, st, di, pl, pr);

  switch (a->kind) {
    case KIND_CONV_FWD:{
      dnnl_convolution_desc_t cd;
      if (!conv_fwd_desc (G, a->bias, a->bf16, &cd))
        return NULL;
      args[n++] = (T2iDnnlArgSpec) { DNNL_ARG_SRC, FALSE, x_user };
      args[n++] = (T2iDnnlArgSpec) { DNNL_ARG_WEIGHTS, FALSE, wt_user };
      if (a->bias) {
        t2i_dnnl_md_plain (&b_user, 1, &G->co);
        args[n++] = (T2iDnnlArgSpec) { DNNL_ARG_BIAS, FALSE, b_user };
      }
      args[n++] = (T2iDnnlArgSpec) { DNNL_ARG_DST, TRUE, y_user };
      return t2i_dnnl_prim_new (make_pd (&cd, NULL), n, args);
    }
    case KIND_CONV_BWD_DATA:
    case KIND_CONV_BWD_WEIGHTS:{
      dnnl_convolution_desc_t fd, bd;
      dnnl_primitive_desc_t hint;
      dnnl_memory_desc_t xa, ya;
      T2iDnnlPrim *p;
      if (!conv_fwd_desc (G, FALSE, a->bf16, &fd))
        return NULL;
      hint = make_pd (&fd, NULL);
      if (!hint)
        return NULL;
      dims4 (d, G->n, G->ci, G->h, G->w);
      t2i_dnnl_md_any (&xa, 4, d);
      dims4 (d, G->n, G->co, G->ho, G->wo);
      t2i_dnnl_md_any (&ya, 4, d);
      /* bf16: the gradient coming in and the other factor; the result f32 */
      t2i_dnnl_md_any_bf16 (&ya, a->bf16);
      if (a->kind == KIND_CONV_BWD_DATA)
        t2i_dnnl_md_any_bf16 (&wt_any, a->bf16);
      else
        t2i_dnnl_md_any_bf16 (&xa, a->bf16);
      if (a->kind == KIND_CONV_BWD_DATA) {
        if (dnnl_dilated_convolution_backward_data_desc_init (&bd,
                dnnl_convolution_direct, &xa, &wt_any, &ya, st, di, pl,
                pr) != dnnl_success) {
          dnnl_primitive_desc_destroy (hint);
          return NULL;
        }
        args[n++] = (T2iDnnlArgSpec) { DNNL_ARG_DIFF_DST, FALSE, y_user };
        args[n++] = (T2iDnnlArgSpec) { DNNL_ARG_WEIGHTS, FALSE, wt_user };
        args[n++] = (T2iDnnlArgSpec) { DNNL_ARG_DIFF_SRC, TRUE, x_user };
      } else {
        if (dnnl_dilated_convolution_backward_weights_desc_init (&bd,
                dnnl_convolution_direct, &xa, &wt_any, NULL, &ya, st, di, pl,
                pr) != dnnl_success) {
          dnnl_primitive_desc_destroy (hint);
          return NULL;
        }
        args[n++] = (T2iDnnlArgSpec) { DNNL_ARG_SRC, FALSE, x_user };
        args[n++] = (T2iDnnlArgSpec) { DNNL_ARG_DIFF_DST, FALSE, y_user };
        args[n++] = (T2iDnnlArgSpec) { DNNL_ARG_DIFF_WEIGHTS, TRUE, wt_user };
      }
      p = t2i_dnnl_prim_new (make_pd (&bd, hint), n, args);
      dnnl_primitive_desc_destroy (hint);
      return p;
    }
    case KIND_DECONV_FWD:{
      /* deconv src = conv output y, dst = conv input x; weights dims
       * (g,) OC/g = ci/g, IC/g = co/g over the memory [co][ci/g][kh][kw] */
      dnnl_deconvolution_desc_t dd;
      dnnl_memory_desc_t xa, ya, dw_user, dw_any;
      const gint64 cig = G->ci / G->g, cog = G->co / G->g, kk = G->kh * G->kw;
      dims4 (d, G->n, G->ci, G->h, G->w);
      t2i_dnnl_md_any (&xa, 4, d);
      dims4 (d, G->n, G->co, G->ho, G->wo);
      t2i_dnnl_md_any (&ya, 4, d);
      if (G->g == 1) {
        gint64 s[4] = { kk, cig * kk, G->kw, 1 };
        dims4 (d, G->ci, G->co, G->kh, G->kw);
        if (!t2i_dnnl_md_strided (&dw_user, 4, d, s))
        return NULL;
        t2i_dnnl_md_any (&dw_any, 4, d);
      } else {
        gint64 s[5] = { cog * cig * kk, kk, cig * kk, G->kw, 1 };
        d[0] = G->g;
        d[1] = cig;
        d[2] = cog;
        d[3] = G->kh;
        d[4] = G->kw;
        if (!t2i_dnnl_md_strided (&dw_user, 5, d, s))
        return NULL;
        t2i_dnnl_md_any (&dw_any, 5, d);
      }
      t2i_dnnl_md_any_bf16 (&ya, a->bf16);
      t2i_dnnl_md_any_bf16 (&dw_any, a->bf16);
      if (a->bias)
        t2i_dnnl_md_plain (&b_user, 1, &G->ci);
      if (dnnl_dilated_deconvolution_forward_desc_init (&dd,
              dnnl_forward_training, dnnl_deconvolution_direct, &ya, &dw_any,
              a->bias ? &b_user : NULL, &xa, st, di, pl, pr) != dnnl_success)
        return NULL;
      args[n++] = (T2iDnnlArgSpec) { DNNL_ARG_SRC, FALSE, y_user };
      args[n++] = (T2iDnnlArgSpec) { DNNL_ARG_WEIGHTS, FALSE, dw_user };
      if (a->bias)
        args[n++] = (T2iDnnlArgSpec) { DNNL_ARG_BIAS, FALSE, b_user };
      args[n++] = (T2iDnnlArgSpec) { DNNL_ARG_DST, TRUE, x_user };
      return t2i_dnnl_prim_new (make_pd (&dd, NULL), n, args);
    }
  }
  return NULL;
}

static T2iDnnlPrim *
get_prim_in (Kind kind, const Geom * G, gboolean bias, const gint64 * xs,
    const gint64 * ys, gboolean wt_io, gboolean bf16)
{
  T2iDnnlKey key = { 0 };
  BuildArgs a = { G, kind, bias, xs, ys, wt_io, bf16 };
  const gint64 v[] = { 0x636f6e76 /* "conv" */ , kind, bias, G->n, G->ci,
    G->h, G->w, G->co, G->kh, G->kw, G->ho, G->wo, G->sh, G->sw, G->ph,
    G->pw, G->dh, G->dw, G->g, xs != NULL, ys != NULL, wt_io, bf16
  };

  for (guint i = 0; i < G_N_ELEMENTS (v); i++)
    t2i_dnnl_key_push (&key, v[i]);
  for (gint i = 0; i < 4; i++) {
    if (xs)
      t2i_dnnl_key_push (&key, xs[i]);
    if (ys)
      t2i_dnnl_key_push (&key, ys[i]);
  }
  return t2i_dnnl_cache_get (&key, build_prim, &a);
}

/* the cached primitive for (@kind, @G, @bias) with plain buffers, or with
 * the conv input / output at element strides @xs / @ys (nullable), in the
 * calling thread's precision (bf16 where oneDNN runs the shape in bf16,
 * else f32); NULL when oneDNN refuses */
static T2iDnnlPrim *
get_prim (Kind kind, const Geom * G, gboolean bias, const gint64 * xs,
    const gint64 * ys, gboolean wt_io)
{
  const gboolean bf16 = t2i_get_precision () == T2I_PRECISION_BF16;
  T2iDnnlPrim *p = get_prim_in (kind, G, bias, xs, ys, wt_io, bf16);

  if (!p && bf16)
    p = get_prim_in (kind, G, bias, xs, ys, wt_io, FALSE);
  return p;
}

static gboolean
run_prim_strided (Kind kind, const Geom * G, gboolean bias, const gint64 * xs,
    const gint64 * ys, gboolean wt_io, gpointer const *handles)
{
  T2iDnnlPrim *p = get_prim (kind, G, bias, xs, ys, wt_io);
  gboolean ok;

  if (!p)
    return FALSE;
  ok = t2i_dnnl_prim_execute (p, handles);
  t2i_dnnl_prim_unref (p);
  return ok;
}

static gboolean
run_prim (Kind kind, const Geom * G, gboolean bias, gpointer const *handles)
{
  return run_prim_strided (kind, G, bias, NULL, NULL, FALSE, handles);
}

/* ---- phase decomposition of strided convolutions ----
 *
 * A convolution D with stride s, no dilation and a kernel k that is a
 * multiple of s splits by the phase (a, b) of the full-resolution side (D's
 * input, the transposed conv's output): the full-resolution pixels
 * (s_h m + a, s_w l + b) are a stride-1 convolution P_ab of the
 * low-resolution side with a J = k / s kernel (the taps kh = r + s (J-1-t),
 * r = (a + p) mod s) and paddings J-1-q before, M + q - Ho after
 * (q = (a + p) div s, M the phase's size).  So
 *
 *   conv_transpose2d (D^T):  phase ab of the output  = P_ab (x)
 *   conv2d (D):              y = sum_ab P_ab^T (x_ab)  (backward-data)
 *
 * with the phases read and written in place through strided memory
 * descriptors.  This is the "PhaseConvT" trick: oneDNN 2.6 runs the stride-1
 * k/s kernels much closer to peak than its own stride-2 kernels on the
 * small spatial sizes of GAN generators and discriminators. */

#define MAX_PHASES 16

typedef struct
{
  gint n;
  Geom P[MAX_PHASES];           /* low resolution -> phase ab */
  gint64 off[MAX_PHASES];       /* the phase's first pixel in a full plane */
  gint64 r[MAX_PHASES][2];      /* kernel residues */
  gint64 fs[4];                 /* strides of a phase view of a full tensor */
  gint64 wsize;                 /* elements of one phase weight */
} Phases;

/* plans the phases of @D (conv frame); FALSE when it does not split */
static gboolean
phases_plan (const Geom * D, Phases * P)
{
  const gint64 s[2] = { D->sh, D->sw }, k[2] = { D->kh, D->kw };
  const gint64 p[2] = { D->ph, D->pw }, full[2] = { D->h, D->w };
  const gint64 low[2] = { D->ho, D->wo };
  gint64 J[2], M[2][8], pt[2][8], r[2][8];

  if (D->dh != 1 || D->dw != 1 || s[0] * s[1] < 2 || s[0] * s[1] > MAX_PHASES
      || s[0] > 8 || s[1] > 8 || D->h % s[0] || D->w % s[1])
    return FALSE;
  for (gint d = 0; d < 2; d++) {
    if (k[d] % s[d])
      return FALSE;
    J[d] = k[d] / s[d];
    for (gint64 a = 0; a < s[d]; a++) {
      const gint64 q = (a + p[d]) / s[d];
      r[d][a] = (a + p[d]) % s[d];
      M[d][a] = (full[d] - a + s[d] - 1) / s[d];
      pt[d][a] = J[d] - 1 - q;
      if (M[d][a] < 1 || pt[d][a] < 0 || M[d][a] + q - low[d] < 0)
        return FALSE;
    }
  }

  P->n = 0;
  P->fs[0] = D->ci * D->h * D->w;
  P->fs[1] = D->h * D->w;
  P->fs[2] = s[0] * D->w;
  P->fs[3] = s[1];
  P->wsize = D->ci * (D->co / D->g) * J[0] * J[1];
  for (gint64 a = 0; a < s[0]; a++)
    for (gint64 b = 0; b < s[1]; b++) {
      Geom *G = &P->P[P->n];
      G->n = D->n;
      G->ci = D->co;
      G->h = D->ho;
      G->w = D->wo;
      G->co = D->ci;
      G->kh = J[0];
      G->kw = J[1];
      G->ho = M[0][a];
      G->wo = M[1][b];
      G->sh = G->sw = G->dh = G->dw = 1;
      G->ph = pt[0][a];
      G->pw = pt[1][b];
      G->g = D->g;
      P->off[P->n] = a * D->w + b;
      P->r[P->n][0] = r[0][a];
      P->r[P->n][1] = r[1][b];
      P->n++;
    }
  return TRUE;
}

/* picks the phase weights out of D's weight [co, ci/g, kh, kw]: phase i
 * gets [co, ci/g, J, J] (the same order; the phase convs read it
 * transposed through their weight descriptor), taps flipped */
static void
phases_weights (const Geom * D, const Phases * P, const float *w, float *wp)
{
  const gint64 rows = D->co * (D->ci / D->g);
  const gint64 Jh = P->P[0].kh, Jw = P->P[0].kw, kk = D->kh * D->kw;

#pragma omp parallel for if (P->wsize * P->n >= T2I_OPS_PARALLEL_THRESHOLD)
  for (gint64 r = 0; r < rows; r++) {
    const float *src = w + r * kk;
    for (gint ph = 0; ph < P->n; ph++) {
      float *dst = wp + ph * P->wsize + r * Jh * Jw;
      for (gint64 t = 0; t < Jh; t++)
        for (gint64 u = 0; u < Jw; u++)
          dst[t * Jw + u] = src[(P->r[ph][0] + D->sh * (Jh - 1 - t)) * D->kw
              + P->r[ph][1] + D->sw * (Jw - 1 - u)];
    }
  }
}

/* Whether computation @bit (0 conv_transpose2d, 1 conv2d) of @D runs by
 * phases.  Measured on Zen 5 (oneDNN 2.6, the k4 s2 p1 layers of 64x64
 * GANs at batch 64, one core): conv_transpose2d gains 20-55 % up to an 8x8
 * low-resolution side and loses from 16x16 on; conv2d gains 20-60 % at
 * 4x4 and is even or worse from 8x8 on.  For the weight gradient the
 * phases never won, so it always runs oneDNN's own stride-s
 * backward-weights primitive.  $T2I_CONV_PHASES (a bit mask) forces a
 * choice, for measurements. */
static gboolean
phases_wanted (const Geom * D, guint bit)
{
  static const gint64 max_low_area[2] = { 64, 16 };
  static gint forced = -2;

  if (G_UNLIKELY (forced == -2)) {
    const char *env = g_getenv ("T2I_CONV_PHASES");
    forced = env ? (gint) g_ascii_strtoll (env, NULL, 0) : -1;
  }
  if (forced >= 0)
    return (forced >> bit) & 1;
  return D->ho * D->wo <= max_low_area[bit];
}

/* y (full) = conv_transpose2d (x (low), w) + b, phase by phase */
static gboolean
phases_deconv (const Geom * D, const float *x, const float *w, const float *b,
    float *y)
{
  Phases P;
  gpointer blk;
  float *wp;
  gboolean ok = TRUE;

  if (!phases_wanted (D, 0) || !phases_plan (D, &P))
    return FALSE;
  wp = t2i_alloc (sizeof (float) * P.wsize * P.n, &blk);
  phases_weights (D, &P, w, wp);
  for (gint i = 0; i < P.n && ok; i++) {
    gpointer h[4] = { (gpointer) x, wp + i * P.wsize, NULL, NULL };
    gint k = 2;
    if (b)
      h[k++] = (gpointer) b;
    h[k] = y + P.off[i];
    ok = run_prim_strided (KIND_CONV_FWD, &P.P[i], b != NULL, NULL, P.fs,
        TRUE, h);
  }
  t2i_free (blk);
  return ok;
}

/* y (low) = conv (x (full), w) as a sum of phase backward-data convs */
static gboolean
phases_conv (const Geom * D, const float *x, const float *w, float *y)
{
  Phases P;
  gpointer blk, tblk = NULL;
  float *wp, *tmp = NULL;
  const gint64 ny = D->n * D->co * D->ho * D->wo;
  gboolean ok = TRUE;

  if (!phases_wanted (D, 1) || !phases_plan (D, &P))
    return FALSE;
  wp = t2i_alloc (sizeof (float) * P.wsize * P.n, &blk);
  phases_weights (D, &P, w, wp);
  for (gint i = 0; i < P.n && ok; i++) {
    gpointer h[3] = { (gpointer) (x + P.off[i]), wp + i * P.wsize, y };
    if (i > 0) {
      if (!tmp)
        tmp = t2i_alloc (sizeof (float) * ny, &tblk);
      h[2] = tmp;
    }
    ok = run_prim_strided (KIND_CONV_BWD_DATA, &P.P[i], FALSE, NULL, P.fs,
        TRUE, h);
    if (ok && i > 0) {
#pragma omp parallel for simd if (ny >= T2I_OPS_PARALLEL_THRESHOLD)
      for (gint64 j = 0; j < ny; j++)
        y[j] += tmp[j];
    }
  }
  if (tblk)
    t2i_free (tblk);
  t2i_free (blk);
  return ok;
}

/* How conv_transpose2d runs in f32: oneDNN's deconvolution primitive, or
 * the backward-data convolution primitive (same kernels underneath in
 * oneDNN 2.6; the deconvolution fuses the bias).  $T2I_DECONV=bwd-data
 * selects the other one, for measurements. */
static gboolean
deconv_use_bwd_data (void)
{
  static gint use = -1;

  if (G_UNLIKELY (use < 0))
    use = g_strcmp0 (g_getenv ("T2I_DECONV"), "bwd-data") == 0;
  return use;
}

/* ---- the three computations on raw tensors (no graph) ---- */

/* y = conv (x, w) + b */
gboolean
t2i_cpu_conv_fwd (const Geom * G, const T2iTensor * x, const T2iTensor * w,
    const T2iTensor * b, T2iTensor * y)
{
  if (y->numel == 0)
    return TRUE;
  if (x->dtype == T2I_F64) {
    ref_fwd_f64 (G, x->data, w->data, b ? b->data : NULL, y->data);
  } else if (G->n * G->ci == 0) {
    memset (y->data, 0, y->nbytes);
    if (b)
      t2i_cpu_channel_bias (y, b);
  } else {
    gpointer h[4] = { x->data, w->data, NULL, NULL };
    gint k = 2;
    if (b)
      h[k++] = b->data;
    h[k] = y->data;
    if (phases_conv (G, x->data, w->data, y->data)) {
      if (b)
        t2i_cpu_channel_bias (y, b);
    } else if (!run_prim (KIND_CONV_FWD, G, b != NULL, h)) {
      ref_fwd_f32 (G, x->data, w->data, b ? b->data : NULL, y->data);
    }
  }
  return TRUE;
}

/* x = conv^T (y, w) + b (b per conv-input channel) */
gboolean
t2i_cpu_conv_bwd_data (const Geom * G, const T2iTensor * y,
    const T2iTensor * w, const T2iTensor * b, T2iTensor * x)
{
  gboolean bias_done = FALSE;

  if (x->numel == 0)
    return TRUE;
  if (y->dtype == T2I_F64) {
    ref_bwd_data_f64 (G, y->data, w->data, x->data);
  } else if (G->n * G->co == 0) {
    memset (x->data, 0, x->nbytes);
  } else if (phases_deconv (G, y->data, w->data, b ? b->data : NULL,
          x->data)) {
    bias_done = TRUE;
  } else if (deconv_use_bwd_data ()) {
    gpointer h[3] = { y->data, w->data, x->data };
    if (!run_prim (KIND_CONV_BWD_DATA, G, FALSE, h))
      ref_bwd_data_f32 (G, y->data, w->data, x->data);
  } else {
    gpointer h[4] = { y->data, w->data, NULL, NULL };
    gint k = 2;
    if (b)
      h[k++] = b->data;
    h[k] = x->data;
    if (run_prim (KIND_DECONV_FWD, G, b != NULL, h))
      bias_done = TRUE;
    else
      ref_bwd_data_f32 (G, y->data, w->data, x->data);
  }
  if (b && !bias_done)
    t2i_cpu_channel_bias (x, b);
  return TRUE;
}

/* dw = conv_w^T (x, dy) */
gboolean
t2i_cpu_conv_bwd_weights (const Geom * G, const T2iTensor * x,
    const T2iTensor * dy, T2iTensor * dw)
{
  if (dw->numel == 0)
    return TRUE;
  if (x->dtype == T2I_F64) {
    ref_bwd_weights_f64 (G, x->data, dy->data, dw->data);
  } else if (G->n * G->ho * G->wo == 0) {
    memset (dw->data, 0, dw->nbytes);
  } else {
    gpointer h[3] = { x->data, dy->data, dw->data };
    if (!run_prim (KIND_CONV_BWD_WEIGHTS, G, FALSE, h))
      ref_bwd_weights_f32 (G, x->data, dy->data, dw->data);
  }
  return TRUE;
}

/* ---- argument checks ---- */

static gboolean
check_params (const char *op, const T2iConvParams * p, gboolean transposed)
{
  if (!p) {
    g_critical ("%s: params is NULL", op);
    return FALSE;
  }
  for (gint i = 0; i < 2; i++) {
    if (p->stride[i] < 1 || p->dilation[i] < 1 || p->padding[i] < 0
        || (transposed && (p->output_padding[i] < 0
                    || p->output_padding[i] >= p->stride[i]))) {
      g_critical ("%s: bad params (stride %d,%d padding %d,%d dilation %d,%d "
          "output_padding %d,%d)", op, p->stride[0], p->stride[1],
          p->padding[0], p->padding[1], p->dilation[0], p->dilation[1],
          p->output_padding[0], p->output_padding[1]);
      return FALSE;
    }
  }
  if (p->groups < 1) {
    g_critical ("%s: groups must be >= 1, not %d", op, p->groups);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_4d (const char *op, const char *what, T2iTensor * t)
{
  if (t->ndim != 4) {
    g_autofree char *s = t2i_shape_to_string (t->ndim, t->shape);
    g_critical ("%s: %s must be 4-d, not %s", op, what, s);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_bias (const char *op, T2iTensor * b, T2iTensor * x, gint64 channels)
{
  if (b && (b->dtype != x->dtype || b->ndim != 1 || b->shape[0] != channels
          || b->device != x->device)) {
    g_autofree char *s = t2i_shape_to_string (b->ndim, b->shape);
    g_critical ("%s: bias must be %s [%" G_GINT64_FORMAT "], not %s %s", op,
        t2i_dtype_name (x->dtype), channels, t2i_dtype_name (b->dtype), s);
    return FALSE;
  }
  return TRUE;
}

static void
params_store (T2iNode * node, const T2iConvParams * p)
{
  node->i[0] = p->stride[0];
  node->i[1] = p->stride[1];
  node->i[2] = p->padding[0];
  node->i[3] = p->padding[1];
  node->i[4] = p->dilation[0];
  node->i[5] = p->dilation[1];
  node->i[6] = p->groups;
  node->i[7] = p->output_padding[0];
  node->i[8] = p->output_padding[1];
}

static T2iConvParams
params_load (const T2iNode * node)
{
  T2iConvParams p = { {node->i[0], node->i[1]}, {node->i[2], node->i[3]},
  {node->i[4], node->i[5]}, node->i[6], {node->i[7], node->i[8]}
  };
  return p;
}

/* the conv_transpose2d that maps a conv output of @G back to exactly the
 * conv input's size (output_padding absorbs the floor of the stride) */
static T2iConvParams
params_for_input (const Geom * G, const T2iConvParams * p)
{
  T2iConvParams q = *p;

  q.output_padding[0] = G->h + 2 * G->ph - G->dh * (G->kh - 1) - 1
      - (G->ho - 1) * G->sh;
  q.output_padding[1] = G->w + 2 * G->pw - G->dw * (G->kw - 1) - 1
      - (G->wo - 1) * G->sw;
  return q;
}

/* ---- the bias gradient: sum over N, H, W, and its adjoint ---- */

static T2iTensor *channel_sum (T2iTensor * g);
static T2iTensor *channel_broadcast (T2iTensor * v, const gint64 * shape);

static void
channel_sum_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gin[0] = channel_broadcast (g, node->inputs[0]->shape);
}

/* g [N, C, H, W] -> [C], summed in double */
T2iTensor *
t2i_cpu_channel_sum (const T2iTensor * g)
{
  const gint64 n = g->shape[0], c = g->shape[1], plane = g->shape[2]
      * g->shape[3];
  T2iTensor *s = t2i_tensor_new (g->dtype, 1, &c);

#pragma omp parallel for if (g->numel >= T2I_OPS_PARALLEL_THRESHOLD)
  for (gint64 j = 0; j < c; j++) {
    double acc = 0;
    for (gint64 i = 0; i < n; i++) {
      if (g->dtype == T2I_F32) {
        const float *p = (const float *) g->data + (i * c + j) * plane;
        float part = 0;
#pragma omp simd reduction(+:part)
        for (gint64 k = 0; k < plane; k++)
          part += p[k];
        acc += part;
      } else {
        const double *p = (const double *) g->data + (i * c + j) * plane;
        for (gint64 k = 0; k < plane; k++)
          acc += p[k];
      }
    }
    t2i_tensor_set (s, j, acc);
  }
  return s;
}

static T2iTensor *
channel_sum (T2iTensor * g)
{
  T2iTensor *s = T2I_BACKEND (g)->channel_sum (g);
  T2I_RECORD (s, "conv_bias_grad", channel_sum_backward, g);
  return s;
}

static void
channel_broadcast_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gin[0] = channel_sum (g);
}

/* v [C] -> [N, C, H, W] of @shape, constant over N, H, W */
static T2iTensor *
channel_broadcast (T2iTensor * v, const gint64 * shape)
{
  T2iTensor *y = t2i_tensor_zeros_on (v->device, v->dtype, 4, shape);

  if (y && !T2I_BACKEND (v)->channel_bias (y, v))
    g_clear_pointer (&y, t2i_tensor_unref);
  T2I_RECORD (y, "conv_bias_grad_backward", channel_broadcast_backward, v);
  return y;
}

/* sum over N, H, W: the bias gradient */
static T2iTensor *
bias_grad (T2iTensor * g)
{
  return channel_sum (g);
}

/* ---- conv2d ---- */

static void
conv2d_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0], *w = node->inputs[1];
  T2iConvParams p = params_load (node);
  Geom G;

  geom_init (&G, x->shape, w->shape[0], w->shape[2], w->shape[3], &p);
  if (node->needs_grad[0]) {
    T2iConvParams q = params_for_input (&G, &p);
    gin[0] = t2i_conv_transpose2d (g, w, NULL, &q);
  }
  if (node->needs_grad[1])
    gin[1] = t2i_conv2d_weight_grad (x, g, w->shape, &p);
  if (node->needs_grad[2])
    gin[2] = bias_grad (g);
}

/**
 * t2i_conv2d:
 * @x: [N, Cin, H, W]
 * @w: [Cout, Cin / groups, kh, kw]
 * @b: (nullable): [Cout]
 * @p: stride, padding (both sides), dilation, groups; output_padding is
 *   ignored
 *
 * Cross-correlation as torch.nn.functional.conv2d.  Output size
 * floor((H + 2 p - d (k - 1) - 1) / s) + 1 per spatial dim.
 *
 * Returns: [N, Cout, Ho, Wo]
 */
T2iTensor *
t2i_conv2d (T2iTensor * x, T2iTensor * w, T2iTensor * b,
    const T2iConvParams * p)
{
  T2iTensor *y;
  T2iNode *node;
  Geom G;

  T2I_CHECK_FLOAT (x, NULL);
  T2I_CHECK_SAME_DTYPE (x, w, NULL);
  if (!check_params ("t2i_conv2d", p, FALSE) || !check_4d ("t2i_conv2d", "x",
          x) || !check_4d ("t2i_conv2d", "w", w))
    return NULL;
  if (x->shape[1] != w->shape[1] * p->groups || w->shape[0] % p->groups) {
    g_autofree char *sx = t2i_shape_to_string (x->ndim, x->shape);
    g_autofree char *sw = t2i_shape_to_string (w->ndim, w->shape);
    g_critical ("t2i_conv2d: x %s does not fit weight %s with groups %d", sx,
        sw, p->groups);
    return NULL;
  }
  if (!check_bias ("t2i_conv2d", b, x, w->shape[0]))
    return NULL;
  geom_init (&G, x->shape, w->shape[0], w->shape[2], w->shape[3], p);
  if (!geom_fits (&G)) {
    g_autofree char *sx = t2i_shape_to_string (x->ndim, x->shape);
    g_autofree char *sw = t2i_shape_to_string (w->ndim, w->shape);
    g_critical ("t2i_conv2d: kernel %s larger than padded input %s", sw, sx);
    return NULL;
  }

  y = t2i_tensor_new_on (x->device, x->dtype, 4, (gint64[]) { G.n, G.co,
          G.ho, G.wo });
  if (y && !T2I_BACKEND (x)->conv_fwd (&G, x, w, b, y))
    g_clear_pointer (&y, t2i_tensor_unref);
  node = T2I_RECORD (y, "conv2d", conv2d_backward, x, w, b);
  if (node)
    params_store (node, p);
  return y;
}

/* ---- conv_transpose2d ---- */

static void
conv_transpose2d_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0], *w = node->inputs[1];
  T2iConvParams p = params_load (node);

  if (node->needs_grad[0])
    gin[0] = t2i_conv2d (g, w, NULL, &p);
  if (node->needs_grad[1])
    gin[1] = t2i_conv2d_weight_grad (g, x, w->shape, &p);
  if (node->needs_grad[2])
    gin[2] = bias_grad (g);
}

/**
 * t2i_conv_transpose2d:
 * @x: [N, Cin, H, W]
 * @w: [Cin, Cout / groups, kh, kw] (PyTorch's ConvTranspose2d layout)
 * @b: (nullable): [Cout]
 * @p: stride, padding, dilation, groups, output_padding (below the
 *   stride), as torch.nn.functional.conv_transpose2d
 *
 * The adjoint of conv2d with the same parameters.  Output size
 * (H - 1) s - 2 p + d (k - 1) + output_padding + 1 per spatial dim.
 *
 * Returns: [N, Cout, Ho, Wo]
 */
T2iTensor *
t2i_conv_transpose2d (T2iTensor * x, T2iTensor * w, T2iTensor * b,
    const T2iConvParams * p)
{
  T2iTensor *y;
  T2iNode *node;
  gint64 ys[4];
  Geom G;

  T2I_CHECK_FLOAT (x, NULL);
  T2I_CHECK_SAME_DTYPE (x, w, NULL);
  if (!check_params ("t2i_conv_transpose2d", p, TRUE)
      || !check_4d ("t2i_conv_transpose2d", "x", x)
      || !check_4d ("t2i_conv_transpose2d", "w", w))
    return NULL;
  if (x->shape[1] != w->shape[0] || w->shape[0] % p->groups) {
    g_autofree char *sx = t2i_shape_to_string (x->ndim, x->shape);
    g_autofree char *sw = t2i_shape_to_string (w->ndim, w->shape);
    g_critical ("t2i_conv_transpose2d: x %s does not fit weight %s with "
        "groups %d", sx, sw, p->groups);
    return NULL;
  }
  ys[0] = x->shape[0];
  ys[1] = w->shape[1] * p->groups;
  for (gint i = 0; i < 2; i++)
    ys[2 + i] = (x->shape[2 + i] - 1) * p->stride[i] - 2 * p->padding[i]
        + p->dilation[i] * (w->shape[2 + i] - 1) + p->output_padding[i] + 1;
  if (!check_bias ("t2i_conv_transpose2d", b, x, ys[1]))
    return NULL;
  if (ys[2] < 1 || ys[3] < 1) {
    g_critical ("t2i_conv_transpose2d: padding leaves an empty output");
    return NULL;
  }

  /* conv frame: conv input = our output, conv output = our input */
  geom_init (&G, ys, w->shape[0], w->shape[2], w->shape[3], p);
  g_assert (G.ho == x->shape[2] && G.wo == x->shape[3]);
  y = t2i_tensor_new_on (x->device, x->dtype, 4, ys);
  if (y && !T2I_BACKEND (x)->conv_bwd_data (&G, x, w, b, y))
    g_clear_pointer (&y, t2i_tensor_unref);
  node = T2I_RECORD (y, "conv_transpose2d", conv_transpose2d_backward, x, w,
      b);
  if (node)
    params_store (node, p);
  return y;
}

/* ---- conv2d_weight_grad ---- */

static void
weight_grad_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0], *gy = node->inputs[1];
  T2iConvParams p = params_load (node);
  Geom G;

  geom_init (&G, x->shape, g->shape[0], g->shape[2], g->shape[3], &p);
  if (node->needs_grad[0]) {
    T2iConvParams q = params_for_input (&G, &p);
    gin[0] = t2i_conv_transpose2d (gy, g, NULL, &q);
  }
  if (node->needs_grad[1])
    gin[1] = t2i_conv2d (x, g, NULL, &p);
}

/**
 * t2i_conv2d_weight_grad:
 * @x: the conv input [N, Cin, H, W]
 * @grad_y: the gradient at the conv output [N, Cout, Ho, Wo]
 * @w_shape: the weight's shape, [Cout, Cin / groups, kh, kw]
 * @p: the conv's parameters
 *
 * dL/dw of y = conv2d (x, w) given dL/dy, as an op of its own so that it
 * can be differentiated again (the R1 penalty).  Bilinear in @x and
 * @grad_y.
 *
 * Returns: a tensor of @w_shape
 */
T2iTensor *
t2i_conv2d_weight_grad (T2iTensor * x, T2iTensor * grad_y,
    const gint64 * w_shape, const T2iConvParams * p)
{
  T2iTensor *dw;
  T2iNode *node;
  Geom G;

  T2I_CHECK_FLOAT (x, NULL);
  T2I_CHECK_SAME_DTYPE (x, grad_y, NULL);
  T2I_CHECK_NOT_NULL (w_shape, NULL);
  if (!check_params ("t2i_conv2d_weight_grad", p, FALSE)
      || !check_4d ("t2i_conv2d_weight_grad", "x", x)
      || !check_4d ("t2i_conv2d_weight_grad", "grad_y", grad_y))
    return NULL;
  geom_init (&G, x->shape, w_shape[0], w_shape[2], w_shape[3], p);
  if (w_shape[0] < 1 || w_shape[2] < 1 || w_shape[3] < 1
      || x->shape[1] != w_shape[1] * p->groups || w_shape[0] % p->groups
      || grad_y->shape[0] != G.n || grad_y->shape[1] != G.co
      || grad_y->shape[2] != G.ho || grad_y->shape[3] != G.wo
      || !geom_fits (&G)) {
    g_autofree char *sx = t2i_shape_to_string (x->ndim, x->shape);
    g_autofree char *sg = t2i_shape_to_string (grad_y->ndim, grad_y->shape);
    g_autofree char *sw = t2i_shape_to_string (4, w_shape);
    g_critical ("t2i_conv2d_weight_grad: x %s, grad_y %s and weight %s "
        "(groups %d) do not agree", sx, sg, sw, p->groups);
    return NULL;
  }

  dw = t2i_tensor_new_on (x->device, x->dtype, 4, w_shape);
  if (dw && !T2I_BACKEND (x)->conv_bwd_weights (&G, x, grad_y, dw))
    g_clear_pointer (&dw, t2i_tensor_unref);
  node = T2I_RECORD (dw, "conv2d_weight_grad", weight_grad_backward, x,
      grad_y);
  if (node)
    params_store (node, p);
  return dw;
}
