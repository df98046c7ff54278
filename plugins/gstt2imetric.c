/* t2imetric: evaluation metrics accumulated over the stream.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2imetric
 * @title: t2imetric
 *
 * Accumulates one metric over every record that passes (records go on
 * unchanged, so a chain can continue) and reports it at EOS as the element
 * message `t2i-metric`:
 *
 * - `kind` (string), `value` (double), `n` (int64: items scored),
 *   `extractor` (string: what produced the features, "none" when the
 *   entries already held them or the metric reads pixels)
 * - `details` (a structure named "details" with the kind's other numbers)
 *
 * which t2i-launch prints (`metric fid=12.3 n=1000 ...`) and logs; with
 * @output it is also written to a JSON file.  The kinds (docs/metrics.md
 * gives the definitions and the reference implementations each matches):
 *
 * - `fid`: Frechet distance between the Gaussians of @real and @fake
 *   feature vectors [N, D] (f64 sums, O(D^2) memory).  With
 *   `extractor=inception-v3 extractor-weights=FILE` the element runs the
 *   frozen Inception-v3 (pytorch-fid or torchvision layout; 299 x 299
 *   bilinear resize; 2048-d pool features) on the @real and @fake images
 *   [N, 3, H, W] in [-1, 1]; with `extractor=clip extractor-weights=FILE`
 *   the image tower of a CLIP checkpoint (our own trained one, reported as
 *   such); with any other @extractor (`none`, the default, or a label of
 *   what wrote them) the entries already are the features: `fid
 *   real=feat_real fake=feat_fake extractor=none`.  The message's
 *   `extractor` says what produced them, e.g. "inception-v3 (pytorch-fid,
 *   pt_inception.safetensors)".  With @real-stats the real statistics are read from that
 *   file when it exists (no @real entry needed), else accumulated from
 *   @real and saved there at EOS.  N <= D posts a warning (the covariance
 *   is rank-deficient).  details: dim, n-real, mean-term, trace-real,
 *   trace-fake, trace-sqrt, clamped-eigenvalues, rank-deficient.
 * - `is`: Inception Score of @logits [N, C] (with
 *   `extractor=inception-v3`: of the network's logits on the @fake
 *   images), @splits splits in stream order; details: std (population, or N - 1 with @unbiased-std), splits,
 *   classes.
 * - `r-precision`: each @image-emb row retrieves its own @text-emb row
 *   among @candidates (1 true + 99 mismatched captions of the stream,
 *   drawn with a Philox generator from @seed), ranked by cosine
 *   similarity; value: percentage at the first of @top-k; details: top-K
 *   for each K, candidates.
 * - `clip-score`: @scale times the mean cosine of @image-emb and @text-emb
 *   rows; with @best-of n, each run of n consecutive rows is one prompt's
 *   candidates and the best counts; @clamp clamps the mean at 0 as
 *   torchmetrics; details: std, prompts, best-of, scale.
 * - `ssim`, `fsim`: mean SSIM (scikit-image's, Gaussian window) or FSIM
 *   (FSIMc with @chromatic) between paired @real and @fake images
 *   [N, C, H, W] in [-1, 1]; @luma makes SSIM compare the BT.601 luma;
 *   details: std.
 * - `attr-acc`: for shapes-dataset images @fake [N, 3, R, R] and their
 *   ground truth (`attr/color`, `attr/shape`, `attr/size`, `attr/pos`,
 *   `attr/relation` under @attr-prefix, as t2idatasetsrc writes them), the
 *   objects' colour, shape, size and position recovered from the pixels
 *   without a learned model; value: the mean of the four accuracies;
 *   details: color, shape, size, pos, count, relation (fractions),
 *   objects, pairs.
 *
 * When records come once per GAN phase (t2idatasetsrc phases=D,G), only
 * the records of the first phase seen count, so each batch counts once.
 *
 * Data-parallel (`mpirun -np K t2i-launch eval.t2i`, docs/distributed.md):
 * each rank accumulates its shard of the data (t2idatasetsrc), and at EOS
 * the ranks send what they accumulated to rank 0: FID's sums (merged),
 * attr-acc's counts (added), and the rows of the other kinds put back in
 * the single process's stream order (batch by batch, rank by rank), so IS
 * splits, R-precision candidates and best-of groups are the ones one
 * process sees.  Rank 0 alone reports and writes @output and @real-stats.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2idatasetsrc dataset=shapes batch-size=8 max-steps=2 resolution=32 ! t2imetric kind=attr-acc fake=image ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2imetric.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <t2i/t2i.h>
#include <t2i/metrics.h>
#include <t2i/clip.h>
#include <t2i/inception.h>

GST_DEBUG_CATEGORY_STATIC (t2i_metric_debug);
#define GST_CAT_DEFAULT t2i_metric_debug

#define EXAMPLE "t2idatasetsrc dataset=shapes batch-size=8 max-steps=2 " \
    "resolution=32 ! t2imetric kind=attr-acc fake=image ! fakesink"

#define MAX_TOP_K 16

struct _T2iMetric
{
  T2iTransform parent;

  /* properties */
  T2iMetricKind kind;
  gchar *real;
  gchar *fake;
  gchar *extractor;
  gchar *extractor_weights;
  gchar *real_stats;
  gchar *logits;
  gchar *image_emb;
  gchar *text_emb;
  gint splits;
  gboolean unbiased_std;
  guint64 seed;
  gint candidates;
  gchar *top_k;
  gdouble scale;
  gboolean clamp;
  gint best_of;
  gboolean luma;
  gboolean chromatic;
  gchar *attr_prefix;
  gchar *output;

  /* stream state, reset in start() */
  gint ks[MAX_TOP_K];
  gint n_ks;
  gboolean have_phase;
  gchar phase[8];
  gint64 n;
  T2iFidStats *fid_real;
  T2iFidStats *fid_fake;
  gboolean real_loaded;
  GArray *floats_a;             /* logits, or image embeddings */
  GArray *floats_b;             /* text embeddings */
  gint width;                   /* classes or embedding size */
  GArray *values;               /* per-item doubles: cosines, SSIM, FSIM */
  T2iFsim *fsim;
  T2iShapesDetector *detector;
  T2iAttrAcc acc;
  GArray *batch_rows;           /* items counted per record, in order */
  gint rank, size;              /* data-parallel (of the session) */

  /* the feature extractor (extractor=inception-v3|clip), kept across
   * start/stop while extractor, extractor-weights and kind stay the same */
  T2iInception *inception;
  T2iClip *clip;
  gboolean clip_preprocess;     /* ViT tower: OpenAI's preprocessing */
  gchar *model_key;             /* "<extractor>\n<weights>\n<kind>" loaded */
  gchar *label;                 /* what produced the features, reported */
};

enum
{
  PROP_0,
  PROP_KIND,
  PROP_REAL,
  PROP_FAKE,
  PROP_EXTRACTOR,
  PROP_EXTRACTOR_WEIGHTS,
  PROP_REAL_STATS,
  PROP_LOGITS,
  PROP_IMAGE_EMB,
  PROP_TEXT_EMB,
  PROP_SPLITS,
  PROP_UNBIASED_STD,
  PROP_SEED,
  PROP_CANDIDATES,
  PROP_TOP_K,
  PROP_SCALE,
  PROP_CLAMP,
  PROP_BEST_OF,
  PROP_LUMA,
  PROP_CHROMATIC,
  PROP_ATTR_PREFIX,
  PROP_OUTPUT,
};

#define DEFAULT_KIND T2I_METRIC_FID
#define DEFAULT_REAL "real"
#define DEFAULT_FAKE "fake"
#define DEFAULT_EXTRACTOR "none"
#define DEFAULT_LOGITS "logits"
#define DEFAULT_IMAGE_EMB "image-emb"
#define DEFAULT_TEXT_EMB "text-emb"
#define DEFAULT_SPLITS 10
#define DEFAULT_SEED 0
#define DEFAULT_CANDIDATES 100
#define DEFAULT_TOP_K "1,5"
#define DEFAULT_SCALE 100.0
#define DEFAULT_BEST_OF 1
#define DEFAULT_ATTR_PREFIX "attr/"

G_DEFINE_TYPE_WITH_CODE (T2iMetric, t2i_metric, T2I_TYPE_TRANSFORM,
    GST_DEBUG_CATEGORY_INIT (t2i_metric_debug, "t2imetric", 0,
        "t2i metrics"));
GST_ELEMENT_REGISTER_DEFINE (t2imetric, "t2imetric", GST_RANK_NONE,
    T2I_TYPE_METRIC);

