/* t2idatasetsrc: batches of image-caption pairs from a dataset.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2idatasetsrc
 * @title: t2idatasetsrc
 *
 * Emits one record per training step: a batch of @batch-size images with
 * their captions.  Every record holds
 *
 * - `image` f32[N,3,R,R]: RGB, channel-major, values in [-1, 1]
 * - `caption` str[N]: one caption per image
 * - `id` i32[N]: the item's id (folder and emoji: the 0-based line of its
 *   image in captions.jsonl; shapes: the item index modulo 2^31)
 *
 * and for `dataset=shapes` the exact ground truth of every item, as i32
 * entries named after t2i/shapes.h: `attr/count` [N], `attr/color`,
 * `attr/shape`, `attr/size` and `attr/pos` [N,2] (-1 where an item has one
 * object) and `attr/relation` [N] (-1 for one object).
 *
 * Datasets:
 * - `shapes`: procedural coloured shapes with template captions (infinite,
 *   generated in C).  An epoch is @epoch-size fresh items: epoch e draws
 *   items e * epoch-size .. (e + 1) * epoch-size - 1.  `split=test` holds
 *   colour-shape combinations that `split=train` never shows.
 * - `folder`: @location is a folder with `captions.jsonl`, one JSON object
 *   per line: `{"image": "images/0001.png", "captions": ["a bird ...",
 *   ...], "split": "train"}` (`split` defaults to "train"; an optional
 *   `"subsets": ["faces"]` list is what @subset filters on).  Images are
 *   PNG (decoded with libpng) or any format a GStreamer decoder reads (JPEG
 *   through jpegdec); transparent pixels are composited on white, then the
 *   largest centred square is resized to @resolution.
 * - `emoji`: the folder that `scripts/fetch-data emoji` builds under the
 *   data cache (`$T2I_DATA_DIR`, else `$XDG_CACHE_HOME/t2i/emoji`, else
 *   `~/.cache/t2i/emoji`); @location overrides it.
 *
 * Order and length: an epoch is every item of the split once (times
 * @captions-per-image), in a Philox permutation drawn from (@seed, epoch)
 * when @shuffle is set; the last incomplete batch of an epoch is dropped.
 * The source stops after @epochs epochs or @max-steps steps, whichever
 * comes first (0 = no limit; when neither is set it runs one epoch).  It
 * posts the element message `t2i-progress` {step, total, batch-size}
 * before the first record, then at most once a second as batches go, and
 * at its end (step = total), and sets step and epoch in each record's
 * meta.  With
 * @phases, each batch is emitted once per phase (same data, the meta phase
 * set, and its index among the batch's records), for alternating GAN
 * updates: a loss element computes only in its phases= and t2itrainer
 * steps a group only on records that carry one of its losses, so D and G
 * alternate on the same batch; steps count batches, not records.
 * When a t2itrainer resumes from a checkpoint, the records it already
 * trained on are skipped (the session's resume step), so the stream
 * continues where the checkpoint left it.
 *
 * Everything random (order, caption choice, augmentation, shapes items)
 * derives from @seed with counter-based generators, so a seed gives the
 * same bytes on every machine and resuming needs no state.
 *
 * Data-parallel (`mpirun -np K t2i-launch ...`, docs/distributed.md):
 * every rank knows its rank r from the session and reads a disjoint shard.
 * Step s takes the K x @batch-size items s K B .. (s + 1) K B - 1 of the
 * epoch's order, the items one process with batch-size K B would take;
 * rank r gets the r-th run of B of them.  So the K ranks' batches of a
 * step are, together and in rank order, the single process's batch, and
 * an epoch has items / (K B) steps.  A bad image skipped with
 * on-error=skip is replaced, on rank r, by positions r, r + K, ... after
 * the step's items (one process takes the next ones in turn).
 *
 * Bad data (folder, emoji): a malformed line, an empty caption, a missing
 * or undecodable image, an image path that leaves the folder (absolute,
 * with '..', or through a symbolic link unless @follow-links is set) is
 * reported with the file and line.  With
 * `on-error=fail` (default) the pipeline stops with that error; with
 * `on-error=skip` the item is dropped with one warning.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2idatasetsrc dataset=shapes batch-size=16 resolution=64 max-steps=1 ! t2itovideo input=image grid-columns=4 ! videoconvert ! pngenc ! filesink location=shapes.png
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2idatasetsrc.h"
#include "gstt2iprogress.h"

#include <gst/video/video.h>
#include <string.h>
#include <t2i/t2i.h>
#include <t2i/image.h>
#include <t2i/shapes.h>

GST_DEBUG_CATEGORY_STATIC (t2i_dataset_src_debug);
#define GST_CAT_DEFAULT t2i_dataset_src_debug

#define EXAMPLE "t2idatasetsrc dataset=shapes batch-size=16 resolution=64 " \
    "max-steps=1 ! t2itovideo input=image grid-columns=4 ! videoconvert ! " \
    "pngenc ! filesink location=shapes.png"

/* largest image entry of a record */
#define MAX_RECORD_BYTES (8.0 * (1 << 30))
/* warnings about skipped items, at most, before one summary */
#define MAX_SKIP_WARNINGS 20
/* sub-streams of the seed */
#define STREAM_SHUFFLE G_GUINT64_CONSTANT (0x73687566666c65)
#define STREAM_CAPTION G_GUINT64_CONSTANT (0x63617074696f6e)
#define STREAM_AUGMENT G_GUINT64_CONSTANT (0x6175676d656e74)

typedef enum
{
  DATASET_SHAPES,
  DATASET_EMOJI,
  DATASET_FOLDER,
} DatasetKind;

typedef enum
{
  SPLIT_TRAIN,
  SPLIT_TEST,
  SPLIT_ALL,
} DatasetSplit;

typedef enum
{
  ON_ERROR_FAIL,
  ON_ERROR_SKIP,
} OnError;

/* one image of a folder dataset */
typedef struct
{
  gchar *path;                  /* resolved */
  gchar *rel;                   /* as written in captions.jsonl */
  gchar **captions;
  guint n_captions;
  gint line;                    /* 1-based line in captions.jsonl */
  gboolean bad;                 /* failed to decode (on-error=skip) */
} Item;

struct _T2iDatasetSrc
{
  T2iSource parent;

  /* properties */
  DatasetKind dataset;
  gchar *location;
  DatasetSplit split;
  gint batch_size;
  gint resolution;
  gint epochs;
  gint64 max_steps;
  gboolean shuffle;
  gint64 seed;
  gchar *phases;
  gchar *augment;
  gint captions_per_image;
  OnError on_error;
  gchar *subset;
  gint64 epoch_size;
  gint max_objects;
  gboolean follow_links;

