/* Conditional StyleGAN2 generator and resnet discriminator (see
 * t2i/stylegan2.h for the architecture).
 *
 * Reference: NVlabs/stylegan2-ada-pytorch training/networks.py and its
 * LAFITE fork (drboog/Lafite), re-expressed with t2i ops:
 *
 * - upfirdn2d.upsample2d(x, [1,3,3,1]) (zero insertion, pad 2/1, 4x4 FIR,
 *   gain 4) is a depthwise transposed convolution, stride 2, padding 1,
 *   with the filter outer([1,3,3,1]) / 16;
 * - Conv2dLayer(k = 3, down = 2) is a depthwise 4x4 blur with padding 2
 *   followed by the 3x3 convolution with stride 2; Conv2dLayer(k = 1,
 *   down = 2) blurs with stride 2 and padding 1, then applies the 1x1;
 * - SynthesisLayer is t2i_modulated_conv2d() plus noise, bias and
 *   lrelu * sqrt(2).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "models-private.h"
#include "t2i/stylegan2.h"

#include <math.h>
#include <string.h>

#define LRELU_SLOPE 0.2
#define COND_LR_MUL 0.01

/* ---- layers ---- */

/* FullyConnectedLayer: equalised lr, optional lrelu * sqrt(2) */
typedef struct
{
  T2iTensor *weight;            /* [out, in], borrowed from the group */
  T2iTensor *bias;              /* [out] or NULL */
  double weight_gain;
  double bias_gain;
  gboolean lrelu;
} Fc;

/* Conv2dLayer of the discriminator */
typedef struct
{
  T2iTensor *weight;            /* [out, in, k, k] */
  T2iTensor *bias;              /* NULL for the skips */
  double weight_gain;
  gboolean lrelu;
  gint k;
  gint down;
} Conv;

/* a layer's style: affine(w) conditioned on h */
typedef struct
{
  T2iStyleGan2CondMode mode;
  Fc affine;                    /* concat: affine_0; modulate: affine */
  Fc pre[2];                    /* concat */
  Fc scale[3];                  /* modulate */
  Fc shift[3];                  /* modulate (bias_layer_*) */
} Style;

typedef struct
{
  Style style;
  T2iTensor *weight;            /* [out, in, 3, 3] */
  T2iTensor *bias;
  T2iTensor *noise_strength;    /* [] */
  T2iTensor *noise_const;       /* [res, res], buffer */
  gint res;
  gint up;
} SynLayer;

typedef struct
{
  Style style;
  T2iTensor *weight;            /* [img_channels, in, 1, 1] */
  T2iTensor *bias;
  double weight_gain;
} ToRgb;

typedef struct
{
  gint res;
  T2iTensor *konst;             /* b4: [C, 4, 4] */
  SynLayer conv0;               /* not at 4x4 */
  SynLayer conv1;
  ToRgb torgb;
} SynBlock;

struct _T2iStyleGan2G
{
  T2iStyleGan2GConfig cfg;
  Fc *mapping;
  T2iTensor *w_avg;             /* [w_dim], buffer */
  SynBlock *blocks;
  gint n_blocks;
};

typedef struct
{
  gint res;
  gint in_ch;
  Conv fromrgb;                 /* first block only */
  Conv conv0;
  Conv conv1;
  Conv skip;
} DBlock;

struct _T2iStyleGan2D
{
  T2iStyleGan2DConfig cfg;
  DBlock *blocks;
  gint n_blocks;
  Conv conv;                    /* epilogue b4 */
  Fc fc;
  Fc out;
  Fc fts;                       /* weight NULL without the head */
};

/* ---- helpers ---- */

static gboolean
is_pow2 (gint v)
{
  return v > 0 && (v & (v - 1)) == 0;
}

static T2iTensor *
new_normal (T2iRng * rng, gint ndim, const gint64 * shape, double std)
{
  T2iTensor *t = t2i_tensor_new (T2I_F32, ndim, shape);
  t2i_rng_fill_normal (rng, t, 0.0, std);
  return t;
}

