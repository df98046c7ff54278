/* CLIP: OpenAI's text transformer and ViT, and our CNN image encoder (see
 * t2i/clip.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "models-private.h"
#include "t2i/clip.h"

#include <math.h>
#include <string.h>

#define CNN_GROUPS 8
#define CNN_EPS 1e-5
#define DEFAULT_CNN_IMAGE_SIZE 64

/* a conv3x3 (no bias) + GroupNorm block of the CNN encoder */
typedef struct
{
  T2iTensor *conv;
  T2iTensor *norm_weight, *norm_bias;
  gint stride;
} CnnBlock;

struct _T2iClip
{
  T2iClipConfig cfg;
  T2iParamGroup *group;
  gsize skip;                   /* module prefix length, with the dot */
  gint image_size;

  /* text tower */
  T2iNnEmbedding token_embedding;
  T2iTensor *positional_embedding;
  T2iNnResidualBlock *text_blocks;
  T2iNnLayerNorm ln_final;
  T2iTensor *text_projection;
  guint text_range[2];

  /* ViT */
  T2iTensor *conv1;
  T2iTensor *class_embedding, *vision_positional_embedding;
  T2iNnLayerNorm ln_pre, ln_post;
  T2iNnResidualBlock *vision_blocks;
  T2iTensor *proj;

  /* CNN */
  CnnBlock stem;
  CnnBlock *cnn_blocks;         /* n_stages * depth, stage-major */
  T2iNnLinear head;

  guint vision_range[2];
  T2iTensor *logit_scale;
  guint logit_index;
};

/* ---- configs ---- */

void
t2i_clip_config_init_vit_b32 (T2iClipConfig * cfg)
{
  memset (cfg, 0, sizeof (*cfg));
  cfg->embed_dim = 512;
  cfg->context_length = 77;
  cfg->vocab_size = 49408;
  cfg->text_width = 512;
  cfg->text_heads = 8;
  cfg->text_layers = 12;
  cfg->vision = T2I_CLIP_VISION_VIT;
  cfg->image_size = 224;
  cfg->vision_width = 768;
  cfg->vision_heads = 12;
  cfg->vision_layers = 12;
  cfg->patch_size = 32;
}

void
t2i_clip_config_init_small (T2iClipConfig * cfg, gint image_size,
    gint vocab_size)
{
  memset (cfg, 0, sizeof (*cfg));
  cfg->embed_dim = 256;
  cfg->context_length = 77;
  cfg->vocab_size = vocab_size;
  cfg->text_width = 256;
  cfg->text_heads = 4;
  cfg->text_layers = 4;
  cfg->vision = T2I_CLIP_VISION_CNN;
  cfg->image_size = image_size;
  cfg->cnn_stem = 32;
  cfg->cnn_n_stages = 3;
  cfg->cnn_widths[0] = 64;
  cfg->cnn_widths[1] = 128;
  cfg->cnn_widths[2] = 256;
  cfg->cnn_depth = 1;
}

static gboolean
config_error (GError ** error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
config_error (GError ** error, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
      "CLIP config: %s", msg);
  return FALSE;
}

gboolean
t2i_clip_config_validate (const T2iClipConfig * c, GError ** error)
{
  g_return_val_if_fail (c != NULL, FALSE);
  if (c->text_width <= 0 && c->vision == T2I_CLIP_VISION_NONE)
    return config_error (error, "no tower (text_width 0 and no vision)");
  if (c->embed_dim <= 0)
    return config_error (error, "embed_dim %d", c->embed_dim);
  if (c->text_width > 0) {
    if (c->context_length <= 0 || c->vocab_size <= 0 || c->text_layers < 0)
      return config_error (error, "text context %d, vocabulary %d, layers %d",
          c->context_length, c->vocab_size, c->text_layers);
    if (c->text_heads <= 0 || c->text_width % c->text_heads != 0)
      return config_error (error, "text width %d with %d heads",
          c->text_width, c->text_heads);
  }
  if (c->vision != T2I_CLIP_VISION_NONE && c->image_size <= 0)
    return config_error (error, "image size %d", c->image_size);
  if (c->vision == T2I_CLIP_VISION_VIT) {
    if (c->vision_width <= 0 || c->vision_layers < 0 || c->vision_heads <= 0
        || c->vision_width % c->vision_heads != 0)
      return config_error (error, "ViT width %d, heads %d, layers %d",
          c->vision_width, c->vision_heads, c->vision_layers);
    if (c->patch_size <= 0 || c->image_size % c->patch_size != 0)
      return config_error (error, "image size %d is not a multiple of the "
          "patch size %d", c->image_size, c->patch_size);
  } else if (c->vision == T2I_CLIP_VISION_CNN) {
    if (c->cnn_n_stages < 1 || c->cnn_n_stages > T2I_CLIP_CNN_MAX_STAGES
        || c->cnn_depth < 1)
      return config_error (error, "CNN with %d stages of depth %d",
          c->cnn_n_stages, c->cnn_depth);
    if (c->cnn_stem <= 0 || c->cnn_stem % CNN_GROUPS != 0)
      return config_error (error, "CNN stem width %d is not a positive "
          "multiple of %d", c->cnn_stem, CNN_GROUPS);
    for (gint s = 0; s < c->cnn_n_stages; s++)
      if (c->cnn_widths[s] <= 0 || c->cnn_widths[s] % CNN_GROUPS != 0)
        return config_error (error, "CNN stage %d width %d is not a positive "
            "multiple of %d", s, c->cnn_widths[s], CNN_GROUPS);
  } else if (c->vision != T2I_CLIP_VISION_NONE) {
    return config_error (error, "unknown vision kind %d", c->vision);
  }
  return TRUE;
}

