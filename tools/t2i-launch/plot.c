/* Line plots as PNG files for t2i-launch's report: one or more series
 * against a shared x axis (training steps), with "nice" ticks (1, 2, 5
 * times a power of ten), a grid and a legend.  The file is written to a
 * temporary name and renamed, so a browser refreshing the report never
 * reads half a PNG.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

#include <cairo.h>
#include <glib/gstdio.h>

#define MARGIN_LEFT 64
#define MARGIN_RIGHT 16
#define MARGIN_TOP 28
#define MARGIN_BOTTOM 40
#define FONT "sans-serif"

/* Tableau-like colours, distinguishable and printable. */
static const double palette[][3] = {
  {0.12, 0.47, 0.71}, {1.00, 0.50, 0.05}, {0.17, 0.63, 0.17},
  {0.84, 0.15, 0.16}, {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29},
  {0.89, 0.47, 0.76}, {0.50, 0.50, 0.50}, {0.74, 0.74, 0.13},
  {0.09, 0.75, 0.81},
};

const gchar *
t2i_plot_cairo_version (void)
{
  return cairo_version_string ();
}

/* Frees cairo's caches (the font faces the plots used), so that a leak
 * checker sees only real leaks; at exit, with no cairo object left. */
void
t2i_plot_reset (void)
{
  cairo_debug_reset_static_data ();
}