#define T2I_TYPE_METRIC_KIND (t2i_metric_kind_get_type ())
static GType
t2i_metric_kind_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {T2I_METRIC_FID, "Frechet Inception Distance of feature vectors", "fid"},
    {T2I_METRIC_IS, "Inception Score of classifier logits", "is"},
    {T2I_METRIC_R_PRECISION, "Caption retrieval among 100 candidates",
        "r-precision"},
    {T2I_METRIC_CLIP_SCORE, "Mean cosine of image and text embeddings",
        "clip-score"},
    {T2I_METRIC_SSIM, "Structural similarity of paired images", "ssim"},
    {T2I_METRIC_FSIM, "Feature similarity of paired images", "fsim"},
    {T2I_METRIC_ATTR_ACC, "Shapes attribute accuracy from pixels",
        "attr-acc"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("T2iMetricKind", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static const char *
kind_name (T2iMetricKind kind)
{
  GEnumValue *v = g_enum_get_value (g_type_class_peek (T2I_TYPE_METRIC_KIND),
      kind);
  return v ? v->value_nick : "?";
}

/* "<prefix><name>" */
static gchar *
attr_entry (T2iMetric * self, const char *name)
{
  return g_strconcat (self->attr_prefix ? self->attr_prefix : "", name, NULL);
}

static const char *const attr_names[] = { "color", "shape", "size", "pos" };

/* ---- feature extractor ---- */

typedef enum
{
  MODEL_NONE,
  MODEL_INCEPTION,
  MODEL_CLIP,
} ExtractorModel;

/* the network the element runs itself: only for fid and is, and only for
 * the extractor names of a model; any other extractor value is a label of
 * entries that already hold the features */
static ExtractorModel
extractor_model (T2iMetric * self)
{
  if (self->kind != T2I_METRIC_FID && self->kind != T2I_METRIC_IS)
    return MODEL_NONE;
  if (g_strcmp0 (self->extractor, "inception-v3") == 0)
    return MODEL_INCEPTION;
  if (g_strcmp0 (self->extractor, "clip") == 0)
    return MODEL_CLIP;
  return MODEL_NONE;
}

/* the prefix ("" or ending in '.') under which the file holds @stem */
static gchar *
find_prefix (T2iSafetensors * st, const char *stem, const char *what,
    GError ** error)
{
  const char *const *names = t2i_safetensors_names (st);
  const gsize sl = strlen (stem);
  gchar *found = NULL;
  guint n = 0;

  if (t2i_safetensors_has (st, stem))
    return g_strdup ("");
  for (guint i = 0; names[i]; i++) {
    const gsize nl = strlen (names[i]);
    if (nl <= sl || strcmp (names[i] + nl - sl, stem) != 0
        || names[i][nl - sl - 1] != '.')
      continue;
    if (n++ == 0)
      found = g_strndup (names[i], nl - sl);
  }
  if (n == 1)
    return found;
  g_free (found);
  g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
      "%s %s (looked for a tensor named [prefix.]%s)",
      n ? "several prefixes hold" : "holds no", what, stem);
  return NULL;
}

static gboolean
load_inception (T2iMetric * self, T2iSafetensors * st, GError ** error)
{
  g_autofree gchar *prefix = find_prefix (st, "Conv2d_1a_3x3.conv.weight",
      "Inception-v3 network", error);
  if (prefix == NULL)
    return FALSE;
  g_autofree gchar *fc = g_strconcat (prefix, "fc.weight", NULL);
  gint64 shape[T2I_MAX_DIMS];
  gint ndim = 0;
  gint classes = 0;

  if (t2i_safetensors_get_info (st, fc, NULL, &ndim, shape, NULL)
      && ndim == 2)
    classes = (gint) shape[0];
  T2iInceptionVariant variant = classes == 1000 ? T2I_INCEPTION_TORCHVISION
      : T2I_INCEPTION_FID;
  self->inception = t2i_inception_new_from_safetensors (st, prefix, variant,
      error);
  if (self->inception == NULL)
    return FALSE;
  if (self->kind == T2I_METRIC_IS
      && t2i_inception_get_num_classes (self->inception) == 0) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
        "holds no fc layer: the Inception Score needs the classifier");
    return FALSE;
  }
  g_autofree gchar *base = g_path_get_basename (t2i_safetensors_get_path
      (st));
  self->label = g_strdup_printf ("inception-v3 (%s, %s)",
      variant == T2I_INCEPTION_FID ? "pytorch-fid" : "torchvision", base);
  return TRUE;
}

static gboolean
load_clip (T2iMetric * self, T2iSafetensors * st, GError ** error)
{
  /* the small CNN tower (our trained checkpoints hold it under "clip."),
   * else a ViT tower */
  g_autofree gchar *prefix = find_prefix (st, "visual.stem.conv.weight",
      "CLIP image tower", NULL);

  if (prefix == NULL)
    prefix = find_prefix (st, "visual.conv1.weight", "CLIP image tower",
        error);
  if (prefix == NULL)
    return FALSE;
  self->clip = t2i_clip_new_from_safetensors (st, prefix, T2I_CLIP_VISION,
      error);
  if (self->clip == NULL)
    return FALSE;
  gboolean vit = t2i_clip_get_config (self->clip)->vision
      == T2I_CLIP_VISION_VIT;
  self->clip_preprocess = vit;
  g_autofree gchar *base = g_path_get_basename (t2i_safetensors_get_path
      (st));
  self->label = g_strdup_printf ("clip (%s, %s)", base, vit ?
      "ViT image tower" : "our own trained encoder");
  return TRUE;
}

static void
clear_extractor (T2iMetric * self)
{
  g_clear_pointer (&self->inception, t2i_inception_free);
  g_clear_pointer (&self->clip, t2i_clip_free);
  g_clear_pointer (&self->model_key, g_free);
  g_clear_pointer (&self->label, g_free);
}

/* loads the model extractor= names (once), sets self->label */
static gboolean
prepare_extractor (T2iMetric * self, GError ** error)
{
  ExtractorModel m = extractor_model (self);
  const char *w = self->extractor_weights;
  g_autofree gchar *key = NULL;

  if (m == MODEL_NONE) {
    clear_extractor (self);
    self->label = g_strdup (self->extractor ? self->extractor : "none");
    return TRUE;
  }
  key = g_strdup_printf ("%s\n%s\n%d", self->extractor, w ? w : "",
      self->kind);
  if (g_strcmp0 (key, self->model_key) == 0)
    return TRUE;
  clear_extractor (self);
  if (m == MODEL_CLIP && self->kind == T2I_METRIC_IS) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
        "extractor=clip: the Inception Score needs classifier logits: use "
        "extractor=inception-v3, or logits= with extractor=none");
    return FALSE;
  }
  if (w == NULL || *w == '\0') {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
        "extractor=%s: set extractor-weights= to %s", self->extractor,
        m == MODEL_INCEPTION ? "a pytorch-fid Inception-v3 safetensors file "
        "(scripts/convert-checkpoint)" : "a CLIP safetensors file (a t2i "
        "CLIP checkpoint, or scripts/convert-checkpoint)");
    return FALSE;
  }
  g_autoptr (T2iSafetensors) st = t2i_safetensors_load (w, error);
  gboolean ok = st != NULL && (m == MODEL_INCEPTION ?
      load_inception (self, st, error) : load_clip (self, st, error));
  if (!ok) {
    clear_extractor (self);
    g_prefix_error (error, "extractor-weights=%s: ", w);
    return FALSE;
  }
  self->model_key = g_steal_pointer (&key);
  GST_INFO_OBJECT (self, "features from %s", self->label);
  return TRUE;
}

/* ---- negotiation ---- */

static gboolean
require (const GstStructure * in, const char *property, const char *name,
    const char *dtype, gint ndim, const gint64 * shape, const char *hint,
    GError ** error)
{
  if (!name || !*name) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "property '%s' is empty: name the entry to read", property);
    return FALSE;
  }
  if (t2i_caps_require (in, name, dtype, ndim, shape, error))
    return TRUE;
  if (hint && error && *error) {
    gchar *m = g_strconcat ((*error)->message, "; ", hint, NULL);
    g_free ((*error)->message);
    (*error)->message = m;
  }
  return FALSE;
}

static gboolean
real_stats_exist (T2iMetric * self)
{
  return self->real_stats && *self->real_stats
      && g_file_test (self->real_stats, G_FILE_TEST_EXISTS);
}

#define FEATURE_HINT "FID needs feature vectors [N,D] (extractor=none): put " \
  "an image encoder upstream that writes feature entries, or set " \
  "extractor=inception-v3|clip and extractor-weights= to read images"