/* ---- inferring a config from a file ---- */

static gboolean
st_shape (T2iSafetensors * st, const char *prefix, const char *name,
    gint * ndim, gint64 * shape)
{
  g_autofree char *key = g_strconcat (prefix, name, NULL);
  return t2i_safetensors_get_info (st, key, NULL, ndim, shape, NULL);
}

/* the number of distinct integers i in names "<prefix><stem><i>.<...>" */
static gint
count_indices (T2iSafetensors * st, const char *prefix, const char *stem)
{
  g_autofree char *full = g_strconcat (prefix, stem, NULL);
  gsize len = strlen (full);
  GHashTable *seen = g_hash_table_new (g_direct_hash, g_direct_equal);

  for (const char *const *nm = t2i_safetensors_names (st); *nm; nm++) {
    if (strncmp (*nm, full, len) != 0 || !g_ascii_isdigit ((*nm)[len]))
      continue;
    char *end;
    guint64 v = g_ascii_strtoull (*nm + len, &end, 10);
    if (*end == '.' && v < G_MAXINT)
      g_hash_table_add (seen, GINT_TO_POINTER ((gint) v + 1));
  }
  gint n = (gint) g_hash_table_size (seen);
  g_hash_table_unref (seen);
  return n;
}

static gboolean
has_prefixed (T2iSafetensors * st, const char *prefix, const char *stem)
{
  g_autofree char *full = g_strconcat (prefix, stem, NULL);
  gsize len = strlen (full);
  for (const char *const *nm = t2i_safetensors_names (st); *nm; nm++)
    if (strncmp (*nm, full, len) == 0)
      return TRUE;
  return FALSE;
}

/* heads from metadata @key, else width / 64 as build_model() */
static gboolean
infer_heads (T2iSafetensors * st, const char *key, gint width,
    const char *tower, gint * heads, GError ** error)
{
  const char *meta = t2i_safetensors_get_metadata (st, key);
  if (meta) {
    gint64 v = g_ascii_strtoll (meta, NULL, 10);
    if (v <= 0 || v > width || width % v != 0)
      return config_error (error, "%s: metadata %s = \"%s\" does not divide "
          "the %s width %d", t2i_safetensors_get_path (st), key, meta, tower,
          width);
    *heads = (gint) v;
    return TRUE;
  }
  *heads = width / 64;
  if (*heads == 0)
    return config_error (error, "%s: the %s width %d is below 64, so the "
        "number of heads (width / 64) cannot be inferred; set the metadata "
        "entry %s", t2i_safetensors_get_path (st), tower, width, key);
  return TRUE;
}

static gboolean
shape_error (GError ** error, T2iSafetensors * st, const char *prefix,
    const char *name, const char *expected)
{
  g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
      "%s: \"%s%s\" should be %s", t2i_safetensors_get_path (st), prefix,
      name, expected);
  return FALSE;
}

static gboolean
infer_text (T2iSafetensors * st, const char *p, T2iClipConfig * cfg,
    gint * embed, GError ** error)
{
  gint nd;
  gint64 sh[T2I_MAX_DIMS];

  if (!st_shape (st, p, "ln_final.weight", &nd, sh) || nd != 1)
    return shape_error (error, st, p, "ln_final.weight", "present, [width]");
  cfg->text_width = (gint) sh[0];
  if (!st_shape (st, p, "token_embedding.weight", &nd, sh) || nd != 2)
    return shape_error (error, st, p, "token_embedding.weight",
        "[vocab, width]");
  cfg->vocab_size = (gint) sh[0];
  if (!st_shape (st, p, "positional_embedding", &nd, sh) || nd != 2)
    return shape_error (error, st, p, "positional_embedding",
        "[context, width]");
  cfg->context_length = (gint) sh[0];
  if (!st_shape (st, p, "text_projection", &nd, sh) || nd != 2)
    return shape_error (error, st, p, "text_projection", "[width, embed]");
  *embed = (gint) sh[1];
  cfg->text_layers = count_indices (st, p, "transformer.resblocks.");
  return infer_heads (st, "t2i.clip.text_heads", cfg->text_width, "text",
      &cfg->text_heads, error);
}

