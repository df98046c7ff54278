/* arch=stylegan2 for t2igenerator and t2idiscriminator: StyleGAN2 with
 * LAFITE's conditional StyleSpace and semantic head (t2i/stylegan2.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

#include <string.h>
#include "t2i/stylegan2.h"

/* ================= generator ================= */

static const T2iOption g_options[] = {
  T2I_OPTION_ENTRY ("cond", "h", 0,
      "Condition entry, f32 [N, cond-dim] (text or pseudo text features)"),
  T2I_OPTION_ENTRY ("noise", "z", 0,
      "Latent noise entry, f32 [N, z-dim] (e.g. from t2inoise)"),
  T2I_OPTION_ENTRY ("output", "fake", 0,
      "Entry of the generated images, f32 [N, 3, R, R]"),
  T2I_OPTION_INT ("resolution", 32, 4, 1024, T2I_OPTION_MODEL,
      "Side R of the generated images (a power of two)"),
  T2I_OPTION_INT ("channels", 128, 1, 4096, T2I_OPTION_MODEL,
      "Most channels of any layer; resolution r has "
      "min(channel-base / r, channels)"),
  T2I_OPTION_INT ("channel-base", 32768, 1, G_MAXINT, T2I_OPTION_MODEL,
      "Channels at resolution r are min(channel-base / r, channels) "
      "(official 32768)"),
  T2I_OPTION_INT ("mapping-layers", 8, 1, 16, T2I_OPTION_MODEL,
      "FC layers of the mapping network z -> w"),
  T2I_OPTION_INT ("z-dim", 0, 0, 65536, T2I_OPTION_MODEL,
      "Latent size (0: the width of the noise entry)"),
  T2I_OPTION_INT ("w-dim", 512, 1, 65536, T2I_OPTION_MODEL,
      "Size of w and width of the mapping network"),
  T2I_OPTION_INT ("cond-dim", 0, 0, 65536, T2I_OPTION_MODEL,
      "Condition size (0: the width of the cond entry)"),
  T2I_OPTION_INT ("cond-hidden", 512, 1, 65536, T2I_OPTION_MODEL,
      "Output width of each layer's condition FCs (official 512)"),
  T2I_OPTION_CHOICE ("cond-mode", "concat", "concat|modulate",
      T2I_OPTION_MODEL, "How the condition enters each layer's style: "
      "concat, s = affine_0([pre(h), w]) (paper Sec. 3.2, official <= 256 "
      "px); modulate, s = beta(h) + affine(w) * gamma(h) (official > 256 "
      "px)"),
  T2I_OPTION_DOUBLE ("truncation", 1.0, -10.0, 10.0, 0,
      "Truncation psi: w = w_avg + psi (w - w_avg) (1 = none; use < 1 at "
      "inference)"),
  T2I_OPTION_DOUBLE ("w-avg-beta", 0.995, 0.0, 1.0, 0,
      "Decay of the average of w tracked while training"),
  T2I_OPTION_CHOICE ("noise-mode", "random", "random|const|none", 0,
      "Per-layer noise inputs: fresh per image and layer, each layer's "
      "stored noise_const buffer, or none"),
  {NULL}
};

/* checks one [N, D] input against the option @dim_prop (0: any width);
 * *batch, *dim get N and D */
static gboolean
require_matrix (const GstStructure * config, const GstStructure * in,
    const char *prop, const char *dim_prop, gint64 * batch, gint * dim,
    GError ** error)
{
  const char *name = t2i_config_string (config, prop);
  gint want = t2i_config_int (config, dim_prop);
  gint64 shape[T2I_MAX_DIMS];

  if (!t2i_caps_require (in, name, "f32", 2, NULL, error)) {
    g_prefix_error (error, "%s=%s: ", prop, name);
    return FALSE;
  }
  t2i_caps_get_entry (in, name, NULL, NULL, shape);
  if (want > 0 && shape[1] != want) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%s=%s has %" G_GINT64_FORMAT " features per item but the model "
        "takes %s=%d", prop, name, shape[1], dim_prop, want);
    return FALSE;
  }
  *batch = shape[0];
  *dim = (gint) shape[1];
  return TRUE;
}

