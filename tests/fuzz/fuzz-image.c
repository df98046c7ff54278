/* libFuzzer target: PNG decoding as the folder dataset does it (decode,
 * centre crop and resize, to CHW floats).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <t2i/image.h>

#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 * data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 * data, size_t size)
{
  gint w = 0, h = 0;
  GError *error = NULL;
  guint8 *rgb = t2i_image_load_png_from_data (data, size, "fuzz.png", &w, &h,
      &error);

  if (!rgb) {
    g_assert (error && error->domain == T2I_IMAGE_ERROR
        && !strchr (error->message, '\n'));
    g_error_free (error);
    return 0;
  }
  g_assert (w > 0 && h > 0 && w <= T2I_IMAGE_MAX_SIDE
      && h <= T2I_IMAGE_MAX_SIDE && (gint64) w * h <= T2I_IMAGE_MAX_PIXELS);
  guint8 small[16 * 16 * 3];
  float chw[3 * 16 * 16];
  t2i_image_center_crop_resize (rgb, w, h, 3, small, 16);
  t2i_image_to_chw (small, 16, 16, 3, chw);
  g_free (rgb);
  return 0;
}
