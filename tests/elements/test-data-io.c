/* t2itextsrc, t2inoise, t2itovideo, t2ifromvideo and the demo pipelines.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>
#include <math.h>
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

static void
assert_i32 (T2iTensor * t, const gint32 * want, gint n)
{
  g_assert_cmpint (t->dtype, ==, T2I_I32);
  g_assert_cmpint (t->numel, ==, n);
  g_assert_cmpmem (t->data, t->nbytes, want, n * sizeof (gint32));
}

/* ---- t2itextsrc ---- */

static void
test_textsrc_file (void)
{
  g_autofree gchar *dir = data_tmpdir ();
  g_autofree gchar *path = g_build_filename (dir, "prompts.txt", NULL);
  g_assert_true (g_file_set_contents (path, "# prompts\na red circle\n\n"
          "  a blue square  \r\n   # indented comment\na green star", -1,
          NULL));

  g_autofree gchar *d1 = g_strdup_printf ("t2itextsrc location=%s "
      "batch-size=2 repeat=2 ! fakesink name=sink", path);
  g_autoptr (RunResult) a = run_pipeline (d1, NULL);
  g_assert_null (a->error);
  g_assert_cmpuint (a->buffers->len, ==, 3);
  const char *want[3] = { "a red circle", "a blue square", "a green star" };
  for (guint i = 0; i < 3; i++) {
    GstBuffer *b = a->buffers->pdata[i];
    const char *const *caps = t2i_record_get_strings (b, "caption");
    g_assert_cmpuint (g_strv_length ((gchar **) caps), ==, 2);
    g_assert_cmpstr (caps[0], ==, want[i]);
    g_assert_cmpstr (caps[1], ==, want[i]);
    const gint32 idx[2] = { (gint32) i, (gint32) i };
    assert_i32 (entry (b, "prompt-index"), idx, 2);
    g_assert_cmpint (t2i_record_get_meta (b)->step, ==, i);
  }

  /* a fixed batch: the last one is padded by cycling, marked -1 */
  g_autofree gchar *d2 = g_strdup_printf ("t2itextsrc location=%s "
      "batch-size=4 repeat=2 ! fakesink name=sink", path);
  g_autoptr (RunResult) b = run_pipeline (d2, NULL);
  g_assert_null (b->error);
  g_assert_cmpuint (b->buffers->len, ==, 2);
  const char *last[] = { "a green star", "a green star", "a red circle",
    "a red circle", NULL
  };
  g_assert_true (g_strv_equal (t2i_record_get_strings (b->buffers->pdata[1],
              "caption"), last));
  const gint32 idx[4] = { 2, 2, -1, -1 };
  assert_i32 (entry (b->buffers->pdata[1], "prompt-index"), idx, 4);
  gint64 total;
  g_assert_true (gst_structure_get_int64 (run_result_message (b,
              "t2i-progress"), "total", &total));
  g_assert_cmpint (total, ==, 2);
  gint64 step = -1;
  g_assert_true (gst_structure_get_int64 (run_result_last_message (b,
              "t2i-progress"), "step", &step));
  g_assert_cmpint (step, ==, 2);
  g_unlink (path);
  data_rmdir (dir);
}

static void
test_textsrc_text_and_errors (void)
{
  g_autoptr (RunResult) a = run_pipeline ("t2itextsrc text=\"x; y ;;z\" "
      "batch-size=3 ! fakesink name=sink", NULL);
  g_assert_null (a->error);
  const char *want[] = { "x", "y", "z", NULL };
  g_assert_true (g_strv_equal (t2i_record_get_strings (a->buffers->pdata[0],
              "caption"), want));

  g_autoptr (RunResult) b = run_pipeline ("t2itextsrc ! fakesink name=sink",
      NULL);
  g_assert_nonnull (strstr (b->error, "location="));

  g_autofree gchar *dir = data_tmpdir ();
  g_autofree gchar *path = g_build_filename (dir, "empty.txt", NULL);
  g_assert_true (g_file_set_contents (path, "# nothing\n\n", -1, NULL));
  g_autofree gchar *d = g_strdup_printf ("t2itextsrc location=%s ! fakesink "
      "name=sink", path);
  g_autoptr (RunResult) c = run_pipeline (d, NULL);
  g_assert_nonnull (strstr (c->error, "holds no prompts"));

  g_autofree gchar *d2 = g_strdup_printf ("t2itextsrc location=%s/none.txt "
      "! fakesink name=sink", dir);
  g_autoptr (RunResult) e = run_pipeline (d2, NULL);
  g_assert_nonnull (strstr (e->error, "none.txt"));
  g_unlink (path);
  data_rmdir (dir);
}

