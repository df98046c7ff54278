/* t2idatasetsrc: shapes (caps, determinism, epochs and steps, phases,
 * shuffling, resume), data-parallel shards, folder datasets with bad data,
 * emoji errors.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>
#include <t2i/t2i.h>
#include <t2i/image.h>

#include "data-test-util.h"

static T2iTensor *
entry (GstBuffer * b, const char *name)
{
  T2iTensor *t = t2i_record_get_tensor (b, name);
  g_assert_nonnull (t);
  return t;
}

static T2iRecordMeta *
meta_of (RunResult * r, guint i)
{
  g_assert_cmpuint (i, <, r->buffers->len);
  return t2i_record_get_meta (r->buffers->pdata[i]);
}

static gboolean
same_records (GstBuffer * a, GstBuffer * b)
{
  if (t2i_record_n_entries (a) != t2i_record_n_entries (b))
    return FALSE;
  for (guint i = 0; i < t2i_record_n_entries (a); i++) {
    const char *name = t2i_record_entry_name (a, i);
    T2iTensor *ta = t2i_record_get_tensor (a, name);
    T2iTensor *tb = t2i_record_get_tensor (b, name);
    if (ta) {
      if (!tb || !t2i_tensor_same_shape (ta, tb) || ta->dtype != tb->dtype
          || memcmp (ta->data, tb->data, ta->nbytes) != 0)
        return FALSE;
    } else {
      const char *const *sa = t2i_record_get_strings (a, name);
      const char *const *sb = t2i_record_get_strings (b, name);
      if (!sb || !g_strv_equal (sa, sb))
        return FALSE;
    }
  }
  return TRUE;
}

static RunResult *
run_ok (const char *desc)
{
  RunResult *r = run_pipeline (desc, NULL);
  if (r->error)
    g_error ("%s: %s", desc, r->error);
  g_assert_true (r->eos);
  return r;
}

/* ---- shapes ---- */

static void
test_shapes_caps (void)
{
  g_autoptr (RunResult) r = run_ok ("t2idatasetsrc dataset=shapes "
      "batch-size=4 resolution=32 max-steps=2 ! fakesink name=sink");

  g_assert_cmpuint (r->buffers->len, ==, 2);
  g_autofree gchar *d = t2i_record_describe (r->buffers->pdata[0]);
  g_assert_cmpstr (d, ==, "image f32[4,3,32,32], caption str[4], "
      "id i32[4], attr/count i32[4], attr/color i32[4,2], "
      "attr/shape i32[4,2], attr/size i32[4,2], attr/pos i32[4,2], "
      "attr/relation i32[4]");
  for (guint i = 0; i < 2; i++) {
    T2iTensor *img = entry (r->buffers->pdata[i], "image");
    for (gint64 k = 0; k < img->numel; k++) {
      float v = t2i_tensor_f32 (img)[k];
      g_assert_true (v >= -1.0f && v <= 1.0f);
    }
    const char *const *caps = t2i_record_get_strings (r->buffers->pdata[i],
        "caption");
    g_assert_cmpuint (g_strv_length ((gchar **) caps), ==, 4);
    for (gint k = 0; k < 4; k++)
      g_assert_cmpuint (strlen (caps[k]), >, 3);
    g_assert_cmpint (meta_of (r, i)->step, ==, i);
    g_assert_cmpint (meta_of (r, i)->epoch, ==, 0);
    g_assert_cmpstr (meta_of (r, i)->phase, ==, "");
  }
  const GstStructure *p = run_result_message (r, "t2i-progress");
  g_assert_nonnull (p);
  gint64 step = -1, total = -1;
  g_assert_true (gst_structure_get_int64 (p, "step", &step));
  g_assert_true (gst_structure_get_int64 (p, "total", &total));
  g_assert_cmpint (step, ==, 0);
  g_assert_cmpint (total, ==, 2);
  gint64 batch = -1;
  g_assert_true (gst_structure_get_int64 (p, "batch-size", &batch));
  g_assert_cmpint (batch, ==, 4);
  /* and one at the end, whatever the interval: the total reached */
  const GstStructure *end = run_result_last_message (r, "t2i-progress");
  g_assert_true (end != p);
  g_assert_true (gst_structure_get_int64 (end, "step", &step));
  g_assert_cmpint (step, ==, 2);
}