static gboolean
infer_vit (T2iSafetensors * st, const char *p, T2iClipConfig * cfg,
    gint * embed, GError ** error)
{
  gint nd;
  gint64 sh[T2I_MAX_DIMS];

  cfg->vision = T2I_CLIP_VISION_VIT;
  if (!st_shape (st, p, "visual.conv1.weight", &nd, sh) || nd != 4
      || sh[1] != 3 || sh[2] != sh[3])
    return shape_error (error, st, p, "visual.conv1.weight",
        "[width, 3, patch, patch]");
  cfg->vision_width = (gint) sh[0];
  cfg->patch_size = (gint) sh[3];
  if (!st_shape (st, p, "visual.positional_embedding", &nd, sh) || nd != 2)
    return shape_error (error, st, p, "visual.positional_embedding",
        "[grid^2 + 1, width]");
  gint grid = (gint) lround (sqrt ((double) (sh[0] - 1)));
  if ((gint64) grid * grid + 1 != sh[0])
    return shape_error (error, st, p, "visual.positional_embedding",
        "[grid^2 + 1, width]");
  cfg->image_size = grid * cfg->patch_size;
  if (!st_shape (st, p, "visual.proj", &nd, sh) || nd != 2)
    return shape_error (error, st, p, "visual.proj", "[width, embed]");
  *embed = (gint) sh[1];
  cfg->vision_layers = count_indices (st, p, "visual.transformer.resblocks.");
  return infer_heads (st, "t2i.clip.vision_heads", cfg->vision_width,
      "vision", &cfg->vision_heads, error);
}

static gboolean
infer_cnn (T2iSafetensors * st, const char *p, T2iClipConfig * cfg,
    gint * embed, GError ** error)
{
  gint nd;
  gint64 sh[T2I_MAX_DIMS];

  cfg->vision = T2I_CLIP_VISION_CNN;
  if (!st_shape (st, p, "visual.stem.conv.weight", &nd, sh) || nd != 4)
    return shape_error (error, st, p, "visual.stem.conv.weight",
        "[stem, 3, 3, 3]");
  cfg->cnn_stem = (gint) sh[0];
  cfg->cnn_n_stages = count_indices (st, p, "visual.stages.");
  cfg->cnn_depth = count_indices (st, p, "visual.stages.0.");
  if (cfg->cnn_n_stages < 1 || cfg->cnn_n_stages > T2I_CLIP_CNN_MAX_STAGES)
    return config_error (error, "%s: %d CNN stages (1 to %d supported)",
        t2i_safetensors_get_path (st), cfg->cnn_n_stages,
        T2I_CLIP_CNN_MAX_STAGES);
  for (gint s = 0; s < cfg->cnn_n_stages; s++) {
    g_autofree char *name = g_strdup_printf ("visual.stages.%d.0.conv.weight",
        s);
    if (!st_shape (st, p, name, &nd, sh) || nd != 4)
      return shape_error (error, st, p, name, "[width, in, 3, 3]");
    cfg->cnn_widths[s] = (gint) sh[0];
  }
  if (!st_shape (st, p, "visual.head.weight", &nd, sh) || nd != 2)
    return shape_error (error, st, p, "visual.head.weight", "[embed, width]");
  *embed = (gint) sh[0];
  cfg->image_size = DEFAULT_CNN_IMAGE_SIZE;
  const char *meta = t2i_safetensors_get_metadata (st, "t2i.clip.image_size");
  if (meta) {
    gint64 v = g_ascii_strtoll (meta, NULL, 10);
    if (v <= 0 || v > 65536)
      return config_error (error, "%s: metadata t2i.clip.image_size = \"%s\"",
          t2i_safetensors_get_path (st), meta);
    cfg->image_size = (gint) v;
  }
  return TRUE;
}

