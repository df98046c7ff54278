/* DiST-GAN's language-to-vision module T (eq. 1): the per-token text
 * embeddings v_w of a caption to one vector v_m in the image-embedding
 * space (arch=transformer and arch=mlp for t2il2v).
 *
 * The paper does not fix T.  arch=transformer (default) is a small pre-LN
 * transformer over the tokens:
 *
 *   x = in_proj(v_w)                          Linear(token dim -> width)
 *   x = blocks(x)                             CLIP's residual blocks, causal
 *   v_m = proj(mean over real tokens of ln_final(x))   Linear(width -> E)
 *
 * Causal attention, as in CLIP's text tower that produced v_w: a token
 * never attends to later ones, so the padding after the end token cannot
 * reach the real tokens and the masked mean over them is exactly the
 * caption's (no key-padding mask needed), and only the positions up to
 * the batch's longest caption are computed.  arch=mlp is the cheap
 * baseline: the masked mean of v_w through a ReLU MLP.
 *
 * Parameters: in_proj.{weight,bias}, blocks.<i>.{ln_1,attn,ln_2,mlp.c_fc,
 * mlp.c_proj}.*, ln_final.*, proj.{weight,bias} (transformer);
 * fc<i>.{weight,bias} (mlp).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

#include <string.h>

#define MAX_LAYERS 32

static const T2iOption transformer_options[] = {
  T2I_OPTION_ENTRY ("input", "tokens", 0,
      "Per-token text embeddings v_w, f32 [N, L, D] (t2itextencoder "
      "token-features=)"),
  T2I_OPTION_ENTRY ("mask", "tokens_mask", 0,
      "Mask of the real tokens, f32 [N, L] (t2itextencoder token-mask=)"),
  T2I_OPTION_ENTRY ("output", "v_m", 0, "The intermediate embedding v_m, "
      "f32 [N, embed-dim]"),
  T2I_OPTION_INT ("embed-dim", 512, 1, 65536, T2I_OPTION_MODEL,
      "Size of v_m: the image encoder's embedding size"),
  T2I_OPTION_INT ("width", 256, 8, 8192, T2I_OPTION_MODEL,
      "Width of the hidden layers"),
  T2I_OPTION_INT ("layers", 2, 1, MAX_LAYERS, T2I_OPTION_MODEL,
      "Transformer blocks (transformer) or hidden layers (mlp)"),
  T2I_OPTION_INT ("heads", 0, 0, 256, T2I_OPTION_MODEL,
      "Attention heads (0: width / 64)"),
  T2I_OPTION_INT ("token-dim", 0, 0, 65536, T2I_OPTION_MODEL,
      "Size of the token embeddings (0: the input's)"),
  {NULL}
};

static const T2iOption mlp_options[] = {
  T2I_OPTION_ENTRY ("input", "tokens", 0,
      "Per-token text embeddings v_w, f32 [N, L, D]"),
  T2I_OPTION_ENTRY ("mask", "tokens_mask", 0,
      "Mask of the real tokens, f32 [N, L]"),
  T2I_OPTION_ENTRY ("output", "v_m", 0, "The intermediate embedding v_m, "
      "f32 [N, embed-dim]"),
  T2I_OPTION_INT ("embed-dim", 512, 1, 65536, T2I_OPTION_MODEL,
      "Size of v_m: the image encoder's embedding size"),
  T2I_OPTION_INT ("width", 256, 8, 8192, T2I_OPTION_MODEL,
      "Width of the hidden layers"),
  T2I_OPTION_INT ("layers", 2, 1, MAX_LAYERS, T2I_OPTION_MODEL,
      "Transformer blocks (transformer) or hidden layers (mlp)"),
  T2I_OPTION_INT ("token-dim", 0, 0, 65536, T2I_OPTION_MODEL,
      "Size of the token embeddings (0: the input's)"),
  {NULL}
};

typedef struct
{
  gboolean mlp;
  gint layers;
  T2iNnLinear in_proj;          /* transformer; mlp: fc[0] */
  T2iNnResidualBlock blocks[MAX_LAYERS];
  T2iNnLayerNorm ln_final;
  T2iNnLinear proj;
  T2iNnLinear fc[MAX_LAYERS + 1];
} L2v;