static void
test_shapes_deterministic (void)
{
  const char *fmt = "t2idatasetsrc dataset=shapes batch-size=3 "
      "resolution=16 max-steps=3 seed=%d ! fakesink name=sink";
  g_autofree gchar *d7 = g_strdup_printf (fmt, 7);
  g_autofree gchar *d8 = g_strdup_printf (fmt, 8);
  g_autoptr (RunResult) a = run_ok (d7);
  g_autoptr (RunResult) b = run_ok (d7);
  g_autoptr (RunResult) c = run_ok (d8);

  g_assert_cmpuint (a->buffers->len, ==, 3);
  for (guint i = 0; i < 3; i++) {
    g_assert_true (same_records (a->buffers->pdata[i], b->buffers->pdata[i]));
    g_assert_false (same_records (a->buffers->pdata[i],
            c->buffers->pdata[i]));
    g_assert_cmpuint (meta_of (a, i)->seed, ==, 7);
  }

  /* seed=-1 takes the session's seed */
  T2iSession *s = t2i_session_new ();
  t2i_session_set_seed (s, 7);
  g_autoptr (RunResult) e = run_pipeline ("t2idatasetsrc dataset=shapes "
      "batch-size=3 resolution=16 max-steps=3 ! fakesink name=sink", s);
  g_assert_null (e->error);
  for (guint i = 0; i < 3; i++)
    g_assert_true (same_records (a->buffers->pdata[i], e->buffers->pdata[i]));
  g_object_unref (s);
}

static gint64
count_records (const char *props)
{
  g_autofree gchar *d = g_strdup_printf ("t2idatasetsrc dataset=shapes "
      "resolution=8 epoch-size=10 batch-size=3 %s ! fakesink name=sink",
      props);
  g_autoptr (RunResult) r = run_ok (d);
  const GstStructure *p = run_result_message (r, "t2i-progress");
  gint64 total = -1;
  g_assert_true (gst_structure_get_int64 (p, "total", &total));
  g_assert_cmpint (total, ==, r->buffers->len);
  return r->buffers->len;
}

static void
test_shapes_epochs_and_steps (void)
{
  /* 10 items, batches of 3: 3 steps per epoch, the last item dropped */
  g_assert_cmpint (count_records (""), ==, 3);
  g_assert_cmpint (count_records ("epochs=2"), ==, 6);
  g_assert_cmpint (count_records ("max-steps=7"), ==, 7);
  g_assert_cmpint (count_records ("epochs=2 max-steps=4"), ==, 4);
  g_assert_cmpint (count_records ("epochs=1 max-steps=40"), ==, 3);

  g_autoptr (RunResult) r = run_ok ("t2idatasetsrc dataset=shapes "
      "resolution=8 epoch-size=10 batch-size=3 epochs=3 ! fakesink "
      "name=sink");
  for (guint i = 0; i < r->buffers->len; i++) {
    g_assert_cmpint (meta_of (r, i)->step, ==, i);
    g_assert_cmpint (meta_of (r, i)->epoch, ==, i / 3);
  }
}

static void
test_shapes_phases (void)
{
  g_autoptr (RunResult) r = run_ok ("t2idatasetsrc dataset=shapes "
      "resolution=8 batch-size=2 max-steps=2 phases=D,G ! fakesink "
      "name=sink");
  const char *want[] = { "D", "G", "D", "G" };

  g_assert_cmpuint (r->buffers->len, ==, 4);
  for (guint i = 0; i < 4; i++) {
    g_assert_cmpstr (meta_of (r, i)->phase, ==, want[i]);
    g_assert_cmpint (meta_of (r, i)->step, ==, i / 2);
    g_assert_cmpuint (meta_of (r, i)->phase_index, ==, i % 2);
    g_assert_cmpuint (meta_of (r, i)->n_phases, ==, 2);
  }
  /* the same batch for both phases, in separate buffers sharing the
   * tensors (zero-copy) */
  g_assert_true (r->buffers->pdata[0] != r->buffers->pdata[1]);
  g_assert_true (same_records (r->buffers->pdata[0], r->buffers->pdata[1]));
  g_assert_false (same_records (r->buffers->pdata[1], r->buffers->pdata[2]));
  g_assert_true (entry (r->buffers->pdata[0], "image") ==
      entry (r->buffers->pdata[1], "image"));
  const GstStructure *p = run_result_message (r, "t2i-progress");
  gint64 total;
  g_assert_true (gst_structure_get_int64 (p, "total", &total));
  g_assert_cmpint (total, ==, 2);

  g_autoptr (RunResult) bad = run_pipeline ("t2idatasetsrc dataset=shapes "
      "phases=D,toolongname max-steps=1 ! fakesink name=sink", NULL);
  g_assert_nonnull (bad->error);
  g_assert_nonnull (strstr (bad->error, "phases"));
}

/* the item ids of a run, per epoch */
static void
collect_ids (RunResult * r, GArray * ids)
{
  for (guint i = 0; i < r->buffers->len; i++) {
    T2iTensor *t = entry (r->buffers->pdata[i], "id");
    g_array_append_vals (ids, t->data, (guint) t->numel);
  }
}

