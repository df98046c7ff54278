/* The record buffer, its meta and caps helpers.
#include <string.h>
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <t2i/record.h>

static void
test_entries (void)
{
  GstBuffer *r = t2i_record_new ();
  GError *err = NULL;
  T2iTensor *img = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (2, 3, 4, 4));
  const char *caps[] = { "a red circle", "a blue square", NULL };

  g_assert_true (t2i_record_set_tensor (r, "image", img, &err));
  g_assert_true (t2i_record_set_strings (r, "caption", caps, &err));
  g_assert_cmpuint (t2i_record_n_entries (r), ==, 2);
  g_assert_true (t2i_record_get_tensor (r, "image") == img);
  g_assert_null (t2i_record_get_tensor (r, "caption"));
  g_assert_cmpstr (t2i_record_get_strings (r, "caption")[1], ==, "a blue square");
  g_autofree char *d = t2i_record_describe (r);
  g_assert_cmpstr (d, ==, "image f32[2,3,4,4], caption str[2]");

  /* replacing keeps the position */
  T2iTensor *img2 = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (2, 3, 8, 8));
  g_assert_true (t2i_record_set_tensor (r, "image", img2, &err));
  g_assert_cmpstr (t2i_record_entry_name (r, 0), ==, "image");
  g_assert_true (t2i_record_get_tensor (r, "image") == img2);

  /* a copy shares tensors and copies names */
  GstBuffer *c = gst_buffer_copy (r);
  g_assert_true (t2i_record_get_tensor (c, "image") == img2);
  g_assert_true (t2i_record_remove (c, "image"));
  g_assert_false (t2i_record_has (c, "image"));
  g_assert_true (t2i_record_has (r, "image"));
  g_assert_cmpstr (t2i_record_entry_name (c, 0), ==, "caption");
  gst_buffer_unref (c);

  g_assert_false (t2i_record_set_tensor (r, "9bad", img, &err));
  g_assert_error (err, T2I_RECORD_ERROR, T2I_RECORD_ERROR_BAD_NAME);
  g_clear_error (&err);

  t2i_tensor_unref (img);
  t2i_tensor_unref (img2);
  gst_buffer_unref (r);
}

/* no limit on entries: 300 in one record, found by name, in order */
static void
test_many (void)
{
  GstBuffer *r = t2i_record_new ();
  T2iTensor *t[300];
  GError *err = NULL;
  for (gint i = 0; i < 300; i++) {
    g_autofree char *name = g_strdup_printf ("vgg/real/e%03d", i);
    t[i] = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (1, i + 1));
    g_assert_true (t2i_record_set_tensor (r, name, t[i], &err));
  }
  g_assert_cmpuint (t2i_record_n_entries (r), ==, 300);
  g_assert_cmpuint (gst_buffer_n_memory (r), ==, 1);
  for (gint i = 0; i < 300; i++) {
    g_autofree char *name = g_strdup_printf ("vgg/real/e%03d", i);
    g_assert_cmpstr (t2i_record_entry_name (r, (guint) i), ==, name);
    g_assert_true (t2i_record_get_tensor (r, name) == t[i]);
  }
  /* a family is described once */
  const char *caption[] = { "x", NULL };
  t2i_record_set_strings (r, "caption", caption, NULL);
  g_autofree char *d = t2i_record_describe (r);
  g_assert_cmpstr (d, ==, "vgg/real/... (300 entries), caption str[1]");
  GstCaps *caps = t2i_record_caps_from_record (r);
  g_autofree char *cd = t2i_caps_describe (gst_caps_get_structure (caps, 0));
  g_assert_cmpstr (cd, ==, d);
  gst_caps_unref (caps);

  g_assert_true (t2i_record_remove (r, "vgg/real/e150"));
  g_assert_cmpstr (t2i_record_entry_name (r, 150), ==, "vgg/real/e151");
  g_assert_null (t2i_record_get_tensor (r, "vgg/real/e150"));
  for (gint i = 0; i < 300; i++)
    t2i_tensor_unref (t[i]);
  gst_buffer_unref (r);
}

/* a shallow copy shares the table until one side changes it; a deep copy
 * copies tensors; the meta travels with both */