static void
fc_init (Fc * fc, T2iParamGroup * g, const char *prefix, const char *name,
    gint in, gint out, gboolean lrelu, double lr_mul, double bias_init,
    T2iRng * rng)
{
  g_autofree char *p = t2i_model_join (prefix, name);
  T2iTensor *w = t2i_tensor_new (T2I_F32, T2I_SHAPE (out, in));
  fc->weight_gain = t2i_init_equalized_lr (w, rng, lr_mul);
  fc->weight = t2i_model_add (g, p, "weight", w, TRUE);
  fc->bias = t2i_model_add (g, p, "bias",
      t2i_tensor_full (T2I_F32, T2I_SHAPE (out), bias_init), TRUE);
  fc->bias_gain = lr_mul;
  fc->lrelu = lrelu;
}

/* y * gain after lrelu (0.2) when @lrelu */
static T2iTensor *
act (T2iTensor * y, gboolean lrelu, double gain)
{
  g_autoptr (T2iTensor) a = lrelu ? t2i_leaky_relu (y, LRELU_SLOPE)
      : t2i_tensor_ref (y);
  return gain != 1.0 ? t2i_mul_scalar (a, gain) : g_steal_pointer (&a);
}

static T2iTensor *
scaled (T2iTensor * t, double gain)
{
  return gain != 1.0 ? t2i_mul_scalar (t, gain) : t2i_tensor_ref (t);
}

static T2iTensor *
fc_forward (const Fc * fc, T2iTensor * x)
{
  g_autoptr (T2iTensor) w = scaled (fc->weight, fc->weight_gain);
  g_autoptr (T2iTensor) b = fc->bias ? scaled (fc->bias, fc->bias_gain) : NULL;
  g_autoptr (T2iTensor) y = t2i_linear (x, w, b);
  return act (y, fc->lrelu, fc->lrelu ? G_SQRT2 : 1.0);
}

/* depthwise outer(f, f) / sum^2 * gain, [C, 1, 4, 4], on @device */
static T2iTensor *
fir_filter (gint64 channels, double gain, T2iDevice device)
{
  static const double f1[4] = { 1, 3, 3, 1 };
  T2iTensor *f = t2i_tensor_new (T2I_F32, T2I_SHAPE (channels, 1, 4, 4));
  float *d = t2i_tensor_f32 (f);
  for (gint64 c = 0; c < channels; c++)
    for (gint i = 0; i < 4; i++)
      for (gint j = 0; j < 4; j++)
        d[c * 16 + i * 4 + j] = (float) (f1[i] * f1[j] / 64.0 * gain);
  T2iTensor *fd = t2i_tensor_to_device (f, device, NULL);
  t2i_tensor_unref (f);
  return fd;
}

/* upfirdn2d.upsample2d(x, [1,3,3,1]): [N,C,H,W] -> [N,C,2H,2W] */
static T2iTensor *
upsample2d (T2iTensor * x)
{
  g_autoptr (T2iTensor) f = fir_filter (x->shape[1], 4.0, x->device);
  T2iConvParams p = T2I_CONV_PARAMS (2, 1);
  p.groups = (gint) x->shape[1];
  return t2i_conv_transpose2d (x, f, NULL, &p);
}

/* depthwise [1,3,3,1] blur with @stride and @padding */
static T2iTensor *
blur (T2iTensor * x, gint stride, gint padding)
{
  g_autoptr (T2iTensor) f = fir_filter (x->shape[1], 1.0, x->device);
  T2iConvParams p = T2I_CONV_PARAMS (stride, padding);
  p.groups = (gint) x->shape[1];
  return t2i_conv2d (x, f, NULL, &p);
}

/* ---- styles ---- */

