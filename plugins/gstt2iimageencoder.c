/* t2iimageencoder: CLIP ViT, CLIP-style CNN, VGG19 and Inception-v3 image
 * encoders as an element.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2iimageencoder
 * @title: t2iimageencoder
 *
 * Encodes the images of @input (f32 [N, 3, H, W] in [-1, 1]) with the
 * network @arch (the models of core/models/, docs/models.md):
 *
 * - `clip` (default): the CLIP image tower weights= holds, `clip-vit` or
 *   `cnn` below, whichever it is (a fresh ViT without weights);
 * - `clip-vit`: OpenAI CLIP's vision transformer, after the reference
 *   preprocessing (t2i_clip_preprocess(): bicubic resize of the shorter
 *   side, centre crop, CLIP's mean and std); @output is the projected
 *   embedding f32 [N, E].
 * - `cnn`: the small CLIP-style CNN encoder of t2i/clip.h, on the images as
 *   they are (any size); @output f32 [N, E].  This is the image tower
 *   pipelines/clip-pretrain.t2i trains.
 * - `vgg19`: torchvision's VGG19 features with ImageNet normalisation; one
 *   output per tap of @layers, named `<output>/<tap>` (conv1_1, relu1_1,
 *   pool1, ... relu5_4, pool5; f32 [N, C, h, w]).
 * - `inception-v3`: Inception-v3 (@inception-variant: pytorch-fid's FID
 *   network or torchvision's), resized to 299 x 299; @output is the 2048-d
 *   pool feature, and @logits-output (when set) the classifier logits.
 *
 * With @normalize the vector outputs (clip-vit, cnn, inception pool) are
 * L2-normalised.  The forward is differentiable: gradients reach the
 * input even when the encoder is frozen (trainable=false), so a loss on
 * the features of generated images trains the generator upstream.
 *
 * Weights: with weights=FILE the tensors load under their official names
 * after a prefix — "<group>." when the file has it, else the one prefix
 * under which the file holds the network (e.g. `clip.` in a checkpoint of
 * pipelines/clip-pretrain.t2i, none in a file of scripts/convert-checkpoint);
 * @weights-prefix names it explicitly.  CLIP's architecture is read from
 * the file's shapes.  Without weights the network is initialised from the
 * session seed (clip-vit from @width, @layers, @heads, @patch-size,
 * @image-size, @embed-dim; cnn from @widths, @depth, @embed-dim), for
 * training from scratch.  The parameters are the official names in the
 * element's group; `group=clip` shares it with a t2itextencoder (see
 * there).
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2idatasetsrc dataset=shapes batch-size=4 resolution=32 max-steps=1 ! t2iimageencoder arch=cnn widths=8,16,32 embed-dim=32 normalize=true ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2iimageencoder.h"
#include "gstt2iutil.h"

#include <stdlib.h>
#include <string.h>
#include <t2i/t2i.h>
#include <t2i/clip.h>
#include <t2i/inception.h>
#include <t2i/vgg.h>

GST_DEBUG_CATEGORY_STATIC (t2i_image_encoder_debug);
#define GST_CAT_DEFAULT t2i_image_encoder_debug

#define EXAMPLE "t2idatasetsrc dataset=shapes batch-size=4 resolution=32 " \
    "max-steps=1 ! t2iimageencoder arch=cnn widths=8,16,32 embed-dim=32 " \
    "normalize=true ! fakesink"

typedef enum
{
  ARCH_CLIP,
  ARCH_CLIP_VIT,
  ARCH_CNN,
  ARCH_VGG19,
  ARCH_INCEPTION_V3,
} ImageArch;

#define MAX_TAPS 38

struct _T2iImageEncoder
{
  T2iTransform parent;

  /* properties */
  ImageArch arch;
  gchar *input;
  gchar *output;
  gchar *logits_output;
  gboolean normalize;
  gchar *layers_str;
  gchar *weights_prefix;
  T2iInceptionVariant inception_variant;
  gint width;
  gint vit_layers;
  gint heads;
  gint patch_size;
  gint image_size;
  gint embed_dim;
  gchar *widths;
  gint depth;

  /* resolved at the first negotiation */
  gboolean prepared;
  T2iClipConfig cfg;
  gint classes;                 /* inception fc outputs, 0: none */
  gchar *file_prefix;
  gchar **taps;
  gchar **tap_entries;
  gint n_taps;

  T2iClip *clip;
  T2iVgg19 *vgg;
  T2iInception *inception;
};