gboolean
t2i_clip_config_from_safetensors (T2iSafetensors * st, const char *prefix,
    T2iClipTowers towers, T2iClipConfig * cfg, GError ** error)
{
  const char *p = prefix ? prefix : "";
  gint text_embed = 0, vision_embed = 0;

  g_return_val_if_fail (st != NULL && cfg != NULL, FALSE);
  memset (cfg, 0, sizeof (*cfg));

  g_autofree char *tok = g_strconcat (p, "token_embedding.weight", NULL);
  g_autofree char *vproj = g_strconcat (p, "visual.proj", NULL);
  g_autofree char *stem = g_strconcat (p, "visual.stem.conv.weight", NULL);
  gboolean has_text = t2i_safetensors_has (st, tok);
  gboolean has_vit = t2i_safetensors_has (st, vproj);
  gboolean has_cnn = t2i_safetensors_has (st, stem);
  gboolean has_resnet = has_prefixed (st, p, "visual.layer1.");
  gboolean want_text = towers == T2I_CLIP_TOWERS_PRESENT ? has_text
      : (towers & T2I_CLIP_TEXT) != 0;
  gboolean want_vision = towers == T2I_CLIP_TOWERS_PRESENT
      ? (has_vit || has_cnn || has_resnet) : (towers & T2I_CLIP_VISION) != 0;

  if (want_vision && !has_vit && !has_cnn && has_resnet) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_UNSUPPORTED,
        "%s: CLIP with a ResNet image encoder (\"%svisual.layer1.*\") is not "
        "supported; use a ViT model", t2i_safetensors_get_path (st), p);
    return FALSE;
  }
  if (!want_text && !want_vision) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
        "%s: no CLIP tower under prefix \"%s\" (looked for \"%s\", "
        "\"%s\" and \"%s\")", t2i_safetensors_get_path (st), p, tok,
        vproj, stem);
    return FALSE;
  }
  if (want_text && !has_text) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
        "%s: no CLIP text tower under prefix \"%s\" (no \"%s\")",
        t2i_safetensors_get_path (st), p, tok);
    return FALSE;
  }
  if (want_vision && !has_vit && !has_cnn) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
        "%s: no CLIP image tower under prefix \"%s\" (neither \"%s\" nor "
        "\"%s\")", t2i_safetensors_get_path (st), p, vproj, stem);
    return FALSE;
  }
  if (want_text && !infer_text (st, p, cfg, &text_embed, error))
    return FALSE;
  if (want_vision && !(has_vit ? infer_vit (st, p, cfg, &vision_embed, error)
          : infer_cnn (st, p, cfg, &vision_embed, error)))
    return FALSE;
  if (want_text && want_vision && text_embed != vision_embed)
    return config_error (error, "%s: the text projection gives %d features, "
        "the image tower %d", t2i_safetensors_get_path (st), text_embed,
        vision_embed);
  cfg->embed_dim = want_text ? text_embed : vision_embed;
  return t2i_clip_config_validate (cfg, error);
}

/* ---- construction ---- */

/* N(0, std), or zeros without @rng (weights about to be loaded) */
static T2iTensor *
normal (gint ndim, const gint64 * shape, double std, T2iRng * rng)
{
  T2iTensor *t = t2i_tensor_zeros (T2I_F32, ndim, shape);
  if (rng)
    t2i_rng_fill_normal (rng, t, 0.0, std);
  return t;
}

static void
refill_normal (T2iTensor * t, double std, T2iRng * rng)
{
  if (rng)
    t2i_rng_fill_normal (rng, t, 0.0, std);
}

/* @rng: NULL skips OpenAI's draws; @nn_rng: for the nn blocks' defaults */
static void
build_text (T2iClip * m, const char *prefix, T2iRng * rng, T2iRng * nn_rng)
{
  const T2iClipConfig *c = &m->cfg;
  gint64 w = c->text_width;
  double proj_std = pow (w, -0.5) * pow (2.0 * MAX (c->text_layers, 1), -0.5);
  double attn_std = pow (w, -0.5), fc_std = pow (2.0 * w, -0.5);

  m->text_range[0] = t2i_param_group_n_params (m->group);
  m->token_embedding.weight = t2i_model_add (m->group, prefix,
      "token_embedding.weight", normal (T2I_SHAPE (c->vocab_size, w), 0.02,
          rng), TRUE);
  m->positional_embedding = t2i_model_add (m->group, prefix,
      "positional_embedding", normal (T2I_SHAPE (c->context_length, w), 0.01,
          rng), TRUE);
  m->text_blocks = g_new0 (T2iNnResidualBlock, MAX (c->text_layers, 1));
  for (gint i = 0; i < c->text_layers; i++) {
    T2iNnResidualBlock *b = &m->text_blocks[i];
    g_autofree char *bp = t2i_model_joinf (prefix, "transformer.resblocks.%d",
        i);
    t2i_nn_residual_block_init (b, m->group, bp, w, c->text_heads, 4, nn_rng);
    refill_normal (b->attn.in_proj_weight, attn_std, rng);
    refill_normal (b->attn.out_proj.weight, proj_std, rng);
    refill_normal (b->c_fc.weight, fc_std, rng);
    refill_normal (b->c_proj.weight, proj_std, rng);
  }
  g_autofree char *lnf = t2i_model_join (prefix, "ln_final");
  t2i_nn_layer_norm_init (&m->ln_final, m->group, lnf, w);
  m->text_projection = t2i_model_add (m->group, prefix, "text_projection",
      normal (T2I_SHAPE (w, c->embed_dim), pow (w, -0.5), rng), TRUE);
  m->text_range[1] = t2i_param_group_n_params (m->group);
}