static void
test_shapes_shuffle (void)
{
  g_autoptr (RunResult) a = run_ok ("t2idatasetsrc dataset=shapes "
      "resolution=8 epoch-size=8 batch-size=4 epochs=2 seed=3 ! fakesink "
      "name=sink");
  g_autoptr (RunResult) b = run_ok ("t2idatasetsrc dataset=shapes "
      "resolution=8 epoch-size=8 batch-size=4 epochs=2 seed=3 "
      "shuffle=false ! fakesink name=sink");
  g_autoptr (GArray) ia = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GArray) ib = g_array_new (FALSE, FALSE, sizeof (gint32));

  collect_ids (a, ia);
  collect_ids (b, ib);
  g_assert_cmpuint (ia->len, ==, 16);
  g_assert_cmpuint (ib->len, ==, 16);
  /* unshuffled: items in order, epoch e holds items 8e .. 8e+7 */
  for (gint i = 0; i < 16; i++)
    g_assert_cmpint (g_array_index (ib, gint32, i), ==, i);
  /* shuffled: each epoch a permutation of its items, not the identity, and
   * a different order in each epoch */
  gboolean identity = TRUE, same_order = TRUE;
  for (gint e = 0; e < 2; e++) {
    gboolean seen[8] = { FALSE };
    for (gint i = 0; i < 8; i++) {
      gint32 id = g_array_index (ia, gint32, e * 8 + i);
      g_assert_cmpint (id, >=, e * 8);
      g_assert_cmpint (id, <, e * 8 + 8);
      g_assert_false (seen[id - e * 8]);
      seen[id - e * 8] = TRUE;
      identity &= id == e * 8 + i;
      if (e == 1)
        same_order &= id - 8 == g_array_index (ia, gint32, i);
    }
  }
  g_assert_false (identity);
  g_assert_false (same_order);
}

static void
test_shapes_resume (void)
{
  g_autoptr (RunResult) full = run_ok ("t2idatasetsrc dataset=shapes "
      "resolution=8 batch-size=2 max-steps=3 phases=D,G seed=4 ! fakesink "
      "name=sink");
  /* a trainer that resumes after 1 of the 3 steps (2 records) */
  T2iSession *s = t2i_session_new ();
  t2i_session_set_resume_step (s, 1);
  g_autoptr (RunResult) r = run_pipeline ("t2idatasetsrc dataset=shapes "
      "resolution=8 batch-size=2 max-steps=3 phases=D,G seed=4 ! fakesink "
      "name=sink", s);
  g_object_unref (s);

  g_assert_null (r->error);
  g_assert_cmpuint (full->buffers->len, ==, 6);
  g_assert_cmpuint (r->buffers->len, ==, 4);
  for (guint i = 0; i < 4; i++) {
    g_assert_true (same_records (r->buffers->pdata[i],
            full->buffers->pdata[i + 2]));
    g_assert_cmpint (meta_of (r, i)->step, ==, meta_of (full, i + 2)->step);
    g_assert_cmpstr (meta_of (r, i)->phase, ==, meta_of (full,
            i + 2)->phase);
  }
  gint64 step;
  g_assert_true (gst_structure_get_int64 (run_result_message (r,
              "t2i-progress"), "step", &step));
  g_assert_cmpint (step, ==, 1);
}

static void
test_shapes_errors (void)
{
  g_autoptr (RunResult) a = run_pipeline ("t2idatasetsrc dataset=shapes "
      "augment=flip max-steps=1 ! fakesink name=sink", NULL);
  g_assert_nonnull (strstr (a->error, "augment"));
  g_autoptr (RunResult) b = run_pipeline ("t2idatasetsrc dataset=shapes "
      "epoch-size=3 batch-size=4 ! fakesink name=sink", NULL);
  g_assert_nonnull (strstr (b->error, "batch-size=4"));
  g_autoptr (RunResult) c = run_pipeline ("t2idatasetsrc dataset=shapes "
      "resolution=1024 ! fakesink name=sink", NULL);
  g_assert_nonnull (strstr (c->error, "resolution=1024"));
  g_autoptr (RunResult) d = run_pipeline ("t2idatasetsrc dataset=shapes "
      "augment=blur ! fakesink name=sink", NULL);
  g_assert_nonnull (strstr (d->error, "blur"));
}

/* ---- data-parallel shards ---- */

/* @desc (ending in fakesink name=sink) as rank @rank of @size */
static RunResult *
run_rank (const char *desc, gint rank, gint size)
{
  g_autoptr (T2iSession) session = t2i_session_new ();
  t2i_session_set_rank (session, rank, size);
  RunResult *r = run_pipeline (desc, session);
  if (r->error)
    g_error ("%s (rank %d of %d): %s", desc, rank, size, r->error);
  return r;
}