enum
{
  PROP_0,
  PROP_ARCH,
  PROP_INPUT,
  PROP_OUTPUT,
  PROP_LOGITS_OUTPUT,
  PROP_NORMALIZE,
  PROP_LAYERS_LIST,
  PROP_WEIGHTS_PREFIX,
  PROP_INCEPTION_VARIANT,
  PROP_WIDTH,
  PROP_VIT_LAYERS,
  PROP_HEADS,
  PROP_PATCH_SIZE,
  PROP_IMAGE_SIZE,
  PROP_EMBED_DIM,
  PROP_WIDTHS,
  PROP_DEPTH,
};

#define DEFAULT_INPUT "image"
#define DEFAULT_OUTPUT "img_emb"
#define DEFAULT_LAYERS "relu1_2,relu2_2,relu3_4,relu4_4,relu5_4"
#define DEFAULT_WIDTH 256
#define DEFAULT_VIT_LAYERS 4
#define DEFAULT_PATCH 8
#define DEFAULT_EMBED_DIM 256
#define DEFAULT_WIDTHS "32,64,128,256"
#define DEFAULT_DEPTH 1
#define NORM_EPS 1e-12

#define T2I_TYPE_IMAGE_ARCH (t2i_image_arch_get_type ())
static GType
t2i_image_arch_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {ARCH_CLIP, "CLIP's image tower that weights= holds (ViT or CNN; a "
          "fresh ViT without weights)", "clip"},
    {ARCH_CLIP_VIT, "OpenAI CLIP's vision transformer", "clip-vit"},
    {ARCH_CNN, "The small CLIP-style CNN encoder of t2i/clip.h", "cnn"},
    {ARCH_VGG19, "torchvision's VGG19 features (multi-level)", "vgg19"},
    {ARCH_INCEPTION_V3, "Inception-v3 pool features and logits",
        "inception-v3"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("T2iImageEncoderArch", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

#define T2I_TYPE_INCEPTION_VARIANT (t2i_inception_variant_get_type ())
static GType
t2i_inception_variant_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {T2I_INCEPTION_FID, "pytorch-fid's FID Inception (1008 classes)", "fid"},
    {T2I_INCEPTION_TORCHVISION, "torchvision's Inception3 (1000 classes)",
        "torchvision"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("T2iImageEncoderInception", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

G_DEFINE_TYPE_WITH_CODE (T2iImageEncoder, t2i_image_encoder,
    T2I_TYPE_TRANSFORM,
    GST_DEBUG_CATEGORY_INIT (t2i_image_encoder_debug, "t2iimageencoder", 0,
        "t2i image encoder"));
GST_ELEMENT_REGISTER_DEFINE (t2iimageencoder, "t2iimageencoder",
    GST_RANK_NONE, T2I_TYPE_IMAGE_ENCODER);

/* see gstt2itextencoder.c */
static gchar *
find_prefix (T2iSafetensors * st, const char *explicit, const char *group,
    const char *stem, const char *what, GError ** error)
{
  if (explicit)
    return g_strdup (explicit);
  g_autofree char *gp = g_strconcat (group, ".", NULL);
  g_autofree char *gname = g_strconcat (gp, stem, NULL);
  if (t2i_safetensors_has (st, gname))
    return g_strdup (gp);

  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  const char *const *names = t2i_safetensors_names (st);
  const gsize sl = strlen (stem);
  for (guint i = 0; names[i]; i++) {
    const gsize nl = strlen (names[i]);
    if (nl < sl || strcmp (names[i] + nl - sl, stem) != 0)
      continue;
    g_autofree char *p = g_strndup (names[i], nl - sl);
    if (strchr (p, '/') || (*p && p[strlen (p) - 1] != '.'))
      continue;
    g_ptr_array_add (found, g_steal_pointer (&p));
  }
  if (found->len == 1)
    return g_strdup (g_ptr_array_index (found, 0));
  g_autoptr (GString) list = g_string_new (NULL);
  for (guint i = 0; i < found->len; i++)
    g_string_append_printf (list, "%s\"%s\"", i ? ", " : "",
        (const char *) g_ptr_array_index (found, i));
  g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
      "%s: %s %s (looked for %s%s%s); set weights-prefix=",
      t2i_safetensors_get_path (st), found->len ? "several prefixes hold"
      : "holds no", what, gname, found->len ? ", found " : "", list->str);
  return NULL;
}

static gchar *
get_weights (T2iImageEncoder * self)
{
  gchar *w = NULL;
  g_object_get (self, "weights", &w, NULL);
  if (w && !*w)
    g_clear_pointer (&w, g_free);
  return w;
}

static const char *
stem_name (T2iImageEncoder * self, const char **what)
{
  switch (self->arch) {
    case ARCH_CLIP:
    case ARCH_CLIP_VIT:
      *what = "a CLIP ViT";
      return "visual.conv1.weight";
    case ARCH_CNN:
      *what = "a CLIP CNN image encoder";
      return "visual.stem.conv.weight";
    case ARCH_VGG19:
      *what = "a VGG19";
      return "features.0.weight";
    case ARCH_INCEPTION_V3:
    default:
      *what = "an Inception-v3";
      return "Conv2d_1a_3x3.conv.weight";
  }
}

static gboolean
parse_widths (T2iImageEncoder * self, T2iClipConfig * c, GError ** error)
{
  g_auto (GStrv) parts = g_strsplit (self->widths ? self->widths : "", ",",
      -1);
  const guint n = g_strv_length (parts);
  if (n < 2 || n > T2I_CLIP_CNN_MAX_STAGES + 1) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "widths=%s: give the stem's channels and those of 1 to %d stages",
        self->widths, T2I_CLIP_CNN_MAX_STAGES);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    char *end;
    glong v = strtol (parts[i], &end, 10);
    if (end == parts[i] || *end || v <= 0 || v % 8) {
      g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
          "widths=%s: '%s' is not a positive multiple of 8", self->widths,
          parts[i]);
      return FALSE;
    }
    if (i == 0)
      c->cnn_stem = (gint) v;
    else
      c->cnn_widths[i - 1] = (gint) v;
  }
  c->cnn_n_stages = (gint) n - 1;
  return TRUE;
}