static void
test_copy_on_write (void)
{
  GstBuffer *r = t2i_record_new ();
  T2iTensor *a = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (2));
  T2iTensor *b = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (3));
  t2i_record_set_tensor (r, "a", a, NULL);
  t2i_record_get_meta (r)->step = 7;
  t2i_record_get_meta (r)->n_phases = 2;

  GstBuffer *c = gst_buffer_copy (r);
  g_assert_true (gst_buffer_peek_memory (c, 0) ==
      gst_buffer_peek_memory (r, 0));
  g_assert_true (t2i_record_set_tensor (c, "b", b, NULL));
  g_assert_false (t2i_record_has (r, "b"));
  g_assert_true (t2i_record_get_tensor (c, "a") == a);
  g_assert_cmpint (t2i_record_get_meta (c)->step, ==, 7);
  g_assert_false (t2i_record_ends_step (c));
  t2i_record_get_meta (c)->phase_index = 1;
  g_assert_true (t2i_record_ends_step (c));

  /* the other side changes too, independently */
  g_assert_true (t2i_record_remove (r, "a"));
  g_assert_true (t2i_record_get_tensor (c, "a") == a);

  GstBuffer *d = gst_buffer_copy_deep (c);
  T2iTensor *da = t2i_record_get_tensor (d, "a");
  g_assert_nonnull (da);
  g_assert_true (da != a);
  g_assert_cmpint (da->numel, ==, 2);
  g_assert_cmpstr (t2i_record_entry_name (d, 1), ==, "b");

  gst_buffer_unref (d);
  gst_buffer_unref (c);
  gst_buffer_unref (r);
  t2i_tensor_unref (a);
  t2i_tensor_unref (b);
}

static void
test_caps (void)
{
  GstBuffer *r = t2i_record_new ();
  T2iTensor *img = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (8, 3, 32, 32));
  T2iTensor *ids = t2i_tensor_zeros (T2I_I32, T2I_SHAPE (8));
  GError *err = NULL;
  t2i_record_set_tensor (r, "image", img, NULL);
  t2i_record_set_tensor (r, "loss/G", ids, NULL);
  GstCaps *caps = t2i_record_caps_from_record (r);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  const char *dt;
  gint nd;
  gint64 sh[T2I_MAX_DIMS];

  g_assert_true (gst_caps_is_fixed (caps));
  g_assert_true (t2i_caps_get_entry (s, "image", &dt, &nd, sh));
  g_assert_cmpstr (dt, ==, "f32");
  g_assert_cmpint (nd, ==, 4);
  g_assert_cmpint (sh[3], ==, 32);
  /* caps survive a round trip through their string form */
  g_autofree char *str = gst_caps_to_string (caps);
  GstCaps *back = gst_caps_from_string (str);
  g_assert_true (gst_caps_is_equal (caps, back));
  gst_caps_unref (back);

  g_assert_true (t2i_caps_require (s, "image", "f32", 4,
          (gint64[]) { -1, 3, -1, -1 }, &err));
  g_assert_false (t2i_caps_require (s, "h", NULL, 2, NULL, &err));
  g_assert_cmpstr (err->message, ==, "needs entry 'h' but upstream offers "
      "image f32[8,3,32,32], loss/G i32[8]");
  g_clear_error (&err);
  g_assert_false (t2i_caps_require (s, "image", "f32", 4,
          (gint64[]) { -1, 1, -1, -1 }, &err));
  g_assert_nonnull (strstr (err->message, "must be f32[*,1,*,*]"));
  g_clear_error (&err);

  g_assert_true (t2i_caps_remove_entry (s, "image"));
  g_autofree char *left = t2i_caps_describe (s);
  g_assert_cmpstr (left, ==, "loss/G i32[8]");
  gst_caps_unref (caps);
  t2i_tensor_unref (img);
  t2i_tensor_unref (ids);
  gst_buffer_unref (r);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/record/entries", test_entries);
  g_test_add_func ("/record/many", test_many);
  g_test_add_func ("/record/copy-on-write", test_copy_on_write);
  g_test_add_func ("/record/caps", test_caps);
  return g_test_run ();
}
