/* t2i — FSIM and FSIMc (Zhang, Zhang, Mou and Zhang, IEEE TIP 2011).
 *
 * A port of the authors' FeatureSIM.m and of the phasecong2() it uses
 * (Kovesi's phase congruency, log-Gabor filters: 4 scales, 4 orientations,
 * minimum wavelength 6, scale factor 2, sigma/f 0.55, dTheta/sigma 1.2,
 * noise k 2, epsilon 1e-4), in double precision, with our own FFT.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/metrics.h>

#include <math.h>
#include <string.h>

#define PC_NSCALE 4
#define PC_NORIENT 4
#define PC_MIN_WAVELENGTH 6.0
#define PC_MULT 2.0
#define PC_SIGMA_ON_F 0.55
#define PC_DTHETA_ON_SIGMA 1.2
#define PC_K 2.0
#define PC_EPSILON 1e-4
#define PC_LP_CUTOFF 0.45
#define PC_LP_ORDER 15

#define FSIM_T1 0.85
#define FSIM_T2 160.0
#define FSIM_T3 200.0
#define FSIM_T4 200.0
#define FSIM_LAMBDA 0.03

/* ------------------------------------------------------------------------ */
/* FFT: iterative radix 2, Bluestein for other lengths                       */
/* ------------------------------------------------------------------------ */

typedef struct
{
  gint n;                       /* length */
  gint m;                       /* power of two used: n, or >= 2n - 1 */
  double *tw;                   /* m / 2 twiddles exp(-2 pi i k / m) */
  double *chirp;                /* Bluestein: n values exp(-pi i k^2 / n) */
  double *bfft;                 /* Bluestein: FFT of the conjugate chirp */
  double *work;                 /* m complex */
} Fft;

static void
fft_pow2 (const Fft * f, double *a, gboolean inverse)
{
  const gint m = f->m;

  for (gint i = 1, j = 0; i < m; i++) {
    gint bit = m >> 1;

    for (; j & bit; bit >>= 1)
      j ^= bit;
    j ^= bit;
    if (i < j) {
      double tr = a[2 * i], ti = a[2 * i + 1];

      a[2 * i] = a[2 * j];
      a[2 * i + 1] = a[2 * j + 1];
      a[2 * j] = tr;
      a[2 * j + 1] = ti;
    }
  }
  for (gint len = 2; len <= m; len <<= 1) {
    const gint half = len / 2, step = m / len;

    for (gint i = 0; i < m; i += len)
      for (gint k = 0; k < half; k++) {
        double wr = f->tw[2 * k * step];
        double wi = inverse ? -f->tw[2 * k * step + 1] : f->tw[2 * k * step
            + 1];
        double *u = a + 2 * (i + k), *v = a + 2 * (i + k + half);
        double xr = v[0] * wr - v[1] * wi, xi = v[0] * wi + v[1] * wr;

        v[0] = u[0] - xr;
        v[1] = u[1] - xi;
        u[0] += xr;
        u[1] += xi;
      }
  }
}

static Fft *
fft_new (gint n)
{
  Fft *f = g_new0 (Fft, 1);
  gboolean pow2 = (n & (n - 1)) == 0;

  f->n = n;
  f->m = 1;
  while (f->m < (pow2 ? n : 2 * n - 1))
    f->m <<= 1;
  f->tw = g_new (double, f->m);
  for (gint k = 0; k < f->m / 2; k++) {
    f->tw[2 * k] = cos (-2.0 * G_PI * k / f->m);
    f->tw[2 * k + 1] = sin (-2.0 * G_PI * k / f->m);
  }
  f->work = g_new (double, 2 * f->m);
  if (!pow2) {
    f->chirp = g_new (double, 2 * n);
    f->bfft = g_new0 (double, 2 * f->m);
    for (gint64 k = 0; k < n; k++) {
      /* k^2 mod 2n keeps the angle accurate */
      double ang = -G_PI * (double) ((k * k) % (2 * (gint64) n)) / n;

      f->chirp[2 * k] = cos (ang);
      f->chirp[2 * k + 1] = sin (ang);
    }
    f->bfft[0] = f->chirp[0];
    f->bfft[1] = -f->chirp[1];
    for (gint k = 1; k < n; k++) {
      f->bfft[2 * k] = f->bfft[2 * (f->m - k)] = f->chirp[2 * k];
      f->bfft[2 * k + 1] = f->bfft[2 * (f->m - k) + 1] = -f->chirp[2 * k + 1];
    }
    fft_pow2 (f, f->bfft, FALSE);
  }
  return f;
}