/* the rows [from, from + n) of every entry of @whole equal @part's */
static void
assert_rows (GstBuffer * whole, gint64 from, GstBuffer * part)
{
  g_assert_cmpuint (t2i_record_n_entries (whole), ==,
      t2i_record_n_entries (part));
  for (guint i = 0; i < t2i_record_n_entries (part); i++) {
    const char *name = t2i_record_entry_name (part, i);
    T2iTensor *tp = t2i_record_get_tensor (part, name);
    if (tp) {
      T2iTensor *tw = entry (whole, name);
      gsize row = tp->nbytes / (gsize) tp->shape[0];
      g_assert_cmpmem ((guint8 *) tw->data + from * row, tp->nbytes,
          tp->data, tp->nbytes);
    } else {
      const char *const *sw = t2i_record_get_strings (whole, name);
      const char *const *sp = t2i_record_get_strings (part, name);
      for (guint j = 0; sp[j]; j++)
        g_assert_cmpstr (sp[j], ==, sw[from + j]);
    }
  }
}

/* 3 ranks at batch B read, step by step and in rank order, the batch one
 * process reads at 3 B: disjoint shards of the same epoch order */
static void
check_shards (const char *fmt, gint batch)
{
  g_autofree gchar *one = g_strdup_printf (fmt, 3 * batch);
  g_autoptr (RunResult) whole = run_rank (one, 0, 1);
  g_autofree gchar *each = g_strdup_printf (fmt, batch);
  g_assert_cmpuint (whole->buffers->len, >=, 2);
  for (gint r = 0; r < 3; r++) {
    g_autoptr (RunResult) part = run_rank (each, r, 3);
    g_assert_cmpuint (part->buffers->len, ==, whole->buffers->len);
    for (guint s = 0; s < part->buffers->len; s++) {
      g_assert_cmpint (meta_of (part, s)->step, ==, meta_of (whole, s)->step);
      assert_rows (whole->buffers->pdata[s], (gint64) r * batch,
          part->buffers->pdata[s]);
    }
  }
}

static void
test_shards (void)
{
  /* shapes: 2 epochs of 18 items = 2 steps of 9 each */
  check_shards ("t2idatasetsrc dataset=shapes epoch-size=18 epochs=2 "
      "batch-size=%d resolution=8 seed=5 ! fakesink name=sink", 3);

  /* folder, shuffled, one item per caption, with crop and flip: 12 items,
   * 2 steps of 6 per epoch */
  g_autofree gchar *dir = data_tmpdir ();
  g_autofree gchar *images = g_build_filename (dir, "images", NULL);
  g_assert_cmpint (g_mkdir (images, 0755), ==, 0);
  GString *lines = g_string_new (NULL);
  for (gint i = 0; i < 6; i++) {
    g_autofree gchar *name = g_strdup_printf ("c%d.png", i);
    g_autofree gchar *path = g_build_filename (images, name, NULL);
    guint8 px[10 * 10 * 3];
    for (gint k = 0; k < 10 * 10; k++) {
      px[3 * k] = (guint8) (40 * i);
      px[3 * k + 1] = (guint8) (k * 2);
      px[3 * k + 2] = (guint8) (255 - 30 * i);
    }
    g_assert_true (t2i_image_save_png (path, 10, 10, 3, px, NULL));
    g_string_append_printf (lines, "{\"image\": \"images/%s\", \"captions\": "
        "[\"item %d\", \"other %d\"]}\n", name, i, i);
  }
  g_autofree gchar *jsonl = g_build_filename (dir, "captions.jsonl", NULL);
  g_assert_true (g_file_set_contents (jsonl, lines->str, -1, NULL));
  g_string_free (lines, TRUE);
  g_autofree gchar *fmt = g_strdup_printf ("t2idatasetsrc dataset=folder "
      "location=%s captions-per-image=0 augment=crop,flip resolution=8 "
      "batch-size=%%d seed=2 ! fakesink name=sink", dir);
  check_shards (fmt, 2);

  /* too few items for batch x ranks */
  g_autoptr (T2iSession) session = t2i_session_new ();
  t2i_session_set_rank (session, 1, 3);
  g_autoptr (RunResult) r = run_pipeline ("t2idatasetsrc dataset=shapes "
      "epoch-size=8 batch-size=3 ! fakesink name=sink", session);
  g_assert_nonnull (r->error);
  g_assert_nonnull (strstr (r->error, "fewer than batch-size=3 x 3 ranks"));
  data_rmdir (dir);
}

/* ---- folder ---- */

static void
save_solid (const char *dir, const char *name, gint w, gint h, gint channels,
    const guint8 * px)
{
  g_autofree gchar *path = g_build_filename (dir, "images", name, NULL);
  g_autofree guint8 *data = g_malloc ((gsize) w * h * channels);
  for (gint i = 0; i < w * h; i++)
    memcpy (data + i * channels, px, channels);
  g_assert_true (t2i_image_save_png (path, w, h, channels, data, NULL));
}

