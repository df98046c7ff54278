/* PNG decode/encode, resampling and tensor conversion (core/data/image.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <t2i/image.h>

static gchar *tmpdir;

static gchar *
tmp_path (const char *name)
{
  return g_build_filename (tmpdir, name, NULL);
}

static void
test_png_roundtrip_rgb (void)
{
  g_autofree gchar *path = tmp_path ("rgb.png");
  guint8 px[5 * 3 * 3];
  GError *err = NULL;
  gint w = 0, h = 0;

  for (guint i = 0; i < sizeof (px); i++)
    px[i] = (guint8) (i * 37 + 11);
  g_assert_true (t2i_image_save_png (path, 5, 3, 3, px, &err));
  g_assert_no_error (err);
  g_autofree guint8 *back = t2i_image_load_png (path, &w, &h, &err);
  g_assert_no_error (err);
  g_assert_cmpint (w, ==, 5);
  g_assert_cmpint (h, ==, 3);
  g_assert_cmpmem (back, sizeof (px), px, sizeof (px));
}

static void
test_png_alpha_on_white (void)
{
  g_autofree gchar *path = tmp_path ("rgba.png");
  /* opaque red, transparent black, half-transparent blue */
  const guint8 px[3 * 4] = { 255, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255, 128 };
  GError *err = NULL;
  gint w, h;

  g_assert_true (t2i_image_save_png (path, 3, 1, 4, px, &err));
  g_autofree guint8 *rgb = t2i_image_load_png (path, &w, &h, &err);
  g_assert_no_error (err);
  g_assert_cmpint (w, ==, 3);
  g_assert_cmpint (h, ==, 1);
  const guint8 want[9] = { 255, 0, 0, 255, 255, 255,
    /* 255 * 127 / 255 = 127 for R and G, 255 for B */
    127, 127, 255
  };
  g_assert_cmpmem (rgb, 9, want, 9);
}

static void
test_png_gray (void)
{
  g_autofree gchar *path = tmp_path ("gray.png");
  const guint8 px[4] = { 0, 64, 128, 255 };
  GError *err = NULL;
  gint w, h;

  g_assert_true (t2i_image_save_png (path, 2, 2, 1, px, &err));
  g_autofree guint8 *rgb = t2i_image_load_png (path, &w, &h, &err);
  g_assert_no_error (err);
  for (gint i = 0; i < 4; i++)
    for (gint c = 0; c < 3; c++)
      g_assert_cmpint (rgb[i * 3 + c], ==, px[i]);
}

static void
test_png_errors (void)
{
  g_autofree gchar *missing = tmp_path ("missing.png");
  g_autofree gchar *text = tmp_path ("text.png");
  g_autofree gchar *trunc = tmp_path ("truncated.png");
  g_autofree gchar *good = tmp_path ("good.png");
  GError *err = NULL;
  gint w, h;
  guint8 px[16 * 16 * 3];

  g_assert_null (t2i_image_load_png (missing, &w, &h, &err));
  g_assert_error (err, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_OPEN);
  g_clear_error (&err);

  g_assert_true (g_file_set_contents (text, "hello", -1, NULL));
  g_assert_null (t2i_image_load_png (text, &w, &h, &err));
  g_assert_error (err, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_DECODE);
  g_assert_nonnull (strstr (err->message, "text.png"));
  g_clear_error (&err);

  /* a valid PNG cut in half */
  for (guint i = 0; i < sizeof (px); i++)
    px[i] = (guint8) g_random_int ();
  g_assert_true (t2i_image_save_png (good, 16, 16, 3, px, NULL));
  gchar *data;
  gsize size;
  g_assert_true (g_file_get_contents (good, &data, &size, NULL));
  g_assert_true (g_file_set_contents (trunc, data, (gssize) size / 2, NULL));
  g_free (data);
  g_assert_null (t2i_image_load_png (trunc, &w, &h, &err));
  g_assert_error (err, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_DECODE);
  g_clear_error (&err);

  g_assert_false (t2i_image_save_png (good, 2, 2, 2, px, &err));
  g_assert_error (err, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_INVALID);
  g_clear_error (&err);
}