static void
build_vit (T2iClip * m, const char *prefix, T2iRng * rng, T2iRng * nn_rng)
{
  const T2iClipConfig *c = &m->cfg;
  gint64 w = c->vision_width, grid = c->image_size / c->patch_size;
  double scale = pow (w, -0.5);
  T2iNnConv2d conv;

  g_autofree char *cp = t2i_model_join (prefix, "visual.conv1");
  t2i_nn_conv2d_init (&conv, m->group, cp, 3, w, c->patch_size,
      c->patch_size, 0, FALSE, nn_rng);
  m->conv1 = conv.weight;
  m->class_embedding = t2i_model_add (m->group, prefix,
      "visual.class_embedding", normal (T2I_SHAPE (w), scale, rng), TRUE);
  m->vision_positional_embedding = t2i_model_add (m->group, prefix,
      "visual.positional_embedding", normal (T2I_SHAPE (grid * grid + 1, w),
          scale, rng), TRUE);
  g_autofree char *lpre = t2i_model_join (prefix, "visual.ln_pre");
  t2i_nn_layer_norm_init (&m->ln_pre, m->group, lpre, w);
  m->vision_blocks = g_new0 (T2iNnResidualBlock, MAX (c->vision_layers, 1));
  for (gint i = 0; i < c->vision_layers; i++) {
    g_autofree char *bp = t2i_model_joinf (prefix,
        "visual.transformer.resblocks.%d", i);
    t2i_nn_residual_block_init (&m->vision_blocks[i], m->group, bp, w,
        c->vision_heads, 4, nn_rng);
  }
  g_autofree char *lpost = t2i_model_join (prefix, "visual.ln_post");
  t2i_nn_layer_norm_init (&m->ln_post, m->group, lpost, w);
  m->proj = t2i_model_add (m->group, prefix, "visual.proj",
      normal (T2I_SHAPE (w, c->embed_dim), scale, rng), TRUE);
}

static void
cnn_block_init (CnnBlock * b, T2iParamGroup * group, const char *name,
    gint64 in, gint64 out, gint stride, T2iRng * rng)
{
  T2iNnConv2d conv;
  g_autofree char *cn = t2i_model_join (name, "conv");
  g_autofree char *nn = t2i_model_join (name, "norm");
  t2i_nn_conv2d_init (&conv, group, cn, in, out, 3, stride, 1, FALSE, rng);
  b->conv = conv.weight;
  b->stride = stride;
  b->norm_weight = t2i_model_add (group, nn, "weight",
      t2i_tensor_full (T2I_F32, T2I_SHAPE (out), 1.0), TRUE);
  b->norm_bias = t2i_model_add (group, nn, "bias",
      t2i_tensor_zeros (T2I_F32, T2I_SHAPE (out)), TRUE);
}

static void
build_cnn (T2iClip * m, const char *prefix, T2iRng * rng)
{
  const T2iClipConfig *c = &m->cfg;
  gint64 in = c->cnn_stem;

  g_autofree char *sp = t2i_model_join (prefix, "visual.stem");
  cnn_block_init (&m->stem, m->group, sp, 3, c->cnn_stem, 1, rng);
  m->cnn_blocks = g_new0 (CnnBlock, c->cnn_n_stages * c->cnn_depth);
  for (gint s = 0; s < c->cnn_n_stages; s++) {
    for (gint b = 0; b < c->cnn_depth; b++) {
      g_autofree char *bp = t2i_model_joinf (prefix, "visual.stages.%d.%d",
          s, b);
      cnn_block_init (&m->cnn_blocks[s * c->cnn_depth + b], m->group, bp,
          b == 0 ? in : c->cnn_widths[s], c->cnn_widths[s], b == 0 ? 2 : 1,
          rng);
    }
    in = c->cnn_widths[s];
  }
  g_autofree char *hp = t2i_model_join (prefix, "visual.head");
  t2i_nn_linear_init (&m->head, m->group, hp, in, c->embed_dim, TRUE, rng);
}

T2iClip *
t2i_clip_new (const T2iClipConfig * cfg, T2iParamGroup * group,
    const char *prefix, T2iRng * rng)
{
  g_autoptr (GError) err = NULL;

  g_return_val_if_fail (cfg != NULL, NULL);
  if (!t2i_clip_config_validate (cfg, &err)) {
    g_critical ("t2i_clip_new: %s", err->message);
    return NULL;
  }

  T2iClip *m = g_new0 (T2iClip, 1);
  m->cfg = *cfg;
  m->image_size = cfg->image_size;
  m->group = group ? t2i_param_group_ref (group) : t2i_param_group_new ("");
  m->skip = t2i_model_prefix_len (prefix);

  /* without @rng, the nn blocks still get their (cheap, uniform) defaults
   * from a fixed generator; the model's own draws are skipped */
  T2iRng fixed;
  t2i_rng_init (&fixed, 0);
  T2iRng *nn_rng = rng ? rng : &fixed;

  if (cfg->text_width > 0)
    build_text (m, prefix, rng, nn_rng);
  m->vision_range[0] = t2i_param_group_n_params (m->group);
  if (cfg->vision == T2I_CLIP_VISION_VIT)
    build_vit (m, prefix, rng, nn_rng);
  else if (cfg->vision == T2I_CLIP_VISION_CNN)
    build_cnn (m, prefix, nn_rng);
  m->vision_range[1] = t2i_param_group_n_params (m->group);
  m->logit_index = t2i_param_group_n_params (m->group);
  m->logit_scale = t2i_model_add (m->group, prefix, "logit_scale",
      t2i_tensor_scalar (T2I_F32, log (1.0 / 0.07)), TRUE);
  return m;
}