  /* state, set up in start() */
  guint64 eff_seed;
  gchar **phase_list;           /* NULL-terminated, at least one ("") */
  guint n_phases;
  gboolean aug_crop;
  gboolean aug_flip;
  gchar *root;                  /* folder of captions.jsonl */
  gchar *index_file;            /* captions.jsonl, for messages */
  GArray *items;                /* Item, folder and emoji */
  gint64 *first_slot;           /* captions-per-image=0: prefix sums */
  gint64 n_images;              /* images per epoch */
  gint64 n_slots;               /* items per epoch */
  gint64 steps_per_epoch;
  gint64 total_steps;
  gint64 step;                  /* step of the next batch */
  guint phase;                  /* phase index of the next record */
  gint64 order_epoch;           /* epoch @order holds, -1 none */
  gint64 *order;                /* n_slots slot indices */
  GstBuffer *current;           /* the batch being emitted once per phase */
  T2iProgressPoster progress;
  guint n_skipped;
  T2iShapesConfig shapes;
  GstCaps *caps;                /* under the object lock */
  gint rank, size;              /* data-parallel shard (of the session) */
};

enum
{
  PROP_0,
  PROP_DATASET,
  PROP_LOCATION,
  PROP_SPLIT,
  PROP_BATCH_SIZE,
  PROP_RESOLUTION,
  PROP_EPOCHS,
  PROP_MAX_STEPS,
  PROP_SHUFFLE,
  PROP_SEED,
  PROP_PHASES,
  PROP_AUGMENT,
  PROP_CAPTIONS_PER_IMAGE,
  PROP_ON_ERROR,
  PROP_SUBSET,
  PROP_EPOCH_SIZE,
  PROP_MAX_OBJECTS,
  PROP_FOLLOW_LINKS,
};

#define DEFAULT_DATASET DATASET_SHAPES
#define DEFAULT_SPLIT SPLIT_TRAIN
#define DEFAULT_BATCH_SIZE 16
#define DEFAULT_RESOLUTION 64
#define DEFAULT_EPOCHS 0
#define DEFAULT_MAX_STEPS 0
#define DEFAULT_SHUFFLE TRUE
#define DEFAULT_SEED -1
#define DEFAULT_CAPTIONS_PER_IMAGE 1
#define DEFAULT_ON_ERROR ON_ERROR_FAIL
#define DEFAULT_EPOCH_SIZE 10000
#define DEFAULT_MAX_OBJECTS 2

#define T2I_TYPE_DATASET_KIND (dataset_kind_get_type ())
static GType
dataset_kind_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {DATASET_SHAPES, "Procedural coloured shapes (infinite, generated)",
        "shapes"},
    {DATASET_EMOJI, "Emoji fetched by scripts/fetch-data emoji", "emoji"},
    {DATASET_FOLDER, "A folder with captions.jsonl (location=)", "folder"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("T2iDatasetKind",
            values));
  return type;
}

#define T2I_TYPE_DATASET_SPLIT (dataset_split_get_type ())
static GType
dataset_split_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {SPLIT_TRAIN, "The training split", "train"},
    {SPLIT_TEST, "The test split", "test"},
    {SPLIT_ALL, "Every item, whatever its split", "all"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("T2iDatasetSplit",
            values));
  return type;
}

#define T2I_TYPE_DATASET_ON_ERROR (dataset_on_error_get_type ())
static GType
dataset_on_error_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {ON_ERROR_FAIL, "Stop with an error naming the file and line", "fail"},
    {ON_ERROR_SKIP, "Warn once and skip the item", "skip"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("T2iDatasetOnError",
            values));
  return type;
}

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (T2I_RECORD_CAPS_NAME));

G_DEFINE_TYPE_WITH_CODE (T2iDatasetSrc, t2i_dataset_src, T2I_TYPE_SOURCE,
    GST_DEBUG_CATEGORY_INIT (t2i_dataset_src_debug, "t2idatasetsrc", 0,
        "t2i dataset source"));
GST_ELEMENT_REGISTER_DEFINE (t2idatasetsrc, "t2idatasetsrc", GST_RANK_NONE,
    T2I_TYPE_DATASET_SRC);

static const char *
split_name (DatasetSplit split)
{
  return split == SPLIT_TRAIN ? "train" : split == SPLIT_TEST ? "test" : "all";
}

static const char *
dataset_name (DatasetKind kind)
{
  return kind == DATASET_SHAPES ? "shapes" : kind == DATASET_EMOJI ? "emoji" :
      "folder";
}

static void
item_clear (gpointer p)
{
  Item *item = p;
  g_free (item->path);
  g_free (item->rel);
  g_strfreev (item->captions);
}

static void
clear_state (T2iDatasetSrc * self)
{
  g_clear_pointer (&self->phase_list, g_strfreev);
  g_clear_pointer (&self->root, g_free);
  g_clear_pointer (&self->index_file, g_free);
  g_clear_pointer (&self->items, g_array_unref);
  g_clear_pointer (&self->first_slot, g_free);
  g_clear_pointer (&self->order, g_free);
  gst_buffer_replace (&self->current, NULL);
  self->order_epoch = -1;
  self->n_images = self->n_slots = 0;
  t2i_progress_reset (&self->progress);
  self->n_skipped = 0;
}

/* ---- caps ---- */

static GstCaps *
make_caps (T2iDatasetSrc * self)
{
  GstCaps *caps = t2i_record_caps_new_any ();
  GstStructure *s = gst_caps_get_structure (caps, 0);
  gint64 n = self->batch_size, r = self->resolution;
  gint64 image[4] = { n, 3, r, r };

  t2i_caps_set_entry (s, "image", "f32", 4, image);
  t2i_caps_set_entry (s, "caption", "str", 1, &n);
  t2i_caps_set_entry (s, "id", "i32", 1, &n);
  if (self->dataset == DATASET_SHAPES) {
    for (gint a = 0; a < T2I_SHAPES_N_ATTRS; a++) {
      gint64 shape[2] = { n, t2i_shapes_attr_width (a) };
      t2i_caps_set_entry (s, t2i_shapes_attr_name (a), "i32",
          shape[1] > 1 ? 2 : 1, shape);
    }
  }
  return caps;
}

static GstCaps *
t2i_dataset_src_get_caps (GstBaseSrc * src, GstCaps * filter)
{
  T2iDatasetSrc *self = T2I_DATASET_SRC (src);
  GstCaps *caps;

  GST_OBJECT_LOCK (self);
  caps = self->caps ? gst_caps_ref (self->caps) : make_caps (self);
  GST_OBJECT_UNLOCK (self);
  if (filter) {
    GstCaps *f = gst_caps_intersect_full (filter, caps,
        GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = f;
  }
  return caps;
}

/* ---- bad data ---- */

/* Reports a bad item: an error (returns FALSE) or, with on-error=skip, a
 * warning (returns TRUE: go on without the item). */
static gboolean
bad_item (T2iDatasetSrc * self, const char *msg)
{
  if (self->on_error == ON_ERROR_FAIL) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("%s (set on-error=skip to skip bad items)", msg), (NULL));
    return FALSE;
  }
  self->n_skipped++;
  if (self->n_skipped <= MAX_SKIP_WARNINGS)
    GST_ELEMENT_WARNING (self, RESOURCE, READ, ("%s; skipped%s", msg,
            self->n_skipped == MAX_SKIP_WARNINGS ?
            " (further skipped items are only counted)" : ""), (NULL));
  else
    GST_INFO_OBJECT (self, "%s; skipped", msg);
  return TRUE;
}