static void
fft_free (Fft * f)
{
  if (f == NULL)
    return;
  g_free (f->tw);
  g_free (f->chirp);
  g_free (f->bfft);
  g_free (f->work);
  g_free (f);
}

/* In-place DFT of @n complex values at @a with stride @stride (complex
 * elements): forward exp(-2 pi i jk / n), inverse exp(+...) without the
 * 1/n factor. */
static void
fft_run (Fft * f, double *a, gsize stride, gboolean inverse)
{
  const gint n = f->n, m = f->m;
  double *w = f->work;

  if (m == n) {
    for (gint k = 0; k < n; k++) {
      w[2 * k] = a[2 * k * stride];
      w[2 * k + 1] = a[2 * k * stride + 1];
    }
    fft_pow2 (f, w, inverse);
  } else {
    /* inverse DFT = conj (DFT (conj x)) */
    for (gint k = 0; k < n; k++) {
      double xr = a[2 * k * stride];
      double xi = inverse ? -a[2 * k * stride + 1] : a[2 * k * stride + 1];
      double cr = f->chirp[2 * k], ci = f->chirp[2 * k + 1];

      w[2 * k] = xr * cr - xi * ci;
      w[2 * k + 1] = xr * ci + xi * cr;
    }
    memset (w + 2 * n, 0, sizeof (double) * 2 * (m - n));
    fft_pow2 (f, w, FALSE);
    for (gint k = 0; k < m; k++) {
      double xr = w[2 * k], xi = w[2 * k + 1];
      double br = f->bfft[2 * k], bi = f->bfft[2 * k + 1];

      w[2 * k] = xr * br - xi * bi;
      w[2 * k + 1] = xr * bi + xi * br;
    }
    fft_pow2 (f, w, TRUE);
    for (gint k = 0; k < n; k++) {
      double xr = w[2 * k] / m, xi = w[2 * k + 1] / m;
      double cr = f->chirp[2 * k], ci = f->chirp[2 * k + 1];

      w[2 * k] = xr * cr - xi * ci;
      w[2 * k + 1] = xr * ci + xi * cr;
      if (inverse)
        w[2 * k + 1] = -w[2 * k + 1];
    }
  }
  for (gint k = 0; k < n; k++) {
    a[2 * k * stride] = w[2 * k];
    a[2 * k * stride + 1] = w[2 * k + 1];
  }
}

/* ------------------------------------------------------------------------ */
/* Filter bank                                                               */
/* ------------------------------------------------------------------------ */

/**
 * T2iFsim:
 *
 * FSIM state: the log-Gabor filter bank (and FFT plans) of the last image
 * size, rebuilt when the size changes.  Not thread-safe: use one per
 * thread.
 */
struct _T2iFsim
{
  gint rows, cols;
  Fft *frow;                    /* length cols */
  Fft *fcol;                    /* length rows */
  double *filters;              /* [orient][scale][rows * cols], real */
  double em_n[PC_NORIENT];      /* sum of the smallest scale filter^2 */
  double sum_an2[PC_NORIENT];   /* sum over pixels and scales of ifft^2 */
  double sum_aiaj[PC_NORIENT];  /* sum over pixels, si < sj of products */
  double *spec;                 /* rows * cols complex: image spectrum */
  double *eo;                   /* PC_NSCALE * rows * cols complex */
  double *scratch;              /* rows * cols doubles */
};

/* 2D DFT of @a [rows, cols] complex, in place */
static void
fft2 (T2iFsim * s, double *a, gboolean inverse)
{
  const gint rows = s->rows, cols = s->cols;

  for (gint r = 0; r < rows; r++)
    fft_run (s->frow, a + 2 * (gsize) r * cols, 1, inverse);
  for (gint c = 0; c < cols; c++)
    fft_run (s->fcol, a + 2 * (gsize) c, cols, inverse);
  if (inverse) {
    const double k = 1.0 / ((double) rows * cols);

    for (gsize i = 0; i < 2 * (gsize) rows * cols; i++)
      a[i] *= k;
  }
}

/* Kovesi's normalised frequency coordinate of fft index @i of @n (after
 * ifftshift): ranges -0.5..0.5 (odd n divide by n - 1) */
static double
freq_coord (gint i, gint n)
{
  gint j = (i + n / 2) % n;     /* index before ifftshift */

  if (n % 2)
    return n > 1 ? (j - (n - 1) / 2.0) / (n - 1) : 0.0;
  return (j - n / 2.0) / n;
}