static void
style_init (Style * st, const T2iStyleGan2GConfig * c, T2iParamGroup * g,
    const char *prefix, gint in_channels, T2iRng * rng)
{
  const gint hid = (c->cond_dim + c->cond_hidden) / 2;

  st->mode = c->cond_mode;
  if (c->cond_mode == T2I_STYLEGAN2_COND_CONCAT) {
    fc_init (&st->pre[0], g, prefix, "pre_0", c->cond_dim, hid, TRUE,
        COND_LR_MUL, 0.0, rng);
    fc_init (&st->pre[1], g, prefix, "pre_1", hid, c->cond_hidden, TRUE,
        COND_LR_MUL, 0.0, rng);
    fc_init (&st->affine, g, prefix, "affine_0", c->cond_hidden + c->w_dim,
        in_channels, FALSE, 1.0, 1.0, rng);
    return;
  }
  fc_init (&st->affine, g, prefix, "affine", c->w_dim, in_channels, FALSE,
      1.0, 1.0, rng);
  for (gint k = 0; k < 2; k++) {
    const char *names[2][2] = { {"scale_layer_0", "bias_layer_0"},
    {"scale_layer_1", "bias_layer_1"}
    };
    const gint in = k == 0 ? c->cond_dim : hid;
    const gint out = k == 0 ? hid : c->cond_hidden;
    fc_init (&st->scale[k], g, prefix, names[k][0], in, out, TRUE,
        COND_LR_MUL, 0.0, rng);
    fc_init (&st->shift[k], g, prefix, names[k][1], in, out, TRUE,
        COND_LR_MUL, 0.0, rng);
  }
  fc_init (&st->scale[2], g, prefix, "scale_layer_2", c->cond_hidden,
      in_channels, FALSE, 1.0, 0.0, rng);
  fc_init (&st->shift[2], g, prefix, "bias_layer_2", c->cond_hidden,
      in_channels, FALSE, 1.0, 0.0, rng);
}

static T2iTensor *
chain (const Fc * fcs, gint n, T2iTensor * x)
{
  T2iTensor *y = t2i_tensor_ref (x);
  for (gint i = 0; i < n; i++) {
    T2iTensor *next = fc_forward (&fcs[i], y);
    t2i_tensor_unref (y);
    y = next;
  }
  return y;
}

static T2iTensor *
style_forward (const Style * st, T2iTensor * w, T2iTensor * h)
{
  if (st->mode == T2I_STYLEGAN2_COND_CONCAT) {
    g_autoptr (T2iTensor) f = chain (st->pre, 2, h);
    T2iTensor *parts[2] = { f, w };
    g_autoptr (T2iTensor) cat = t2i_concat (parts, 2, 1);
    return fc_forward (&st->affine, cat);
  }
  g_autoptr (T2iTensor) scale = chain (st->scale, 3, h);
  g_autoptr (T2iTensor) shift = chain (st->shift, 3, h);
  g_autoptr (T2iTensor) a = fc_forward (&st->affine, w);
  g_autoptr (T2iTensor) as = t2i_mul (a, scale);
  return t2i_add (shift, as);
}

/* ---- generator ---- */

void
t2i_stylegan2_g_config_init (T2iStyleGan2GConfig * c)
{
  memset (c, 0, sizeof *c);
  c->resolution = 256;
  c->img_channels = 3;
  c->channel_base = 32768;
  c->channel_max = 512;
  c->z_dim = 512;
  c->w_dim = 512;
  c->cond_dim = 512;
  c->cond_hidden = 512;
  c->mapping_layers = 8;
  c->mapping_lr_mul = 0.01;
  c->w_avg_beta = 0.995;
  c->cond_mode = T2I_STYLEGAN2_COND_CONCAT;
}

gint
t2i_stylegan2_channels (gint channel_base, gint channel_max, gint res)
{
  return MAX (1, MIN (channel_base / MAX (res, 1), channel_max));
}

static void
syn_layer_init (SynLayer * l, const T2iStyleGan2GConfig * c,
    T2iParamGroup * g, const char *prefix, gint in, gint out, gint res,
    gint up, T2iRng * rng)
{
  style_init (&l->style, c, g, prefix, in, rng);
  l->weight = t2i_model_add (g, prefix, "weight",
      new_normal (rng, T2I_SHAPE (out, in, 3, 3), 1.0), TRUE);
  l->noise_strength = t2i_model_add (g, prefix, "noise_strength",
      t2i_tensor_zeros (T2I_F32, 0, NULL), TRUE);
  l->bias = t2i_model_add (g, prefix, "bias",
      t2i_tensor_zeros (T2I_F32, T2I_SHAPE (out)), TRUE);
  l->noise_const = t2i_model_add (g, prefix, "noise_const",
      new_normal (rng, T2I_SHAPE (res, res), 1.0), FALSE);
  l->res = res;
  l->up = up;
}

