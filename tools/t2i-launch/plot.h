/* Line plots as PNG files, drawn with cairo, for t2i-launch's report.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  const gchar *name;            /* the legend */
  const gdouble *x;
  const gdouble *y;             /* non-finite points are left out */
  guint n;
} T2iPlotSeries;

#define T2I_PLOT_WIDTH 720
#define T2I_PLOT_HEIGHT 300

gboolean t2i_plot_write_png (const gchar * path, const gchar * title,
    const gchar * x_label, const T2iPlotSeries * series, guint n_series,
    GError ** error);

const gchar *t2i_plot_cairo_version (void);

void t2i_plot_reset (void);

G_END_DECLS