static gboolean
g_check (const GstStructure * config, const GstStructure * in, gint64 * n,
    gint * z_dim, gint * cond_dim, GError ** error)
{
  gint64 nz, nc;
  if (!require_matrix (config, in, "noise", "z-dim", &nz, z_dim, error)
      || !require_matrix (config, in, "cond", "cond-dim", &nc, cond_dim,
          error))
    return FALSE;
  if (nz >= 0 && nc >= 0 && nz != nc) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "noise=%s has %" G_GINT64_FORMAT " items but cond=%s has %"
        G_GINT64_FORMAT, t2i_config_string (config, "noise"), nz,
        t2i_config_string (config, "cond"), nc);
    return FALSE;
  }
  *n = nc;
  return TRUE;
}

static gboolean
g_negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 n;
  gint zd, cd;
  if (!g_check (config, in, &n, &zd, &cd, error))
    return FALSE;
  const gint r = t2i_config_int (config, "resolution");
  gint64 shape[4] = { n, 3, r, r };
  t2i_caps_set_entry (out, t2i_config_string (config, "output"), "f32", 4,
      shape);
  return TRUE;
}

static gpointer
g_build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  T2iStyleGan2GConfig c;
  gint64 n;

  t2i_stylegan2_g_config_init (&c);
  if (!g_check (config, in, &n, &c.z_dim, &c.cond_dim, error))
    return NULL;
  /* stored with the model: the widths the entries gave */
  t2i_config_set_int (config, "z-dim", c.z_dim);
  t2i_config_set_int (config, "cond-dim", c.cond_dim);
  c.resolution = t2i_config_int (config, "resolution");
  c.channel_base = t2i_config_int (config, "channel-base");
  c.channel_max = t2i_config_int (config, "channels");
  c.w_dim = t2i_config_int (config, "w-dim");
  c.cond_hidden = t2i_config_int (config, "cond-hidden");
  c.mapping_layers = t2i_config_int (config, "mapping-layers");
  c.w_avg_beta = t2i_config_double (config, "w-avg-beta");
  c.cond_mode = g_str_equal (t2i_config_string (config, "cond-mode"),
      "modulate") ? T2I_STYLEGAN2_COND_MODULATE : T2I_STYLEGAN2_COND_CONCAT;
  return t2i_stylegan2_g_new (&c, ctx->params, NULL, ctx->init_rng, error);
}

static T2iStyleGan2NoiseMode
noise_mode (const GstStructure * config)
{
  const char *m = t2i_config_string (config, "noise-mode");
  return g_str_equal (m, "const") ? T2I_STYLEGAN2_NOISE_CONST :
      g_str_equal (m, "none") ? T2I_STYLEGAN2_NOISE_NONE :
      T2I_STYLEGAN2_NOISE_RANDOM;
}

static gboolean
g_forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  T2iStyleGan2G *g = net;
  const T2iStyleGan2GConfig *c = t2i_stylegan2_g_get_config (g);
  const char *noise = t2i_config_string (ctx->config, "noise");
  const char *cond = t2i_config_string (ctx->config, "cond");
  T2iTensor *z = t2i_record_get_tensor (record, noise);
  T2iTensor *h = t2i_record_get_tensor (record, cond);

  if (!z || !h || z->dtype != T2I_F32 || h->dtype != T2I_F32 || z->ndim != 2
      || h->ndim != 2 || z->shape[1] != c->z_dim || h->shape[1] != c->cond_dim
      || z->shape[0] != h->shape[0]) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "needs noise=%s f32 [N,%d] and cond=%s f32 [N,%d] (the record has: "
        "%s)", noise, c->z_dim, cond, c->cond_dim, has);
    return FALSE;
  }
  /* the average of w moves only while G itself trains */
  g_autoptr (T2iTensor) w = t2i_stylegan2_g_mapping (g, z,
      ctx->training && ctx->trainable,
      t2i_config_double (ctx->config, "truncation"));
  g_autoptr (T2iTensor) img = w ? t2i_stylegan2_g_synthesis (g, w, h,
      noise_mode (ctx->config), ctx->rng) : NULL;
  if (!img) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "the generator failed on noise=%s and cond=%s", noise, cond);
    return FALSE;
  }
  return t2i_record_set_tensor (record, t2i_config_string (ctx->config,
          "output"), img, error);
}