static T2iTensor *
syn_layer_forward (const SynLayer * l, T2iTensor * x, T2iTensor * w,
    T2iTensor * h, T2iStyleGan2NoiseMode mode, T2iRng * rng)
{
  const gint64 n = x->shape[0], out = l->weight->shape[0];
  g_autoptr (T2iTensor) s = style_forward (&l->style, w, h);
  g_autoptr (T2iTensor) y = t2i_modulated_conv2d (x, l->weight, s, TRUE, 1,
      l->up);
  if (!y)
    return NULL;
  if (mode != T2I_STYLEGAN2_NOISE_NONE) {
    g_autoptr (T2iTensor) noise = NULL;
    if (mode == T2I_STYLEGAN2_NOISE_RANDOM) {
      noise = t2i_tensor_new_on (x->device, T2I_F32, T2I_SHAPE (n, 1, l->res,
              l->res));
      t2i_rng_fill_normal (rng, noise, 0.0, 1.0);
    } else {
      noise = t2i_reshape (l->noise_const, T2I_SHAPE (1, 1, l->res, l->res));
    }
    g_autoptr (T2iTensor) ns = t2i_mul (noise, l->noise_strength);
    g_autoptr (T2iTensor) yn = t2i_add (y, ns);
    t2i_tensor_unref (y);
    y = g_steal_pointer (&yn);
  }
  g_autoptr (T2iTensor) b = t2i_reshape (l->bias, T2I_SHAPE (1, out, 1, 1));
  g_autoptr (T2iTensor) yb = t2i_add (y, b);
  return act (yb, TRUE, G_SQRT2);
}

static void
torgb_init (ToRgb * t, const T2iStyleGan2GConfig * c, T2iParamGroup * g,
    const char *prefix, gint in, T2iRng * rng)
{
  style_init (&t->style, c, g, prefix, in, rng);
  t->weight = t2i_model_add (g, prefix, "weight",
      new_normal (rng, T2I_SHAPE (c->img_channels, in, 1, 1), 1.0), TRUE);
  t->bias = t2i_model_add (g, prefix, "bias",
      t2i_tensor_zeros (T2I_F32, T2I_SHAPE (c->img_channels)), TRUE);
  t->weight_gain = 1.0 / sqrt ((double) in);
}

static T2iTensor *
torgb_forward (const ToRgb * t, T2iTensor * x, T2iTensor * w, T2iTensor * h)
{
  g_autoptr (T2iTensor) s0 = style_forward (&t->style, w, h);
  g_autoptr (T2iTensor) s = t2i_mul_scalar (s0, t->weight_gain);
  g_autoptr (T2iTensor) y = t2i_modulated_conv2d (x, t->weight, s, FALSE, 0,
      1);
  g_autoptr (T2iTensor) b = t2i_reshape (t->bias,
      T2I_SHAPE (1, t->weight->shape[0], 1, 1));
  return y ? t2i_add (y, b) : NULL;
}