static gboolean
prepare_taps (T2iImageEncoder * self, GError ** error)
{
  g_strfreev (self->taps);
  g_strfreev (self->tap_entries);
  self->taps = g_strsplit (self->layers_str ? self->layers_str : "", ",", -1);
  self->n_taps = (gint) g_strv_length (self->taps);
  if (self->n_taps == 0 || self->n_taps > MAX_TAPS) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_ARGUMENT,
        "layers=%s: name 1 to %d VGG19 taps", self->layers_str, MAX_TAPS);
    return FALSE;
  }
  self->tap_entries = g_new0 (gchar *, self->n_taps + 1);
  for (gint i = 0; i < self->n_taps; i++) {
    g_strstrip (self->taps[i]);
    if (t2i_vgg19_tap_index (self->taps[i]) < 0) {
      g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_ARGUMENT,
          "layers=%s: unknown VGG19 tap '%s' (conv1_1, relu1_1, ..., pool5)",
          self->layers_str, self->taps[i]);
      return FALSE;
    }
    self->tap_entries[i] = g_strdup_printf ("%s/%s", self->output,
        self->taps[i]);
  }
  return TRUE;
}

static gboolean
prepare (T2iImageEncoder * self, gint64 in_size, GError ** error)
{
  T2iTransform *t = T2I_TRANSFORM (self);

  if (self->prepared)
    return TRUE;
  if (self->arch == ARCH_VGG19 && !prepare_taps (self, error))
    return FALSE;

  g_autofree gchar *weights = get_weights (self);
  g_autoptr (T2iSafetensors) st = NULL;
  if (weights) {
    const char *what, *stem = stem_name (self, &what);
    st = t2i_safetensors_load (weights, error);
    if (!st) {
      g_prefix_error (error, "weights=%s: ", weights);
      return FALSE;
    }
    g_free (self->file_prefix);
    self->file_prefix = NULL;
    if (self->arch == ARCH_CLIP)
      self->file_prefix = find_prefix (st, self->weights_prefix,
          t2i_transform_get_group_name (t), "visual.stem.conv.weight",
          what, NULL);
    if (!self->file_prefix)
      self->file_prefix = find_prefix (st, self->weights_prefix,
          t2i_transform_get_group_name (t), stem, self->arch == ARCH_CLIP
          ? "a CLIP image tower" : what, error);
    if (!self->file_prefix) {
      g_prefix_error (error, "weights=%s: ", weights);
      return FALSE;
    }
  }

  switch (self->arch) {
    case ARCH_CLIP:
    case ARCH_CLIP_VIT:
    case ARCH_CNN:
      if (st) {
        if (!t2i_clip_config_from_safetensors (st, self->file_prefix,
                T2I_CLIP_VISION, &self->cfg, error)) {
          g_prefix_error (error, "weights=%s: ", weights);
          return FALSE;
        }
        if (self->arch != ARCH_CLIP && (self->cfg.vision ==
                T2I_CLIP_VISION_CNN) != (self->arch == ARCH_CNN)) {
          g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
              "weights=%s holds a %s image encoder, not arch=%s", weights,
              self->cfg.vision == T2I_CLIP_VISION_CNN ? "CNN" : "ViT",
              self->arch == ARCH_CNN ? "cnn" : "clip-vit");
          return FALSE;
        }
      } else {
        T2iClipConfig *c = &self->cfg;
        t2i_clip_config_init_small (c, self->image_size > 0 ?
            self->image_size : (gint) in_size, 0);
        c->text_width = 0;
        c->text_layers = 0;
        c->text_heads = 0;
        c->vocab_size = 0;
        c->embed_dim = self->embed_dim;
        if (self->arch == ARCH_CNN) {
          c->vision = T2I_CLIP_VISION_CNN;
          c->cnn_depth = self->depth;
          if (!parse_widths (self, c, error))
            return FALSE;
        } else {
          c->vision = T2I_CLIP_VISION_VIT;
          c->vision_width = self->width;
          c->vision_layers = self->vit_layers;
          c->vision_heads = self->heads > 0 ? self->heads
              : MAX (self->width / 64, 1);
          c->patch_size = self->patch_size;
        }
        if (!t2i_clip_config_validate (c, error))
          return FALSE;
      }
      break;
    case ARCH_INCEPTION_V3:
      self->classes = 0;
      if (st) {
        g_autofree char *fc = g_strconcat (self->file_prefix, "fc.weight",
            NULL);
        gint nd;
        gint64 sh[T2I_MAX_DIMS];
        if (t2i_safetensors_get_info (st, fc, NULL, &nd, sh, NULL) && nd == 2)
          self->classes = (gint) sh[0];
      } else if (t2i_str_is_set (self->logits_output)) {
        self->classes = self->inception_variant == T2I_INCEPTION_FID
            ? 1008 : 1000;
      }
      if (t2i_str_is_set (self->logits_output) && self->classes == 0) {
        g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_ARGUMENT,
            "logits-output=%s: weights=%s has no classifier (fc.weight)",
            self->logits_output, weights);
        return FALSE;
      }
      break;
    case ARCH_VGG19:
      break;
  }
  self->prepared = TRUE;
  return TRUE;
}