/* ---- folder and emoji: captions.jsonl ---- */

/* Where @path really is when that is outside @root: a link out of the
 * folder reaches as far as an absolute path would.  NULL when it stays
 * inside, or does not resolve (a missing image is reported as such). */
static gchar *
resolved_outside (const char *root, const char *path)
{
  g_autofree gchar *real_root = realpath (root, NULL);
  g_autofree gchar *real = realpath (path, NULL);
  gsize n = real_root ? strlen (real_root) : 0;

  if (!real_root || !real || (strncmp (real, real_root, n) == 0
          && (real[n] == '/' || real_root[n - 1] == '/')))
    return NULL;
  return g_steal_pointer (&real);
}

/* Parses one line.  Returns TRUE with @item filled (or @selected FALSE when
 * the split or subset filters it out); FALSE with @msg set when the line is
 * bad. */
static gboolean
parse_line (T2iDatasetSrc * self, const char *text, gsize len, gint line,
    Item * item, gboolean * selected, gchar ** msg)
{
  T2iCaptionsLine l;
  GError *err = NULL;

  *selected = FALSE;
  if (!t2i_captions_parse_line (text, len, &l, &err)) {
    *msg = g_strdup_printf ("%s:%d: %s", self->index_file, line,
        err->message);
    g_error_free (err);
    return FALSE;
  }

  /* filters */
  gboolean keep = self->split == SPLIT_ALL
      || g_strcmp0 (l.split, split_name (self->split)) == 0;
  if (keep && self->subset && *self->subset)
    keep = l.subsets && g_strv_contains ((const char *const *) l.subsets,
        self->subset);
  if (!keep) {
    t2i_captions_line_clear (&l);
    return TRUE;
  }

  item->rel = g_steal_pointer (&l.image);
  item->path = g_build_filename (self->root, item->rel, NULL);
  item->n_captions = g_strv_length (l.captions);
  item->captions = g_steal_pointer (&l.captions);
  item->line = line;
  item->bad = FALSE;
  t2i_captions_line_clear (&l);
  if (!g_file_test (item->path, G_FILE_TEST_IS_REGULAR)) {
    *msg = g_strdup_printf ("%s:%d: image '%s' not found", self->index_file,
        line, item->rel);
    item_clear (item);
    memset (item, 0, sizeof (*item));
    return FALSE;
  }
  g_autofree gchar *outside = self->follow_links ? NULL
      : resolved_outside (self->root, item->path);
  if (outside) {
    *msg = g_strdup_printf ("%s:%d: image '%s' is a link out of the folder "
        "(to %s); set follow-links=true to read it", self->index_file, line,
        item->rel, outside);
    item_clear (item);
    memset (item, 0, sizeof (*item));
    return FALSE;
  }
  *selected = TRUE;
  return TRUE;
}

static gchar *
default_emoji_dir (void)
{
  const char *env = g_getenv ("T2I_DATA_DIR");
  if (env && *env)
    return g_build_filename (env, "emoji", NULL);
  return g_build_filename (g_get_user_cache_dir (), "t2i", "emoji", NULL);
}

static gboolean
load_index (T2iDatasetSrc * self)
{
  gchar *contents = NULL;
  gsize size = 0;
  GError *err = NULL;

  if (self->dataset == DATASET_EMOJI) {
    self->root = self->location && *self->location ?
        g_strdup (self->location) : default_emoji_dir ();
    self->index_file = g_build_filename (self->root, "captions.jsonl", NULL);
    if (!g_file_test (self->index_file, G_FILE_TEST_IS_REGULAR)) {
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
          ("dataset=emoji: no emoji data at %s; run `scripts/fetch-data "
              "emoji` first (or point location= at its output)", self->root),
          (NULL));
      return FALSE;
    }
  } else {
    if (!self->location || !*self->location) {
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
          ("dataset=folder needs location=DIR, a folder holding "
              "captions.jsonl (see docs/data.md)"), (NULL));
      return FALSE;
    }
    self->root = g_strdup (self->location);
    self->index_file = g_build_filename (self->root, "captions.jsonl", NULL);
  }

  if (!t2i_captions_read_file (self->index_file, T2I_CAPTIONS_MAX_FILE,
          &contents, &size, &err)) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("location=%s: %s: %s (a folder dataset needs captions.jsonl, see "
            "docs/data.md)", self->root, self->index_file, err->message),
        (NULL));
    g_error_free (err);
    return FALSE;
  }

  self->items = g_array_new (FALSE, TRUE, sizeof (Item));
  g_array_set_clear_func (self->items, item_clear);
  gboolean ok = TRUE;
  const char *p = contents, *end = contents + size;
  for (gint line = 1; ok && p < end; line++) {
    const char *nl = memchr (p, '\n', (gsize) (end - p));
    const char *stop = nl ? nl : end;
    const char *a = p, *b = stop;
    p = nl ? nl + 1 : end;
    while (a < b && g_ascii_isspace (*a))
      a++;
    while (b > a && g_ascii_isspace (b[-1]))
      b--;
    if (a == b)
      continue;
    Item item = { 0 };
    gboolean selected;
    gchar *msg = NULL;
    if (!parse_line (self, a, (gsize) (b - a), line, &item, &selected, &msg)) {
      ok = bad_item (self, msg);
      g_free (msg);
    } else if (selected) {
      g_array_append_val (self->items, item);
    }
  }
  g_free (contents);
  if (!ok)
    return FALSE;

  if (self->items->len == 0) {
    g_autofree gchar *skipped = self->n_skipped ?
        g_strdup_printf (" (%u bad lines skipped)", self->n_skipped) :
        g_strdup ("");
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("%s has no usable items for split=%s%s%s%s; lines name their split "
            "with \"split\": \"train\" or \"test\" (split=all takes "
            "every line)", self->index_file, split_name (self->split),
            self->subset ? " and subset=" : "",
            self->subset ? self->subset : "", skipped), (NULL));
    return FALSE;
  }
  if (self->n_skipped > MAX_SKIP_WARNINGS)
    GST_ELEMENT_WARNING (self, RESOURCE, READ,
        ("%s: skipped %u bad items in all", self->index_file,
            self->n_skipped), (NULL));
  GST_INFO_OBJECT (self, "%s: %u items", self->index_file, self->items->len);
  return TRUE;
}