T2iStyleGan2G *
t2i_stylegan2_g_new (const T2iStyleGan2GConfig * c, T2iParamGroup * group,
    const char *prefix, T2iRng * rng, GError ** error)
{
  g_return_val_if_fail (c != NULL && group != NULL && rng != NULL, NULL);

  if (!is_pow2 (c->resolution) || c->resolution < 4 || c->img_channels < 1
      || c->channel_base < 1 || c->channel_max < 1 || c->z_dim < 1
      || c->w_dim < 1 || c->cond_dim < 1 || c->cond_hidden < 1
      || c->mapping_layers < 1 || c->mapping_lr_mul <= 0
      || c->w_avg_beta < 0 || c->w_avg_beta > 1) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "StyleGAN2 generator: resolution must be a power of two >= 4 (got "
        "%d) and every width >= 1 (channel-base %d, channels %d, z %d, w %d, "
        "cond %d, mapping layers %d)", c->resolution, c->channel_base,
        c->channel_max, c->z_dim, c->w_dim, c->cond_dim, c->mapping_layers);
    return NULL;
  }

  T2iStyleGan2G *g = g_new0 (T2iStyleGan2G, 1);
  g->cfg = *c;

  g_autofree char *map = t2i_model_join (prefix, "mapping");
  g->mapping = g_new0 (Fc, c->mapping_layers);
  for (gint i = 0; i < c->mapping_layers; i++) {
    g_autofree char *name = g_strdup_printf ("fc%d", i);
    fc_init (&g->mapping[i], group, map, name, i == 0 ? c->z_dim : c->w_dim,
        c->w_dim, TRUE, c->mapping_lr_mul, 0.0, rng);
  }
  g->w_avg = t2i_model_add (group, map, "w_avg",
      t2i_tensor_zeros (T2I_F32, T2I_SHAPE (c->w_dim)), FALSE);

  for (gint r = 4; r <= c->resolution; r *= 2)
    g->n_blocks++;
  g->blocks = g_new0 (SynBlock, g->n_blocks);
  g_autofree char *syn = t2i_model_join (prefix, "synthesis");
  for (gint i = 0; i < g->n_blocks; i++) {
    SynBlock *b = &g->blocks[i];
    const gint res = 4 << i;
    const gint out = t2i_stylegan2_channels (c->channel_base, c->channel_max,
        res);
    g_autofree char *bp = t2i_model_joinf (syn, "b%d", res);
    b->res = res;
    if (i == 0) {
      b->konst = t2i_model_add (group, bp, "const",
          new_normal (rng, T2I_SHAPE (out, res, res), 1.0), TRUE);
    } else {
      const gint in = t2i_stylegan2_channels (c->channel_base,
          c->channel_max, res / 2);
      g_autofree char *lp = t2i_model_join (bp, "conv0");
      syn_layer_init (&b->conv0, c, group, lp, in, out, res, 2, rng);
    }
    g_autofree char *lp1 = t2i_model_join (bp, "conv1");
    syn_layer_init (&b->conv1, c, group, lp1, out, out, res, 1, rng);
    g_autofree char *tp = t2i_model_join (bp, "torgb");
    torgb_init (&b->torgb, c, group, tp, out, rng);
  }
  return g;
}

void
t2i_stylegan2_g_free (T2iStyleGan2G * g)
{
  if (!g)
    return;
  g_free (g->mapping);
  g_free (g->blocks);
  g_free (g);
}

const T2iStyleGan2GConfig *
t2i_stylegan2_g_get_config (T2iStyleGan2G * g)
{
  return &g->cfg;
}

T2iTensor *
t2i_stylegan2_g_mapping (T2iStyleGan2G * g, T2iTensor * z,
    gboolean update_w_avg, double psi)
{
  g_return_val_if_fail (g != NULL && z != NULL, NULL);
  if (z->ndim != 2 || z->shape[1] != g->cfg.z_dim || z->dtype != T2I_F32) {
    g_critical ("t2i_stylegan2_g_mapping: z must be f32 [N, %d]",
        g->cfg.z_dim);
    return NULL;
  }
  /* normalize_2nd_moment */
  g_autoptr (T2iTensor) z2 = t2i_square (z);
  g_autoptr (T2iTensor) m = t2i_mean (z2, 1, TRUE);
  g_autoptr (T2iTensor) me = t2i_add_scalar (m, 1e-8);
  g_autoptr (T2iTensor) r = t2i_rsqrt (me);
  g_autoptr (T2iTensor) x = t2i_mul (z, r);
  g_autoptr (T2iTensor) w = chain (g->mapping, g->cfg.mapping_layers, x);

  /* w_avg = lerp(mean(w), w_avg, beta), no gradient */
  if (update_w_avg && w->shape[0] > 0)
    t2i_update_running_mean (g->w_avg, w, g->cfg.w_avg_beta);
  if (psi == 1.0)
    return g_steal_pointer (&w);
  g_autoptr (T2iTensor) dw = t2i_sub (w, g->w_avg);
  g_autoptr (T2iTensor) sdw = t2i_mul_scalar (dw, psi);
  return t2i_add (sdw, g->w_avg);
}