/* checks input= [N, L, D] and mask= [N, L]; *token_dim gets D */
static gboolean
check (const GstStructure * config, const GstStructure * in, gint64 * n,
    gint * token_dim, GError ** error)
{
  const char *input = t2i_config_string (config, "input");
  const char *mask = t2i_config_string (config, "mask");
  gint64 s[T2I_MAX_DIMS], ms[T2I_MAX_DIMS];

  if (!t2i_caps_require (in, input, "f32", 3, NULL, error)) {
    g_prefix_error (error, "input=%s: ", input);
    return FALSE;
  }
  t2i_caps_get_entry (in, input, NULL, NULL, s);
  gint64 want[2] = { s[0], s[1] };
  if (!t2i_caps_require (in, mask, "f32", 2, want, error)) {
    g_prefix_error (error, "mask=%s (one value per token of input=%s): ",
        mask, input);
    return FALSE;
  }
  t2i_caps_get_entry (in, mask, NULL, NULL, ms);
  const gint d = t2i_config_int (config, "token-dim");
  if (d > 0 && s[2] != d) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s has %" G_GINT64_FORMAT " features per token but the "
        "model takes token-dim=%d", input, s[2], d);
    return FALSE;
  }
  *n = s[0];
  *token_dim = (gint) s[2];
  return TRUE;
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 n;
  gint d;
  if (!check (config, in, &n, &d, error))
    return FALSE;
  gint64 shape[2] = { n, t2i_config_int (config, "embed-dim") };
  t2i_caps_set_entry (out, t2i_config_string (config, "output"), "f32", 2,
      shape);
  return TRUE;
}

static gpointer
build_net (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, gboolean mlp, GError ** error)
{
  gint64 n;
  gint d;
  if (!check (config, in, &n, &d, error))
    return NULL;
  t2i_config_set_int (config, "token-dim", d);
  const gint width = t2i_config_int (config, "width");
  const gint embed = t2i_config_int (config, "embed-dim");
  L2v *m = g_new0 (L2v, 1);
  m->mlp = mlp;
  m->layers = t2i_config_int (config, "layers");
  if (mlp) {
    for (gint i = 0; i <= m->layers; i++) {
      g_autofree char *name = g_strdup_printf ("fc%d", i);
      t2i_nn_linear_init (&m->fc[i], ctx->params, name, i ? width : d,
          i == m->layers ? embed : width, TRUE, ctx->init_rng);
    }
    return m;
  }
  gint heads = t2i_config_int (config, "heads");
  if (heads == 0)
    heads = MAX (width / 64, 1);
  if (width % heads) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "width=%d is not a multiple of heads=%d", width, heads);
    g_free (m);
    return NULL;
  }
  t2i_config_set_int (config, "heads", heads);
  t2i_nn_linear_init (&m->in_proj, ctx->params, "in_proj", d, width, TRUE,
      ctx->init_rng);
  for (gint i = 0; i < m->layers; i++) {
    g_autofree char *name = g_strdup_printf ("blocks.%d", i);
    t2i_nn_residual_block_init (&m->blocks[i], ctx->params, name, width,
        heads, 4, ctx->init_rng);
  }
  t2i_nn_layer_norm_init (&m->ln_final, ctx->params, "ln_final", width);
  t2i_nn_linear_init (&m->proj, ctx->params, "proj", width, embed, TRUE,
      ctx->init_rng);
  return m;
}

static gpointer
build_transformer (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  return build_net (config, in, ctx, FALSE, error);
}

static gpointer
build_mlp (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  return build_net (config, in, ctx, TRUE, error);
}