/* ---- image decoding ---- */

static void
on_pad_added (GstElement * decodebin, GstPad * pad, gpointer convert)
{
  GstPad *sink = gst_element_get_static_pad (GST_ELEMENT (convert), "sink");
  if (!gst_pad_is_linked (sink))
    gst_pad_link (pad, sink);
  gst_object_unref (sink);
}

/* Any format a GStreamer decoder reads (JPEG, ...), to RGB on white. */
static guint8 *
decode_with_gstreamer (const char *path, gint * width, gint * height,
    GError ** error)
{
  GstElement *pipe = gst_pipeline_new (NULL);
  GstElement *src = gst_element_factory_make ("filesrc", NULL);
  GstElement *dec = gst_element_factory_make ("decodebin", NULL);
  GstElement *conv = gst_element_factory_make ("videoconvert", NULL);
  GstElement *filter = gst_element_factory_make ("capsfilter", NULL);
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  guint8 *rgb = NULL;

  if (!src || !dec || !conv || !filter || !sink) {
    g_set_error (error, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_DECODE,
        "%s is not a PNG and the GStreamer decoders (decodebin, "
        "videoconvert from gst-plugins-base) are not installed", path);
    gst_clear_object (&src);
    gst_clear_object (&dec);
    gst_clear_object (&conv);
    gst_clear_object (&filter);
    gst_clear_object (&sink);
    gst_object_unref (pipe);
    return NULL;
  }
  GstCaps *caps = gst_caps_from_string ("video/x-raw,format=RGBA");
  g_object_set (src, "location", path, NULL);
  g_object_set (filter, "caps", caps, NULL);
  g_object_set (sink, "enable-last-sample", TRUE, "sync", FALSE, NULL);
  gst_caps_unref (caps);
  gst_bin_add_many (GST_BIN (pipe), src, dec, conv, filter, sink, NULL);
  gst_element_link (src, dec);
  gst_element_link_many (conv, filter, sink, NULL);
  g_signal_connect (dec, "pad-added", G_CALLBACK (on_pad_added), conv);

  gst_element_set_state (pipe, GST_STATE_PAUSED);
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
      GST_MESSAGE_ASYNC_DONE | GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  gst_object_unref (bus);

  if (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ASYNC_DONE) {
    GstSample *sample = NULL;
    GstVideoInfo info;
    GstVideoFrame frame;
    g_object_get (sink, "last-sample", &sample, NULL);
    if (sample && gst_video_info_from_caps (&info, gst_sample_get_caps (sample))
        && GST_VIDEO_INFO_WIDTH (&info) > 0
        && GST_VIDEO_INFO_WIDTH (&info) <= T2I_IMAGE_MAX_SIDE
        && GST_VIDEO_INFO_HEIGHT (&info) > 0
        && GST_VIDEO_INFO_HEIGHT (&info) <= T2I_IMAGE_MAX_SIDE
        && gst_video_frame_map (&frame, &info, gst_sample_get_buffer (sample),
            GST_MAP_READ)) {
      gint w = GST_VIDEO_INFO_WIDTH (&info), h = GST_VIDEO_INFO_HEIGHT (&info);
      gint stride = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
      const guint8 *pix = GST_VIDEO_FRAME_PLANE_DATA (&frame, 0);
      rgb = g_malloc ((gsize) w * h * 3);
      for (gint y = 0; y < h; y++)
        t2i_image_composite_on_white (pix + (gsize) y * stride, (gsize) w,
            rgb + (gsize) y * w * 3);
      gst_video_frame_unmap (&frame);
      *width = w;
      *height = h;
    } else {
      g_set_error (error, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_DECODE,
          "cannot decode %s: the decoder gave no usable picture", path);
    }
    if (sample)
      gst_sample_unref (sample);
  } else if (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *gerr = NULL;
    gst_message_parse_error (msg, &gerr, NULL);
    g_set_error (error, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_DECODE,
        "cannot decode %s: %s", path, gerr->message);
    g_error_free (gerr);
  } else {
    g_set_error (error, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_DECODE,
        "cannot decode %s: not an image GStreamer can read", path);
  }
  if (msg)
    gst_message_unref (msg);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  return rgb;
}

static guint8 *
decode_image (const char *path, gint * width, gint * height, GError ** error)
{
  gchar *data = NULL;
  gsize size = 0;
  guint8 *rgb;
  GError *err = NULL;

  if (!g_file_get_contents (path, &data, &size, &err)) {
    g_set_error (error, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_OPEN, "%s",
        err->message);
    g_error_free (err);
    return NULL;
  }
  if (t2i_image_is_png ((const guint8 *) data, size))
    rgb = t2i_image_load_png_from_data ((const guint8 *) data, size, path,
        width, height, error);
  else
    rgb = decode_with_gstreamer (path, width, height, error);
  g_free (data);
  return rgb;
}

/* ---- order, captions, augmentation ---- */

/* a generator for (@stream, @a, @b) of the seed, at offset 0 */
static void
sub_rng (T2iDatasetSrc * self, guint64 stream, guint64 a, guint64 b,
    T2iRng * out)
{
  T2iRng base, s1, s2;
  t2i_rng_init (&base, self->eff_seed);
  t2i_rng_derive (&base, stream, &s1);
  t2i_rng_derive (&s1, a, &s2);
  t2i_rng_derive (&s2, b, out);
}

static void
ensure_order (T2iDatasetSrc * self, gint64 epoch)
{
  T2iRng rng;

  if (self->order_epoch == epoch)
    return;
  if (!self->order)
    self->order = g_new (gint64, self->n_slots);
  if (self->shuffle) {
    sub_rng (self, STREAM_SHUFFLE, (guint64) epoch, 0, &rng);
    t2i_rng_permutation (&rng, self->order, self->n_slots);
  } else {
    for (gint64 i = 0; i < self->n_slots; i++)
      self->order[i] = i;
  }
  self->order_epoch = epoch;
}

/* slot -> (image, k-th caption of the image in this epoch) */
static void
slot_to_image (T2iDatasetSrc * self, gint64 slot, gint64 * image, gint64 * k)
{
  if (self->first_slot) {
    gint64 lo = 0, hi = self->n_images; /* first_slot[lo] <= slot */
    while (hi - lo > 1) {
      gint64 mid = (lo + hi) / 2;
      if (self->first_slot[mid] <= slot)
        lo = mid;
      else
        hi = mid;
    }
    *image = lo;
    *k = slot - self->first_slot[lo];
  } else {
    *image = slot / self->captions_per_image;
    *k = slot % self->captions_per_image;
  }
}