static gboolean
t2i_metric_negotiate (T2iTransform * t, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  T2iMetric *self = T2I_METRIC (t);
  gint64 shape[T2I_MAX_DIMS];
  gint ndim;

  if (extractor_model (self) != MODEL_NONE) {
    g_autofree gchar *hint = g_strdup_printf ("extractor=%s reads images "
        "[N,3,H,W] in [-1,1]", self->extractor);
    const gint64 img[] = { -1, 3, -1, -1 };

    if (!require (in, "fake", self->fake, NULL, 4, img, hint, error))
      return FALSE;
    if (self->kind == T2I_METRIC_FID && !real_stats_exist (self)
        && !require (in, "real", self->real, NULL, 4, img, hint, error))
      return FALSE;
    return TRUE;
  }

  switch (self->kind) {
    case T2I_METRIC_FID:
      if (!require (in, "fake", self->fake, NULL, 2, NULL, FEATURE_HINT,
              error))
        return FALSE;
      if (!real_stats_exist (self)) {
        t2i_caps_get_entry (in, self->fake, NULL, NULL, shape);
        if (!require (in, "real", self->real, NULL, 2,
                (gint64[]) { -1, shape[1] }, FEATURE_HINT
                " (real and fake features of the same size)", error))
          return FALSE;
      }
      return TRUE;
    case T2I_METRIC_IS:
      return require (in, "logits", self->logits, NULL, 2, NULL,
          "the Inception Score needs classifier logits [N,C]", error);
    case T2I_METRIC_R_PRECISION:
    case T2I_METRIC_CLIP_SCORE:
      if (!require (in, "image-emb", self->image_emb, NULL, 2, NULL,
              "embeddings are [N,D]", error))
        return FALSE;
      t2i_caps_get_entry (in, self->image_emb, NULL, NULL, shape);
      return require (in, "text-emb", self->text_emb, NULL, 2,
          (gint64[]) { shape[0], shape[1] },
          "text embeddings pair with image-emb row by row", error);
    case T2I_METRIC_SSIM:
    case T2I_METRIC_FSIM:
      if (!require (in, "fake", self->fake, NULL, 4, NULL,
              "images are [N,C,H,W] in [-1,1]", error))
        return FALSE;
      t2i_caps_get_entry (in, self->fake, NULL, &ndim, shape);
      if (!require (in, "real", self->real, NULL, 4, shape,
              "real and fake images are paired and of one size", error))
        return FALSE;
      if ((shape[1] != 1 && shape[1] != 3)
          || (self->kind == T2I_METRIC_FSIM && self->chromatic
              && shape[1] != 3)) {
        g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
            "fake=%s has %" G_GINT64_FORMAT " channels: %s needs %s",
            self->fake, shape[1], kind_name (self->kind),
            self->chromatic ? "3 (RGB) for chromatic=true" : "1 or 3");
        return FALSE;
      }
      if (self->kind == T2I_METRIC_SSIM && shape[2] >= 0 && shape[3] >= 0
          && (shape[2] < T2I_SSIM_WIN_SIZE || shape[3] < T2I_SSIM_WIN_SIZE)) {
        g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
            "fake=%s is %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT ": SSIM "
            "needs images of at least %dx%d pixels", self->fake, shape[2],
            shape[3], T2I_SSIM_WIN_SIZE, T2I_SSIM_WIN_SIZE);
        return FALSE;
      }
      return TRUE;
    case T2I_METRIC_ATTR_ACC:
      if (!require (in, "fake", self->fake, NULL, 4, (gint64[]) { -1, 3, -1,
                  -1 }, "attr-acc reads RGB images [N,3,R,R] of the shapes "
              "dataset", error))
        return FALSE;
      t2i_caps_get_entry (in, self->fake, NULL, NULL, shape);
      if (shape[2] != shape[3] || shape[2] < T2I_SHAPES_MIN_RESOLUTION
          || shape[2] > T2I_SHAPES_MAX_RESOLUTION) {
        g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
            "fake=%s is %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT ": attr-acc "
            "needs square images of %d to %d pixels", self->fake, shape[2],
            shape[3], T2I_SHAPES_MIN_RESOLUTION, T2I_SHAPES_MAX_RESOLUTION);
        return FALSE;
      }
      for (guint k = 0; k < G_N_ELEMENTS (attr_names); k++) {
        g_autofree gchar *name = attr_entry (self, attr_names[k]);
        if (!require (in, "attr-prefix", name, "i32", 2, (gint64[]) {
                    shape[0], T2I_SHAPES_MAX_OBJECTS}, "attr-acc compares "
                "with the ground truth t2idatasetsrc dataset=shapes writes "
                "(other datasets have none: leave attr-acc out, as the "
                "pipelines' attr=identity does)",
                error))
          return FALSE;
      }
      return TRUE;
  }
  return TRUE;
}

/* ---- accumulation ---- */

/* a CPU f32 copy (or reference) of entry @name, or NULL with @error */
static T2iTensor *
get_f32 (GstBuffer * record, const char *property, const char *name,
    gint ndim, GError ** error)
{
  T2iTensor *t = name ? t2i_record_get_tensor (record, name) : NULL;
  T2iTensor *cpu, *f;

  if (t == NULL || (ndim > 0 && t->ndim != ndim)) {
    g_autofree gchar *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "%s=%s: the record has no such %d-d tensor entry (it has: %s)",
        property, name ? name : "", ndim, has);
    return NULL;
  }
  cpu = t2i_tensor_to_device (t, T2I_DEVICE_CPU, error);
  if (cpu == NULL)
    return NULL;
  if (cpu->dtype == T2I_F32)
    return cpu;
  f = t2i_tensor_to_dtype (cpu, T2I_F32);
  t2i_tensor_unref (cpu);
  return f;
}

/* features [N,D] (fid) or logits [N,C] (is) of entry @name: the entry
 * itself with extractor=none, else the frozen model's output on the images */
static T2iTensor *
get_features (T2iMetric * self, GstBuffer * record, const char *property,
    const char *name, GError ** error)
{
  ExtractorModel m = extractor_model (self);

  if (m == MODEL_NONE)
    return get_f32 (record, property, name, 2, error);

  g_autoptr (T2iTensor) x = get_f32 (record, property, name, 4, error);
  T2iTensor *out = NULL;
  gboolean grad;

  if (x == NULL)
    return NULL;
  if (x->shape[1] != 3) {
    g_autofree gchar *sh = t2i_shape_to_string (x->ndim, x->shape);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%s=%s is %s: extractor=%s reads RGB images [N,3,H,W]", property,
        name, sh, self->extractor);
    return NULL;
  }
  grad = t2i_set_grad_enabled (FALSE);
  if (m == MODEL_INCEPTION) {
    T2iInceptionOutputs o;
    gboolean logits = self->kind == T2I_METRIC_IS;

    if (t2i_inception_forward (self->inception, x, TRUE, logits ?
            T2I_INCEPTION_LOGITS : T2I_INCEPTION_POOL, &o, error)) {
      out = t2i_tensor_ref (logits ? o.logits : o.pool);
      t2i_inception_outputs_clear (&o);
    } else {
      g_prefix_error (error, "%s=%s: ", property, name);
    }
  } else {
    g_autoptr (T2iTensor) pix = self->clip_preprocess ?
        t2i_clip_preprocess (self->clip, x) : t2i_tensor_ref (x);
    out = t2i_clip_encode_image (self->clip, pix);
  }
  t2i_set_grad_enabled (grad);
  if (out != NULL && out->dtype != T2I_F32) {
    T2iTensor *f = t2i_tensor_to_dtype (out, T2I_F32);
    t2i_tensor_unref (out);
    out = f;
  }
  return out;
}

static gboolean
add_fid (T2iMetric * self, GstBuffer * record, GError ** error)
{
  g_autoptr (T2iTensor) fake = get_features (self, record, "fake", self->fake,
      error);
  if (fake == NULL)
    return FALSE;
  gint dim = (gint) fake->shape[1];

  if (self->fid_fake == NULL)
    self->fid_fake = t2i_fid_stats_new (dim);
  if (!t2i_fid_stats_add_tensor (self->fid_fake, fake, error)) {
    g_prefix_error (error, "fake=%s: ", self->fake);
    return FALSE;
  }
  if (!self->real_loaded) {
    g_autoptr (T2iTensor) real = get_features (self, record, "real",
        self->real, error);
    if (real == NULL)
      return FALSE;
    if (self->fid_real == NULL)
      self->fid_real = t2i_fid_stats_new (dim);
    if (!t2i_fid_stats_add_tensor (self->fid_real, real, error)) {
      g_prefix_error (error, "real=%s: ", self->real);
      return FALSE;
    }
  } else if (t2i_fid_stats_get_dim (self->fid_real) != dim) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_MISMATCH,
        "real-stats=%s holds %d-dim statistics but fake=%s has %d-dim "
        "features", self->real_stats, t2i_fid_stats_get_dim (self->fid_real),
        self->fake, dim);
    return FALSE;
  }
  self->n += fake->shape[0];
  return TRUE;
}