void
t2i_clip_free (T2iClip * m)
{
  if (!m)
    return;
  g_free (m->text_blocks);
  g_free (m->vision_blocks);
  g_free (m->cnn_blocks);
  t2i_param_group_unref (m->group);
  g_free (m);
}

gboolean
t2i_clip_load (T2iClip * m, T2iSafetensors * st, const char *prefix,
    GError ** error)
{
  guint ranges[4];
  guint n = 0;
  const char *what;

  g_return_val_if_fail (m != NULL && st != NULL, FALSE);
  if (m->cfg.text_width > 0) {
    ranges[2 * n] = m->text_range[0];
    ranges[2 * n + 1] = m->text_range[1];
    n++;
  }
  if (m->cfg.vision != T2I_CLIP_VISION_NONE) {
    ranges[2 * n] = m->vision_range[0];
    ranges[2 * n + 1] = m->vision_range[1];
    n++;
  }
  what = m->cfg.vision == T2I_CLIP_VISION_NONE ? "the CLIP text tower"
      : m->cfg.text_width <= 0 ? "the CLIP image tower" : "CLIP";
  if (!t2i_model_load_ranges (m->group, m->skip, ranges, n, st, prefix, what,
          error))
    return FALSE;

  /* logit_scale: optional (single-tower files usually lack it) */
  T2iParam *lp = t2i_param_group_get (m->group, m->logit_index);
  g_autofree char *key = g_strconcat (prefix ? prefix : "",
      lp->local_name + m->skip, NULL);
  gint nd;
  gint64 sh[T2I_MAX_DIMS];
  if (t2i_safetensors_get_info (st, key, NULL, &nd, sh, NULL)
      && t2i_shape_numel (nd, sh) == 1) {
    g_autoptr (T2iTensor) t = t2i_safetensors_read (st, key, error);
    if (!t)
      return FALSE;
    t2i_tensor_f32 (m->logit_scale)[0] = (float) t2i_tensor_get (t, 0);
  }
  return TRUE;
}

T2iClip *
t2i_clip_new_from_safetensors (T2iSafetensors * st, const char *prefix,
    T2iClipTowers towers, GError ** error)
{
  T2iClipConfig cfg;

  if (!t2i_clip_config_from_safetensors (st, prefix, towers, &cfg, error))
    return NULL;
  T2iClip *m = t2i_clip_new (&cfg, NULL, NULL, NULL);
  if (!t2i_clip_load (m, st, prefix, error)) {
    t2i_clip_free (m);
    return NULL;
  }
  return m;
}

gboolean
t2i_clip_save (T2iClip * m, const char *path, GError ** error)
{
  g_return_val_if_fail (m != NULL && path != NULL, FALSE);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) tensors = g_ptr_array_new ();
  g_autoptr (GHashTable) meta = g_hash_table_new_full (g_str_hash,
      g_str_equal, NULL, g_free);
  guint ranges[3][2] = {
    {m->cfg.text_width > 0 ? m->text_range[0] : 0,
        m->cfg.text_width > 0 ? m->text_range[1] : 0},
    {m->vision_range[0], m->vision_range[1]},
    {m->logit_index, m->logit_index + 1},
  };

  for (guint r = 0; r < 3; r++)
    for (guint i = ranges[r][0]; i < ranges[r][1]; i++) {
      T2iParam *p = t2i_param_group_get (m->group, i);
      g_ptr_array_add (names, g_strdup (p->local_name + m->skip));
      g_ptr_array_add (tensors, p->value);
    }
  if (m->cfg.text_width > 0)
    g_hash_table_insert (meta, (gpointer) "t2i.clip.text_heads",
        g_strdup_printf ("%d", m->cfg.text_heads));
  if (m->cfg.vision == T2I_CLIP_VISION_VIT)
    g_hash_table_insert (meta, (gpointer) "t2i.clip.vision_heads",
        g_strdup_printf ("%d", m->cfg.vision_heads));
  if (m->cfg.vision == T2I_CLIP_VISION_CNN)
    g_hash_table_insert (meta, (gpointer) "t2i.clip.image_size",
        g_strdup_printf ("%d", m->image_size));
  return t2i_safetensors_save (path, (const char *const *) names->pdata,
      (T2iTensor **) tensors->pdata, names->len, meta, error);
}