static const char *
choose_caption (T2iDatasetSrc * self, gint64 epoch, gint64 image, gint64 k)
{
  Item *item = &g_array_index (self->items, Item, image);
  guint n = item->n_captions;

  if (self->first_slot || !self->shuffle || n == 1)
    return item->captions[k % n];
  /* the image's captions in a random order for this epoch; k-th of it */
  T2iRng rng;
  gint64 *perm = g_new (gint64, n), pick;
  sub_rng (self, STREAM_CAPTION, (guint64) epoch, (guint64) image, &rng);
  t2i_rng_permutation (&rng, perm, n);
  pick = perm[k % n];
  g_free (perm);
  return item->captions[pick];
}

/* decodes, crops and resizes one image into @chw (3 x R x R) */
static gboolean
load_item (T2iDatasetSrc * self, Item * item, gint64 epoch, gint64 pos,
    float *chw, GError ** error)
{
  gint w = 0, h = 0, r = self->resolution;
  guint8 *rgb = decode_image (item->path, &w, &h, error);
  guint8 *out;

  if (!rgb)
    return FALSE;
  out = g_malloc ((gsize) r * r * 3);
  if (self->aug_crop || self->aug_flip) {
    T2iRng rng;
    gint big = self->aug_crop ? (r * 19 + 8) / 16 : r;
    gint x0 = 0, y0 = 0;
    gboolean flip = FALSE;
    guint8 *tmp = g_malloc ((gsize) big * big * 3);

    sub_rng (self, STREAM_AUGMENT, (guint64) epoch, (guint64) pos, &rng);
    if (self->aug_crop) {
      x0 = (gint) t2i_rng_randint1 (&rng, 0, big - r + 1);
      y0 = (gint) t2i_rng_randint1 (&rng, 0, big - r + 1);
    }
    if (self->aug_flip)
      flip = t2i_rng_uniform1 (&rng) < 0.5;
    t2i_image_center_crop_resize (rgb, w, h, 3, tmp, big);
    for (gint y = 0; y < r; y++)
      for (gint x = 0; x < r; x++) {
        gint sx = x0 + (flip ? r - 1 - x : x);
        memcpy (out + ((gsize) y * r + x) * 3,
            tmp + ((gsize) (y0 + y) * big + sx) * 3, 3);
      }
    g_free (tmp);
  } else {
    t2i_image_center_crop_resize (rgb, w, h, 3, out, r);
  }
  t2i_image_to_chw (out, r, r, 3, chw);
  g_free (out);
  g_free (rgb);
  return TRUE;
}

/* ---- records ---- */

/* the position in the epoch's order of this rank's first item of @batch */
static gint64
first_position (T2iDatasetSrc * self, gint64 batch)
{
  return (batch * self->size + self->rank) * (gint64) self->batch_size;
}

static gboolean
set_or_fail (T2iDatasetSrc * self, GstBuffer * rec, const char *name,
    T2iTensor * t, const char *const *strv)
{
  GError *err = NULL;
  gboolean ok = t ? t2i_record_set_tensor (rec, name, t, &err) :
      t2i_record_set_strings (rec, name, strv, &err);
  if (!ok) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s", err->message), (NULL));
    g_error_free (err);
  }
  if (t)
    t2i_tensor_unref (t);
  return ok;
}

static GstBuffer *
build_shapes_batch (T2iDatasetSrc * self, gint64 epoch, gint64 batch)
{
  gint n = self->batch_size;
  T2iShapesItem *items = g_new0 (T2iShapesItem, n);
  gchar **captions = g_new0 (gchar *, n + 1);
  T2iTensor *ids = t2i_tensor_new (T2I_I32, T2I_SHAPE (n));
  GstBuffer *rec = t2i_record_new ();
  gboolean ok;

  ensure_order (self, epoch);
  for (gint j = 0; j < n; j++) {
    gint64 slot = self->order[first_position (self, batch) + j], image, k;
    slot_to_image (self, slot, &image, &k);
    guint64 index = (guint64) epoch * (guint64) self->n_images +
        (guint64) image;
    t2i_shapes_sample (&self->shapes, index, &items[j]);
    captions[j] = t2i_shapes_caption (&self->shapes, &items[j],
        items[j].caption_variant + (guint) k);
    t2i_tensor_i32 (ids)[j] = (gint32) (index & 0x7fffffff);
  }
  ok = set_or_fail (self, rec, "image", t2i_shapes_render_batch (&self->shapes,
          items, (gsize) n, self->resolution), NULL)
      && set_or_fail (self, rec, "caption", NULL,
      (const char *const *) captions)
      && set_or_fail (self, rec, "id", t2i_tensor_ref (ids), NULL);
  for (gint a = 0; ok && a < T2I_SHAPES_N_ATTRS; a++)
    ok = set_or_fail (self, rec, t2i_shapes_attr_name (a),
        t2i_shapes_attr_tensor (items, (gsize) n, a), NULL);
  t2i_tensor_unref (ids);
  g_strfreev (captions);
  g_free (items);
  if (!ok)
    g_clear_pointer (&rec, gst_buffer_unref);
  return rec;
}

/* Returns the batch, or NULL after posting an error. */
static GstBuffer *
build_folder_batch (T2iDatasetSrc * self, gint64 epoch, gint64 batch)
{
  gint n = self->batch_size, r = self->resolution;
  gint64 shape[4] = { n, 3, r, r };
  T2iTensor *image = t2i_tensor_new (T2I_F32, 4, shape);
  T2iTensor *ids = t2i_tensor_new (T2I_I32, T2I_SHAPE (n));
  const char **captions = g_new0 (const char *, n + 1);
  GstBuffer *rec = NULL;
  gboolean ok = TRUE;
  gsize plane = 3 * (gsize) r * r;

  ensure_order (self, epoch);
  for (gint j = 0; ok && j < n; j++) {
    gint64 pos = first_position (self, batch) + j;
    /* a bad image is replaced by the next slot after this step's items
     * (rank r of K: every K-th, so the ranks' replacements differ) */
    gint64 next = (batch + 1) * n * self->size + self->rank;
    for (gint64 tries = 0;; tries++) {
      gint64 slot = self->order[pos % self->n_slots], im, k;
      Item *item;
      GError *err = NULL;

      slot_to_image (self, slot, &im, &k);
      item = &g_array_index (self->items, Item, im);
      if (tries > self->n_slots) {
        GST_ELEMENT_ERROR (self, RESOURCE, READ,
            ("%s: no image of the dataset could be decoded",
                self->index_file), (NULL));
        ok = FALSE;
        break;
      }
      if (!item->bad && load_item (self, item, epoch, pos,
              t2i_tensor_f32 (image) + j * plane, &err)) {
        captions[j] = choose_caption (self, epoch, im, k);
        t2i_tensor_i32 (ids)[j] = (gint32) (item->line - 1);
        break;
      }
      if (err) {
        g_autofree gchar *msg = g_strdup_printf ("%s:%d: image '%s': %s",
            self->index_file, item->line, item->rel, err->message);
        g_error_free (err);
        item->bad = TRUE;
        if (!bad_item (self, msg)) {
          ok = FALSE;
          break;
        }
      }
      pos = next;
      next += self->size;
    }
  }
  if (ok) {
    rec = t2i_record_new ();
    ok = set_or_fail (self, rec, "image", t2i_tensor_ref (image), NULL)
        && set_or_fail (self, rec, "caption", NULL, captions)
        && set_or_fail (self, rec, "id", t2i_tensor_ref (ids), NULL);
    if (!ok)
      g_clear_pointer (&rec, gst_buffer_unref);
  }
  t2i_tensor_unref (image);
  t2i_tensor_unref (ids);
  g_free (captions);
  return rec;
}

