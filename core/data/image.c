/* t2i — PNG decode/encode, resampling and tensor conversion (see
 * t2i/image.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/image.h>

#include <math.h>
#include <png.h>
#include <string.h>

G_DEFINE_QUARK (t2i-image-error-quark, t2i_image_error);

static const guint8 png_signature[8] = { 137, 80, 78, 71, 13, 10, 26, 10 };

gboolean
t2i_image_is_png (const guint8 * data, gsize size)
{
  return data && size >= sizeof (png_signature)
      && memcmp (data, png_signature, sizeof (png_signature)) == 0;
}

void
t2i_image_composite_on_white (const guint8 * rgba, gsize n_pixels, guint8 * rgb)
{
  for (gsize i = 0; i < n_pixels; i++) {
    guint a = rgba[4 * i + 3];
    for (gint c = 0; c < 3; c++) {
      guint v = rgba[4 * i + c] * a + 255 * (255 - a);
      /* exact rounding of v / 255 */
      rgb[3 * i + c] = (guint8) ((v + 127) / 255);
    }
  }
}

guint8 *
t2i_image_load_png_from_data (const guint8 * data, gsize size,
    const char *name, gint * width, gint * height, GError ** error)
{
  png_image image;
  guint8 *rgba, *rgb;
  gsize n;

  g_return_val_if_fail (width != NULL && height != NULL, NULL);
  if (!name)
    name = "(memory)";
  if (!t2i_image_is_png (data, size)) {
    g_set_error (error, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_DECODE,
        "%s is not a PNG file", name);
    return NULL;
  }

  memset (&image, 0, sizeof (image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory (&image, data, size)) {
    g_set_error (error, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_DECODE,
        "cannot decode PNG %s: %s", name, image.message);
    png_image_free (&image);
    return NULL;
  }
  if (image.width == 0 || image.height == 0
      || image.width > T2I_IMAGE_MAX_SIDE || image.height > T2I_IMAGE_MAX_SIDE
      || (guint64) image.width * image.height > T2I_IMAGE_MAX_PIXELS) {
    g_set_error (error, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_TOO_LARGE,
        "PNG %s is %ux%u; images must be at most %dx%d and %d pixels",
        name, image.width, image.height, T2I_IMAGE_MAX_SIDE,
        T2I_IMAGE_MAX_SIDE, T2I_IMAGE_MAX_PIXELS);
    png_image_free (&image);
    return NULL;
  }

  image.format = PNG_FORMAT_RGBA;
  n = (gsize) image.width * image.height;
  rgba = g_try_malloc (n * 4);
  if (!rgba) {
    g_set_error (error, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_TOO_LARGE,
        "out of memory decoding PNG %s (%ux%u)", name, image.width,
        image.height);
    png_image_free (&image);
    return NULL;
  }
  if (!png_image_finish_read (&image, NULL, rgba, 0, NULL)) {
    g_set_error (error, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_DECODE,
        "cannot decode PNG %s: %s", name, image.message);
    png_image_free (&image);
    g_free (rgba);
    return NULL;
  }
  rgb = g_malloc (n * 3);
  t2i_image_composite_on_white (rgba, n, rgb);
  g_free (rgba);
  *width = (gint) image.width;
  *height = (gint) image.height;
  png_image_free (&image);
  return rgb;
}

guint8 *
t2i_image_load_png (const char *path, gint * width, gint * height,
    GError ** error)
{
  gchar *data = NULL;
  gsize size = 0;
  guint8 *rgb;
  GError *err = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  if (!g_file_get_contents (path, &data, &size, &err)) {
    g_set_error (error, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_OPEN, "%s",
        err->message);
    g_error_free (err);
    return NULL;
  }
  rgb = t2i_image_load_png_from_data ((const guint8 *) data, size, path,
      width, height, error);
  g_free (data);
  return rgb;
}

gboolean
t2i_image_save_png (const char *path, gint width, gint height,
    gint channels, const guint8 * pixels, GError ** error)
{
  png_image image;

  g_return_val_if_fail (path != NULL && pixels != NULL, FALSE);
  if (width <= 0 || height <= 0 || width > T2I_IMAGE_MAX_SIDE
      || height > T2I_IMAGE_MAX_SIDE) {
    g_set_error (error, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_INVALID,
        "cannot write %s: size %dx%d is out of range", path, width, height);
    return FALSE;
  }
  memset (&image, 0, sizeof (image));
  image.version = PNG_IMAGE_VERSION;
  image.width = (png_uint_32) width;
  image.height = (png_uint_32) height;
  switch (channels) {
    case 1:
      image.format = PNG_FORMAT_GRAY;
      break;
    case 3:
      image.format = PNG_FORMAT_RGB;
      break;
    case 4:
      image.format = PNG_FORMAT_RGBA;
      break;
    default:
      g_set_error (error, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_INVALID,
          "cannot write %s: %d channels (use 1, 3 or 4)", path, channels);
      return FALSE;
  }
  if (!png_image_write_to_file (&image, path, 0, pixels, 0, NULL)) {
    g_set_error (error, T2I_IMAGE_ERROR, T2I_IMAGE_ERROR_OPEN,
        "cannot write PNG %s: %s", path, image.message);
    png_image_free (&image);
    return FALSE;
  }
  png_image_free (&image);
  return TRUE;
}

/* ---- resampling ---- */

typedef struct
{
  gint *start;                  /* first source index of each output sample */
  gint *count;                  /* number of taps */
  double *weights;              /* out_size * max_taps, normalised */
  gint max_taps;
} Coeffs;

static void
coeffs_init (Coeffs * c, gint in_size, double x0, double region, gint out_size)
{
  double scale = region / out_size;
  double fscale = MAX (scale, 1.0);
  double support = fscale;

  c->max_taps = (gint) ceil (2 * support) + 2;
  c->start = g_new (gint, out_size);
  c->count = g_new (gint, out_size);
  c->weights = g_new0 (double, (gsize) out_size * c->max_taps);
  for (gint i = 0; i < out_size; i++) {
    double center = x0 + (i + 0.5) * scale;
    gint lo = (gint) floor (center - support);
    gint hi = (gint) ceil (center + support);
    double total = 0;
    double *w = c->weights + (gsize) i * c->max_taps;

    lo = MAX (lo, 0);
    hi = MIN (hi, in_size);
    if (hi - lo > c->max_taps)
      hi = lo + c->max_taps;
    for (gint j = lo; j < hi; j++) {
      double t = fabs ((j + 0.5 - center) / fscale);
      w[j - lo] = t < 1.0 ? 1.0 - t : 0.0;
      total += w[j - lo];
    }
    if (total <= 0) {
      /* the sample falls outside the image: nearest edge pixel */
      lo = CLAMP ((gint) floor (center), 0, in_size - 1);
      hi = lo + 1;
      w[0] = 1.0;
      total = 1.0;
    }
    for (gint j = 0; j < hi - lo; j++)
      w[j] /= total;
    c->start[i] = lo;
    c->count[i] = hi - lo;
  }
}

static void
coeffs_clear (Coeffs * c)
{
  g_free (c->start);
  g_free (c->count);
  g_free (c->weights);
}

void
t2i_image_resize_region (const guint8 * src, gint src_width,
    gint src_height, gint channels, double x, double y, double region_width,
    double region_height, guint8 * dst, gint dst_width, gint dst_height)
{
  Coeffs cx, cy;
  gint r0 = G_MAXINT, r1 = 0;
  float *tmp;

  g_return_if_fail (src != NULL && dst != NULL);
  g_return_if_fail (src_width > 0 && src_height > 0 && dst_width > 0
      && dst_height > 0 && channels >= 1 && channels <= 4);
  g_return_if_fail (region_width > 0 && region_height > 0);

  coeffs_init (&cx, src_width, x, region_width, dst_width);
  coeffs_init (&cy, src_height, y, region_height, dst_height);
  for (gint i = 0; i < dst_height; i++) {
    r0 = MIN (r0, cy.start[i]);
    r1 = MAX (r1, cy.start[i] + cy.count[i]);
  }

  /* horizontal pass over the rows the vertical pass reads */
  tmp = g_new (float, (gsize) (r1 - r0) * dst_width * channels);
  for (gint r = r0; r < r1; r++) {
    const guint8 *row = src + (gsize) r * src_width * channels;
    float *out = tmp + (gsize) (r - r0) * dst_width * channels;
    for (gint i = 0; i < dst_width; i++) {
      const double *w = cx.weights + (gsize) i * cx.max_taps;
      for (gint c = 0; c < channels; c++) {
        double acc = 0;
        for (gint k = 0; k < cx.count[i]; k++)
          acc += w[k] * row[(gsize) (cx.start[i] + k) * channels + c];
        out[(gsize) i * channels + c] = (float) acc;
      }
    }
  }

  /* vertical pass */
  for (gint i = 0; i < dst_height; i++) {
    const double *w = cy.weights + (gsize) i * cy.max_taps;
    guint8 *out = dst + (gsize) i * dst_width * channels;
    for (gint j = 0; j < dst_width * channels; j++) {
      double acc = 0;
      for (gint k = 0; k < cy.count[i]; k++)
        acc += w[k] * tmp[(gsize) (cy.start[i] + k - r0) * dst_width *
            channels + j];
      out[j] = (guint8) CLAMP (floor (acc + 0.5), 0, 255);
    }
  }

  g_free (tmp);
  coeffs_clear (&cx);
  coeffs_clear (&cy);
}

void
t2i_image_resize_bilinear (const guint8 * src, gint src_width,
    gint src_height, gint channels, guint8 * dst, gint dst_width,
    gint dst_height)
{
  t2i_image_resize_region (src, src_width, src_height, channels, 0, 0,
      src_width, src_height, dst, dst_width, dst_height);
}

void
t2i_image_center_crop_resize (const guint8 * src, gint src_width,
    gint src_height, gint channels, guint8 * dst, gint side)
{
  gint s = MIN (src_width, src_height);
  gint x = (src_width - s) / 2;
  gint y = (src_height - s) / 2;

  t2i_image_resize_region (src, src_width, src_height, channels, x, y, s, s,
      dst, side, side);
}

void
t2i_image_to_chw (const guint8 * pixels, gint width, gint height,
    gint channels, float *chw)
{
  gsize plane = (gsize) width * height;

  for (gint c = 0; c < channels; c++)
    for (gsize p = 0; p < plane; p++)
      chw[c * plane + p] = pixels[p * channels + c] / 127.5f - 1.0f;
}

void
t2i_image_from_chw (const float *chw, gint width, gint height,
    gint channels, guint8 * pixels)
{
  gsize plane = (gsize) width * height;

  for (gint c = 0; c < channels; c++)
    for (gsize p = 0; p < plane; p++) {
      float v = (chw[c * plane + p] + 1.0f) * 127.5f;
      /* NaN maps to 0 */
      pixels[p * channels + c] = v >= 255.0f ? 255 : v > 0.0f ?
          (guint8) (v + 0.5f) : 0;
    }
}