static gchar *
make_folder (void)
{
  gchar *dir = data_tmpdir ();
  g_autofree gchar *images = g_build_filename (dir, "images", NULL);
  g_autofree gchar *jsonl = g_build_filename (dir, "captions.jsonl", NULL);
  g_autofree gchar *garbage = g_build_filename (images, "garbage.png", NULL);
  const guint8 red[3] = { 255, 0, 0 }, blue[3] = { 0, 0, 255 };
  const guint8 clear[4] = { 0, 0, 0, 0 };

  g_assert_cmpint (g_mkdir (images, 0755), ==, 0);
  save_solid (dir, "red.png", 16, 16, 3, red);
  save_solid (dir, "blue.png", 12, 12, 3, blue);
  save_solid (dir, "alpha.png", 8, 8, 4, clear);
  /* 32x16: blue, then green over columns 6..25, then red: the centre
   * square and the filter taps reaching around it are all green */
  {
    g_autofree gchar *p = g_build_filename (images, "wide.png", NULL);
    guint8 px[32 * 16 * 3];
    for (gint y = 0; y < 16; y++)
      for (gint x = 0; x < 32; x++) {
        guint8 *q = px + (y * 32 + x) * 3;
        q[0] = x >= 26 ? 255 : 0;
        q[1] = x >= 6 && x < 26 ? 255 : 0;
        q[2] = x < 6 ? 255 : 0;
      }
    g_assert_true (t2i_image_save_png (p, 32, 16, 3, px, NULL));
  }
  g_assert_true (g_file_set_contents (garbage, "\x89PNG\r\n\x1a\nnot really",
          -1, NULL));

  const char *lines =
      "{\"image\": \"images/red.png\", \"captions\": [\"a red square\", "
      "\"red\"], \"split\": \"train\"}\n"
      "{\"image\": \"images/blue.png\", \"captions\": [\"a blue square\"]}\n"
      "{\"image\": \"images/green.png\", \"captions\": [\n"
      "{\"image\": \"images/wide.png\", \"caption\": \"green in the middle\","
      " \"split\": \"train\"}\r\n"
      "{\"image\": \"images/nope.png\", \"captions\": [\"missing\"]}\n"
      "{\"image\": \"images/red.png\", \"captions\": [\"  \"]}\n"
      "{\"image\": \"images/alpha.png\", \"captions\": [\"nothing\"], "
      "\"split\": \"test\", \"subsets\": [\"faces\"]}\n"
      "{\"image\": \"images/garbage.png\", \"captions\": [\"broken\"]}\n"
      "\n"
      "{\"image\": \"images/blue.png\", \"captions\": [\"blue again\", "
      "\"b2\", \"b3\"], \"subsets\": [\"faces\"]}\n";
  g_assert_true (g_file_set_contents (jsonl, lines, -1, NULL));
  return dir;
}

static void
assert_pixels (T2iTensor * img, gint i, float r, float g, float b)
{
  gint64 plane = img->shape[2] * img->shape[3];
  const float *p = t2i_tensor_f32 (img) + i * 3 * plane;
  for (gint64 k = 0; k < plane; k++) {
    g_assert_cmpfloat (p[k], ==, r);
    g_assert_cmpfloat (p[plane + k], ==, g);
    g_assert_cmpfloat (p[2 * plane + k], ==, b);
  }
}

static void
test_folder_fail (void)
{
  g_autofree gchar *dir = make_folder ();
  g_autofree gchar *d = g_strdup_printf ("t2idatasetsrc dataset=folder "
      "location=%s batch-size=2 resolution=8 ! fakesink name=sink", dir);
  g_autoptr (RunResult) r = run_pipeline (d, NULL);

  g_assert_nonnull (r->error);
  g_assert_nonnull (strstr (r->error, "captions.jsonl:3:"));
  g_assert_nonnull (strstr (r->error, "on-error=skip"));
  g_assert_cmpuint (r->buffers->len, ==, 0);

  /* without location */
  g_autoptr (RunResult) n = run_pipeline ("t2idatasetsrc dataset=folder ! "
      "fakesink name=sink", NULL);
  g_assert_nonnull (strstr (n->error, "location="));
  data_rmdir (dir);
}