static GstFlowReturn
t2i_dataset_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  T2iDatasetSrc *self = T2I_DATASET_SRC (psrc);
  GstBuffer *out;
  T2iRecordMeta *meta;

  if (!self->current) {
    gint64 epoch, batch;
    gboolean end = self->step >= self->total_steps;
    t2i_progress_update (&self->progress, GST_ELEMENT (self), self->step,
        self->total_steps, self->batch_size, end);
    if (end)
      return GST_FLOW_EOS;
    epoch = self->step / self->steps_per_epoch;
    batch = self->step % self->steps_per_epoch;
    self->current = self->dataset == DATASET_SHAPES ?
        build_shapes_batch (self, epoch, batch) :
        build_folder_batch (self, epoch, batch);
    if (!self->current)
      return GST_FLOW_ERROR;
    meta = t2i_record_get_meta (self->current);
    meta->step = self->step;
    meta->epoch = epoch;
    meta->seed = self->eff_seed;
  }

  /* one record per phase: copies sharing the tensors (a record's table is
   * copy-on-write, so what an element adds to one phase's record never
   * reaches the next) until the last phase takes the batch itself */
  if (self->phase + 1 < self->n_phases) {
    out = gst_buffer_copy (self->current);
  } else {
    out = self->current;
    self->current = NULL;
  }
  meta = t2i_record_get_meta (out);
  g_strlcpy (meta->phase, self->phase_list[self->phase], sizeof (meta->phase));
  meta->phase_index = self->phase;
  meta->n_phases = self->n_phases;
  GST_BUFFER_OFFSET (out) = (guint64) (meta->step * self->n_phases +
      self->phase);
  GST_BUFFER_OFFSET_END (out) = GST_BUFFER_OFFSET (out) + 1;
  if (++self->phase == self->n_phases) {
    self->phase = 0;
    self->step++;
  }
  *outbuf = out;
  return GST_FLOW_OK;
}

/* ---- setup ---- */

static gboolean
parse_options (T2iDatasetSrc * self)
{
  GPtrArray *phases = g_ptr_array_new_null_terminated (2, g_free, TRUE);
  g_auto (GStrv) ph = g_strsplit (self->phases ? self->phases : "", ",", -1);
  g_auto (GStrv) aug = g_strsplit (self->augment ? self->augment : "", ",", -1);

  for (guint i = 0; ph[i]; i++) {
    const char *p = g_strstrip (ph[i]);
    if (!*p)
      continue;
    if (strlen (p) >= sizeof (((T2iRecordMeta *) NULL)->phase)
        || !t2i_record_name_is_valid (p)) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("phases: '%s' is not a valid phase name (up to 7 letters or "
              "digits, e.g. phases=D,G)", p), (NULL));
      g_ptr_array_unref (phases);
      return FALSE;
    }
    g_ptr_array_add (phases, g_strdup (p));
  }
  if (phases->len == 0)
    g_ptr_array_add (phases, g_strdup (""));
  self->n_phases = phases->len;
  self->phase_list = (gchar **) g_ptr_array_free (phases, FALSE);

  self->aug_crop = self->aug_flip = FALSE;
  for (guint i = 0; aug[i]; i++) {
    const char *a = g_strstrip (aug[i]);
    if (!*a || strcmp (a, "none") == 0)
      continue;
    if (strcmp (a, "crop") == 0) {
      self->aug_crop = TRUE;
    } else if (strcmp (a, "flip") == 0) {
      self->aug_flip = TRUE;
    } else {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("augment: unknown augmentation '%s' (use crop, flip or "
              "augment=crop,flip)", a), (NULL));
      return FALSE;
    }
  }
  if (self->dataset == DATASET_SHAPES && (self->aug_crop || self->aug_flip)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("augment=%s cannot be used with dataset=shapes: cropping or "
            "flipping would break its ground-truth positions; remove "
            "augment=", self->augment), (NULL));
    return FALSE;
  }
  if (self->dataset == DATASET_SHAPES && self->captions_per_image == 0) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("captions-per-image=0 (every caption) needs a dataset with caption "
            "lists; dataset=shapes can caption an item any number of ways, "
            "so set captions-per-image=1 or more"), (NULL));
    return FALSE;
  }
  return TRUE;
}

static gboolean
setup_shapes (T2iDatasetSrc * self)
{
  GError *err = NULL;

  if (self->resolution < T2I_SHAPES_MIN_RESOLUTION
      || self->resolution > T2I_SHAPES_MAX_RESOLUTION) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("resolution=%d is out of range for dataset=shapes (use %d to %d)",
            self->resolution, T2I_SHAPES_MIN_RESOLUTION,
            T2I_SHAPES_MAX_RESOLUTION), (NULL));
    return FALSE;
  }
  t2i_shapes_config_init (&self->shapes);
  self->shapes.resolution = self->resolution;
  self->shapes.seed = self->eff_seed;
  self->shapes.split = self->split == SPLIT_TRAIN ? T2I_SHAPES_SPLIT_TRAIN :
      self->split == SPLIT_TEST ? T2I_SHAPES_SPLIT_TEST : T2I_SHAPES_SPLIT_ALL;
  self->shapes.min_objects = 1;
  self->shapes.max_objects = self->max_objects;
  if (!t2i_shapes_config_validate (&self->shapes, &err)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("dataset=shapes: %s",
            err->message), (NULL));
    g_error_free (err);
    return FALSE;
  }
  self->n_images = self->epoch_size;
  return TRUE;
}