static void
test_resize_identity_and_constant (void)
{
  guint8 src[7 * 5 * 3], dst[7 * 5 * 3], big[13 * 9 * 3], small[3 * 2 * 3];

  for (guint i = 0; i < sizeof (src); i++)
    src[i] = (guint8) (i * 13);
  t2i_image_resize_bilinear (src, 7, 5, 3, dst, 7, 5);
  g_assert_cmpmem (src, sizeof (src), dst, sizeof (dst));

  memset (src, 77, sizeof (src));
  t2i_image_resize_bilinear (src, 7, 5, 3, big, 13, 9);
  t2i_image_resize_bilinear (src, 7, 5, 3, small, 3, 2);
  for (guint i = 0; i < sizeof (big); i++)
    g_assert_cmpint (big[i], ==, 77);
  for (guint i = 0; i < sizeof (small); i++)
    g_assert_cmpint (small[i], ==, 77);
}

static void
test_resize_values (void)
{
  /* 2x reduction of a row: triangle of radius 2 centred between pixels */
  const guint8 row[4] = { 0, 100, 200, 50 };
  guint8 out[2], up[8];

  t2i_image_resize_bilinear (row, 4, 1, 1, out, 2, 1);
  /* out[0]: weights 0.75, 0.75, 0.25 on 0, 100, 200 -> 125 / 1.75 */
  g_assert_cmpint (out[0], ==, 71);
  /* out[1]: weights 0.25, 0.75, 0.75 on 100, 200, 50 -> 212.5 / 1.75 */
  g_assert_cmpint (out[1], ==, 121);

  /* 2x enlargement is linear interpolation, edges clamped */
  t2i_image_resize_bilinear (row, 4, 1, 1, up, 8, 1);
  const guint8 want[8] = { 0, 25, 75, 125, 175, 163, 88, 50 };
  g_assert_cmpmem (up, 8, want, 8);
}

static void
test_center_crop (void)
{
  /* 12x4: columns 0-1 blue, 2-9 green, 10-11 red; the centre square
   * (columns 4-7) and the filter taps around it (3-8) are green */
  guint8 src[12 * 4 * 3], dst[2 * 2 * 3];
  for (gint y = 0; y < 4; y++)
    for (gint x = 0; x < 12; x++) {
      guint8 *p = src + (y * 12 + x) * 3;
      p[0] = x >= 10 ? 255 : 0;
      p[1] = x >= 2 && x < 10 ? 255 : 0;
      p[2] = x < 2 ? 255 : 0;
    }
  t2i_image_center_crop_resize (src, 12, 4, 3, dst, 2);
  for (gint i = 0; i < 4; i++) {
    g_assert_cmpint (dst[i * 3 + 0], ==, 0);
    g_assert_cmpint (dst[i * 3 + 1], ==, 255);
    g_assert_cmpint (dst[i * 3 + 2], ==, 0);
  }
}

static void
test_chw (void)
{
  guint8 px[2 * 1 * 3] = { 0, 255, 128, 1, 2, 254 };
  float chw[6];
  guint8 back[6];

  t2i_image_to_chw (px, 2, 1, 3, chw);
  /* planes: R = (0, 1), G = (255, 2), B = (128, 254) */
  g_assert_cmpfloat (chw[0], ==, -1.0f);
  g_assert_cmpfloat_with_epsilon (chw[1], 1 / 127.5f - 1, 1e-7);
  g_assert_cmpfloat (chw[2], ==, 1.0f);
  g_assert_cmpfloat_with_epsilon (chw[4], 128 / 127.5f - 1, 1e-7);
  t2i_image_from_chw (chw, 2, 1, 3, back);
  g_assert_cmpmem (back, 6, px, 6);

  float odd[3] = { NAN, -7.0f, 3.0f };
  guint8 b[3];
  t2i_image_from_chw (odd, 3, 1, 1, b);
  g_assert_cmpint (b[0], ==, 0);
  g_assert_cmpint (b[1], ==, 0);
  g_assert_cmpint (b[2], ==, 255);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("t2i-image-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);
  g_test_add_func ("/image/png-roundtrip-rgb", test_png_roundtrip_rgb);
  g_test_add_func ("/image/png-alpha-on-white", test_png_alpha_on_white);
  g_test_add_func ("/image/png-gray", test_png_gray);
  g_test_add_func ("/image/png-errors", test_png_errors);
  g_test_add_func ("/image/resize-identity-constant",
      test_resize_identity_and_constant);
  g_test_add_func ("/image/resize-values", test_resize_values);
  g_test_add_func ("/image/center-crop", test_center_crop);
  g_test_add_func ("/image/chw", test_chw);
  int ret = g_test_run ();
  const char *names[] = { "rgb.png", "rgba.png", "gray.png", "text.png",
    "truncated.png", "good.png", NULL
  };
  for (gint i = 0; names[i]; i++) {
    g_autofree gchar *p = tmp_path (names[i]);
    g_unlink (p);
  }
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return ret;
}