/* ---- t2inoise ---- */

static RunResult *
run_noise (guint64 seed, const char *props)
{
  T2iSession *s = t2i_session_new ();
  t2i_session_set_seed (s, seed);
  g_autofree gchar *d = g_strdup_printf ("t2itextsrc text=\"a;b;c;d;e;f\" "
      "batch-size=3 ! t2inoise dim=8 %s ! fakesink name=sink", props);
  RunResult *r = run_pipeline (d, s);
  g_object_unref (s);
  return r;
}

static void
test_noise (void)
{
  g_autoptr (RunResult) a = run_noise (5, "");
  g_autoptr (RunResult) b = run_noise (5, "");
  g_autoptr (RunResult) c = run_noise (6, "");
  g_autoptr (RunResult) h = run_noise (5, "truncation=0.5 output=w "
      "like=prompt-index");

  g_assert_null (a->error);
  g_assert_null (h->error);
  g_assert_cmpuint (a->buffers->len, ==, 2);
  /* the session RNG's stream, record after record */
  T2iRng rng;
  float want[48];
  t2i_rng_init (&rng, 5);
  t2i_rng_normal_f32 (&rng, want, 24, 0.0, 1.0);
  t2i_rng_normal_f32 (&rng, want + 24, 24, 0.0, 1.0);
  for (guint i = 0; i < 2; i++) {
    T2iTensor *z = entry (a->buffers->pdata[i], "z");
    g_assert_cmpint (z->ndim, ==, 2);
    g_assert_cmpint (z->shape[0], ==, 3);
    g_assert_cmpint (z->shape[1], ==, 8);
    g_assert_cmpmem (z->data, z->nbytes, want + 24 * i, 24 * sizeof (float));
    T2iTensor *zb = entry (b->buffers->pdata[i], "z");
    T2iTensor *zc = entry (c->buffers->pdata[i], "z");
    g_assert_cmpmem (z->data, z->nbytes, zb->data, zb->nbytes);
    g_assert_true (memcmp (z->data, zc->data, z->nbytes) != 0);
    T2iTensor *w = entry (h->buffers->pdata[i], "w");
    for (gint k = 0; k < 24; k++)
      g_assert_cmpfloat (t2i_tensor_f32 (w)[k], ==,
          0.5f * t2i_tensor_f32 (z)[k]);
  }

  /* seed=: the element's own stream, whatever the session's seed */
  g_autoptr (RunResult) s5 = run_noise (5, "seed=7");
  g_autoptr (RunResult) s6 = run_noise (6, "seed=7");
  g_assert_null (s5->error);
  t2i_rng_init (&rng, 7);
  t2i_rng_normal_f32 (&rng, want, 24, 0.0, 1.0);
  t2i_rng_normal_f32 (&rng, want + 24, 24, 0.0, 1.0);
  for (guint i = 0; i < 2; i++) {
    T2iTensor *z5 = entry (s5->buffers->pdata[i], "z");
    T2iTensor *z6 = entry (s6->buffers->pdata[i], "z");
    g_assert_cmpmem (z5->data, z5->nbytes, want + 24 * i, 24 * sizeof (float));
    g_assert_cmpmem (z6->data, z6->nbytes, want + 24 * i, 24 * sizeof (float));
  }

  g_autoptr (RunResult) e = run_noise (5, "like=nothing");
  g_assert_nonnull (e->error);
  g_assert_nonnull (strstr (e->error, "like=nothing"));
}

/* ---- t2itovideo ---- */

/* byte of image i, channel c, pixel (y, x) of the test batch */
static guint8
pix (gint i, gint c, gint y, gint x)
{
  return (guint8) (10 * i + 50 * c + 2 * y + x + 1);
}