static void
bank_clear (T2iFsim * s)
{
  g_clear_pointer (&s->frow, fft_free);
  g_clear_pointer (&s->fcol, fft_free);
  g_clear_pointer (&s->filters, g_free);
  g_clear_pointer (&s->spec, g_free);
  g_clear_pointer (&s->eo, g_free);
  g_clear_pointer (&s->scratch, g_free);
  s->rows = s->cols = 0;
}

static void
bank_build (T2iFsim * s, gint rows, gint cols)
{
  const gsize n = (gsize) rows * cols;
  const double theta_sigma = G_PI / PC_NORIENT / PC_DTHETA_ON_SIGMA;
  g_autofree double *radius = g_new (double, n);
  g_autofree double *lp = g_new (double, n);
  g_autofree double *sint = g_new (double, n);
  g_autofree double *cost = g_new (double, n);
  g_autofree double *loggabor = g_new (double, PC_NSCALE * n);
  g_autofree double *ifilt = g_new (double, PC_NSCALE * n);
  g_autofree double *cplx = g_new (double, 2 * n);

  bank_clear (s);
  s->rows = rows;
  s->cols = cols;
  s->frow = fft_new (cols);
  s->fcol = fft_new (rows);
  s->filters = g_new (double, PC_NORIENT * PC_NSCALE * n);
  s->spec = g_new (double, 2 * n);
  s->eo = g_new (double, PC_NSCALE * 2 * n);
  s->scratch = g_new (double, n);

  for (gint r = 0; r < rows; r++)
    for (gint c = 0; c < cols; c++) {
      double x = freq_coord (c, cols), y = freq_coord (r, rows);
      double rad = sqrt (x * x + y * y), th = atan2 (-y, x);
      gsize i = (gsize) r * cols + c;

      /* lowpassfilter([rows, cols], .45, 15) uses the unfudged radius */
      lp[i] = 1.0 / (1.0 + pow (rad / PC_LP_CUTOFF, 2.0 * PC_LP_ORDER));
      radius[i] = (i == 0) ? 1.0 : rad;
      sint[i] = sin (th);
      cost[i] = cos (th);
    }
  for (gint sc = 0; sc < PC_NSCALE; sc++) {
    double wavelength = PC_MIN_WAVELENGTH * pow (PC_MULT, sc);
    double fo = 1.0 / wavelength, ls = log (PC_SIGMA_ON_F);
    double *lg = loggabor + sc * n;

    for (gsize i = 0; i < n; i++) {
      double l = log (radius[i] / fo);

      lg[i] = exp (-(l * l) / (2.0 * ls * ls)) * lp[i];
    }
    lg[0] = 0.0;
  }
  for (gint o = 0; o < PC_NORIENT; o++) {
    double angl = o * G_PI / PC_NORIENT;
    double ca = cos (angl), sa = sin (angl);

    for (gint sc = 0; sc < PC_NSCALE; sc++) {
      double *f = s->filters + ((gsize) o * PC_NSCALE + sc) * n;
      double *fi = ifilt + sc * n;

      for (gsize i = 0; i < n; i++) {
        double ds = sint[i] * ca - cost[i] * sa;
        double dc = cost[i] * ca + sint[i] * sa;
        double dtheta = fabs (atan2 (ds, dc));
        double spread = exp (-(dtheta * dtheta) / (2.0 * theta_sigma *
                theta_sigma));

        f[i] = loggabor[sc * n + i] * spread;
      }
      if (sc == 0) {
        s->em_n[o] = 0.0;
        for (gsize i = 0; i < n; i++)
          s->em_n[o] += f[i] * f[i];
      }
      /* ifftFilt = real (ifft2 (filter)) * sqrt (rows * cols) */
      for (gsize i = 0; i < n; i++) {
        cplx[2 * i] = f[i];
        cplx[2 * i + 1] = 0.0;
      }
      fft2 (s, cplx, TRUE);
      for (gsize i = 0; i < n; i++)
        fi[i] = cplx[2 * i] * sqrt ((double) n);
    }
    s->sum_an2[o] = 0.0;
    s->sum_aiaj[o] = 0.0;
    for (gsize i = 0; i < n; i++) {
      for (gint si = 0; si < PC_NSCALE; si++) {
        s->sum_an2[o] += ifilt[si * n + i] * ifilt[si * n + i];
        for (gint sj = si + 1; sj < PC_NSCALE; sj++)
          s->sum_aiaj[o] += ifilt[si * n + i] * ifilt[sj * n + i];
      }
    }
  }
}