const T2iArch t2i_arch_stylegan2_g = {
  "stylegan2", T2I_ROLE_GENERATOR,
  "StyleGAN2 with LAFITE's conditional StyleSpace",
  g_options, "mapping.fc0.weight",
  NULL, NULL, g_negotiate, g_build, NULL, g_forward,
  (void (*)(gpointer)) t2i_stylegan2_g_free,
};

/* ================= discriminator ================= */

static const T2iOption d_options[] = {
  T2I_OPTION_ENTRY ("real", "image", 0,
      "Entry of the real images, f32 [N, 3, R, R] (empty: score no real "
      "images)"),
  T2I_OPTION_ENTRY ("fake", "fake", 0,
      "Entry of the generated images, f32 [N, 3, R, R] (empty: none)"),
  T2I_OPTION_ENTRY ("cond", "h", 0,
      "Condition entry h', f32 [N, D] (empty: unconditional, no semantic "
      "head)"),
  T2I_OPTION_ENTRY ("output", "d", 0,
      "Prefix P of the outputs P/real, P/fake (logits) and P/real_fs, "
      "P/fake_fs (semantic features)"),
  T2I_OPTION_INT ("channels", 128, 1, 4096, T2I_OPTION_MODEL,
      "Most channels of any layer; resolution r has "
      "min(channel-base / r, channels)"),
  T2I_OPTION_INT ("channel-base", 32768, 1, G_MAXINT, T2I_OPTION_MODEL,
      "Channels at resolution r are min(channel-base / r, channels) "
      "(official 32768)"),
  T2I_OPTION_INT ("resolution", 0, 0, 1024, T2I_OPTION_MODEL,
      "Side of the images (0: the side of the image entries)"),
  T2I_OPTION_INT ("cond-dim", 0, 0, 65536, T2I_OPTION_MODEL,
      "Width of the semantic head (0: the width of the cond entry)"),
  T2I_OPTION_INT ("mbstd-group", 4, 1, 1024, T2I_OPTION_MODEL,
      "Minibatch standard deviation group size (N must be a multiple of "
      "min(mbstd-group, N))"),
  T2I_OPTION_INT ("mbstd-channels", 1, 0, 64, T2I_OPTION_MODEL,
      "Minibatch standard deviation channels (0 disables the layer)"),
  T2I_OPTION_CHOICE ("cond-logit", "per-sample", "per-sample|batch-sum|none",
      0, "The conditional logit: per-sample f_d(x_i) + <h'_i, f_s(x_i)> "
      "(paper eq. 4), batch-sum f_d(x_i) + sum_j <h'_j, f_s(x_j)> (official "
      "code), none f_d(x_i) only"),
  T2I_OPTION_BOOLEAN ("normalize-features", FALSE, 0,
      "L2-normalise the semantic features f_s (in the logits too)"),
  T2I_OPTION_BOOLEAN ("real-requires-grad", FALSE, 0,
      "While training, score a gradient leaf alias of the real images (put "
      "back under the same name) so R1 can differentiate with respect to "
      "them"),
  {NULL}
};

static gboolean
has (const GstStructure * config, const char *prop)
{
  return t2i_config_has_string (config, prop);
}