static gboolean
add_rows (T2iMetric * self, GArray * dst, GstBuffer * record,
    const char *property, const char *name, GError ** error)
{
  g_autoptr (T2iTensor) t = extractor_model (self) != MODEL_NONE ?
      get_features (self, record, property, name, error)
      : get_f32 (record, property, name, 2, error);
  if (t == NULL)
    return FALSE;
  if (self->width == 0)
    self->width = (gint) t->shape[1];
  if (t->shape[1] != self->width) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%s=%s has %" G_GINT64_FORMAT " columns, earlier records had %d",
        property, name, t->shape[1], self->width);
    return FALSE;
  }
  g_array_append_vals (dst, t->data, (guint) t->numel);
  return TRUE;
}

static gboolean
add_embeddings (T2iMetric * self, GstBuffer * record, GError ** error)
{
  g_autoptr (T2iTensor) img = get_f32 (record, "image-emb", self->image_emb,
      2, error);
  if (img == NULL)
    return FALSE;
  g_autoptr (T2iTensor) txt = get_f32 (record, "text-emb", self->text_emb, 2,
      error);
  if (txt == NULL)
    return FALSE;
  if (!t2i_tensor_same_shape (img, txt)) {
    g_autofree gchar *a = t2i_shape_to_string (img->ndim, img->shape);
    g_autofree gchar *b = t2i_shape_to_string (txt->ndim, txt->shape);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "image-emb=%s %s and text-emb=%s %s must have the same shape",
        self->image_emb, a, self->text_emb, b);
    return FALSE;
  }
  if (self->kind == T2I_METRIC_CLIP_SCORE) {
    gint64 n = img->shape[0];
    guint len = self->values->len;

    g_array_set_size (self->values, len + (guint) n);
    t2i_cosine_rows (t2i_tensor_f32 (img), t2i_tensor_f32 (txt), n,
        (gint) img->shape[1], &g_array_index (self->values, double, len));
  } else {
    if (self->width == 0)
      self->width = (gint) img->shape[1];
    if (img->shape[1] != self->width) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "image-emb=%s has %" G_GINT64_FORMAT " columns, earlier records "
          "had %d", self->image_emb, img->shape[1], self->width);
      return FALSE;
    }
    g_array_append_vals (self->floats_a, img->data, (guint) img->numel);
    g_array_append_vals (self->floats_b, txt->data, (guint) txt->numel);
  }
  self->n += img->shape[0];
  return TRUE;
}

static gboolean
add_pairs (T2iMetric * self, GstBuffer * record, GError ** error)
{
  g_autoptr (T2iTensor) fake = get_f32 (record, "fake", self->fake, 4, error);
  if (fake == NULL)
    return FALSE;
  g_autoptr (T2iTensor) real = get_f32 (record, "real", self->real, 4, error);
  if (real == NULL)
    return FALSE;
  if (!t2i_tensor_same_shape (real, fake)) {
    g_autofree gchar *a = t2i_shape_to_string (real->ndim, real->shape);
    g_autofree gchar *b = t2i_shape_to_string (fake->ndim, fake->shape);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "real=%s %s and fake=%s %s must have the same shape", self->real, a,
        self->fake, b);
    return FALSE;
  }
  gint c = (gint) fake->shape[1], h = (gint) fake->shape[2];
  gint w = (gint) fake->shape[3];
  gsize item = (gsize) c * h * w;

  for (gint64 i = 0; i < fake->shape[0]; i++) {
    const float *x = t2i_tensor_f32 (real) + i * item;
    const float *y = t2i_tensor_f32 (fake) + i * item;
    double v;
    gboolean ok;

    if (self->kind == T2I_METRIC_SSIM) {
      ok = t2i_ssim (x, y, c, h, w, self->luma, &v, error);
    } else {
      if (self->fsim == NULL)
        self->fsim = t2i_fsim_new ();
      ok = t2i_fsim_compute (self->fsim, x, y, c, h, w, self->chromatic, &v,
          error);
    }
    if (!ok)
      return FALSE;
    g_array_append_val (self->values, v);
  }
  self->n += fake->shape[0];
  return TRUE;
}

static gboolean
add_attr (T2iMetric * self, GstBuffer * record, GError ** error)
{
  g_autoptr (T2iTensor) img = get_f32 (record, "fake", self->fake, 4, error);
  T2iTensor *attrs[4] = { NULL };
  g_autoptr (T2iTensor) rel = NULL;
  gboolean ok = FALSE;

  if (img == NULL)
    return FALSE;
  gint64 n = img->shape[0];
  gint res = (gint) img->shape[2];
  if (img->shape[1] != 3 || img->shape[3] != res
      || res < T2I_SHAPES_MIN_RESOLUTION || res > T2I_SHAPES_MAX_RESOLUTION) {
    g_autofree gchar *s = t2i_shape_to_string (img->ndim, img->shape);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "fake=%s is %s: attr-acc needs RGB square images [N,3,R,R]",
        self->fake, s);
    return FALSE;
  }
  for (guint k = 0; k < G_N_ELEMENTS (attr_names); k++) {
    g_autofree gchar *name = attr_entry (self, attr_names[k]);
    T2iTensor *a = t2i_record_get_tensor (record, name);
    if (a == NULL || a->dtype != T2I_I32 || a->ndim != 2
        || a->shape[0] != n || a->shape[1] != T2I_SHAPES_MAX_OBJECTS) {
      g_autofree gchar *has = t2i_record_describe (record);
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
          "attr-acc needs the ground truth %s i32[%" G_GINT64_FORMAT ",%d] "
          "(t2idatasetsrc dataset=shapes writes it; the record has: %s)",
          name, n, T2I_SHAPES_MAX_OBJECTS, has);
      goto out;
    }
    /* the detector reads them on the host */
    if (!(attrs[k] = t2i_tensor_to_device (a, T2I_DEVICE_CPU, error)))
      goto out;
  }
  {
    g_autofree gchar *name = attr_entry (self, "relation");
    T2iTensor *r = t2i_record_get_tensor (record, name);
    if (r != NULL && r->dtype == T2I_I32 && r->numel == n
        && !(rel = t2i_tensor_to_device (r, T2I_DEVICE_CPU, error)))
      goto out;
  }
  if (self->detector != NULL
      && t2i_shapes_detector_get_resolution (self->detector) != res)
    g_clear_pointer (&self->detector, t2i_shapes_detector_free);
  if (self->detector == NULL)
    self->detector = t2i_shapes_detector_new (res);

  for (gint64 i = 0; i < n; i++) {
    T2iShapesDetection det;
    const gint32 *gt[4];
    gint n_true = 0;

    for (guint k = 0; k < 4; k++)
      gt[k] = t2i_tensor_i32 (attrs[k]) + i * T2I_SHAPES_MAX_OBJECTS;
    while (n_true < T2I_SHAPES_MAX_OBJECTS && gt[0][n_true] >= 0)
      n_true++;
    t2i_shapes_detector_detect (self->detector, t2i_tensor_f32 (img)
        + i * 3 * res * res, &det);
    t2i_attr_acc_add (&self->acc, &det, n_true, gt[0], gt[1], gt[2], gt[3],
        rel ? t2i_tensor_i32 (rel)[i] : -1);
  }
  self->n += n;
  ok = TRUE;
out:
  for (guint k = 0; k < G_N_ELEMENTS (attrs); k++)
    if (attrs[k])
      t2i_tensor_unref (attrs[k]);
  return ok;
}

static gboolean
t2i_metric_process (T2iTransform * t, GstBuffer * record, GError ** error)
{
  T2iMetric *self = T2I_METRIC (t);
  T2iRecordMeta *meta = t2i_record_get_meta (record);

  /* with phases, each batch comes once per phase: count the first only */
  if (meta != NULL && meta->phase[0]) {
    if (!self->have_phase) {
      g_strlcpy (self->phase, meta->phase, sizeof (self->phase));
      self->have_phase = TRUE;
    } else if (strcmp (self->phase, meta->phase) != 0) {
      return TRUE;
    }
  }

  gint64 before = self->n;
  gboolean ok = TRUE;
  switch (self->kind) {
    case T2I_METRIC_FID:
      ok = add_fid (self, record, error);
      break;
    case T2I_METRIC_IS:{
      guint rows = self->floats_a->len;
      gboolean model = extractor_model (self) != MODEL_NONE;
      ok = add_rows (self, self->floats_a, record, model ? "fake" : "logits",
          model ? self->fake : self->logits, error);
      if (ok)
        self->n += (self->floats_a->len - rows) / self->width;
      break;
    }
    case T2I_METRIC_R_PRECISION:
    case T2I_METRIC_CLIP_SCORE:
      ok = add_embeddings (self, record, error);
      break;
    case T2I_METRIC_SSIM:
    case T2I_METRIC_FSIM:
      ok = add_pairs (self, record, error);
      break;
    case T2I_METRIC_ATTR_ACC:
      ok = add_attr (self, record, error);
      break;
  }
  if (ok) {
    gint64 rows = self->n - before;
    g_array_append_val (self->batch_rows, rows);
  }
  return ok;
}