/**
 * t2i_fsim_new:
 *
 * Returns: (transfer full): FSIM state (filter banks are built on first
 *   use for each image size)
 */
T2iFsim *
t2i_fsim_new (void)
{
  return g_new0 (T2iFsim, 1);
}

void
t2i_fsim_free (T2iFsim * fsim)
{
  if (fsim == NULL)
    return;
  bank_clear (fsim);
  g_free (fsim);
}

static int
compare_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

/* median as MATLAB's median (mean of the two middle values) */
static double
median (double *v, gsize n)
{
  qsort (v, n, sizeof (double), compare_double);
  return (n % 2) ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/**
 * t2i_fsim_phase_congruency:
 * @fsim: FSIM state
 * @image: (array): @height x @width grey levels (0..255 scale)
 * @height: rows
 * @width: columns
 * @pc: (out caller-allocates) (array): @height x @width phase congruency
 *
 * FeatureSIM's phasecong2(): for each orientation, the energy
 * sum_s (E MeanE + O MeanO - |E MeanO - O MeanE|) minus the noise threshold
 * estimated from the median response at the smallest scale (Rayleigh
 * model, divided by 1.7), clamped at 0; PC = sum of the energies over the
 * sum of the amplitudes (0 where every amplitude is 0).
 */
void
t2i_fsim_phase_congruency (T2iFsim * fsim, const double *image, gint height,
    gint width, double *pc)
{
  const gsize n = (gsize) height * width;
  g_autofree double *energy_all = NULL, *an_all = NULL, *sum_e = NULL;
  g_autofree double *sum_o = NULL, *sum_an = NULL, *energy = NULL;

  g_return_if_fail (fsim != NULL && image != NULL && pc != NULL);
  g_return_if_fail (height > 0 && width > 0);

  if (fsim->rows != height || fsim->cols != width)
    bank_build (fsim, height, width);
  energy_all = g_new0 (double, n);
  an_all = g_new0 (double, n);
  sum_e = g_new (double, n);
  sum_o = g_new (double, n);
  sum_an = g_new (double, n);
  energy = g_new (double, n);

  for (gsize i = 0; i < n; i++) {
    fsim->spec[2 * i] = image[i];
    fsim->spec[2 * i + 1] = 0.0;
  }
  fft2 (fsim, fsim->spec, FALSE);

  for (gint o = 0; o < PC_NORIENT; o++) {
    double median_e2n, mean_e2n, noise_power, est2, tau, t;

    memset (sum_e, 0, n * sizeof (double));
    memset (sum_o, 0, n * sizeof (double));
    memset (sum_an, 0, n * sizeof (double));
    memset (energy, 0, n * sizeof (double));
    for (gint sc = 0; sc < PC_NSCALE; sc++) {
      const double *f = fsim->filters + ((gsize) o * PC_NSCALE + sc) * n;
      double *eo = fsim->eo + (gsize) sc * 2 * n;

      for (gsize i = 0; i < n; i++) {
        eo[2 * i] = fsim->spec[2 * i] * f[i];
        eo[2 * i + 1] = fsim->spec[2 * i + 1] * f[i];
      }
      fft2 (fsim, eo, TRUE);
      for (gsize i = 0; i < n; i++) {
        sum_an[i] += hypot (eo[2 * i], eo[2 * i + 1]);
        sum_e[i] += eo[2 * i];
        sum_o[i] += eo[2 * i + 1];
      }
    }
    for (gsize i = 0; i < n; i++) {
      double xe = sqrt (sum_e[i] * sum_e[i] + sum_o[i] * sum_o[i])
          + PC_EPSILON;
      double me = sum_e[i] / xe, mo = sum_o[i] / xe;

      for (gint sc = 0; sc < PC_NSCALE; sc++) {
        const double *eo = fsim->eo + (gsize) sc * 2 * n;
        double e = eo[2 * i], od = eo[2 * i + 1];

        energy[i] += e * me + od * mo - fabs (e * mo - od * me);
      }
    }
    /* noise: median of |EO|^2 at the smallest scale */
    for (gsize i = 0; i < n; i++) {
      const double *eo = fsim->eo;

      fsim->scratch[i] = eo[2 * i] * eo[2 * i] + eo[2 * i + 1] * eo[2 * i + 1];
    }
    median_e2n = median (fsim->scratch, n);
    mean_e2n = -median_e2n / log (0.5);
    noise_power = fsim->em_n[o] > 0.0 ? mean_e2n / fsim->em_n[o] : 0.0;
    est2 = 2.0 * noise_power * fsim->sum_an2[o]
        + 4.0 * noise_power * fsim->sum_aiaj[o];
    tau = sqrt (MAX (est2, 0.0) / 2.0);
    t = tau * sqrt (G_PI / 2.0) + PC_K * sqrt ((2.0 - G_PI / 2.0) * tau *
        tau);
    t /= 1.7;
    for (gsize i = 0; i < n; i++) {
      energy_all[i] += MAX (energy[i] - t, 0.0);
      an_all[i] += sum_an[i];
    }
  }
  for (gsize i = 0; i < n; i++)
    pc[i] = an_all[i] > 0.0 ? energy_all[i] / an_all[i] : 0.0;
}

/* FeatureSIM's downsampling: F x F mean filter (conv2 'same', zero
 * padding) then every F-th pixel from the first; output ceil(h/F) rows */
static void
downsample (const double *in, gint h, gint w, gint f, double *out)
{
  const gint p = f / 2, oh = (h + f - 1) / f, ow = (w + f - 1) / f;

  for (gint oy = 0; oy < oh; oy++)
    for (gint ox = 0; ox < ow; ox++) {
      gint y = oy * f, x = ox * f;
      double s = 0.0;

      for (gint k = 0; k < f; k++)
        for (gint l = 0; l < f; l++) {
          gint yy = y + p - k, xx = x + p - l;

          if (yy >= 0 && yy < h && xx >= 0 && xx < w)
            s += in[(gsize) yy * w + xx];
        }
      out[(gsize) oy * ow + ox] = s / ((double) f * f);
    }
}

/* sqrt of the squares of conv2 (Y, dx, 'same') and conv2 (Y, dy, 'same')
 * with FeatureSIM's Scharr kernels */
static void
gradient_map (const double *y, gint h, gint w, double *g)
{
  static const double dx[3][3] = {
    {3, 0, -3}, {10, 0, -10}, {3, 0, -3}
  };
  static const double dy[3][3] = {
    {3, 10, 3}, {0, 0, 0}, {-3, -10, -3}
  };

  for (gint r = 0; r < h; r++)
    for (gint c = 0; c < w; c++) {
      double gx = 0.0, gy = 0.0;

      /* conv2: out(r, c) = sum_kl in(r + 1 - k, c + 1 - l) K(k, l) */
      for (gint k = 0; k < 3; k++)
        for (gint l = 0; l < 3; l++) {
          gint rr = r + 1 - k, cc = c + 1 - l;

          if (rr < 0 || rr >= h || cc < 0 || cc >= w)
            continue;
          gx += y[(gsize) rr * w + cc] * dx[k][l];
          gy += y[(gsize) rr * w + cc] * dy[k][l];
        }
      gx /= 16.0;
      gy /= 16.0;
      g[(gsize) r * w + c] = sqrt (gx * gx + gy * gy);
    }
}

/* Y, I, Q planes of an image (0..255 scale) */
static void
to_yiq (const float *x, gint channels, gsize plane, double *yp, double *ip,
    double *qp)
{
  for (gsize i = 0; i < plane; i++) {
    if (channels == 3) {
      double r = (x[i] + 1.0) * 127.5, g = (x[plane + i] + 1.0) * 127.5;
      double b = (x[2 * plane + i] + 1.0) * 127.5;

      yp[i] = 0.299 * r + 0.587 * g + 0.114 * b;
      ip[i] = 0.596 * r - 0.274 * g - 0.322 * b;
      qp[i] = 0.211 * r - 0.523 * g + 0.312 * b;
    } else {
      yp[i] = (x[i] + 1.0) * 127.5;
    }
  }
}

static inline double
sim (double a, double b, double t)
{
  return (2.0 * a * b + t) / (a * a + b * b + t);
}

/**
 * t2i_fsim_compute:
 * @fsim: FSIM state
 * @x: (array): the reference image, @channels x @height x @width in [-1, 1]
 * @y: (array): the distorted image, same layout
 * @channels: 1 (grey) or 3 (RGB)
 * @height: rows
 * @width: columns
 * @chromatic: FSIMc (needs RGB): also compare the I and Q chrominance
 * @out: (out): FSIM or FSIMc
 * @error: return location for a #GError
 *
 * Images are mapped to 0..255 (x + 1) * 127.5 (FeatureSIM's thresholds
 * T1 = 0.85, T2 = 160, T3 = T4 = 200 assume that scale) and converted to
 * YIQ (Y = 0.299 R + 0.587 G + 0.114 B, I = 0.596 R - 0.274 G - 0.322 B,
 * Q = 0.211 R - 0.523 G + 0.312 B).  Planes are downsampled by
 * F = max(1, round(min(height, width) / 256)) (F x F mean, every F-th
 * pixel).  Phase congruency PC (t2i_fsim_phase_congruency()) and the
 * Scharr gradient magnitude GM of the luma give
 *
 *   S = S_PC S_GM [S_I S_Q]^lambda,  FSIM = sum S PCm / sum PCm
 *
 * with S_a = (2 a b + T) / (a^2 + b^2 + T), PCm = max(PC_x, PC_y) and
 * lambda = 0.03 (a negative S_I S_Q gives the real part of the complex
 * power, as MATLAB).  When no pixel of either image has phase congruency
 * (flat images) the plain mean of S is returned.
 *
 * Returns: %FALSE with @error on bad sizes
 */
gboolean
t2i_fsim_compute (T2iFsim * fsim, const float *x, const float *y,
    gint channels, gint height, gint width, gboolean chromatic, double *out,
    GError ** error)
{
  const gsize plane = (gsize) height * width;
  g_autofree double *buf = NULL;
  double *p[6], num = 0.0, den = 0.0, plain = 0.0;
  gint f, h, w;
  gsize dn;

  g_return_val_if_fail (fsim != NULL && x != NULL && y != NULL && out, FALSE);
  if ((channels != 1 && channels != 3) || height < 2 || width < 2
      || (chromatic && channels != 3)) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_INVALID,
        "FSIM%s needs %s images of at least 2x2 pixels, got %dx%dx%d",
        chromatic ? "c" : "", chromatic ? "RGB" : "grey or RGB", channels,
        height, width);
    return FALSE;
  }
  f = MAX (1, (gint) floor (MIN (height, width) / 256.0 + 0.5));
  h = (height + f - 1) / f;
  w = (width + f - 1) / f;
  dn = (gsize) h * w;

  /* Y, I, Q of x then of y, full size, then downsampled in place order */
  buf = g_new0 (double, 6 * plane + 6 * dn + 4 * dn);
  for (gint k = 0; k < 6; k++)
    p[k] = buf + k * plane;
  to_yiq (x, channels, plane, p[0], p[1], p[2]);
  to_yiq (y, channels, plane, p[3], p[4], p[5]);
  {
    double *d = buf + 6 * plane;
    double *pc1 = d + 6 * dn, *pc2 = pc1 + dn, *g1 = pc2 + dn, *g2 = g1 + dn;
    double *yx = d, *ix = d + dn, *qx = d + 2 * dn;
    double *yy = d + 3 * dn, *iy = d + 4 * dn, *qy = d + 5 * dn;

    for (gint k = 0; k < 6; k++)
      downsample (p[k], height, width, f, d + k * dn);
    t2i_fsim_phase_congruency (fsim, yx, h, w, pc1);
    t2i_fsim_phase_congruency (fsim, yy, h, w, pc2);
    gradient_map (yx, h, w, g1);
    gradient_map (yy, h, w, g2);
    for (gsize i = 0; i < dn; i++) {
      double s = sim (pc1[i], pc2[i], FSIM_T1) * sim (g1[i], g2[i], FSIM_T2);
      double pcm = MAX (pc1[i], pc2[i]);

      if (chromatic) {
        double iq = sim (ix[i], iy[i], FSIM_T3) * sim (qx[i], qy[i], FSIM_T4);

        if (iq >= 0.0)
          s *= pow (iq, FSIM_LAMBDA);
        else
          s *= pow (-iq, FSIM_LAMBDA) * cos (FSIM_LAMBDA * G_PI);
      }
      num += s * pcm;
      den += pcm;
      plain += s;
    }
  }
  *out = den > 0.0 ? num / den : plain / (double) dn;
  return TRUE;
}

/**
 * t2i_fsim:
 *
 * One-shot t2i_fsim_compute() (builds the filter bank each call).
 */
gboolean
t2i_fsim (const float *x, const float *y, gint channels, gint height,
    gint width, gboolean chromatic, double *out, GError ** error)
{
  g_autoptr (T2iFsim) s = t2i_fsim_new ();

  return t2i_fsim_compute (s, x, y, channels, height, width, chromatic, out,
      error);
}