static GstBuffer *
make_record (gint n, gint h, gint w, gboolean with_captions)
{
  GstBuffer *rec = t2i_record_new ();
  T2iTensor *t = t2i_tensor_new (T2I_F32, T2I_SHAPE (n, 3, h, w));
  float *d = t2i_tensor_f32 (t);
  for (gint i = 0; i < n; i++)
    for (gint c = 0; c < 3; c++)
      for (gint y = 0; y < h; y++)
        for (gint x = 0; x < w; x++)
          *d++ = pix (i, c, y, x) / 127.5f - 1.0f;
  g_assert_true (t2i_record_set_tensor (rec, "image", t, NULL));
  t2i_tensor_unref (t);
  if (with_captions) {
    gchar **caps = g_new0 (gchar *, n + 1);
    for (gint i = 0; i < n; i++)
      caps[i] = g_strdup_printf ("caption %c", 'a' + i);
    g_assert_true (t2i_record_set_strings (rec, "caption",
            (const char *const *) caps, NULL));
    g_strfreev (caps);
  }
  return rec;
}

/* a harness around t2itovideo with @props (NULL-terminated name, value
 * pairs, set with gst_util_set_object_arg) negotiated for @rec */
static GstHarness *
harness_for (GstBuffer * rec, ...)
{
  GstHarness *h = gst_harness_new ("t2itovideo");
  va_list ap;
  const char *name;

  va_start (ap, rec);
  while ((name = va_arg (ap, const char *)))
    gst_util_set_object_arg (G_OBJECT (h->element), name, va_arg (ap,
            const char *));
  va_end (ap);
  gst_harness_set_src_caps (h, t2i_record_caps_from_record (rec));
  return h;
}