/* ---- data-parallel: every rank's share to rank 0 ---- */

/* what this rank accumulated, as bytes: counts, the per-record rows, the
 * row arrays, the attr-acc counts and the FID sums */
static GBytes *
pack_share (T2iMetric * self)
{
  GByteArray *b = g_byte_array_new ();
  g_autoptr (GBytes) fake = self->fid_fake ?
      t2i_fid_stats_serialize (self->fid_fake) : NULL;
  g_autoptr (GBytes) real = self->fid_real && !self->real_loaded ?
      t2i_fid_stats_serialize (self->fid_real) : NULL;
  gint64 head[8] = { self->n, self->width, self->batch_rows->len,
    self->floats_a->len, self->floats_b->len, self->values->len,
    fake ? (gint64) g_bytes_get_size (fake) : 0,
    real ? (gint64) g_bytes_get_size (real) : 0,
  };
  g_byte_array_append (b, (const guint8 *) head, sizeof head);
  g_byte_array_append (b, (const guint8 *) self->batch_rows->data,
      self->batch_rows->len * sizeof (gint64));
  g_byte_array_append (b, (const guint8 *) self->floats_a->data,
      self->floats_a->len * sizeof (float));
  g_byte_array_append (b, (const guint8 *) self->floats_b->data,
      self->floats_b->len * sizeof (float));
  g_byte_array_append (b, (const guint8 *) self->values->data,
      self->values->len * sizeof (double));
  g_byte_array_append (b, (const guint8 *) &self->acc, sizeof self->acc);
  if (fake)
    g_byte_array_append (b, g_bytes_get_data (fake, NULL),
        g_bytes_get_size (fake));
  if (real)
    g_byte_array_append (b, g_bytes_get_data (real, NULL),
        g_bytes_get_size (real));
  return g_byte_array_free_to_bytes (b);
}

/* one rank's share, pointing into the gathered bytes */
typedef struct
{
  gint64 n, width, n_batches, len_a, len_b, len_v, len_fake, len_real;
  const gint64 *rows;
  const float *a, *b;
  const double *v;
  T2iAttrAcc acc;
  GBytes *fake, *real;
  gint64 next_a, next_b, next_v;        /* cursors while merging */
} Share;

static gboolean
unpack_share (GBytes * bytes, Share * sh, GError ** error)
{
  gsize len = 0;
  const guint8 *p = g_bytes_get_data (bytes, &len);
  gint64 head[8];
  gsize need = sizeof head;

  memset (sh, 0, sizeof *sh);
  if (len >= sizeof head) {
    memcpy (head, p, sizeof head);
    need += (gsize) head[2] * sizeof (gint64) + (gsize) (head[3] + head[4]) *
        sizeof (float) + (gsize) head[5] * sizeof (double) + sizeof sh->acc +
        (gsize) head[6] + (gsize) head[7];
  }
  if (len < sizeof head || len != need) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "a rank sent %" G_GSIZE_FORMAT " bytes that are no metric share",
        len);
    return FALSE;
  }
  sh->n = head[0];
  sh->width = head[1];
  sh->n_batches = head[2];
  sh->len_a = head[3];
  sh->len_b = head[4];
  sh->len_v = head[5];
  sh->len_fake = head[6];
  sh->len_real = head[7];
  p += sizeof head;
  sh->rows = (const gint64 *) p;
  p += sh->n_batches * sizeof (gint64);
  sh->a = (const float *) p;
  p += sh->len_a * sizeof (float);
  sh->b = (const float *) p;
  p += sh->len_b * sizeof (float);
  sh->v = (const double *) p;
  p += sh->len_v * sizeof (double);
  memcpy (&sh->acc, p, sizeof sh->acc);
  p += sizeof sh->acc;
  sh->fake = sh->len_fake ? g_bytes_new_from_bytes (bytes, (gsize) (p -
          (const guint8 *) g_bytes_get_data (bytes, NULL)),
      (gsize) sh->len_fake) : NULL;
  p += sh->len_fake;
  sh->real = sh->len_real ? g_bytes_new_from_bytes (bytes, (gsize) (p -
          (const guint8 *) g_bytes_get_data (bytes, NULL)),
      (gsize) sh->len_real) : NULL;
  return TRUE;
}

static gboolean
merge_fid (T2iFidStats ** into, GBytes * bytes, GError ** error)
{
  g_autoptr (T2iFidStats) st = t2i_fid_stats_deserialize (bytes, error);
  if (st == NULL)
    return FALSE;
  if (*into == NULL) {
    *into = g_steal_pointer (&st);
    return TRUE;
  }
  return t2i_fid_stats_merge (*into, st, error);
}

/* On rank 0: the state one process would have after the whole stream.
 * The others take part in the gather and keep nothing. */
static gboolean
gather_shares (T2iMetric * self, GError ** error)
{
  g_autoptr (GBytes) mine = pack_share (self);
  g_autoptr (GPtrArray) all = t2i_dist_gather (mine, error);
  if (all == NULL)
    return FALSE;
  if (self->rank != 0) {
    self->n = 0;
    return TRUE;
  }
  guint k = all->len;
  Share *sh = g_new0 (Share, k);
  gboolean ok = TRUE;
  gint64 batches = 0;
  for (guint r = 0; ok && r < k; r++) {
    ok = unpack_share (all->pdata[r], &sh[r], error);
    batches = ok ? MAX (batches, sh[r].n_batches) : batches;
  }

  GArray *a = g_array_new (FALSE, FALSE, sizeof (float));
  GArray *b = g_array_new (FALSE, FALSE, sizeof (float));
  GArray *v = g_array_new (FALSE, FALSE, sizeof (double));
  T2iAttrAcc acc = { 0 };
  gint64 n = 0, width = 0;
  /* the single process's stream order: batch by batch, rank by rank */
  for (gint64 i = 0; ok && i < batches; i++) {
    for (guint r = 0; r < k; r++) {
      if (i >= sh[r].n_batches)
        continue;
      gint64 rows = sh[r].rows[i];
      if (sh[r].len_a) {
        g_array_append_vals (a, sh[r].a + sh[r].next_a,
            (guint) (rows * sh[r].width));
        sh[r].next_a += rows * sh[r].width;
      }
      if (sh[r].len_b) {
        g_array_append_vals (b, sh[r].b + sh[r].next_b,
            (guint) (rows * sh[r].width));
        sh[r].next_b += rows * sh[r].width;
      }
      if (sh[r].len_v) {
        g_array_append_vals (v, sh[r].v + sh[r].next_v, (guint) rows);
        sh[r].next_v += rows;
      }
    }
  }
  for (guint r = 0; ok && r < k; r++) {
    if (width == 0)
      width = sh[r].width;
    if (sh[r].width != 0 && sh[r].width != width) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "rank %u's rows have %" G_GINT64_FORMAT " columns, rank 0's %"
          G_GINT64_FORMAT, r, sh[r].width, width);
      ok = FALSE;
    }
    n += sh[r].n;
    acc.images += sh[r].acc.images;
    acc.objects += sh[r].acc.objects;
    acc.pairs += sh[r].acc.pairs;
    for (guint j = 0; j < T2I_SHAPES_N_ATTRS; j++)
      acc.correct[j] += sh[r].acc.correct[j];
  }
  /* FID: rank 0's own sums, then the others' */
  for (guint r = 1; ok && r < k; r++) {
    if (sh[r].fake)
      ok = merge_fid (&self->fid_fake, sh[r].fake, error);
    if (ok && sh[r].real && !self->real_loaded)
      ok = merge_fid (&self->fid_real, sh[r].real, error);
  }
  if (ok) {
    g_array_unref (self->floats_a);
    g_array_unref (self->floats_b);
    g_array_unref (self->values);
    self->floats_a = g_steal_pointer (&a);
    self->floats_b = g_steal_pointer (&b);
    self->values = g_steal_pointer (&v);
    self->acc = acc;
    self->n = n;
    self->width = (gint) width;
  }
  g_clear_pointer (&a, g_array_unref);
  g_clear_pointer (&b, g_array_unref);
  g_clear_pointer (&v, g_array_unref);
  for (guint r = 0; r < k; r++) {
    g_clear_pointer (&sh[r].fake, g_bytes_unref);
    g_clear_pointer (&sh[r].real, g_bytes_unref);
  }
  g_free (sh);
  return ok;
}