T2iTensor *
t2i_stylegan2_g_synthesis (T2iStyleGan2G * g, T2iTensor * w,
    T2iTensor * cond, T2iStyleGan2NoiseMode noise, T2iRng * rng)
{
  g_return_val_if_fail (g != NULL && w != NULL && cond != NULL, NULL);
  g_return_val_if_fail (noise != T2I_STYLEGAN2_NOISE_RANDOM || rng != NULL,
      NULL);
  if (w->ndim != 2 || w->shape[1] != g->cfg.w_dim || cond->ndim != 2
      || cond->shape[1] != g->cfg.cond_dim || cond->shape[0] != w->shape[0]) {
    g_critical ("t2i_stylegan2_g_synthesis: need w [N, %d] and cond [N, %d]",
        g->cfg.w_dim, g->cfg.cond_dim);
    return NULL;
  }
  const gint64 n = w->shape[0];
  g_autoptr (T2iTensor) x = NULL;
  g_autoptr (T2iTensor) img = NULL;

  for (gint i = 0; i < g->n_blocks; i++) {
    const SynBlock *b = &g->blocks[i];
    if (i == 0) {
      const gint64 ch = b->konst->shape[0];
      g_autoptr (T2iTensor) k = t2i_reshape (b->konst,
          T2I_SHAPE (1, ch, b->res, b->res));
      g_autoptr (T2iTensor) kx = t2i_expand (k, T2I_SHAPE (n, ch, b->res,
              b->res));
      x = syn_layer_forward (&b->conv1, kx, w, cond, noise, rng);
    } else {
      g_autoptr (T2iTensor) x0 = syn_layer_forward (&b->conv0, x, w, cond,
          noise, rng);
      t2i_tensor_unref (x);
      x = x0 ? syn_layer_forward (&b->conv1, x0, w, cond, noise, rng) : NULL;
    }
    if (!x)
      return NULL;
    g_autoptr (T2iTensor) y = torgb_forward (&b->torgb, x, w, cond);
    if (!y)
      return NULL;
    if (img) {
      g_autoptr (T2iTensor) up = upsample2d (img);
      t2i_tensor_unref (img);
      img = t2i_add (up, y);
    } else {
      img = g_steal_pointer (&y);
    }
  }
  return g_steal_pointer (&img);
}

/* ---- discriminator ---- */

void
t2i_stylegan2_d_config_init (T2iStyleGan2DConfig * c)
{
  memset (c, 0, sizeof *c);
  c->resolution = 256;
  c->img_channels = 3;
  c->channel_base = 32768;
  c->channel_max = 512;
  c->cond_dim = 512;
  c->mbstd_group = 4;
  c->mbstd_channels = 1;
}

static void
conv_init (Conv * cv, T2iParamGroup * g, const char *prefix,
    const char *name, gint in, gint out, gint k, gboolean bias,
    gboolean lrelu, gint down, T2iRng * rng)
{
  g_autofree char *p = t2i_model_join (prefix, name);
  cv->weight = t2i_model_add (g, p, "weight",
      new_normal (rng, T2I_SHAPE (out, in, k, k), 1.0), TRUE);
  cv->bias = bias ? t2i_model_add (g, p, "bias",
      t2i_tensor_zeros (T2I_F32, T2I_SHAPE (out)), TRUE) : NULL;
  cv->weight_gain = 1.0 / sqrt ((double) in * k * k);
  cv->lrelu = lrelu;
  cv->k = k;
  cv->down = down;
}

/* Conv2dLayer.forward(x, gain) */
static T2iTensor *
conv_forward (const Conv * cv, T2iTensor * x, double gain)
{
  g_autoptr (T2iTensor) w = t2i_mul_scalar (cv->weight, cv->weight_gain);
  g_autoptr (T2iTensor) y = NULL;
  if (cv->down == 2 && cv->k == 1) {
    g_autoptr (T2iTensor) xb = blur (x, 2, 1);
    T2iConvParams p = T2I_CONV_PARAMS (1, 0);
    y = t2i_conv2d (xb, w, cv->bias, &p);
  } else if (cv->down == 2) {
    g_autoptr (T2iTensor) xb = blur (x, 1, 2);
    T2iConvParams p = T2I_CONV_PARAMS (2, 0);
    y = t2i_conv2d (xb, w, cv->bias, &p);
  } else {
    T2iConvParams p = T2I_CONV_PARAMS (1, cv->k / 2);
    y = t2i_conv2d (x, w, cv->bias, &p);
  }
  return y ? act (y, cv->lrelu, (cv->lrelu ? G_SQRT2 : 1.0) * gain) : NULL;
}