/* A step of 1, 2 or 5 times a power of ten giving about @n ticks. */
static double
nice_step (double span, int n)
{
  double raw = span / n, p = pow (10, floor (log10 (raw))), f = raw / p;

  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void
format_tick (double v, double step, char *buf, gsize size)
{
  double a = fabs (v);

  if (fabs (v) < step * 1e-6)
    v = 0;
  if (a != 0 && (a >= 1e6 || a < 1e-3))
    g_snprintf (buf, size, "%.1e", v);
  else {
    int decimals = step >= 1 ? 0 : (int) ceil (-log10 (step) - 1e-9);

    g_snprintf (buf, size, "%.*f", CLAMP (decimals, 0, 6), v);
  }
}

static void
text_at (cairo_t * cr, double x, double y, const char *text, double align_x,
    double align_y)
{
  cairo_text_extents_t ext;

  cairo_text_extents (cr, text, &ext);
  cairo_move_to (cr, x - ext.width * align_x - ext.x_bearing,
      y - ext.height * align_y - ext.y_bearing);
  cairo_show_text (cr, text);
}

static gboolean
range (const T2iPlotSeries * series, guint n_series, double *x0, double *x1,
    double *y0, double *y1)
{
  gboolean any = FALSE;

  for (guint s = 0; s < n_series; s++) {
    for (guint i = 0; i < series[s].n; i++) {
      double x = series[s].x[i], y = series[s].y[i];

      if (!isfinite (x) || !isfinite (y))
        continue;
      if (!any) {
        *x0 = *x1 = x;
        *y0 = *y1 = y;
        any = TRUE;
      }
      *x0 = MIN (*x0, x);
      *x1 = MAX (*x1, x);
      *y0 = MIN (*y0, y);
      *y1 = MAX (*y1, y);
    }
  }
  return any;
}

static void
draw (cairo_t * cr, const gchar * title, const gchar * x_label,
    const T2iPlotSeries * series, guint n_series)
{
  const double w = T2I_PLOT_WIDTH, h = T2I_PLOT_HEIGHT;
  const double left = MARGIN_LEFT, right = w - MARGIN_RIGHT;
  const double top = MARGIN_TOP, bottom = h - MARGIN_BOTTOM;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1, xs, ys;
  char buf[32];

  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  cairo_select_font_face (cr, FONT, CAIRO_FONT_SLANT_NORMAL,
      CAIRO_FONT_WEIGHT_BOLD);
  cairo_set_font_size (cr, 13);
  cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
  text_at (cr, left, 8, title, 0, 0);
  cairo_select_font_face (cr, FONT, CAIRO_FONT_SLANT_NORMAL,
      CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, 11);

  if (!range (series, n_series, &x0, &x1, &y0, &y1)) {
    text_at (cr, (left + right) / 2, (top + bottom) / 2, "no data yet", 0.5,
        0.5);
    return;
  }
  /* a flat or single-point series still gets an axis around it */
  if (x1 - x0 <= 0) {
    x0 -= 1;
    x1 += 1;
  }
  if (y1 - y0 <= fabs (y0) * 1e-9 || y1 - y0 <= 0) {
    double pad = fabs (y0) > 0 ? fabs (y0) * 0.1 : 1;

    y0 -= pad;
    y1 += pad;
  }
  xs = nice_step (x1 - x0, 6);
  ys = nice_step (y1 - y0, 5);
  y0 = floor (y0 / ys) * ys;
  y1 = ceil (y1 / ys) * ys;

#define PX(v) (left + ((v) - x0) / (x1 - x0) * (right - left))
#define PY(v) (bottom - ((v) - y0) / (y1 - y0) * (bottom - top))

  /* grid and ticks */
  cairo_set_line_width (cr, 1);
  for (double v = ceil (x0 / xs) * xs; v <= x1 + xs * 1e-9; v += xs) {
    double px = round (PX (v)) + 0.5;

    cairo_set_source_rgb (cr, 0.9, 0.9, 0.9);
    cairo_move_to (cr, px, top);
    cairo_line_to (cr, px, bottom);
    cairo_stroke (cr);
    cairo_set_source_rgb (cr, 0.3, 0.3, 0.3);
    format_tick (v, xs, buf, sizeof buf);
    text_at (cr, px, bottom + 4, buf, 0.5, 0);
  }
  for (double v = y0; v <= y1 + ys * 1e-9; v += ys) {
    double py = round (PY (v)) + 0.5;

    cairo_set_source_rgb (cr, 0.9, 0.9, 0.9);
    cairo_move_to (cr, left, py);
    cairo_line_to (cr, right, py);
    cairo_stroke (cr);
    cairo_set_source_rgb (cr, 0.3, 0.3, 0.3);
    format_tick (v, ys, buf, sizeof buf);
    text_at (cr, left - 6, py, buf, 1, 0.5);
  }
  cairo_set_source_rgb (cr, 0.3, 0.3, 0.3);
  cairo_rectangle (cr, left + 0.5, top + 0.5, right - left, bottom - top);
  cairo_stroke (cr);
  text_at (cr, (left + right) / 2, h - 4, x_label, 0.5, 1);

  /* the series */
  cairo_save (cr);
  cairo_rectangle (cr, left, top, right - left, bottom - top);
  cairo_clip (cr);
  cairo_set_line_width (cr, 1.5);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  for (guint s = 0; s < n_series; s++) {
    const double *c = palette[s % G_N_ELEMENTS (palette)];
    gboolean pen = FALSE;
    guint points = 0;

    cairo_set_source_rgb (cr, c[0], c[1], c[2]);
    for (guint i = 0; i < series[s].n; i++) {
      double x = series[s].x[i], y = series[s].y[i];

      if (!isfinite (x) || !isfinite (y)) {
        pen = FALSE;
        continue;
      }
      if (pen)
        cairo_line_to (cr, PX (x), PY (y));
      else
        cairo_move_to (cr, PX (x), PY (y));
      pen = TRUE;
      points++;
    }
    cairo_stroke (cr);
    /* few points: mark each one */
    for (guint i = 0; points <= 20 && i < series[s].n; i++) {
      double x = series[s].x[i], y = series[s].y[i];

      if (isfinite (x) && isfinite (y)) {
        cairo_arc (cr, PX (x), PY (y), 3, 0, 2 * G_PI);
        cairo_fill (cr);
      }
    }
  }
  cairo_restore (cr);

  /* legend, top right */
  for (guint s = 0; s < n_series; s++) {
    const double *c = palette[s % G_N_ELEMENTS (palette)];
    cairo_text_extents_t ext;
    double y = top + 12 + 15 * s;

    cairo_text_extents (cr, series[s].name, &ext);
    cairo_set_source_rgba (cr, 1, 1, 1, 0.8);
    cairo_rectangle (cr, right - ext.x_advance - 40, y - 7,
        ext.x_advance + 34, 14);
    cairo_fill (cr);
    cairo_set_source_rgb (cr, c[0], c[1], c[2]);
    cairo_set_line_width (cr, 3);
    cairo_move_to (cr, right - ext.x_advance - 34, y);
    cairo_line_to (cr, right - ext.x_advance - 14, y);
    cairo_stroke (cr);
    cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
    text_at (cr, right - 8, y, series[s].name, 1, 0.5);
  }
#undef PX
#undef PY
}

/**
 * t2i_plot_write_png:
 *
 * Draws @series (x: steps) into a T2I_PLOT_WIDTH x T2I_PLOT_HEIGHT PNG
 * at @path, replacing it atomically.
 */
gboolean
t2i_plot_write_png (const gchar * path, const gchar * title,
    const gchar * x_label, const T2iPlotSeries * series, guint n_series,
    GError ** error)
{
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24,
      T2I_PLOT_WIDTH, T2I_PLOT_HEIGHT);
  cairo_t *cr = cairo_create (surface);
  g_autofree gchar *tmp = g_strconcat (path, ".tmp", NULL);
  cairo_status_t status;

  draw (cr, title, x_label, series, n_series);
  cairo_destroy (cr);
  status = cairo_surface_write_to_png (surface, tmp);
  cairo_surface_destroy (surface);
  if (status != CAIRO_STATUS_SUCCESS) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
        "cannot write %s: %s", tmp, cairo_status_to_string (status));
    g_unlink (tmp);
    return FALSE;
  }
  if (g_rename (tmp, path) != 0) {
    int saved = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
        "cannot write %s: %s", path, g_strerror (saved));
    g_unlink (tmp);
    return FALSE;
  }
  return TRUE;
}