/* checks the image and condition entries; fills the batch, side, cond dim */
static gboolean
d_check (const GstStructure * config, const GstStructure * in,
    gint64 * batch, gint * res, gint * cond_dim, GError ** error)
{
  const char *props[2] = { "real", "fake" };
  gint64 first[T2I_MAX_DIMS] = { 0 };
  const char *first_prop = NULL;

  for (gint i = 0; i < 2; i++) {
    const char *name = t2i_config_string (config, props[i]);
    gint64 shape[T2I_MAX_DIMS];
    if (!has (config, props[i]))
      continue;
    if (!t2i_caps_require (in, name, "f32", 4, NULL, error)) {
      g_prefix_error (error, "%s=%s: ", props[i], name);
      return FALSE;
    }
    t2i_caps_get_entry (in, name, NULL, NULL, shape);
    if (shape[1] != 3 || shape[2] != shape[3]) {
      g_autofree char *s = t2i_shape_to_string (4, shape);
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "%s=%s must hold square RGB images [N,3,R,R], not %s", props[i],
          name, s);
      return FALSE;
    }
    if (first_prop && (shape[2] != first[2] || (shape[0] >= 0
                && first[0] >= 0 && shape[0] != first[0]))) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "real=%s and fake=%s must have the same shape",
          t2i_config_string (config, "real"), name);
      return FALSE;
    }
    if (!first_prop) {
      memcpy (first, shape, sizeof first);
      first_prop = props[i];
    }
  }
  if (!first_prop) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "both real= and fake= are empty: name at least one image entry");
    return FALSE;
  }
  const gint want_res = t2i_config_int (config, "resolution");
  if (want_res > 0 && first[2] != want_res) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%s=%s has %" G_GINT64_FORMAT " px images but the model takes "
        "resolution=%d", first_prop, t2i_config_string (config, first_prop),
        first[2], want_res);
    return FALSE;
  }
  *batch = first[0];
  *res = (gint) first[2];
  *cond_dim = 0;
  if (has (config, "cond")) {
    const char *cond = t2i_config_string (config, "cond");
    gint64 shape[T2I_MAX_DIMS];
    if (!t2i_caps_require (in, cond, "f32", 2, NULL, error)) {
      g_prefix_error (error, "cond=%s: ", cond);
      return FALSE;
    }
    t2i_caps_get_entry (in, cond, NULL, NULL, shape);
    if (shape[0] >= 0 && first[0] >= 0 && shape[0] != first[0]) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "cond=%s has %" G_GINT64_FORMAT " items but %s=%s has %"
          G_GINT64_FORMAT, cond, shape[0], first_prop,
          t2i_config_string (config, first_prop), first[0]);
      return FALSE;
    }
    const gint want = t2i_config_int (config, "cond-dim");
    if (want > 0 && shape[1] != want) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "cond=%s has %" G_GINT64_FORMAT " features per item but the "
          "model takes cond-dim=%d", cond, shape[1], want);
      return FALSE;
    }
    *cond_dim = (gint) shape[1];
  }
  return TRUE;
}

static char *
d_entry (const GstStructure * config, const char *what)
{
  return g_strconcat (t2i_config_string (config, "output"), "/", what, NULL);
}

static gboolean
d_negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  const char *kinds[2] = { "real", "fake" };
  gint64 n;
  gint res, cd;

  if (!d_check (config, in, &n, &res, &cd, error))
    return FALSE;
  for (gint i = 0; i < 2; i++) {
    if (!has (config, kinds[i]))
      continue;
    g_autofree char *logit = d_entry (config, kinds[i]);
    t2i_caps_set_entry (out, logit, "f32", 1, &n);
    if (cd > 0) {
      g_autofree char *what = g_strconcat (kinds[i], "_fs", NULL);
      g_autofree char *fs = d_entry (config, what);
      gint64 shape[2] = { n, cd };
      t2i_caps_set_entry (out, fs, "f32", 2, shape);
    }
  }
  return TRUE;
}

static gpointer
d_build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  T2iStyleGan2DConfig c;
  gint64 n;

  t2i_stylegan2_d_config_init (&c);
  if (!d_check (config, in, &n, &c.resolution, &c.cond_dim, error))
    return NULL;
  t2i_config_set_int (config, "resolution", c.resolution);
  t2i_config_set_int (config, "cond-dim", c.cond_dim);
  c.channel_base = t2i_config_int (config, "channel-base");
  c.channel_max = t2i_config_int (config, "channels");
  c.mbstd_group = t2i_config_int (config, "mbstd-group");
  c.mbstd_channels = t2i_config_int (config, "mbstd-channels");
  return t2i_stylegan2_d_new (&c, ctx->params, NULL, ctx->init_rng, error);
}

