/* Turning GStreamer's position-less parse errors into one located,
 * hinted message.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct
{
  gsize offset;                 /* in the text given to gst_parse_launch */
  gchar *message;
} T2iDiagnostic;

T2iDiagnostic *t2i_diagnose_parse_error (const gchar * text,
    const GError * error, GstParseContext * context);

T2iDiagnostic *t2i_diagnose_values (const gchar * text);

T2iDiagnostic *t2i_diagnose_limits (const gchar * text);

/* t2i_parse_launch() (launch.c) that hands what t2i_diagnose_limits()
 * refuses back located, as *@refused, with no GError and no pipeline:
 * for t2i-launch, which prints it as FILE:LINE:COL */
GstElement *t2i_parse_launch_checked (const char *description,
    GstParseContext * context, T2iDiagnostic ** refused, GError ** error);

void t2i_diagnostic_free (T2iDiagnostic * diagnostic);

guint t2i_edit_distance (const gchar * a, const gchar * b);

gchar *t2i_nearest_name (const gchar * name, const gchar * const *candidates);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iDiagnostic, t2i_diagnostic_free)

G_END_DECLS