static void
test_tovideo_grid (void)
{
  GstBuffer *rec = make_record (3, 2, 2, FALSE);
  GstHarness *h = harness_for (rec, "padding", "1", "scale", "2",
      "padding-color", "1056816", NULL);
  GstBuffer *out = gst_harness_push_and_pull (h, rec);
  g_assert_nonnull (out);

  /* ceil (sqrt (3)) = 2 columns, 2 rows of 4x4 cells, 1 px padding */
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  GstVideoInfo info;
  g_assert_true (gst_video_info_from_caps (&info, caps));
  gst_caps_unref (caps);
  g_assert_cmpint (GST_VIDEO_INFO_FORMAT (&info), ==, GST_VIDEO_FORMAT_RGB);
  g_assert_cmpint (GST_VIDEO_INFO_WIDTH (&info), ==, 11);
  g_assert_cmpint (GST_VIDEO_INFO_HEIGHT (&info), ==, 11);
  gint stride = GST_VIDEO_INFO_PLANE_STRIDE (&info, 0);
  g_assert_cmpint (stride, ==, 36);

  GstMapInfo map;
  g_assert_true (gst_buffer_map (out, &map, GST_MAP_READ));
  const guint8 pad[3] = { 0x10, 0x20, 0x30 };
  for (gint y = 0; y < 11; y++)
    for (gint x = 0; x < 11; x++) {
      const guint8 *p = map.data + y * stride + x * 3;
      gint col = (x - 1) / 5, row = (y - 1) / 5;
      gint cx = (x - 1) % 5, cy = (y - 1) % 5;
      gint i = row * 2 + col;
      gboolean inside = x >= 1 && y >= 1 && cx < 4 && cy < 4 && i < 3;
      for (gint c = 0; c < 3; c++) {
        guint8 want = inside ? pix (i, c, cy / 2, cx / 2) : pad[c];
        if (p[c] != want)
          g_error ("pixel (%d,%d) channel %d: %d, want %d", x, y, c, p[c],
              want);
      }
    }
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

static void
test_tovideo_frames_and_range (void)
{
  GstBuffer *rec = make_record (3, 2, 2, FALSE);
  GstHarness *h = harness_for (rec, "mode", "frames", NULL);
  g_assert_cmpint (gst_harness_push (h, rec), ==, GST_FLOW_OK);
  g_assert_cmpuint (gst_harness_buffers_received (h), ==, 3);
  for (gint i = 0; i < 3; i++) {
    GstBuffer *out = gst_harness_pull (h);
    GstMapInfo map;
    g_assert_true (gst_buffer_map (out, &map, GST_MAP_READ));
    /* 2x2 RGB, rows rounded up to 8 bytes */
    for (gint y = 0; y < 2; y++)
      for (gint x = 0; x < 2; x++)
        for (gint c = 0; c < 3; c++)
          g_assert_cmpint (map.data[y * 8 + x * 3 + c], ==, pix (i, c, y, x));
    gst_buffer_unmap (out, &map);
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);

  /* range=0,1 with clamping and NaN */
  GstBuffer *r2 = t2i_record_new ();
  const float v[3] = { 0.5f, 2.0f, NAN };
  T2iTensor *t = t2i_tensor_from_data (T2I_F32, T2I_SHAPE (1, 1, 1, 3), v);
  g_assert_true (t2i_record_set_tensor (r2, "image", t, NULL));
  t2i_tensor_unref (t);
  h = harness_for (r2, "range", "0,1", "padding", "0", NULL);
  GstBuffer *out = gst_harness_push_and_pull (h, r2);
  GstMapInfo map;
  g_assert_true (gst_buffer_map (out, &map, GST_MAP_READ));
  const guint8 want[9] = { 128, 128, 128, 255, 255, 255, 0, 0, 0 };
  g_assert_cmpmem (map.data, 9, want, 9);
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

static void
test_tovideo_captions_file (void)
{
  g_autofree gchar *dir = data_tmpdir ();
  g_autofree gchar *single = g_build_filename (dir, "sub", "grid.txt", NULL);
  g_autofree gchar *pattern = g_build_filename (dir, "g-%02d.txt", NULL);

  GstBuffer *rec = make_record (3, 2, 2, TRUE);
  GstHarness *h = harness_for (rec, "captions-file", single, NULL);
  g_assert_cmpint (gst_harness_push (h, gst_buffer_ref (rec)), ==,
      GST_FLOW_OK);
  t2i_record_get_meta (rec)->step = 1;
  g_assert_cmpint (gst_harness_push (h, rec), ==, GST_FLOW_OK);
  gst_harness_teardown (h);
  gchar *text = NULL;
  g_assert_true (g_file_get_contents (single, &text, NULL, NULL));
  g_assert_cmpstr (text, ==,
      "# step 0: 3 images, 2 columns, row-major\n"
      "1\tcaption a\n2\tcaption b\n3\tcaption c\n"
      "# step 1: 3 images, 2 columns, row-major\n"
      "1\tcaption a\n2\tcaption b\n3\tcaption c\n");
  g_free (text);

  rec = make_record (3, 2, 2, TRUE);
  h = harness_for (rec, "captions-file", pattern, "grid-columns", "3",
      NULL);
  g_assert_cmpint (gst_harness_push (h, gst_buffer_ref (rec)), ==,
      GST_FLOW_OK);
  g_assert_cmpint (gst_harness_push (h, rec), ==, GST_FLOW_OK);
  gst_harness_teardown (h);
  for (gint i = 0; i < 2; i++) {
    g_autofree gchar *name = g_strdup_printf ("g-%02d.txt", i);
    g_autofree gchar *p = g_build_filename (dir, name, NULL);
    g_assert_true (g_file_get_contents (p, &text, NULL, NULL));
    g_assert_true (g_str_has_prefix (text,
            "# step 0: 3 images, 3 columns, row-major\n1\tcaption a\n"));
    g_free (text);
  }

  /* captions-file without a caption entry is a negotiation error */
  g_autofree gchar *d = g_strdup_printf ("t2ifromvideo batch-size=1 name=f "
      "! t2itovideo captions-file=%s ! fakesink name=sink", single);
  g_autofree gchar *d2 = g_strdup_printf ("videotestsrc num-buffers=1 ! "
      "video/x-raw,format=RGB,width=8,height=8 ! %s", d);
  g_autoptr (RunResult) r = run_pipeline (d2, NULL);
  g_assert_nonnull (r->error);
  g_assert_nonnull (strstr (r->error, "captions=caption"));

  g_autofree gchar *d3 = g_strdup_printf ("videotestsrc num-buffers=1 ! "
      "video/x-raw,format=RGB,width=8,height=8 ! t2ifromvideo batch-size=1 "
      "! t2itovideo captions-file=%s/bad-%%s.txt ! fakesink name=sink", dir);
  g_autoptr (RunResult) r3 = run_pipeline (d3, NULL);
  g_assert_nonnull (r3->error);
  g_assert_nonnull (strstr (r3->error, "captions-file="));
  data_rmdir (dir);
}

/* ---- t2ifromvideo ---- */

/* a batch of frames past the memory limit: t2ifromvideo's own error */
static void
test_fromvideo_out_of_memory (void)
{
  t2i_alloc_set_limit (64 << 20);
  g_autoptr (RunResult) r = run_pipeline ("videotestsrc num-buffers=1 ! "
      "video/x-raw,format=RGB,width=2048,height=2048 ! t2ifromvideo "
      "batch-size=4 ! fakesink name=sink", NULL);
  t2i_alloc_set_limit (0);
  g_assert_nonnull (r->error);
  g_assert_cmpstr (r->error, ==, "out of memory: a tensor f32 "
      "[4,3,2048,2048] needs 192 MiB, more than the limit of 64 MiB "
      "(T2I_MEMORY_LIMIT); make the batch, the image size or the model "
      "smaller");
}

static void
test_fromvideo_roundtrip (void)
{
  g_autoptr (RunResult) orig = run_pipeline ("t2idatasetsrc dataset=shapes "
      "batch-size=4 resolution=16 max-steps=2 seed=1 ! fakesink name=sink",
      NULL);
  g_autoptr (RunResult) back = run_pipeline ("t2idatasetsrc dataset=shapes "
      "batch-size=4 resolution=16 max-steps=2 seed=1 ! t2itovideo "
      "mode=frames ! t2ifromvideo batch-size=4 output=img ! fakesink "
      "name=sink", NULL);

  g_assert_null (back->error);
  g_assert_cmpuint (back->buffers->len, ==, 2);
  for (guint i = 0; i < 2; i++) {
    T2iTensor *a = entry (orig->buffers->pdata[i], "image");
    T2iTensor *b = entry (back->buffers->pdata[i], "img");
    g_assert_true (t2i_tensor_same_shape (a, b));
    for (gint64 k = 0; k < a->numel; k++) {
      double v = (t2i_tensor_f32 (a)[k] + 1.0) * 127.5;
      guint8 q = v >= 255 ? 255 : v > 0 ? (guint8) (v + 0.5) : 0;
      g_assert_cmpfloat (t2i_tensor_f32 (b)[k], ==, q / 127.5f - 1.0f);
    }
    const gint32 ids[4] = { 4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3 };
    assert_i32 (entry (back->buffers->pdata[i], "id"), ids, 4);
    g_assert_cmpint (t2i_record_get_meta (back->buffers->pdata[i])->step, ==,
        i);
  }

  /* 8 frames in batches of 3: two records, two frames dropped */
  g_autoptr (RunResult) part = run_pipeline ("t2idatasetsrc dataset=shapes "
      "batch-size=4 resolution=16 max-steps=2 ! t2itovideo mode=frames ! "
      "t2ifromvideo batch-size=3 ! fakesink name=sink", NULL);
  g_assert_null (part->error);
  g_assert_cmpuint (part->buffers->len, ==, 2);
  g_assert_true (run_result_warned (part, "dropped the last 2 frame(s)"));
}

/* ---- the pipelines of pipelines/ ---- */

static gchar *
read_pipeline (const char *name)
{
  g_autofree gchar *path = g_build_filename (g_getenv ("T2I_SOURCE_DIR"),
      "pipelines", name, NULL);
  gchar *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  /* '#' comments (these files hold no quoted '#') */
  GString *s = g_string_new (NULL);
  gchar **lines = g_strsplit (text, "\n", -1);
  for (gint i = 0; lines[i]; i++) {
    gchar *hash = strchr (lines[i], '#');
    if (hash)
      *hash = 0;
    g_string_append_printf (s, "%s\n", lines[i]);
  }
  g_strfreev (lines);
  g_free (text);
  return g_string_free (s, FALSE);
}

static void
assert_png (const char *path, gint width, gint height)
{
  GError *err = NULL;
  gint w, h;
  g_autofree guint8 *rgb = t2i_image_load_png (path, &w, &h, &err);
  g_assert_no_error (err);
  g_assert_cmpint (w, ==, width);
  g_assert_cmpint (h, ==, height);
}

static void
test_pipelines (void)
{
  g_autofree gchar *dir = data_tmpdir ();
  g_autofree gchar *cwd = g_get_current_dir ();
  g_autofree gchar *out = g_build_filename (dir, "out", NULL);
  g_assert_cmpint (chdir (dir), ==, 0);
  g_assert_cmpint (g_mkdir (out, 0755), ==, 0);

  /* demo.t2i: 16 images of 64 px in 4 columns with 2 px padding */
  g_autofree gchar *demo = read_pipeline ("demo.t2i");
  g_autoptr (RunResult) r = run_pipeline (demo, NULL);
  g_assert_null (r->error);
  assert_png ("out/demo.png", 266, 266);
  gchar *text;
  g_assert_true (g_file_get_contents ("out/demo.txt", &text, NULL, NULL));
  g_assert_true (g_str_has_prefix (text,
          "# step 0: 16 images, 4 columns, row-major\n1\t"));
  gchar **lines = g_strsplit (text, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 18);
  g_strfreev (lines);
  g_free (text);

  /* shapes-grid.t2i: 4 grids, scale 2: 4 * 128 + 5 * 2 */
  g_autofree gchar *grid = read_pipeline ("shapes-grid.t2i");
  g_autoptr (RunResult) g = run_pipeline (grid, NULL);
  g_assert_null (g->error);
  for (gint i = 0; i < 4; i++) {
    g_autofree gchar *png = g_strdup_printf ("out/shapes-grid-%02d.png", i);
    g_autofree gchar *txt = g_strdup_printf ("out/shapes-grid-%02d.txt", i);
    assert_png (png, 522, 522);
    g_assert_true (g_file_test (txt, G_FILE_TEST_IS_REGULAR));
  }

  /* the same file through t2i-launch, when it is built */
  g_autofree gchar *launch = g_build_filename (g_getenv ("T2I_BUILD_DIR"),
      "tools", "t2i-launch", "t2i-launch", NULL);
  if (g_file_test (launch, G_FILE_TEST_IS_EXECUTABLE)) {
    g_autofree gchar *file = g_build_filename (g_getenv ("T2I_SOURCE_DIR"),
        "pipelines", "demo.t2i", NULL);
    const gchar *argv[] = { launch, "--quiet", file, NULL };
    gint status = -1;
    g_autofree gchar *err_out = NULL;
    g_unlink ("out/demo.png");
    g_assert_true (g_spawn_sync (NULL, (gchar **) argv, NULL,
            G_SPAWN_DEFAULT, NULL, NULL, NULL, &err_out, &status, NULL));
    if (!g_spawn_check_wait_status (status, NULL))
      g_error ("t2i-launch demo.t2i failed: %s", err_out);
    assert_png ("out/demo.png", 266, 266);
  }

  g_assert_cmpint (chdir (cwd), ==, 0);
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
  g_test_add_func ("/textsrc/file", test_textsrc_file);
  g_test_add_func ("/textsrc/text-and-errors", test_textsrc_text_and_errors);
  g_test_add_func ("/noise/session-rng-and-seed", test_noise);
  g_test_add_func ("/tovideo/grid", test_tovideo_grid);
  g_test_add_func ("/tovideo/frames-and-range", test_tovideo_frames_and_range);
  g_test_add_func ("/tovideo/captions-file", test_tovideo_captions_file);
  g_test_add_func ("/fromvideo/roundtrip", test_fromvideo_roundtrip);
  g_test_add_func ("/fromvideo/out-of-memory", test_fromvideo_out_of_memory);
  g_test_add_func ("/pipelines/demo-and-grid", test_pipelines);
  int ret = g_test_run ();
  gst_deinit ();
  return ret;
}