const T2iClipConfig *
t2i_clip_get_config (T2iClip * m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return &m->cfg;
}

T2iParamGroup *
t2i_clip_get_params (T2iClip * m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->group;
}

T2iTensor *
t2i_clip_get_logit_scale (T2iClip * m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->logit_scale;
}

gboolean
t2i_clip_has_text (T2iClip * m)
{
  g_return_val_if_fail (m != NULL, FALSE);
  return m->cfg.text_width > 0;
}

gboolean
t2i_clip_has_vision (T2iClip * m)
{
  g_return_val_if_fail (m != NULL, FALSE);
  return m->cfg.vision != T2I_CLIP_VISION_NONE;
}

void
t2i_clip_set_image_size (T2iClip * m, gint image_size)
{
  g_return_if_fail (m != NULL && image_size > 0);
  m->image_size = image_size;
}

/* ---- forward ---- */

T2iTensor *
t2i_clip_encode_text (T2iClip * m, T2iTensor * tokens, T2iTensor ** per_token)
{
  g_return_val_if_fail (m != NULL && tokens != NULL, NULL);
  g_return_val_if_fail (m->cfg.text_width > 0, NULL);
  if (tokens->dtype != T2I_I32 || tokens->ndim != 2
      || tokens->shape[1] < 1 || tokens->shape[1] > m->cfg.context_length) {
    g_autofree char *s = t2i_shape_to_string (tokens->ndim, tokens->shape);
    g_critical ("t2i_clip_encode_text: tokens must be i32 [N, L] with "
        "1 <= L <= %d, got %s %s", m->cfg.context_length,
        t2i_dtype_name (tokens->dtype), s);
    return NULL;
  }
  gint64 n = tokens->shape[0], l = tokens->shape[1];
  /* ids decide shapes (the last end token): read on the host; the
   * computation runs where the model lives */
  const T2iDevice dev = m->positional_embedding->device;
  g_autoptr (T2iTensor) host_tokens = t2i_tensor_to_device (tokens,
      T2I_DEVICE_CPU, NULL);
  g_autoptr (T2iTensor) dev_tokens = t2i_tensor_to_device (tokens, dev, NULL);
  if (!host_tokens || !dev_tokens)
    return NULL;
  const gint32 *ids = t2i_tensor_i32 (host_tokens);
  for (gint64 i = 0; i < tokens->numel; i++)
    if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size) {
      g_critical ("t2i_clip_encode_text: token %d at %" G_GINT64_FORMAT
          " is outside the vocabulary [0, %d)", ids[i], i, m->cfg.vocab_size);
      return NULL;
    }

  /* the end-of-text position: the first largest id of each row */
  g_autoptr (T2iTensor) eot_h = t2i_tensor_new (T2I_I32, T2I_SHAPE (n));
  gint64 used = 1;
  for (gint64 r = 0; r < n; r++) {
    gint32 best = 0;
    for (gint64 j = 1; j < l; j++)
      if (ids[r * l + j] > ids[r * l + best])
        best = (gint32) j;
    t2i_tensor_i32 (eot_h)[r] = best;
    used = MAX (used, best + 1);
  }
  g_autoptr (T2iTensor) eot = t2i_tensor_to_device (eot_h, dev, NULL);

  /* positions after the last EOT cannot reach any EOT through the causal
   * mask: without per-token output, they are not computed */
  g_autoptr (T2iTensor) ids_used = per_token || used == l
      ? t2i_tensor_ref (dev_tokens) : t2i_slice (dev_tokens, 1, 0, used);
  l = ids_used->shape[1];
  T2iTensor *x = t2i_nn_embedding (&m->token_embedding, ids_used);
  g_autoptr (T2iTensor) pos = l == m->cfg.context_length
      ? t2i_tensor_ref (m->positional_embedding)
      : t2i_slice (m->positional_embedding, 0, 0, l);
  T2I_MODEL_STEP (x, t2i_add (x, pos));
  for (gint i = 0; i < m->cfg.text_layers; i++)
    T2I_MODEL_STEP (x, t2i_nn_residual_block (&m->text_blocks[i], x, TRUE));
  T2I_MODEL_STEP (x, t2i_nn_layer_norm (&m->ln_final, x));
  g_autoptr (T2iTensor) pooled = t2i_gather_rows (x, eot);
  if (per_token)
    *per_token = x;
  else
    t2i_tensor_unref (x);
  return t2i_matmul (pooled, m->text_projection);
}