/* ---- results ---- */

static void
mean_std (GArray * values, double *mean, double *std)
{
  double m = 0.0, v = 0.0;

  for (guint i = 0; i < values->len; i++)
    m += g_array_index (values, double, i);
  m /= MAX (values->len, 1);
  for (guint i = 0; i < values->len; i++) {
    double d = g_array_index (values, double, i) - m;
    v += d * d;
  }
  *mean = m;
  *std = sqrt (v / MAX (values->len, 1));
}

static gboolean
compute_fid (T2iMetric * self, double *value, GstStructure * details,
    GError ** error)
{
  T2iFidResult r;
  g_autofree gchar *warning = NULL;

  if (self->fid_fake == NULL || self->fid_real == NULL) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_TOO_FEW,
        "FID: no features reached the element");
    return FALSE;
  }
  if (!t2i_fid_compute (self->fid_real, self->fid_fake, &r, &warning, error))
    return FALSE;
  if (warning)
    GST_ELEMENT_WARNING (self, STREAM, FAILED, ("%s", warning), (NULL));
  if (self->real_stats && *self->real_stats && !self->real_loaded) {
    if (!t2i_fid_stats_save (self->fid_real, self->real_stats,
            self->label ? self->label : self->extractor, error)) {
      g_prefix_error (error, "real-stats=%s: ", self->real_stats);
      return FALSE;
    }
    GST_INFO_OBJECT (self, "saved the real statistics to %s",
        self->real_stats);
  }
  *value = r.value;
  gst_structure_set (details,
      "dim", G_TYPE_INT, t2i_fid_stats_get_dim (self->fid_fake),
      "n-real", G_TYPE_INT64, t2i_fid_stats_get_n (self->fid_real),
      "mean-term", G_TYPE_DOUBLE, r.mean_term,
      "trace-real", G_TYPE_DOUBLE, r.trace1,
      "trace-fake", G_TYPE_DOUBLE, r.trace2,
      "trace-sqrt", G_TYPE_DOUBLE, r.trace_sqrt,
      "clamped-eigenvalues", G_TYPE_INT, r.n_clamped,
      "rank-deficient", G_TYPE_BOOLEAN, warning != NULL, NULL);
  if (self->real_stats && *self->real_stats)
    gst_structure_set (details, "real-stats", G_TYPE_STRING,
        self->real_stats, NULL);
  return TRUE;
}

static gboolean
compute (T2iMetric * self, double *value, GstStructure * details,
    GError ** error)
{
  switch (self->kind) {
    case T2I_METRIC_FID:
      return compute_fid (self, value, details, error);
    case T2I_METRIC_IS:{
      double std;
      if (!t2i_inception_score ((const float *) self->floats_a->data,
              self->n, self->width, self->splits, self->unbiased_std, value,
              &std, error))
        return FALSE;
      gst_structure_set (details, "std", G_TYPE_DOUBLE, std,
          "splits", G_TYPE_INT, self->splits,
          "classes", G_TYPE_INT, self->width,
          "unbiased-std", G_TYPE_BOOLEAN, self->unbiased_std, NULL);
      return TRUE;
    }
    case T2I_METRIC_R_PRECISION:{
      double hits[MAX_TOP_K];
      gint used;
      if (!t2i_rprecision_compute ((const float *) self->floats_a->data,
              (const float *) self->floats_b->data, self->n, self->width,
              self->seed, self->candidates, self->ks, self->n_ks, hits, &used,
              error))
        return FALSE;
      if (used < self->candidates)
        GST_ELEMENT_WARNING (self, STREAM, FAILED,
            ("R-precision from %" G_GINT64_FORMAT " captions: only %d "
                "candidates per image instead of %d, so the value is not "
                "comparable with published ones", self->n, used,
                self->candidates), (NULL));
      *value = hits[0];
      for (gint k = 0; k < self->n_ks; k++) {
        g_autofree gchar *field = g_strdup_printf ("top-%d", self->ks[k]);
        gst_structure_set (details, field, G_TYPE_DOUBLE, hits[k], NULL);
      }
      gst_structure_set (details, "candidates", G_TYPE_INT, used,
          "seed", G_TYPE_UINT64, self->seed, NULL);
      return TRUE;
    }
    case T2I_METRIC_CLIP_SCORE:{
      double std;
      if (!t2i_clip_score ((const double *) self->values->data,
              self->values->len, self->best_of, self->scale, self->clamp,
              value, &std, error))
        return FALSE;
      gst_structure_set (details, "std", G_TYPE_DOUBLE, std,
          "prompts", G_TYPE_INT64, (gint64) self->values->len / self->best_of,
          "best-of", G_TYPE_INT, self->best_of,
          "scale", G_TYPE_DOUBLE, self->scale, NULL);
      return TRUE;
    }
    case T2I_METRIC_SSIM:
    case T2I_METRIC_FSIM:{
      double std;
      mean_std (self->values, value, &std);
      gst_structure_set (details, "std", G_TYPE_DOUBLE, std, NULL);
      if (self->kind == T2I_METRIC_SSIM)
        gst_structure_set (details, "luma", G_TYPE_BOOLEAN, self->luma, NULL);
      else
        gst_structure_set (details, "chromatic", G_TYPE_BOOLEAN,
            self->chromatic, NULL);
      return TRUE;
    }
    case T2I_METRIC_ATTR_ACC:{
      static const struct
      {
        const char *field;
        T2iShapesAttr attr;
      } fields[] = {
        {"color", T2I_SHAPES_ATTR_COLOR},
        {"shape", T2I_SHAPES_ATTR_SHAPE},
        {"size", T2I_SHAPES_ATTR_SIZE},
        {"pos", T2I_SHAPES_ATTR_POS},
        {"count", T2I_SHAPES_ATTR_COUNT},
      };
      *value = t2i_attr_acc_mean (&self->acc);
      for (guint k = 0; k < G_N_ELEMENTS (fields); k++)
        gst_structure_set (details, fields[k].field, G_TYPE_DOUBLE,
            t2i_attr_acc_get (&self->acc, fields[k].attr), NULL);
      if (self->acc.pairs > 0)
        gst_structure_set (details, "relation", G_TYPE_DOUBLE,
            t2i_attr_acc_get (&self->acc, T2I_SHAPES_ATTR_RELATION), NULL);
      gst_structure_set (details, "objects", G_TYPE_INT64, self->acc.objects,
          "pairs", G_TYPE_INT64, self->acc.pairs, NULL);
      return TRUE;
    }
  }
  return TRUE;
}

static void
add_json_value (JsonBuilder * b, const GValue * v)
{
  GType type = G_VALUE_TYPE (v);

  if (type == G_TYPE_STRING) {
    json_builder_add_string_value (b, g_value_get_string (v));
  } else if (type == G_TYPE_BOOLEAN) {
    json_builder_add_boolean_value (b, g_value_get_boolean (v));
  } else if (type == G_TYPE_DOUBLE) {
    double d = g_value_get_double (v);
    if (isfinite (d))
      json_builder_add_double_value (b, d);
    else
      json_builder_add_null_value (b);
  } else if (type == G_TYPE_INT) {
    json_builder_add_int_value (b, g_value_get_int (v));
  } else if (type == G_TYPE_INT64) {
    json_builder_add_int_value (b, g_value_get_int64 (v));
  } else if (type == G_TYPE_UINT64) {
    json_builder_add_int_value (b, (gint64) g_value_get_uint64 (v));
  } else if (type == GST_TYPE_STRUCTURE) {
    const GstStructure *s = gst_value_get_structure (v);
    json_builder_begin_object (b);
    for (gint i = 0; i < gst_structure_n_fields (s); i++) {
      const char *name = gst_structure_nth_field_name (s, i);
      json_builder_set_member_name (b, name);
      add_json_value (b, gst_structure_get_value (s, name));
    }
    json_builder_end_object (b);
  } else {
    g_autofree gchar *text = gst_value_serialize (v);
    json_builder_add_string_value (b, text ? text : "");
  }
}