T2iStyleGan2D *
t2i_stylegan2_d_new (const T2iStyleGan2DConfig * c, T2iParamGroup * group,
    const char *prefix, T2iRng * rng, GError ** error)
{
  g_return_val_if_fail (c != NULL && group != NULL && rng != NULL, NULL);

  if (!is_pow2 (c->resolution) || c->resolution < 8 || c->img_channels < 1
      || c->channel_base < 1 || c->channel_max < 1 || c->cond_dim < 0
      || c->mbstd_group < 1 || c->mbstd_channels < 0) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "StyleGAN2 discriminator: resolution must be a power of two >= 8 "
        "(got %d), widths >= 1 and the minibatch-std group >= 1",
        c->resolution);
    return NULL;
  }
  const gint c4 = t2i_stylegan2_channels (c->channel_base, c->channel_max, 4);
  if (c->mbstd_channels > 0 && c4 % c->mbstd_channels != 0) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "StyleGAN2 discriminator: %d channels at 4x4 are not a multiple of "
        "%d minibatch-std channels", c4, c->mbstd_channels);
    return NULL;
  }

  T2iStyleGan2D *d = g_new0 (T2iStyleGan2D, 1);
  d->cfg = *c;
  for (gint r = c->resolution; r >= 8; r /= 2)
    d->n_blocks++;
  d->blocks = g_new0 (DBlock, d->n_blocks);
  for (gint i = 0; i < d->n_blocks; i++) {
    DBlock *b = &d->blocks[i];
    const gint res = c->resolution >> i;
    const gint tmp = t2i_stylegan2_channels (c->channel_base, c->channel_max,
        res);
    const gint out = t2i_stylegan2_channels (c->channel_base, c->channel_max,
        res / 2);
    g_autofree char *bp = t2i_model_joinf (prefix, "b%d", res);
    b->res = res;
    b->in_ch = i == 0 ? 0 : tmp;
    if (i == 0)
      conv_init (&b->fromrgb, group, bp, "fromrgb", c->img_channels, tmp, 1,
          TRUE, TRUE, 1, rng);
    conv_init (&b->conv0, group, bp, "conv0", tmp, tmp, 3, TRUE, TRUE, 1, rng);
    conv_init (&b->conv1, group, bp, "conv1", tmp, out, 3, TRUE, TRUE, 2, rng);
    conv_init (&b->skip, group, bp, "skip", tmp, out, 1, FALSE, FALSE, 2, rng);
  }
  g_autofree char *ep = t2i_model_join (prefix, "b4");
  conv_init (&d->conv, group, ep, "conv", c4 + c->mbstd_channels, c4, 3, TRUE,
      TRUE, 1, rng);
  fc_init (&d->fc, group, ep, "fc", c4 * 16, c4, TRUE, 1.0, 0.0, rng);
  if (c->cond_dim > 0)
    fc_init (&d->fts, group, ep, "fts", c4, c->cond_dim, FALSE, 1.0, 0.0, rng);
  fc_init (&d->out, group, ep, "out", c4, 1, FALSE, 1.0, 0.0, rng);
  return d;
}

void
t2i_stylegan2_d_free (T2iStyleGan2D * d)
{
  if (!d)
    return;
  g_free (d->blocks);
  g_free (d);
}

const T2iStyleGan2DConfig *
t2i_stylegan2_d_get_config (T2iStyleGan2D * d)
{
  return &d->cfg;
}

/* MinibatchStdLayer: appends the mean (over channels and pixels) of the
 * standard deviation over each group of @group items; item i is in group
 * i mod (N / G), as x.reshape(G, -1, ...) splits it */