static T2iTensor *
encode_vit (T2iClip * m, T2iTensor * images)
{
  const T2iClipConfig *c = &m->cfg;
  gint64 n = images->shape[0], w = c->vision_width;
  gint64 grid = c->image_size / c->patch_size;
  T2iConvParams cp = T2I_CONV_PARAMS (c->patch_size, 0);

  T2iTensor *x = t2i_conv2d (images, m->conv1, NULL, &cp);
  T2I_MODEL_STEP (x, t2i_reshape (x, T2I_SHAPE (n, w, grid * grid)));
  T2I_MODEL_STEP (x, t2i_transpose (x, 1, 2));
  g_autoptr (T2iTensor) cls1 = t2i_reshape (m->class_embedding,
      T2I_SHAPE (1, 1, w));
  g_autoptr (T2iTensor) cls = t2i_expand (cls1, T2I_SHAPE (n, 1, w));
  T2I_MODEL_STEP (x, t2i_concat ((T2iTensor *[]) { cls, x }, 2, 1));
  T2I_MODEL_STEP (x, t2i_add (x, m->vision_positional_embedding));
  T2I_MODEL_STEP (x, t2i_nn_layer_norm (&m->ln_pre, x));
  for (gint i = 0; i < c->vision_layers; i++)
    T2I_MODEL_STEP (x, t2i_nn_residual_block (&m->vision_blocks[i], x, FALSE));
  T2I_MODEL_STEP (x, t2i_slice (x, 1, 0, 1));
  T2I_MODEL_STEP (x, t2i_reshape (x, T2I_SHAPE (n, w)));
  T2I_MODEL_STEP (x, t2i_nn_layer_norm (&m->ln_post, x));
  T2I_MODEL_STEP (x, t2i_matmul (x, m->proj));
  return x;
}

static T2iTensor *
cnn_block (CnnBlock * b, T2iTensor * x)
{
  T2iConvParams cp = T2I_CONV_PARAMS (b->stride, 1);
  T2iTensor *y = t2i_conv2d (x, b->conv, NULL, &cp);
  T2I_MODEL_STEP (y, t2i_group_norm (y, CNN_GROUPS, b->norm_weight,
          b->norm_bias, CNN_EPS));
  T2I_MODEL_STEP (y, t2i_silu (y));
  return y;
}

static T2iTensor *
encode_cnn (T2iClip * m, T2iTensor * images)
{
  const T2iClipConfig *c = &m->cfg;
  T2iTensor *x = cnn_block (&m->stem, images);

  for (gint s = 0; s < c->cnn_n_stages; s++)
    for (gint b = 0; b < c->cnn_depth; b++) {
      T2iTensor *y = cnn_block (&m->cnn_blocks[s * c->cnn_depth + b], x);
      if (b > 0)
        T2I_MODEL_STEP (y, t2i_add (x, y));
      t2i_tensor_unref (x);
      x = y;
    }
  gint64 n = x->shape[0], ch = x->shape[1];
  T2I_MODEL_STEP (x, t2i_reshape (x, T2I_SHAPE (n, ch, -1)));
  T2I_MODEL_STEP (x, t2i_mean (x, 2, FALSE));
  T2I_MODEL_STEP (x, t2i_nn_linear (&m->head, x));
  return x;
}

T2iTensor *
t2i_clip_encode_image (T2iClip * m, T2iTensor * images)
{
  g_return_val_if_fail (m != NULL && images != NULL, NULL);
  g_return_val_if_fail (m->cfg.vision != T2I_CLIP_VISION_NONE, NULL);
  if (images->ndim != 4 || images->shape[1] != 3
      || (m->cfg.vision == T2I_CLIP_VISION_VIT
          && (images->shape[2] != m->cfg.image_size
              || images->shape[3] != m->cfg.image_size))) {
    g_autofree char *s = t2i_shape_to_string (images->ndim, images->shape);
    g_critical ("t2i_clip_encode_image: images must be [N, 3, %d, %d] "
        "(preprocessed), got %s", m->cfg.image_size, m->cfg.image_size, s);
    return NULL;
  }
  return m->cfg.vision == T2I_CLIP_VISION_VIT ? encode_vit (m, images)
      : encode_cnn (m, images);
}

T2iTensor *
t2i_clip_preprocess (T2iClip * m, T2iTensor * images)
{
  g_return_val_if_fail (m != NULL, NULL);
  return t2i_clip_preprocess_images (images, m->image_size);
}

T2iTensor *
t2i_clip_logits (T2iClip * m, T2iTensor * image_emb, T2iTensor * text_emb)
{
  g_return_val_if_fail (m != NULL && image_emb != NULL && text_emb != NULL,
      NULL);
  g_autoptr (T2iTensor) cos = t2i_cosine_similarity_matrix (image_emb,
      text_emb, 1e-12);
  g_autoptr (T2iTensor) scale = t2i_exp (m->logit_scale);
  return t2i_mul (cos, scale);
}