static gboolean
write_json (const char *path, const GstStructure * s, GError ** error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  GValue v = G_VALUE_INIT;

  g_value_init (&v, GST_TYPE_STRUCTURE);
  gst_value_set_structure (&v, s);
  add_json_value (b, &v);
  g_value_unset (&v);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_root (gen, root);
  g_autofree gchar *text = json_generator_to_data (gen, NULL);
  g_autofree gchar *line = g_strconcat (text, "\n", NULL);
  return g_file_set_contents (path, line, -1, error);
}

static void
t2i_metric_finish (T2iMetric * self)
{
  g_autoptr (GError) err = NULL;
  GstStructure *details;
  double value = NAN;

  if (self->size > 1) {
    if (!gather_shares (self, &err)) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s: data-parallel: %s",
              kind_name (self->kind), err->message), (NULL));
      return;
    }
    /* rank 0 reports for the job */
    if (self->rank != 0)
      return;
  }
  if (self->n == 0) {
    GST_ELEMENT_WARNING (self, STREAM, FAILED,
        ("%s: no items reached t2imetric, nothing to report",
            kind_name (self->kind)), (NULL));
    return;
  }
  details = gst_structure_new_empty ("details");
  if (!compute (self, &value, details, &err)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s: %s",
            kind_name (self->kind), err->message), (NULL));
    gst_structure_free (details);
    return;
  }
  const char *extractor = (self->kind == T2I_METRIC_SSIM
      || self->kind == T2I_METRIC_FSIM || self->kind == T2I_METRIC_ATTR_ACC)
      ? "none" : self->label ? self->label : self->extractor;
  GstStructure *s = gst_structure_new ("t2i-metric",
      "kind", G_TYPE_STRING, kind_name (self->kind),
      "value", G_TYPE_DOUBLE, value,
      "n", G_TYPE_INT64, self->n,
      "extractor", G_TYPE_STRING, extractor ? extractor : "none",
      "details", GST_TYPE_STRUCTURE, details, NULL);
  gst_structure_free (details);
  GST_INFO_OBJECT (self, "%" GST_PTR_FORMAT, s);

  /* a report that cannot be written (a full disk) fails the pipeline;
   * the value is still posted first, so it is not lost */
  gboolean written = !self->output || !*self->output
      || write_json (self->output, s, &err);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
  if (!written)
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("output=%s: %s",
            self->output, err->message), (NULL));
}

static gboolean
t2i_metric_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS)
    t2i_metric_finish (T2I_METRIC (trans));
  return GST_BASE_TRANSFORM_CLASS (t2i_metric_parent_class)->sink_event (trans,
      event);
}

/* ---- lifetime ---- */

static void
reset (T2iMetric * self)
{
  g_clear_pointer (&self->fid_real, t2i_fid_stats_free);
  g_clear_pointer (&self->fid_fake, t2i_fid_stats_free);
  g_clear_pointer (&self->floats_a, g_array_unref);
  g_clear_pointer (&self->floats_b, g_array_unref);
  g_clear_pointer (&self->values, g_array_unref);
  g_clear_pointer (&self->batch_rows, g_array_unref);
  g_clear_pointer (&self->fsim, t2i_fsim_free);
  g_clear_pointer (&self->detector, t2i_shapes_detector_free);
  memset (&self->acc, 0, sizeof (self->acc));
  self->real_loaded = FALSE;
  self->have_phase = FALSE;
  self->n = 0;
  self->width = 0;
}

static gboolean
parse_top_k (T2iMetric * self)
{
  g_auto (GStrv) parts = g_strsplit (self->top_k ? self->top_k : "", ",", -1);

  self->n_ks = 0;
  for (guint i = 0; parts[i]; i++) {
    gchar *end = NULL;
    const char *p = g_strstrip (parts[i]);
    gint64 k = g_ascii_strtoll (p, &end, 10);

    if (!*p || *end || k < 1 || k > G_MAXINT || self->n_ks >= MAX_TOP_K)
      return FALSE;
    self->ks[self->n_ks++] = (gint) k;
  }
  return self->n_ks > 0;
}

static gboolean
t2i_metric_start (GstBaseTransform * trans)
{
  T2iMetric *self = T2I_METRIC (trans);

  reset (self);
  self->floats_a = g_array_new (FALSE, FALSE, sizeof (float));
  self->floats_b = g_array_new (FALSE, FALSE, sizeof (float));
  self->values = g_array_new (FALSE, FALSE, sizeof (double));
  self->batch_rows = g_array_new (FALSE, FALSE, sizeof (gint64));
  {
    T2iSession *session = t2i_transform_get_session (T2I_TRANSFORM (self));
    self->rank = t2i_session_get_rank (session);
    self->size = t2i_session_get_size (session);
  }
  if (!parse_top_k (self)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("top-k=%s: give 1 to %d ranks >= 1 separated by commas, e.g. "
            "top-k=1,5", self->top_k ? self->top_k : "", MAX_TOP_K), (NULL));
    return FALSE;
  }
  {
    g_autoptr (GError) err = NULL;

    if (!prepare_extractor (self, &err)) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", err->message),
          (NULL));
      return FALSE;
    }
  }
  if (self->kind == T2I_METRIC_FID && real_stats_exist (self)) {
    g_autoptr (GError) err = NULL;
    g_autofree gchar *ex = NULL;

    self->fid_real = t2i_fid_stats_load (self->real_stats, &ex, &err);
    if (self->fid_real == NULL) {
      GST_ELEMENT_ERROR (self, RESOURCE, READ, ("real-stats=%s: %s",
              self->real_stats, err->message), (NULL));
      return FALSE;
    }
    if (g_strcmp0 (ex, self->label) != 0) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("real-stats=%s holds statistics of extractor '%s' but this "
              "element's features are extractor=%s: delete the file or "
              "use matching features", self->real_stats, ex,
              self->label), (NULL));
      return FALSE;
    }
    self->real_loaded = TRUE;
  }
  return TRUE;
}

static gboolean
t2i_metric_stop (GstBaseTransform * trans)
{
  reset (T2I_METRIC (trans));
  return TRUE;
}

static void
set_string (gchar ** slot, const GValue * v, const char *fallback)
{
  g_free (*slot);
  *slot = g_value_dup_string (v);
  if (*slot == NULL && fallback)
    *slot = g_strdup (fallback);
}