static T2iTensor *
minibatch_std (T2iTensor * x, gint group, gint channels)
{
  const gint64 n = x->shape[0], c = x->shape[1], h = x->shape[2],
      w = x->shape[3];
  const gint64 g = MIN ((gint64) group, n), m = n / g, f = channels;
  g_autoptr (T2iTensor) y = t2i_reshape (x, T2I_SHAPE (g, m, f,
          c / f * h * w));
  g_autoptr (T2iTensor) mu = t2i_mean (y, 0, TRUE);
  g_autoptr (T2iTensor) dev = t2i_sub (y, mu);
  g_autoptr (T2iTensor) sq = t2i_square (dev);
  g_autoptr (T2iTensor) var = t2i_mean (sq, 0, FALSE);
  g_autoptr (T2iTensor) vare = t2i_add_scalar (var, 1e-8);
  g_autoptr (T2iTensor) sd = t2i_sqrt (vare);
  g_autoptr (T2iTensor) s = t2i_mean (sd, 2, FALSE);
  g_autoptr (T2iTensor) s3 = t2i_reshape (s, T2I_SHAPE (1, m, f));
  g_autoptr (T2iTensor) tiled = t2i_expand (s3, T2I_SHAPE (g, m, f));
  g_autoptr (T2iTensor) s4 = t2i_reshape (tiled, T2I_SHAPE (n, f, 1, 1));
  g_autoptr (T2iTensor) maps = t2i_expand (s4, T2I_SHAPE (n, f, h, w));
  T2iTensor *parts[2] = { x, maps };
  return t2i_concat (parts, 2, 1);
}

gboolean
t2i_stylegan2_d_forward (T2iStyleGan2D * d, T2iTensor * img,
    T2iTensor ** logits, T2iTensor ** features, GError ** error)
{
  g_return_val_if_fail (d != NULL && img != NULL && logits != NULL, FALSE);
  const T2iStyleGan2DConfig *c = &d->cfg;
  *logits = NULL;
  if (features)
    *features = NULL;

  if (img->ndim != 4 || img->dtype != T2I_F32
      || img->shape[1] != c->img_channels || img->shape[2] != c->resolution
      || img->shape[3] != c->resolution) {
    g_autofree char *s = t2i_shape_to_string (img->ndim, img->shape);
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_ARGUMENT,
        "the discriminator takes f32 [N,%d,%d,%d] images, not %s %s",
        c->img_channels, c->resolution, c->resolution,
        t2i_dtype_name (img->dtype), s);
    return FALSE;
  }
  const gint64 n = img->shape[0];
  const gint64 g = MIN ((gint64) c->mbstd_group, n);
  if (c->mbstd_channels > 0 && (n < 1 || n % g != 0)) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_ARGUMENT,
        "the batch of %" G_GINT64_FORMAT " images is not a multiple of the "
        "minibatch-std group size %" G_GINT64_FORMAT, n, g);
    return FALSE;
  }

  g_autoptr (T2iTensor) x = NULL;
  for (gint i = 0; i < d->n_blocks; i++) {
    const DBlock *b = &d->blocks[i];
    if (i == 0)
      x = conv_forward (&b->fromrgb, img, 1.0);
    g_autoptr (T2iTensor) y = conv_forward (&b->skip, x, M_SQRT1_2);
    g_autoptr (T2iTensor) x0 = conv_forward (&b->conv0, x, 1.0);
    g_autoptr (T2iTensor) x1 = conv_forward (&b->conv1, x0, M_SQRT1_2);
    t2i_tensor_unref (x);
    x = t2i_add (y, x1);
  }
  g_autoptr (T2iTensor) xs = c->mbstd_channels > 0 ?
      minibatch_std (x, c->mbstd_group, c->mbstd_channels) :
      t2i_tensor_ref (x);
  g_autoptr (T2iTensor) xc = conv_forward (&d->conv, xs, 1.0);
  g_autoptr (T2iTensor) flat = t2i_reshape (xc, T2I_SHAPE (n, -1));
  g_autoptr (T2iTensor) f = fc_forward (&d->fc, flat);
  g_autoptr (T2iTensor) o = fc_forward (&d->out, f);
  *logits = t2i_reshape (o, T2I_SHAPE (n));
  if (features && d->fts.weight)
    *features = fc_forward (&d->fts, f);
  return TRUE;
}