/* [N, C, h, w] of VGG19 tap @name for an H x W input */
static void
vgg_tap_shape (const char *name, gint64 n, gint64 h, gint64 w,
    gint64 * shape)
{
  static const gint widths[5] = { 64, 128, 256, 512, 512 };
  shape[0] = n;
  if (strcmp (name, "input") == 0) {
    shape[1] = 3;
    shape[2] = h;
    shape[3] = w;
    return;
  }
  gint block = name[strlen (name) - (g_str_has_prefix (name, "pool") ? 1 : 3)]
      - '1';
  gint pools = block + (g_str_has_prefix (name, "pool") ? 1 : 0);
  shape[1] = widths[block];
  shape[2] = h;
  shape[3] = w;
  for (gint i = 0; i < pools; i++) {
    shape[2] /= 2;
    shape[3] /= 2;
  }
}

static gboolean
t2i_image_encoder_negotiate (T2iTransform * t, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  T2iImageEncoder *self = T2I_IMAGE_ENCODER (t);
  gint64 shape[T2I_MAX_DIMS];
  gint64 want[4] = { -1, 3, -1, -1 };

  if (!t2i_caps_require (in, self->input, "f32", 4, want, error)) {
    g_prefix_error (error, "input=%s: ", self->input);
    return FALSE;
  }
  t2i_caps_get_entry (in, self->input, NULL, NULL, shape);
  if (!prepare (self, MIN (shape[2], shape[3]), error))
    return FALSE;
  const gint64 n = shape[0];
  switch (self->arch) {
    case ARCH_CLIP:
    case ARCH_CLIP_VIT:
    case ARCH_CNN:{
      gint64 emb[2] = { n, self->cfg.embed_dim };
      t2i_caps_set_entry (out, self->output, "f32", 2, emb);
      break;
    }
    case ARCH_VGG19:
      for (gint i = 0; i < self->n_taps; i++) {
        gint64 ts[4];
        vgg_tap_shape (self->taps[i], n, shape[2], shape[3], ts);
        t2i_caps_set_entry (out, self->tap_entries[i], "f32", 4, ts);
      }
      break;
    case ARCH_INCEPTION_V3:{
      gint64 pool[2] = { n, 2048 };
      t2i_caps_set_entry (out, self->output, "f32", 2, pool);
      if (t2i_str_is_set (self->logits_output)) {
        gint64 lg[2] = { n, self->classes };
        t2i_caps_set_entry (out, self->logits_output, "f32", 2, lg);
      }
      break;
    }
  }
  return TRUE;
}