static void
t2i_metric_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iMetric *self = T2I_METRIC (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_KIND:
      self->kind = g_value_get_enum (v);
      break;
    case PROP_REAL:
      set_string (&self->real, v, DEFAULT_REAL);
      break;
    case PROP_FAKE:
      set_string (&self->fake, v, DEFAULT_FAKE);
      break;
    case PROP_EXTRACTOR:
      set_string (&self->extractor, v, DEFAULT_EXTRACTOR);
      break;
    case PROP_EXTRACTOR_WEIGHTS:
      set_string (&self->extractor_weights, v, NULL);
      break;
    case PROP_REAL_STATS:
      set_string (&self->real_stats, v, NULL);
      break;
    case PROP_LOGITS:
      set_string (&self->logits, v, DEFAULT_LOGITS);
      break;
    case PROP_IMAGE_EMB:
      set_string (&self->image_emb, v, DEFAULT_IMAGE_EMB);
      break;
    case PROP_TEXT_EMB:
      set_string (&self->text_emb, v, DEFAULT_TEXT_EMB);
      break;
    case PROP_SPLITS:
      self->splits = g_value_get_int (v);
      break;
    case PROP_UNBIASED_STD:
      self->unbiased_std = g_value_get_boolean (v);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint64 (v);
      break;
    case PROP_CANDIDATES:
      self->candidates = g_value_get_int (v);
      break;
    case PROP_TOP_K:
      set_string (&self->top_k, v, DEFAULT_TOP_K);
      break;
    case PROP_SCALE:
      self->scale = g_value_get_double (v);
      break;
    case PROP_CLAMP:
      self->clamp = g_value_get_boolean (v);
      break;
    case PROP_BEST_OF:
      self->best_of = g_value_get_int (v);
      break;
    case PROP_LUMA:
      self->luma = g_value_get_boolean (v);
      break;
    case PROP_CHROMATIC:
      self->chromatic = g_value_get_boolean (v);
      break;
    case PROP_ATTR_PREFIX:
      set_string (&self->attr_prefix, v, "");
      break;
    case PROP_OUTPUT:
      set_string (&self->output, v, NULL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_metric_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iMetric *self = T2I_METRIC (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_KIND:
      g_value_set_enum (v, self->kind);
      break;
    case PROP_REAL:
      g_value_set_string (v, self->real);
      break;
    case PROP_FAKE:
      g_value_set_string (v, self->fake);
      break;
    case PROP_EXTRACTOR:
      g_value_set_string (v, self->extractor);
      break;
    case PROP_EXTRACTOR_WEIGHTS:
      g_value_set_string (v, self->extractor_weights);
      break;
    case PROP_REAL_STATS:
      g_value_set_string (v, self->real_stats);
      break;
    case PROP_LOGITS:
      g_value_set_string (v, self->logits);
      break;
    case PROP_IMAGE_EMB:
      g_value_set_string (v, self->image_emb);
      break;
    case PROP_TEXT_EMB:
      g_value_set_string (v, self->text_emb);
      break;
    case PROP_SPLITS:
      g_value_set_int (v, self->splits);
      break;
    case PROP_UNBIASED_STD:
      g_value_set_boolean (v, self->unbiased_std);
      break;
    case PROP_SEED:
      g_value_set_uint64 (v, self->seed);
      break;
    case PROP_CANDIDATES:
      g_value_set_int (v, self->candidates);
      break;
    case PROP_TOP_K:
      g_value_set_string (v, self->top_k);
      break;
    case PROP_SCALE:
      g_value_set_double (v, self->scale);
      break;
    case PROP_CLAMP:
      g_value_set_boolean (v, self->clamp);
      break;
    case PROP_BEST_OF:
      g_value_set_int (v, self->best_of);
      break;
    case PROP_LUMA:
      g_value_set_boolean (v, self->luma);
      break;
    case PROP_CHROMATIC:
      g_value_set_boolean (v, self->chromatic);
      break;
    case PROP_ATTR_PREFIX:
      g_value_set_string (v, self->attr_prefix);
      break;
    case PROP_OUTPUT:
      g_value_set_string (v, self->output);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_metric_finalize (GObject * obj)
{
  T2iMetric *self = T2I_METRIC (obj);

  reset (self);
  clear_extractor (self);
  g_free (self->extractor_weights);
  g_free (self->real);
  g_free (self->fake);
  g_free (self->extractor);
  g_free (self->real_stats);
  g_free (self->logits);
  g_free (self->image_emb);
  g_free (self->text_emb);
  g_free (self->top_k);
  g_free (self->attr_prefix);
  g_free (self->output);
  G_OBJECT_CLASS (t2i_metric_parent_class)->finalize (obj);
}

#define PARAM_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | \
    GST_PARAM_MUTABLE_READY)

static void
t2i_metric_class_init (T2iMetricClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *bc = GST_BASE_TRANSFORM_CLASS (klass);
  T2iTransformClass *tc = T2I_TRANSFORM_CLASS (klass);

  oc->set_property = t2i_metric_set_property;
  oc->get_property = t2i_metric_get_property;
  oc->finalize = t2i_metric_finalize;
  bc->start = t2i_metric_start;
  bc->stop = t2i_metric_stop;
  bc->sink_event = t2i_metric_sink_event;
  tc->negotiate = t2i_metric_negotiate;
  tc->process = t2i_metric_process;

  g_object_class_install_property (oc, PROP_KIND,
      g_param_spec_enum ("kind", "Kind", "The metric to compute",
          T2I_TYPE_METRIC_KIND, DEFAULT_KIND, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_REAL,
      g_param_spec_string ("real", "Real",
          "Entry of the real (reference) items: features [N,D] for fid, "
          "images [N,C,H,W] for ssim and fsim", DEFAULT_REAL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_FAKE,
      g_param_spec_string ("fake", "Fake",
          "Entry of the generated items: features [N,D] for fid, images "
          "[N,C,H,W] for ssim, fsim and attr-acc", DEFAULT_FAKE,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_EXTRACTOR,
      g_param_spec_string ("extractor", "Extractor",
          "What produces the features: for fid and is, inception-v3 or clip "
          "runs that frozen network (extractor-weights) on the real and "
          "fake images; any other value (none, or a label of what wrote "
          "the entries) uses the feature, logit or embedding entries as "
          "they are.  Reported with the value and kept in real-stats files",
          DEFAULT_EXTRACTOR, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_EXTRACTOR_WEIGHTS,
      g_param_spec_string ("extractor-weights", "Extractor weights",
          "fid, is: safetensors file of the extractor=inception-v3 network "
          "(pytorch-fid or torchvision layout, scripts/convert-checkpoint) "
          "or of the extractor=clip image tower (a t2i CLIP checkpoint)",
          NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_REAL_STATS,
      g_param_spec_string ("real-stats", "Real stats",
          "fid: safetensors file of the real statistics (mu, sigma, n): "
          "read when it exists, else computed from the real entry and "
          "written at EOS", NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_LOGITS,
      g_param_spec_string ("logits", "Logits",
          "is: entry of the classifier logits [N,C]", DEFAULT_LOGITS,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_IMAGE_EMB,
      g_param_spec_string ("image-emb", "Image embeddings",
          "r-precision, clip-score: entry of the image embeddings [N,D]",
          DEFAULT_IMAGE_EMB, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_TEXT_EMB,
      g_param_spec_string ("text-emb", "Text embeddings",
          "r-precision, clip-score: entry of the caption embeddings [N,D], "
          "row i describing image i", DEFAULT_TEXT_EMB, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_SPLITS,
      g_param_spec_int ("splits", "Splits",
          "is: number of splits of the images (in stream order)", 1, 1000,
          DEFAULT_SPLITS, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_UNBIASED_STD,
      g_param_spec_boolean ("unbiased-std", "Unbiased std",
          "is: standard deviation over splits with N-1 (torchmetrics) "
          "instead of N (numpy, OpenAI, stylegan2-ada)", FALSE,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "r-precision: seed of the Philox generator drawing the mismatched "
          "captions", 0, G_MAXUINT64, DEFAULT_SEED, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_CANDIDATES,
      g_param_spec_int ("candidates", "Candidates",
          "r-precision: captions ranked per image, the true one included",
          2, 100000, DEFAULT_CANDIDATES, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_TOP_K,
      g_param_spec_string ("top-k", "Top k",
          "r-precision: comma-separated ranks k reported as top-k (the "
          "first is the value)", DEFAULT_TOP_K, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_SCALE,
      g_param_spec_double ("scale", "Scale",
          "clip-score: factor on the cosine (100 as torchmetrics, 1 for the "
          "raw cosine, 2.5 as CLIPScore)", 0.0, 1000.0, DEFAULT_SCALE,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_CLAMP,
      g_param_spec_boolean ("clamp", "Clamp",
          "clip-score: clamp the mean at 0 (as torchmetrics)", FALSE,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_BEST_OF,
      g_param_spec_int ("best-of", "Best of",
          "clip-score: candidates per prompt (consecutive rows); the best "
          "cosine of each prompt counts (CLIP re-ranking)", 1, 100000,
          DEFAULT_BEST_OF, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_LUMA,
      g_param_spec_boolean ("luma", "Luma",
          "ssim: compare the BT.601 luma of RGB images instead of averaging "
          "the channels", FALSE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_CHROMATIC,
      g_param_spec_boolean ("chromatic", "Chromatic",
          "fsim: FSIMc, also comparing the I and Q chrominance", FALSE,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_ATTR_PREFIX,
      g_param_spec_string ("attr-prefix", "Attribute prefix",
          "attr-acc: prefix of the ground-truth entries (<prefix>color, "
          "shape, size, pos, relation)", DEFAULT_ATTR_PREFIX, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_OUTPUT,
      g_param_spec_string ("output", "Output",
          "JSON file to write the result to at EOS (kind, value, n, "
          "extractor, details)", NULL, PARAM_FLAGS));

  gst_element_class_set_static_metadata (ec, "t2i metric", "Sink/Tensor",
      "Accumulates an evaluation metric (FID, IS, R-precision, CLIP score, "
      "SSIM, FSIM, shapes attribute accuracy) and reports it at EOS",
      "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_metric_init (T2iMetric * self)
{
  self->kind = DEFAULT_KIND;
  self->real = g_strdup (DEFAULT_REAL);
  self->fake = g_strdup (DEFAULT_FAKE);
  self->extractor = g_strdup (DEFAULT_EXTRACTOR);
  self->logits = g_strdup (DEFAULT_LOGITS);
  self->image_emb = g_strdup (DEFAULT_IMAGE_EMB);
  self->text_emb = g_strdup (DEFAULT_TEXT_EMB);
  self->splits = DEFAULT_SPLITS;
  self->seed = DEFAULT_SEED;
  self->candidates = DEFAULT_CANDIDATES;
  self->top_k = g_strdup (DEFAULT_TOP_K);
  self->scale = DEFAULT_SCALE;
  self->best_of = DEFAULT_BEST_OF;
  self->attr_prefix = g_strdup (DEFAULT_ATTR_PREFIX);
}