/* sum over tokens of x [N, L, C] * mask [N, L] / the mask's sum */
static T2iTensor *
masked_mean (T2iTensor * x, T2iTensor * mask)
{
  const gint64 n = mask->shape[0], l = mask->shape[1];
  g_autoptr (T2iTensor) m3 = t2i_reshape (mask, T2I_SHAPE (n, l, 1));
  g_autoptr (T2iTensor) xm = t2i_mul (x, m3);
  g_autoptr (T2iTensor) sum = t2i_sum (xm, 1, FALSE);
  g_autoptr (T2iTensor) count = t2i_sum (mask, 1, TRUE);
  g_autoptr (T2iTensor) safe = t2i_clamp (count, 1.0, G_MAXDOUBLE);
  return t2i_div (sum, safe);
}

/* the positions up to the batch's last real token */
static gint64
used_length (T2iTensor * mask)
{
  const gint64 n = mask->shape[0], l = mask->shape[1];
  /* it decides a shape: read on the host */
  g_autoptr (T2iTensor) mh = t2i_tensor_to_device (mask, T2I_DEVICE_CPU, NULL);
  gint64 used = 1;
  for (gint64 i = 0; i < n; i++)
    for (gint64 j = l - 1; j >= used; j--)
      if (t2i_tensor_get (mh, i * l + j) != 0.0) {
        used = j + 1;
        break;
      }
  return used;
}

static gboolean
forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  L2v *m = net;
  const char *input = t2i_config_string (ctx->config, "input");
  const char *mask_name = t2i_config_string (ctx->config, "mask");
  T2iTensor *v = t2i_record_get_tensor (record, input);
  T2iTensor *mask = t2i_record_get_tensor (record, mask_name);
  if (!v || !mask || v->ndim != 3 || mask->ndim != 2
      || mask->shape[0] != v->shape[0] || mask->shape[1] != v->shape[1]) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "needs input=%s [N, L, D] and mask=%s [N, L] (the record has: %s)",
        input, mask_name, has);
    return FALSE;
  }
  const gint64 l = used_length (mask);
  g_autoptr (T2iTensor) x = t2i_slice (v, 1, 0, l);
  g_autoptr (T2iTensor) mk = t2i_slice (mask, 1, 0, l);
  g_autoptr (T2iTensor) out = NULL;

  if (m->mlp) {
    T2iTensor *h = masked_mean (x, mk);
    for (gint i = 0; i <= m->layers; i++) {
      T2iTensor *y = t2i_nn_linear (&m->fc[i], h);
      t2i_tensor_unref (h);
      h = y;
      if (i < m->layers) {
        y = t2i_relu (h);
        t2i_tensor_unref (h);
        h = y;
      }
    }
    out = h;
  } else {
    T2iTensor *h = t2i_nn_linear (&m->in_proj, x);
    for (gint i = 0; i < m->layers; i++) {
      T2iTensor *y = t2i_nn_residual_block (&m->blocks[i], h, TRUE);
      t2i_tensor_unref (h);
      h = y;
    }
    g_autoptr (T2iTensor) hn = t2i_nn_layer_norm (&m->ln_final, h);
    t2i_tensor_unref (h);
    g_autoptr (T2iTensor) pooled = masked_mean (hn, mk);
    out = t2i_nn_linear (&m->proj, pooled);
  }
  return t2i_record_set_tensor (record, t2i_config_string (ctx->config,
          "output"), out, error);
}

const T2iArch t2i_arch_l2v_transformer = {
  "transformer", T2I_ROLE_L2V,
  "Pre-LN causal transformer over the token embeddings, masked mean "
      "pooling, projection (DiST-GAN's L2V module)",
  transformer_options, "proj.weight",
  NULL, NULL, negotiate, build_transformer, NULL, forward, g_free,
};

const T2iArch t2i_arch_l2v_mlp = {
  "mlp", T2I_ROLE_L2V,
  "Masked mean of the token embeddings through a ReLU MLP",
  mlp_options, "fc0.weight",
  NULL, NULL, negotiate, build_mlp, NULL, forward, g_free,
};