/* logits + <h, fs> per item, or + the batch sum of <h, fs> */
static T2iTensor *
cond_logits (const char *mode, T2iTensor * logits, T2iTensor * fs,
    T2iTensor * h)
{
  if (g_str_equal (mode, "none"))
    return t2i_tensor_ref (logits);
  g_autoptr (T2iTensor) prod = t2i_mul (fs, h);
  g_autoptr (T2iTensor) proj = g_str_equal (mode, "per-sample") ?
      t2i_sum (prod, 1, FALSE) : t2i_sum (prod, T2I_ALL_AXES, FALSE);
  return t2i_add (logits, proj);
}

/* the R1 leaf: the entry itself when it is a leaf already, else a
 * detached alias that requires grad, put back under the same name */
static T2iTensor *
real_leaf (GstBuffer * record, const char *name, T2iTensor * real,
    GError ** error)
{
  if (real->requires_grad && !real->node)
    return t2i_tensor_ref (real);
  T2iTensor *leaf = t2i_detach (real);
  t2i_tensor_set_requires_grad (leaf, TRUE);
  if (!t2i_record_set_tensor (record, name, leaf, error)) {
    t2i_tensor_unref (leaf);
    return NULL;
  }
  return leaf;
}

static gboolean
score (T2iStyleGan2D * d, const GstStructure * config, GstBuffer * record,
    const char *kind, T2iTensor * img, T2iTensor * h, GError ** error)
{
  const gint cond_dim = t2i_stylegan2_d_get_config (d)->cond_dim;
  g_autoptr (T2iTensor) logits = NULL;
  g_autoptr (T2iTensor) fs = NULL;

  if (!t2i_stylegan2_d_forward (d, img, &logits, cond_dim > 0 ? &fs : NULL,
          error)) {
    g_prefix_error (error, "%s=%s: ", kind, t2i_config_string (config,
            kind));
    return FALSE;
  }
  g_autofree char *logit_name = d_entry (config, kind);
  if (cond_dim == 0)
    return t2i_record_set_tensor (record, logit_name, logits, error);

  if (t2i_config_boolean (config, "normalize-features")) {
    T2iTensor *nf = t2i_l2_normalize (fs, 1, 1e-12);
    t2i_tensor_unref (fs);
    fs = nf;
  }
  g_autoptr (T2iTensor) dl = cond_logits (t2i_config_string (config,
          "cond-logit"), logits, fs, h);
  g_autofree char *what = g_strconcat (kind, "_fs", NULL);
  g_autofree char *fs_name = d_entry (config, what);
  return t2i_record_set_tensor (record, logit_name, dl, error)
      && t2i_record_set_tensor (record, fs_name, fs, error);
}

static gboolean
d_forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  T2iStyleGan2D *d = net;
  const GstStructure *config = ctx->config;
  const gint cond_dim = t2i_stylegan2_d_get_config (d)->cond_dim;
  T2iTensor *h = NULL;

  if (cond_dim > 0) {
    const char *cond = t2i_config_string (config, "cond");
    h = t2i_record_get_tensor (record, cond);
    if (!h || h->ndim != 2 || h->dtype != T2I_F32 || h->shape[1] != cond_dim) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "cond=%s must be f32 [N,%d] in every record", cond, cond_dim);
      return FALSE;
    }
  }
  static const char *const kinds[2] = { "real", "fake" };
  for (gint i = 0; i < 2; i++) {
    if (!has (config, kinds[i]))
      continue;
    const char *name = t2i_config_string (config, kinds[i]);
    T2iTensor *img = t2i_record_get_tensor (record, name);
    if (!img) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
          "%s=%s: the record has no such tensor", kinds[i], name);
      return FALSE;
    }
    g_autoptr (T2iTensor) x = i == 0 && ctx->training
        && t2i_config_boolean (config, "real-requires-grad") ?
        real_leaf (record, name, img, error) : t2i_tensor_ref (img);
    if (!x || !score (d, config, record, kinds[i], x, h, error))
      return FALSE;
  }
  return TRUE;
}

const T2iArch t2i_arch_stylegan2_d = {
  "stylegan2", T2I_ROLE_DISCRIMINATOR,
  "StyleGAN2 residual discriminator with LAFITE's semantic head",
  d_options, "b4.out.weight",
  NULL, NULL, d_negotiate, d_build, NULL, d_forward,
  (void (*)(gpointer)) t2i_stylegan2_d_free,
};
