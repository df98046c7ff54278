/* t2i — SSIM with a Gaussian window, as scikit-image computes it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/metrics.h>

#include <math.h>

#define SSIM_SIGMA 1.5
#define SSIM_RADIUS ((T2I_SSIM_WIN_SIZE - 1) / 2)
#define SSIM_K1 0.01
#define SSIM_K2 0.03

/* the taps of scipy.ndimage.gaussian_filter (sigma 1.5, truncate 3.5:
 * radius int(3.5 * 1.5 + 0.5) = 5), normalized to sum 1 */
static void
gaussian_taps (double *g)
{
  double s = 0.0;

  for (gint k = 0; k < T2I_SSIM_WIN_SIZE; k++) {
    double x = k - SSIM_RADIUS;

    g[k] = exp (-0.5 * x * x / (SSIM_SIGMA * SSIM_SIGMA));
    s += g[k];
  }
  for (gint k = 0; k < T2I_SSIM_WIN_SIZE; k++)
    g[k] /= s;
}

/* Separable Gaussian filter of @in [h, w] at the valid positions only:
 * @out [h - 10, w - 10]; @tmp holds h * (w - 10) doubles. */
static void
filter_valid (const double *g, const double *in, gint h, gint w, double *tmp,
    double *out)
{
  const gint ow = w - 2 * SSIM_RADIUS, oh = h - 2 * SSIM_RADIUS;

  for (gint y = 0; y < h; y++)
    for (gint x = 0; x < ow; x++) {
      const double *p = in + (gsize) y * w + x;
      double s = 0.0;

      for (gint k = 0; k < T2I_SSIM_WIN_SIZE; k++)
        s += g[k] * p[k];
      tmp[(gsize) y * ow + x] = s;
    }
  for (gint y = 0; y < oh; y++)
    for (gint x = 0; x < ow; x++) {
      double s = 0.0;

      for (gint k = 0; k < T2I_SSIM_WIN_SIZE; k++)
        s += g[k] * tmp[(gsize) (y + k) * ow + x];
      out[(gsize) y * ow + x] = s;
    }
}

/* mean SSIM of two planes in [0, 1] */
static double
ssim_plane (const double *g, const double *x, const double *y, gint h, gint w)
{
  const gsize n = (gsize) h * w;
  const gint ow = w - 2 * SSIM_RADIUS, oh = h - 2 * SSIM_RADIUS;
  const gsize on = (gsize) oh * ow;
  const double c1 = (SSIM_K1 * 1.0) * (SSIM_K1 * 1.0);
  const double c2 = (SSIM_K2 * 1.0) * (SSIM_K2 * 1.0);
  g_autofree double *prod = g_new (double, n);
  g_autofree double *tmp = g_new (double, (gsize) h * ow);
  g_autofree double *maps = g_new (double, 5 * on);
  double *ux = maps, *uy = maps + on, *uxx = maps + 2 * on;
  double *uyy = maps + 3 * on, *uxy = maps + 4 * on;
  double total = 0.0;

  filter_valid (g, x, h, w, tmp, ux);
  filter_valid (g, y, h, w, tmp, uy);
  for (gsize i = 0; i < n; i++)
    prod[i] = x[i] * x[i];
  filter_valid (g, prod, h, w, tmp, uxx);
  for (gsize i = 0; i < n; i++)
    prod[i] = y[i] * y[i];
  filter_valid (g, prod, h, w, tmp, uyy);
  for (gsize i = 0; i < n; i++)
    prod[i] = x[i] * y[i];
  filter_valid (g, prod, h, w, tmp, uxy);

  for (gsize i = 0; i < on; i++) {
    /* use_sample_covariance=False: no N / (N - 1) factor */
    double vx = uxx[i] - ux[i] * ux[i];
    double vy = uyy[i] - uy[i] * uy[i];
    double vxy = uxy[i] - ux[i] * uy[i];
    double a1 = 2.0 * ux[i] * uy[i] + c1, a2 = 2.0 * vxy + c2;
    double b1 = ux[i] * ux[i] + uy[i] * uy[i] + c1, b2 = vx + vy + c2;

    total += (a1 * a2) / (b1 * b2);
  }
  return total / (double) on;
}

/**
 * t2i_ssim:
 * @x: (array): an image, @channels x @height x @width, values in [-1, 1]
 * @y: (array): the other image, same layout
 * @channels: 1 or 3 (RGB)
 * @height: at least %T2I_SSIM_WIN_SIZE
 * @width: at least %T2I_SSIM_WIN_SIZE
 * @luma: for RGB, compare the BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B
 *   only, instead of averaging the three channels
 * @out: (out): the mean SSIM
 * @error: return location for a #GError
 *
 * Values are mapped linearly from [-1, 1] to [0, 1] (not clipped) and
 * compared with data range 1, K1 = 0.01, K2 = 0.03 and an 11 x 11
 * Gaussian window of sigma 1.5 without the N / (N - 1) covariance factor;
 * the SSIM map is averaged over the positions whose window lies inside
 * the image (the (11 - 1) / 2 = 5 pixel border is left out).  This is
 * exactly scikit-image's structural_similarity (x, y, gaussian_weights=True,
 * sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=0)
 * on the mapped images, in double precision.
 *
 * Returns: %FALSE with @error when the image is smaller than the window
 */
gboolean
t2i_ssim (const float *x, const float *y, gint channels, gint height,
    gint width, gboolean luma, double *out, GError ** error)
{
  const gsize plane = (gsize) height * width;
  g_autofree double *px = NULL, *py = NULL;
  double g[T2I_SSIM_WIN_SIZE], total = 0.0;
  gint planes;

  g_return_val_if_fail (x != NULL && y != NULL && out != NULL, FALSE);
  if ((channels != 1 && channels != 3) || height < T2I_SSIM_WIN_SIZE
      || width < T2I_SSIM_WIN_SIZE) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_INVALID,
        "SSIM needs 1 or 3 channels of at least %dx%d pixels, got %dx%dx%d",
        T2I_SSIM_WIN_SIZE, T2I_SSIM_WIN_SIZE, channels, height, width);
    return FALSE;
  }
  gaussian_taps (g);
  planes = (channels == 3 && luma) ? 1 : channels;
  px = g_new (double, plane);
  py = g_new (double, plane);
  for (gint c = 0; c < planes; c++) {
    for (gsize i = 0; i < plane; i++) {
      if (planes == 1 && channels == 3) {
        px[i] = 0.299 * (0.5 * x[i] + 0.5) + 0.587 * (0.5 * x[plane + i]
            + 0.5) + 0.114 * (0.5 * x[2 * plane + i] + 0.5);
        py[i] = 0.299 * (0.5 * y[i] + 0.5) + 0.587 * (0.5 * y[plane + i]
            + 0.5) + 0.114 * (0.5 * y[2 * plane + i] + 0.5);
      } else {
        px[i] = 0.5 * x[c * plane + i] + 0.5;
        py[i] = 0.5 * y[c * plane + i] + 0.5;
      }
    }
    total += ssim_plane (g, px, py, height, width);
  }
  *out = total / planes;
  return TRUE;
}