static void
clear_models (T2iImageEncoder * self)
{
  g_clear_pointer (&self->clip, t2i_clip_free);
  g_clear_pointer (&self->vgg, t2i_vgg19_free);
  g_clear_pointer (&self->inception, t2i_inception_free);
}

static gboolean
t2i_image_encoder_build (T2iTransform * t, const GstStructure * in,
    GError ** error)
{
  T2iImageEncoder *self = T2I_IMAGE_ENCODER (t);
  g_autofree gchar *weights = get_weights (self);
  T2iRng *rng = weights ? NULL : t2i_transform_get_init_rng (t);
  T2iParamGroup *g = NULL;
  T2iTensor *skip = NULL;

  clear_models (self);
  switch (self->arch) {
    case ARCH_CLIP:
    case ARCH_CLIP_VIT:
    case ARCH_CNN:
      self->clip = t2i_clip_new (&self->cfg, NULL, NULL, rng);
      g = t2i_clip_get_params (self->clip);
      /* logit_scale belongs to the loss (t2iloss kind=clip) */
      skip = t2i_clip_get_logit_scale (self->clip);
      break;
    case ARCH_VGG19:
      self->vgg = t2i_vgg19_new (NULL, NULL, T2I_VGG_POOL_MAX,
          T2I_VGG_INPUT_IMAGENET, rng);
      g = t2i_vgg19_get_params (self->vgg);
      break;
    case ARCH_INCEPTION_V3:
      self->inception = t2i_inception_new (NULL, NULL,
          self->inception_variant, self->classes > 0 ? self->classes : -1,
          rng);
      g = t2i_inception_get_params (self->inception);
      break;
  }
  for (guint i = 0; i < t2i_param_group_n_params (g); i++) {
    T2iParam *p = t2i_param_group_get (g, i);
    if (p->value == skip)
      continue;
    if (!t2i_transform_add_param (t, p->local_name, p->value)) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "group=%s already has a parameter %s (two image encoders in one "
          "group?)", t2i_transform_get_group_name (t), p->local_name);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
t2i_image_encoder_load_weights (T2iTransform * t, T2iSafetensors * st,
    GError ** error)
{
  T2iImageEncoder *self = T2I_IMAGE_ENCODER (t);

  if (self->clip)
    return t2i_clip_load (self->clip, st, self->file_prefix, error);
  if (self->vgg)
    return t2i_vgg19_load (self->vgg, st, self->file_prefix, error);
  return t2i_inception_load (self->inception, st, self->file_prefix, error);
}

static gboolean
set_vector (T2iImageEncoder * self, GstBuffer * record, const char *name,
    T2iTensor * v, gboolean normalize, GError ** error)
{
  g_autoptr (T2iTensor) out = normalize ? t2i_l2_normalize (v, 1, NORM_EPS)
      : t2i_tensor_ref (v);
  return t2i_record_set_tensor (record, name, out, error);
}

static gboolean
t2i_image_encoder_process (T2iTransform * t, GstBuffer * record,
    GError ** error)
{
  T2iImageEncoder *self = T2I_IMAGE_ENCODER (t);
  T2iTensor *x = t2i_record_get_tensor (record, self->input);

  if (!x || x->dtype != T2I_F32 || x->ndim != 4 || x->shape[1] != 3) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s must be f32 [N, 3, H, W] (the record has: %s)",
        self->input, has);
    return FALSE;
  }
  switch (self->arch) {
    case ARCH_CLIP:
    case ARCH_CLIP_VIT:
    case ARCH_CNN:{
      g_autoptr (T2iTensor) pix = self->cfg.vision == T2I_CLIP_VISION_VIT ?
          t2i_clip_preprocess (self->clip, x) : t2i_tensor_ref (x);
      g_autoptr (T2iTensor) emb = t2i_clip_encode_image (self->clip, pix);
      return set_vector (self, record, self->output, emb, self->normalize,
          error);
    }
    case ARCH_VGG19:{
      T2iTensor *outs[MAX_TAPS] = { NULL };
      gboolean ok = t2i_vgg19_forward (self->vgg, x,
          (const char *const *) self->taps, self->n_taps, outs, error);
      for (gint i = 0; i < self->n_taps; i++) {
        if (ok)
          ok = t2i_record_set_tensor (record, self->tap_entries[i], outs[i],
              error);
        g_clear_pointer (&outs[i], t2i_tensor_unref);
      }
      return ok;
    }
    case ARCH_INCEPTION_V3:{
      T2iInceptionOutputs o;
      guint want = T2I_INCEPTION_POOL;
      if (t2i_str_is_set (self->logits_output))
        want |= T2I_INCEPTION_LOGITS;
      if (!t2i_inception_forward (self->inception, x, TRUE, want, &o, error))
        return FALSE;
      gboolean ok = set_vector (self, record, self->output, o.pool,
          self->normalize, error);
      if (ok && o.logits)
        ok = t2i_record_set_tensor (record, self->logits_output, o.logits,
            error);
      t2i_inception_outputs_clear (&o);
      return ok;
    }
  }
  return TRUE;
}