static gboolean
t2i_dataset_src_start (GstBaseSrc * src)
{
  T2iDatasetSrc *self = T2I_DATASET_SRC (src);
  gint64 resume;

  clear_state (self);
  if ((double) self->batch_size * 3 * self->resolution * self->resolution *
      sizeof (float) > MAX_RECORD_BYTES) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("batch-size=%d at resolution=%d needs %.1f GiB per record; lower "
            "batch-size or resolution", self->batch_size, self->resolution,
            (double) self->batch_size * 3 * self->resolution *
            self->resolution * sizeof (float) / (1 << 30)), (NULL));
    return FALSE;
  }
  T2iSession *session = t2i_source_get_session (T2I_SOURCE (self));
  self->eff_seed = self->seed >= 0 ? (guint64) self->seed :
      t2i_session_get_seed (session);
  self->rank = t2i_session_get_rank (session);
  self->size = t2i_session_get_size (session);
  if (!parse_options (self))
    return FALSE;

  if (self->dataset == DATASET_SHAPES) {
    if (!setup_shapes (self))
      return FALSE;
  } else {
    if (!load_index (self))
      return FALSE;
    self->n_images = self->items->len;
  }

  if (self->captions_per_image == 0) {
    self->first_slot = g_new (gint64, self->n_images + 1);
    self->first_slot[0] = 0;
    for (gint64 i = 0; i < self->n_images; i++)
      self->first_slot[i + 1] = self->first_slot[i] +
          g_array_index (self->items, Item, i).n_captions;
    self->n_slots = self->first_slot[self->n_images];
  } else {
    self->n_slots = self->n_images * self->captions_per_image;
  }
  gint64 step_items = (gint64) self->batch_size * self->size;
  if (self->n_slots < step_items) {
    g_autofree gchar *ranks = self->size > 1 ?
        g_strdup_printf (" x %d ranks", self->size) : g_strdup ("");
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("dataset=%s split=%s has %" G_GINT64_FORMAT " items per epoch, "
            "fewer than batch-size=%d%s; lower batch-size%s",
            dataset_name (self->dataset), split_name (self->split),
            self->n_slots, self->batch_size, ranks,
            self->dataset == DATASET_SHAPES ? " or raise epoch-size" : ""),
        (NULL));
    return FALSE;
  }

  self->steps_per_epoch = self->n_slots / step_items;
  if (self->epochs > 0 && self->max_steps > 0)
    self->total_steps = MIN (self->epochs * self->steps_per_epoch,
        self->max_steps);
  else if (self->epochs > 0)
    self->total_steps = self->epochs * self->steps_per_epoch;
  else if (self->max_steps > 0)
    self->total_steps = self->max_steps;
  else
    self->total_steps = self->steps_per_epoch;

  /* a resuming trainer already trained on this many batches (a trainer
   * saves at the end of a step, after every phase of its batch) */
  resume =
      t2i_session_get_resume_step (t2i_source_get_session (T2I_SOURCE (self)));
  self->step = MAX (resume, 0);
  self->phase = 0;
  if (resume > 0)
    GST_INFO_OBJECT (self, "resuming at step %" G_GINT64_FORMAT " of %"
        G_GINT64_FORMAT, self->step, self->total_steps);

  GstCaps *caps = make_caps (self);
  GST_OBJECT_LOCK (self);
  gst_caps_replace (&self->caps, caps);
  GST_OBJECT_UNLOCK (self);
  gst_caps_unref (caps);
  GST_INFO_OBJECT (self, "dataset=%s split=%s: %" G_GINT64_FORMAT " images, "
      "%" G_GINT64_FORMAT " steps per epoch, %" G_GINT64_FORMAT " steps, "
      "seed %" G_GUINT64_FORMAT ", rank %d of %d",
      dataset_name (self->dataset), split_name (self->split), self->n_images,
      self->steps_per_epoch, self->total_steps, self->eff_seed, self->rank,
      self->size);
  return TRUE;
}

static gboolean
t2i_dataset_src_stop (GstBaseSrc * src)
{
  T2iDatasetSrc *self = T2I_DATASET_SRC (src);
  clear_state (self);
  GST_OBJECT_LOCK (self);
  gst_caps_replace (&self->caps, NULL);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}




/* ---- properties ---- */

