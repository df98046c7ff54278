/* t2i — small image helpers for datasets: PNG decode/encode (libpng),
 * resampling and conversion between 8-bit pixels and image tensors.
 *
 * Pixels are 8-bit, interleaved (HWC), rows packed without padding.
 * Tensors are f32 channel-major (CHW) with values in [-1, 1]:
 * value = byte / 127.5 - 1, byte = round ((value + 1) * 127.5) clamped.
 *
 * Decoded files are untrusted: sizes are bounded by %T2I_IMAGE_MAX_SIDE
 * and %T2I_IMAGE_MAX_PIXELS and every failure is a #GError naming the file.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define T2I_IMAGE_ERROR (t2i_image_error_quark ())
GQuark t2i_image_error_quark (void);

/**
 * T2iImageError:
 * @T2I_IMAGE_ERROR_OPEN: the file cannot be read or written
 * @T2I_IMAGE_ERROR_DECODE: the data is not a valid PNG
 * @T2I_IMAGE_ERROR_TOO_LARGE: the image exceeds the size limits
 * @T2I_IMAGE_ERROR_INVALID: bad arguments (e.g. a channel count)
 */
typedef enum {
  T2I_IMAGE_ERROR_OPEN,
  T2I_IMAGE_ERROR_DECODE,
  T2I_IMAGE_ERROR_TOO_LARGE,
  T2I_IMAGE_ERROR_INVALID,
} T2iImageError;

/** T2I_IMAGE_MAX_SIDE: largest width or height a decoder accepts */
#define T2I_IMAGE_MAX_SIDE 16384
/** T2I_IMAGE_MAX_PIXELS: largest width * height a decoder accepts */
#define T2I_IMAGE_MAX_PIXELS (64 * 1024 * 1024)

/* TRUE when @data starts with the 8-byte PNG signature */
gboolean t2i_image_is_png (const guint8 * data, gsize size);

/**
 * t2i_image_load_png:
 * @path: a PNG file (any colour type and bit depth, interlaced or not)
 * @width: (out): its width
 * @height: (out): its height
 * @error: a #T2I_IMAGE_ERROR naming @path
 *
 * Decodes @path to 8-bit RGB.  Transparent pixels are composited on white
 * (out = a * rgb + (1 - a) * 255 on the 8-bit sRGB values).
 *
 * Returns: (transfer full): @width * @height * 3 bytes (g_free()), or %NULL
 */
guint8 *t2i_image_load_png (const char *path, gint * width, gint * height,
    GError ** error);
/* the same from memory; @name only labels errors */
guint8 *t2i_image_load_png_from_data (const guint8 * data, gsize size,
    const char *name, gint * width, gint * height, GError ** error);

/**
 * t2i_image_save_png:
 * @path: file to write (replaced)
 * @width: width
 * @height: height
 * @channels: 1 (gray), 3 (RGB) or 4 (RGBA)
 * @pixels: @width * @height * @channels bytes
 * @error: a #T2I_IMAGE_ERROR
 *
 * Returns: %TRUE on success
 */
gboolean t2i_image_save_png (const char *path, gint width, gint height,
    gint channels, const guint8 * pixels, GError ** error);

/* RGBA (@n_pixels * 4 bytes) -> RGB on a white background (@n_pixels * 3) */
void t2i_image_composite_on_white (const guint8 * rgba, gsize n_pixels,
    guint8 * rgb);

/**
 * t2i_image_resize_region:
 * @src: @src_width * @src_height * @channels bytes
 * @src_width: source width
 * @src_height: source height
 * @channels: 1..4
 * @x: left of the source region, in pixels (may be fractional)
 * @y: top of the source region
 * @region_width: width of the region (> 0)
 * @region_height: height of the region (> 0)
 * @dst: (out caller-allocates): @dst_width * @dst_height * @channels bytes
 * @dst_width: output width
 * @dst_height: output height
 *
 * Resamples a region of @src to @dst with a separable triangle filter:
 * bilinear interpolation when enlarging, and when shrinking a triangle
 * widened by the reduction factor, so every source pixel contributes (no
 * aliasing; the same filter as PIL's BILINEAR).  Source samples outside
 * the image are not used (the weights of the others are renormalised).
 */
void t2i_image_resize_region (const guint8 * src, gint src_width,
    gint src_height, gint channels, double x, double y, double region_width,
    double region_height, guint8 * dst, gint dst_width, gint dst_height);

/* the whole image to @dst_width x @dst_height */
void t2i_image_resize_bilinear (const guint8 * src, gint src_width,
    gint src_height, gint channels, guint8 * dst, gint dst_width,
    gint dst_height);

/* the largest centred square of @src resized to @side x @side */
void t2i_image_center_crop_resize (const guint8 * src, gint src_width,
    gint src_height, gint channels, guint8 * dst, gint side);

/* HWC bytes -> CHW floats in [-1, 1] (@channels planes) */
void t2i_image_to_chw (const guint8 * pixels, gint width, gint height,
    gint channels, float *chw);
/* CHW floats in [-1, 1] -> HWC bytes (rounded, clamped) */
void t2i_image_from_chw (const float *chw, gint width, gint height,
    gint channels, guint8 * pixels);

G_END_DECLS