static GstStateChangeReturn
t2i_image_encoder_change_state (GstElement * element, GstStateChange trans)
{
  T2iImageEncoder *self = T2I_IMAGE_ENCODER (element);
  if (trans == GST_STATE_CHANGE_NULL_TO_READY)
    self->prepared = FALSE;
  return GST_ELEMENT_CLASS (t2i_image_encoder_parent_class)->change_state
      (element, trans);
}

static void
t2i_image_encoder_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iImageEncoder *self = T2I_IMAGE_ENCODER (obj);

  switch (id) {
    case PROP_ARCH:
      self->arch = g_value_get_enum (v);
      break;
    case PROP_INPUT:
      t2i_replace_string (&self->input, v);
      break;
    case PROP_OUTPUT:
      t2i_replace_string (&self->output, v);
      break;
    case PROP_LOGITS_OUTPUT:
      t2i_replace_string (&self->logits_output, v);
      break;
    case PROP_NORMALIZE:
      self->normalize = g_value_get_boolean (v);
      break;
    case PROP_LAYERS_LIST:
      t2i_replace_string (&self->layers_str, v);
      break;
    case PROP_WEIGHTS_PREFIX:
      t2i_replace_string (&self->weights_prefix, v);
      break;
    case PROP_INCEPTION_VARIANT:
      self->inception_variant = g_value_get_enum (v);
      break;
    case PROP_WIDTH:
      self->width = g_value_get_int (v);
      break;
    case PROP_VIT_LAYERS:
      self->vit_layers = g_value_get_int (v);
      break;
    case PROP_HEADS:
      self->heads = g_value_get_int (v);
      break;
    case PROP_PATCH_SIZE:
      self->patch_size = g_value_get_int (v);
      break;
    case PROP_IMAGE_SIZE:
      self->image_size = g_value_get_int (v);
      break;
    case PROP_EMBED_DIM:
      self->embed_dim = g_value_get_int (v);
      break;
    case PROP_WIDTHS:
      t2i_replace_string (&self->widths, v);
      break;
    case PROP_DEPTH:
      self->depth = g_value_get_int (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_image_encoder_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iImageEncoder *self = T2I_IMAGE_ENCODER (obj);

  switch (id) {
    case PROP_ARCH:
      g_value_set_enum (v, self->arch);
      break;
    case PROP_INPUT:
      g_value_set_string (v, self->input);
      break;
    case PROP_OUTPUT:
      g_value_set_string (v, self->output);
      break;
    case PROP_LOGITS_OUTPUT:
      g_value_set_string (v, self->logits_output);
      break;
    case PROP_NORMALIZE:
      g_value_set_boolean (v, self->normalize);
      break;
    case PROP_LAYERS_LIST:
      g_value_set_string (v, self->layers_str);
      break;
    case PROP_WEIGHTS_PREFIX:
      g_value_set_string (v, self->weights_prefix);
      break;
    case PROP_INCEPTION_VARIANT:
      g_value_set_enum (v, self->inception_variant);
      break;
    case PROP_WIDTH:
      g_value_set_int (v, self->width);
      break;
    case PROP_VIT_LAYERS:
      g_value_set_int (v, self->vit_layers);
      break;
    case PROP_HEADS:
      g_value_set_int (v, self->heads);
      break;
    case PROP_PATCH_SIZE:
      g_value_set_int (v, self->patch_size);
      break;
    case PROP_IMAGE_SIZE:
      g_value_set_int (v, self->image_size);
      break;
    case PROP_EMBED_DIM:
      g_value_set_int (v, self->embed_dim);
      break;
    case PROP_WIDTHS:
      g_value_set_string (v, self->widths);
      break;
    case PROP_DEPTH:
      g_value_set_int (v, self->depth);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_image_encoder_finalize (GObject * obj)
{
  T2iImageEncoder *self = T2I_IMAGE_ENCODER (obj);

  g_free (self->input);
  g_free (self->output);
  g_free (self->logits_output);
  g_free (self->layers_str);
  g_free (self->weights_prefix);
  g_free (self->widths);
  g_free (self->file_prefix);
  g_strfreev (self->taps);
  g_strfreev (self->tap_entries);
  clear_models (self);
  G_OBJECT_CLASS (t2i_image_encoder_parent_class)->finalize (obj);
}

#define PARAM_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | \
    GST_PARAM_MUTABLE_READY)

static void
t2i_image_encoder_class_init (T2iImageEncoderClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  T2iTransformClass *tc = T2I_TRANSFORM_CLASS (klass);

  oc->set_property = t2i_image_encoder_set_property;
  oc->get_property = t2i_image_encoder_get_property;
  oc->finalize = t2i_image_encoder_finalize;
  ec->change_state = t2i_image_encoder_change_state;
  tc->negotiate = t2i_image_encoder_negotiate;
  tc->build = t2i_image_encoder_build;
  tc->process = t2i_image_encoder_process;
  tc->load_weights = t2i_image_encoder_load_weights;

  g_object_class_install_property (oc, PROP_ARCH,
      g_param_spec_enum ("arch", "Architecture", "The image encoder",
          T2I_TYPE_IMAGE_ARCH, ARCH_CLIP, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_INPUT,
      g_param_spec_string ("input", "Input",
          "Image entry, f32 [N, 3, H, W] in [-1, 1]", DEFAULT_INPUT,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_OUTPUT,
      g_param_spec_string ("output", "Output",
          "Entry of the embedding f32 [N, E] (clip-vit, cnn), the pool "
          "features f32 [N, 2048] (inception-v3), or the prefix of the "
          "<output>/<tap> entries (vgg19)", DEFAULT_OUTPUT, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_LOGITS_OUTPUT,
      g_param_spec_string ("logits-output", "Logits output",
          "inception-v3: entry of the classifier logits f32 [N, classes] "
          "(unset: not computed)", NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_NORMALIZE,
      g_param_spec_boolean ("normalize", "Normalize",
          "L2-normalise the vector output", FALSE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_LAYERS_LIST,
      g_param_spec_string ("layers", "Layers",
          "vgg19: comma-separated taps, each added as <output>/<tap> "
          "(conv1_1, relu1_1, ..., pool5, input)", DEFAULT_LAYERS,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_WEIGHTS_PREFIX,
      g_param_spec_string ("weights-prefix", "Weights prefix",
          "Prefix of the official names in weights= (unset: \"<group>.\" "
          "when present, else the file's only such network)", NULL,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_INCEPTION_VARIANT,
      g_param_spec_enum ("inception-variant", "Inception variant",
          "inception-v3: which network", T2I_TYPE_INCEPTION_VARIANT,
          T2I_INCEPTION_FID, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_WIDTH,
      g_param_spec_int ("width", "Width",
          "clip-vit: transformer width of a fresh model", 8, 8192,
          DEFAULT_WIDTH, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_VIT_LAYERS,
      g_param_spec_int ("vit-layers", "ViT layers",
          "clip-vit: residual attention blocks of a fresh model", 0, 256,
          DEFAULT_VIT_LAYERS, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_HEADS,
      g_param_spec_int ("heads", "Heads",
          "clip-vit: attention heads of a fresh model (0: width / 64)", 0,
          256, 0, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_PATCH_SIZE,
      g_param_spec_int ("patch-size", "Patch size",
          "clip-vit: patch size of a fresh model", 1, 1024, DEFAULT_PATCH,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_IMAGE_SIZE,
      g_param_spec_int ("image-size", "Image size",
          "clip-vit: resolution of a fresh model (0: the input's)", 0, 4096,
          0, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_EMBED_DIM,
      g_param_spec_int ("embed-dim", "Embedding size",
          "clip-vit, cnn: joint embedding size E of a fresh model", 1, 65536,
          DEFAULT_EMBED_DIM, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_WIDTHS,
      g_param_spec_string ("widths", "Widths",
          "cnn: channels of the stem, then of each stride-2 stage, of a "
          "fresh model (multiples of 8)", DEFAULT_WIDTHS, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_DEPTH,
      g_param_spec_int ("depth", "Depth",
          "cnn: conv layers per stage of a fresh model", 1, 64,
          DEFAULT_DEPTH, PARAM_FLAGS));

  gst_element_class_set_static_metadata (ec, "t2i image encoder",
      "Filter/Tensor", "Encodes images with CLIP (ViT or CNN), VGG19 or "
      "Inception-v3", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);

  gst_type_mark_as_plugin_api (T2I_TYPE_IMAGE_ARCH, 0);
  gst_type_mark_as_plugin_api (T2I_TYPE_INCEPTION_VARIANT, 0);
}

static void
t2i_image_encoder_init (T2iImageEncoder * self)
{
  self->input = g_strdup (DEFAULT_INPUT);
  self->output = g_strdup (DEFAULT_OUTPUT);
  self->layers_str = g_strdup (DEFAULT_LAYERS);
  self->inception_variant = T2I_INCEPTION_FID;
  self->width = DEFAULT_WIDTH;
  self->vit_layers = DEFAULT_VIT_LAYERS;
  self->patch_size = DEFAULT_PATCH;
  self->embed_dim = DEFAULT_EMBED_DIM;
  self->widths = g_strdup (DEFAULT_WIDTHS);
  self->depth = DEFAULT_DEPTH;
}