static void
t2i_dataset_src_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iDatasetSrc *self = T2I_DATASET_SRC (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_DATASET:
      self->dataset = g_value_get_enum (v);
      break;
    case PROP_LOCATION:
      g_free (self->location);
      self->location = g_value_dup_string (v);
      break;
    case PROP_SPLIT:
      self->split = g_value_get_enum (v);
      break;
    case PROP_BATCH_SIZE:
      self->batch_size = g_value_get_int (v);
      break;
    case PROP_RESOLUTION:
      self->resolution = g_value_get_int (v);
      break;
    case PROP_EPOCHS:
      self->epochs = g_value_get_int (v);
      break;
    case PROP_MAX_STEPS:
      self->max_steps = g_value_get_int64 (v);
      break;
    case PROP_SHUFFLE:
      self->shuffle = g_value_get_boolean (v);
      break;
    case PROP_SEED:
      self->seed = g_value_get_int64 (v);
      break;
    case PROP_PHASES:
      g_free (self->phases);
      self->phases = g_value_dup_string (v);
      break;
    case PROP_AUGMENT:
      g_free (self->augment);
      self->augment = g_value_dup_string (v);
      break;
    case PROP_CAPTIONS_PER_IMAGE:
      self->captions_per_image = g_value_get_int (v);
      break;
    case PROP_ON_ERROR:
      self->on_error = g_value_get_enum (v);
      break;
    case PROP_SUBSET:
      g_free (self->subset);
      self->subset = g_value_dup_string (v);
      if (self->subset && !*self->subset)
        g_clear_pointer (&self->subset, g_free);
      break;
    case PROP_EPOCH_SIZE:
      self->epoch_size = g_value_get_int64 (v);
      break;
    case PROP_MAX_OBJECTS:
      self->max_objects = g_value_get_int (v);
      break;
    case PROP_FOLLOW_LINKS:
      self->follow_links = g_value_get_boolean (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_dataset_src_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iDatasetSrc *self = T2I_DATASET_SRC (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_DATASET:
      g_value_set_enum (v, self->dataset);
      break;
    case PROP_LOCATION:
      g_value_set_string (v, self->location);
      break;
    case PROP_SPLIT:
      g_value_set_enum (v, self->split);
      break;
    case PROP_BATCH_SIZE:
      g_value_set_int (v, self->batch_size);
      break;
    case PROP_RESOLUTION:
      g_value_set_int (v, self->resolution);
      break;
    case PROP_EPOCHS:
      g_value_set_int (v, self->epochs);
      break;
    case PROP_MAX_STEPS:
      g_value_set_int64 (v, self->max_steps);
      break;
    case PROP_SHUFFLE:
      g_value_set_boolean (v, self->shuffle);
      break;
    case PROP_SEED:
      g_value_set_int64 (v, self->seed);
      break;
    case PROP_PHASES:
      g_value_set_string (v, self->phases);
      break;
    case PROP_AUGMENT:
      g_value_set_string (v, self->augment);
      break;
    case PROP_CAPTIONS_PER_IMAGE:
      g_value_set_int (v, self->captions_per_image);
      break;
    case PROP_ON_ERROR:
      g_value_set_enum (v, self->on_error);
      break;
    case PROP_SUBSET:
      g_value_set_string (v, self->subset);
      break;
    case PROP_EPOCH_SIZE:
      g_value_set_int64 (v, self->epoch_size);
      break;
    case PROP_MAX_OBJECTS:
      g_value_set_int (v, self->max_objects);
      break;
    case PROP_FOLLOW_LINKS:
      g_value_set_boolean (v, self->follow_links);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_dataset_src_finalize (GObject * obj)
{
  T2iDatasetSrc *self = T2I_DATASET_SRC (obj);
  clear_state (self);
  gst_caps_replace (&self->caps, NULL);
  g_free (self->location);
  g_free (self->phases);
  g_free (self->augment);
  g_free (self->subset);
  G_OBJECT_CLASS (t2i_dataset_src_parent_class)->finalize (obj);
}

#define PARAM_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | \
    GST_PARAM_MUTABLE_READY)

static void
t2i_dataset_src_class_init (T2iDatasetSrcClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *bc = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pc = GST_PUSH_SRC_CLASS (klass);

  oc->set_property = t2i_dataset_src_set_property;
  oc->get_property = t2i_dataset_src_get_property;
  oc->finalize = t2i_dataset_src_finalize;
  bc->start = t2i_dataset_src_start;
  bc->stop = t2i_dataset_src_stop;
  bc->get_caps = t2i_dataset_src_get_caps;
  pc->create = t2i_dataset_src_create;

  g_object_class_install_property (oc, PROP_DATASET,
      g_param_spec_enum ("dataset", "Dataset",
          "Which dataset: shapes (procedural), emoji (scripts/fetch-data "
          "emoji) or folder (location= with captions.jsonl)",
          T2I_TYPE_DATASET_KIND, DEFAULT_DATASET, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "Folder holding captions.jsonl (dataset=folder; for emoji it "
          "overrides the data cache)", NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_SPLIT,
      g_param_spec_enum ("split", "Split",
          "Which split to read: train, test or all", T2I_TYPE_DATASET_SPLIT,
          DEFAULT_SPLIT, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_BATCH_SIZE,
      g_param_spec_int ("batch-size", "Batch size", "Images per record",
          1, 65536, DEFAULT_BATCH_SIZE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_RESOLUTION,
      g_param_spec_int ("resolution", "Resolution",
          "Side of the square images in pixels", 8, 4096, DEFAULT_RESOLUTION,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_EPOCHS,
      g_param_spec_int ("epochs", "Epochs",
          "Passes over the data before EOS (0 = no limit; with neither "
          "epochs nor max-steps set, one epoch)", 0, G_MAXINT, DEFAULT_EPOCHS,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_MAX_STEPS,
      g_param_spec_int64 ("max-steps", "Max steps",
          "Batches before EOS (0 = no limit); with epochs, whichever comes "
          "first", 0, G_MAXINT64, DEFAULT_MAX_STEPS, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_SHUFFLE,
      g_param_spec_boolean ("shuffle", "Shuffle",
          "Visit the items of each epoch in a random order drawn from the "
          "seed (and pick captions at random); false keeps file order",
          DEFAULT_SHUFFLE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_SEED,
      g_param_spec_int64 ("seed", "Seed",
          "Seed of the data order, caption choice, augmentation and shapes "
          "items (-1 = the session's seed)", -1, G_MAXINT64, DEFAULT_SEED,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_PHASES,
      g_param_spec_string ("phases", "Phases",
          "Comma-separated phase names; each batch is emitted once per "
          "phase with the record's meta phase set (e.g. D,G for alternating "
          "GAN updates)", NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_AUGMENT,
      g_param_spec_string ("augment", "Augment",
          "Comma-separated augmentations for folder and emoji: crop (resize "
          "to 19/16 of the resolution, random crop) and flip (horizontal, "
          "p=0.5)", NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_CAPTIONS_PER_IMAGE,
      g_param_spec_int ("captions-per-image", "Captions per image",
          "Items per image and epoch, each with another caption of the "
          "image (chosen at random when shuffling); 0 = one item per "
          "caption (folder and emoji)", 0, 1024, DEFAULT_CAPTIONS_PER_IMAGE,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_ON_ERROR,
      g_param_spec_enum ("on-error", "On error",
          "What to do with a bad item (malformed line, empty caption, "
          "missing or undecodable image): fail or skip (with a warning)",
          T2I_TYPE_DATASET_ON_ERROR, DEFAULT_ON_ERROR, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_SUBSET,
      g_param_spec_string ("subset", "Subset",
          "Keep only lines whose \"subsets\" list names this subset (e.g. "
          "faces for emoji)", NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_EPOCH_SIZE,
      g_param_spec_int64 ("epoch-size", "Epoch size",
          "Items per epoch of dataset=shapes (an infinite generator)", 1,
          G_MAXINT32, DEFAULT_EPOCH_SIZE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_MAX_OBJECTS,
      g_param_spec_int ("max-objects", "Max objects",
          "Objects per shapes item at most (1 or 2)", 1,
          T2I_SHAPES_MAX_OBJECTS, DEFAULT_MAX_OBJECTS, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_FOLLOW_LINKS,
      g_param_spec_boolean ("follow-links", "Follow links",
          "Read images whose path leads out of the folder through a "
          "symbolic link (false: such an image is a bad item, like an "
          "absolute path or '..')", FALSE, PARAM_FLAGS));

  gst_element_class_add_static_pad_template (ec, &src_template);
  gst_element_class_set_static_metadata (ec, "t2i dataset source",
      "Source/Tensor", "Emits batches of image-caption pairs (shapes, emoji "
      "or a captions.jsonl folder) as records", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);

  gst_type_mark_as_plugin_api (T2I_TYPE_DATASET_KIND, 0);
  gst_type_mark_as_plugin_api (T2I_TYPE_DATASET_SPLIT, 0);
  gst_type_mark_as_plugin_api (T2I_TYPE_DATASET_ON_ERROR, 0);
}

static void
t2i_dataset_src_init (T2iDatasetSrc * self)
{
  self->dataset = DEFAULT_DATASET;
  self->split = DEFAULT_SPLIT;
  self->batch_size = DEFAULT_BATCH_SIZE;
  self->resolution = DEFAULT_RESOLUTION;
  self->epochs = DEFAULT_EPOCHS;
  self->max_steps = DEFAULT_MAX_STEPS;
  self->shuffle = DEFAULT_SHUFFLE;
  self->seed = DEFAULT_SEED;
  self->captions_per_image = DEFAULT_CAPTIONS_PER_IMAGE;
  self->on_error = DEFAULT_ON_ERROR;
  self->epoch_size = DEFAULT_EPOCH_SIZE;
  self->max_objects = DEFAULT_MAX_OBJECTS;
  self->order_epoch = -1;
  self->size = 1;
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}