static void
test_folder_skip (void)
{
  g_autofree gchar *dir = make_folder ();
  g_autofree gchar *d = g_strdup_printf ("t2idatasetsrc dataset=folder "
      "location=%s batch-size=5 resolution=8 shuffle=false on-error=skip ! "
      "fakesink name=sink", dir);
  g_autoptr (RunResult) r = run_pipeline (d, NULL);

  g_assert_null (r->error);
  /* lines 3 (JSON), 5 (missing), 6 (empty caption) when loading, 8 (not a
   * PNG) when decoding */
  g_assert_true (run_result_warned (r, "captions.jsonl:3: not valid JSON"));
  g_assert_true (run_result_warned (r, "captions.jsonl:5: image "
          "'images/nope.png' not found"));
  g_assert_true (run_result_warned (r, "captions.jsonl:6: caption 1 is "
          "empty"));
  g_assert_true (run_result_warned (r, "captions.jsonl:8: image "
          "'images/garbage.png'"));
  g_assert_cmpuint (r->warnings->len, ==, 4);

  /* train: lines 1, 2, 4, 8, 10; 8 is replaced by the next item (line 1) */
  g_assert_cmpuint (r->buffers->len, ==, 1);
  GstBuffer *b = r->buffers->pdata[0];
  T2iTensor *ids = entry (b, "id");
  const gint32 want_ids[5] = { 0, 1, 3, 0, 9 };
  g_assert_cmpmem (ids->data, ids->nbytes, want_ids, sizeof (want_ids));
  const char *const *caps = t2i_record_get_strings (b, "caption");
  const char *want_caps[] = { "a red square", "a blue square",
    "green in the middle", "a red square", "blue again", NULL
  };
  g_assert_true (g_strv_equal (caps, want_caps));
  T2iTensor *img = entry (b, "image");
  g_assert_cmpint (img->shape[0], ==, 5);
  g_assert_cmpint (img->shape[2], ==, 8);
  assert_pixels (img, 0, 1, -1, -1);
  assert_pixels (img, 1, -1, -1, 1);
  assert_pixels (img, 2, -1, 1, -1);
  assert_pixels (img, 4, -1, -1, 1);
  data_rmdir (dir);
}

static void
test_folder_filters (void)
{
  g_autofree gchar *dir = make_folder ();

  /* the test split: a transparent image becomes white */
  g_autofree gchar *d1 = g_strdup_printf ("t2idatasetsrc dataset=folder "
      "location=%s split=test batch-size=1 resolution=8 on-error=skip ! "
      "fakesink name=sink", dir);
  g_autoptr (RunResult) t = run_pipeline (d1, NULL);
  g_assert_null (t->error);
  g_assert_cmpuint (t->buffers->len, ==, 1);
  assert_pixels (entry (t->buffers->pdata[0], "image"), 0, 1, 1, 1);

  /* subset=faces over every split: lines 7 and 10 */
  g_autofree gchar *d2 = g_strdup_printf ("t2idatasetsrc dataset=folder "
      "location=%s split=all subset=faces batch-size=2 resolution=8 "
      "shuffle=false on-error=skip ! fakesink name=sink", dir);
  g_autoptr (RunResult) f = run_pipeline (d2, NULL);
  g_assert_null (f->error);
  g_assert_cmpuint (f->buffers->len, ==, 1);
  const gint32 want[2] = { 6, 9 };
  T2iTensor *ids = entry (f->buffers->pdata[0], "id");
  g_assert_cmpmem (ids->data, ids->nbytes, want, sizeof (want));

  /* no item of a split */
  g_autofree gchar *d3 = g_strdup_printf ("t2idatasetsrc dataset=folder "
      "location=%s split=test subset=nothing on-error=skip ! fakesink "
      "name=sink", dir);
  g_autoptr (RunResult) e = run_pipeline (d3, NULL);
  g_assert_nonnull (e->error);
  g_assert_nonnull (strstr (e->error, "no usable items for split=test"));
  data_rmdir (dir);
}

static void
test_folder_captions (void)
{
  g_autofree gchar *dir = make_folder ();

  /* captions-per-image=0: one item per caption, in file order */
  g_autofree gchar *d1 = g_strdup_printf ("t2idatasetsrc dataset=folder "
      "location=%s captions-per-image=0 batch-size=1 resolution=8 "
      "shuffle=false on-error=skip ! fakesink name=sink", dir);
  g_autoptr (RunResult) a = run_pipeline (d1, NULL);
  g_assert_null (a->error);
  const char *want[] = { "a red square", "red", "a blue square",
    "green in the middle", "blue again", "blue again", "b2", "b3"
  };
  g_assert_cmpuint (a->buffers->len, ==, G_N_ELEMENTS (want));
  for (guint i = 0; i < a->buffers->len; i++)
    g_assert_cmpstr (t2i_record_get_strings (a->buffers->pdata[i],
            "caption")[0], ==, want[i]);

  /* captions-per-image=2, shuffled: every image twice per epoch, with two
   * different captions when it has them; the same for the same seed */
  g_autofree gchar *d2 = g_strdup_printf ("t2idatasetsrc dataset=folder "
      "location=%s split=all subset=faces captions-per-image=2 batch-size=4 "
      "resolution=8 seed=5 augment=crop,flip on-error=skip ! fakesink "
      "name=sink", dir);
  g_autoptr (RunResult) b = run_pipeline (d2, NULL);
  g_autoptr (RunResult) c = run_pipeline (d2, NULL);
  g_assert_null (b->error);
  g_assert_cmpuint (b->buffers->len, ==, 1);
  g_assert_true (same_records (b->buffers->pdata[0], c->buffers->pdata[0]));
  const char *const *caps = t2i_record_get_strings (b->buffers->pdata[0],
      "caption");
  T2iTensor *ids = entry (b->buffers->pdata[0], "id");
  const char *blue[2] = { NULL, NULL };
  gint n_blue = 0, n_alpha = 0;
  for (gint i = 0; i < 4; i++) {
    if (t2i_tensor_i32 (ids)[i] == 9) {
      g_assert_true (g_str_equal (caps[i], "blue again")
          || g_str_equal (caps[i], "b2") || g_str_equal (caps[i], "b3"));
      blue[n_blue++] = caps[i];
    } else {
      g_assert_cmpint (t2i_tensor_i32 (ids)[i], ==, 6);
      g_assert_cmpstr (caps[i], ==, "nothing");
      n_alpha++;
    }
  }
  g_assert_cmpint (n_blue, ==, 2);
  g_assert_cmpint (n_alpha, ==, 2);
  g_assert_cmpstr (blue[0], !=, blue[1]);
  data_rmdir (dir);
}

static void
test_folder_jpeg (void)
{
  GstElementFactory *f = gst_element_factory_find ("jpegenc");
  if (!f) {
    g_test_skip ("jpegenc is not installed");
    return;
  }
  gst_object_unref (f);
  g_autofree gchar *dir = data_tmpdir ();
  g_autofree gchar *images = g_build_filename (dir, "images", NULL);
  g_autofree gchar *jpg = g_build_filename (images, "red.jpg", NULL);
  g_autofree gchar *jsonl = g_build_filename (dir, "captions.jsonl", NULL);
  g_assert_cmpint (g_mkdir (images, 0755), ==, 0);
  g_autofree gchar *enc = g_strdup_printf ("videotestsrc num-buffers=1 "
      "pattern=red ! video/x-raw,width=32,height=24 ! jpegenc ! filesink "
      "location=%s", jpg);
  GstElement *p = gst_parse_launch (enc, NULL);
  g_assert_nonnull (p);
  gst_element_set_state (p, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (p);
  GstMessage *m = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_cmpint (GST_MESSAGE_TYPE (m), ==, GST_MESSAGE_EOS);
  gst_message_unref (m);
  gst_object_unref (bus);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  g_assert_true (g_file_set_contents (jsonl, "{\"image\": \"images/red.jpg\","
          " \"captions\": [\"red\"]}\n", -1, NULL));

  g_autofree gchar *d = g_strdup_printf ("t2idatasetsrc dataset=folder "
      "location=%s batch-size=1 resolution=8 ! fakesink name=sink", dir);
  g_autoptr (RunResult) r = run_pipeline (d, NULL);
  g_assert_null (r->error);
  T2iTensor *img = entry (r->buffers->pdata[0], "image");
  for (gint k = 0; k < 64; k++) {
    g_assert_cmpfloat (t2i_tensor_f32 (img)[k], >, 0.7f);
    g_assert_cmpfloat (t2i_tensor_f32 (img)[64 + k], <, -0.7f);
    g_assert_cmpfloat (t2i_tensor_f32 (img)[128 + k], <, -0.7f);
  }
  data_rmdir (dir);
}

/* A link inside the folder is fine; one leading out of it (images/4.png ->
 * /etc/passwd) is refused like an absolute path, unless follow-links=true. */
static void
test_folder_links (void)
{
  g_autofree gchar *dir = data_tmpdir ();
  g_autofree gchar *other = data_tmpdir ();
  g_autofree gchar *images = g_build_filename (dir, "images", NULL);
  g_autofree gchar *other_images = g_build_filename (other, "images", NULL);
  g_autofree gchar *blue = g_build_filename (other_images, "blue.png", NULL);
  g_autofree gchar *jsonl = g_build_filename (dir, "captions.jsonl", NULL);
  const guint8 red[3] = { 255, 0, 0 }, blue_px[3] = { 0, 0, 255 };

  g_assert_cmpint (g_mkdir (images, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (other_images, 0755), ==, 0);
  save_solid (dir, "red.png", 8, 8, 3, red);
  save_solid (other, "blue.png", 8, 8, 3, blue_px);
  {
    g_autofree gchar *inside = g_build_filename (images, "also-red.png",
        NULL);
    g_autofree gchar *out = g_build_filename (images, "blue.png", NULL);
    g_autofree gchar *more = g_build_filename (dir, "more", NULL);
    g_assert_cmpint (symlink ("red.png", inside), ==, 0);
    g_assert_cmpint (symlink (blue, out), ==, 0);
    g_assert_cmpint (symlink (other_images, more), ==, 0);       /* a folder */
  }
  g_assert_true (g_file_set_contents (jsonl,
          "{\"image\": \"images/red.png\", \"captions\": [\"red\"]}\n"
          "{\"image\": \"images/also-red.png\", \"captions\": [\"red\"]}\n"
          "{\"image\": \"images/blue.png\", \"captions\": [\"blue\"]}\n"
          "{\"image\": \"more/blue.png\", \"captions\": [\"blue\"]}\n",
          -1, NULL));
  g_autofree gchar *real_blue = realpath (blue, NULL);

  g_autofree gchar *d1 = g_strdup_printf ("t2idatasetsrc dataset=folder "
      "location=%s batch-size=2 resolution=8 ! fakesink name=sink", dir);
  g_autoptr (RunResult) r = run_pipeline (d1, NULL);
  g_autofree gchar *want = g_strdup_printf ("captions.jsonl:3: image "
      "'images/blue.png' is a link out of the folder (to %s); set "
      "follow-links=true to read it (set on-error=skip to skip bad items)",
      real_blue);
  g_assert_nonnull (r->error);
  g_assert_nonnull (strstr (r->error, want));
  g_assert_cmpuint (r->buffers->len, ==, 0);

  /* skipped: lines 3 and 4, the two red images stay */
  g_autofree gchar *d2 = g_strdup_printf ("t2idatasetsrc dataset=folder "
      "location=%s batch-size=2 resolution=8 shuffle=false on-error=skip ! "
      "fakesink name=sink", dir);
  g_autoptr (RunResult) s = run_pipeline (d2, NULL);
  g_assert_null (s->error);
  g_assert_true (run_result_warned (s, "captions.jsonl:3: image "
          "'images/blue.png' is a link out of the folder"));
  g_assert_true (run_result_warned (s, "captions.jsonl:4: image "
          "'more/blue.png' is a link out of the folder"));
  g_assert_cmpuint (s->buffers->len, ==, 1);
  assert_pixels (entry (s->buffers->pdata[0], "image"), 1, 1, -1, -1);

  /* allowed: all four */
  g_autofree gchar *d3 = g_strdup_printf ("t2idatasetsrc dataset=folder "
      "location=%s batch-size=4 resolution=8 shuffle=false follow-links=true "
      "! fakesink name=sink", dir);
  g_autoptr (RunResult) f = run_pipeline (d3, NULL);
  g_assert_null (f->error);
  g_assert_cmpuint (f->buffers->len, ==, 1);
  assert_pixels (entry (f->buffers->pdata[0], "image"), 3, -1, -1, 1);
  data_rmdir (dir);
  data_rmdir (other);
}

static void
test_emoji_missing (void)
{
  g_autofree gchar *dir = data_tmpdir ();
  g_setenv ("T2I_DATA_DIR", dir, TRUE);
  g_autoptr (RunResult) r = run_pipeline ("t2idatasetsrc dataset=emoji ! "
      "fakesink name=sink", NULL);
  g_unsetenv ("T2I_DATA_DIR");
  g_assert_nonnull (r->error);
  g_assert_nonnull (strstr (r->error, "scripts/fetch-data emoji"));
  g_assert_nonnull (strstr (r->error, dir));
  data_rmdir (dir);
}

int
main (int argc, char **argv)
{
  /* load the plugin in this process: a sanitized build cannot be loaded by
   * the uninstrumented gst-plugin-scanner */
  g_setenv ("GST_REGISTRY_FORK", "no", FALSE);
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/datasetsrc/shapes-caps", test_shapes_caps);
  g_test_add_func ("/datasetsrc/shapes-deterministic",
      test_shapes_deterministic);
  g_test_add_func ("/datasetsrc/shapes-epochs-steps",
      test_shapes_epochs_and_steps);
  g_test_add_func ("/datasetsrc/shapes-phases", test_shapes_phases);
  g_test_add_func ("/datasetsrc/shapes-shuffle", test_shapes_shuffle);
  g_test_add_func ("/datasetsrc/shapes-resume", test_shapes_resume);
  g_test_add_func ("/datasetsrc/shapes-errors", test_shapes_errors);
  g_test_add_func ("/datasetsrc/shards", test_shards);
  g_test_add_func ("/datasetsrc/folder-fail", test_folder_fail);
  g_test_add_func ("/datasetsrc/folder-skip", test_folder_skip);
  g_test_add_func ("/datasetsrc/folder-filters", test_folder_filters);
  g_test_add_func ("/datasetsrc/folder-captions", test_folder_captions);
  g_test_add_func ("/datasetsrc/folder-jpeg", test_folder_jpeg);
  g_test_add_func ("/datasetsrc/folder-links", test_folder_links);
  g_test_add_func ("/datasetsrc/emoji-missing", test_emoji_missing);
  int ret = g_test_run ();
  gst_deinit ();
  return ret;
}
