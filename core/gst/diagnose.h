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

void t2i_diagnostic_free (T2iDiagnostic * diagnostic);

guint t2i_edit_distance (const gchar * a, const gchar * b);

gchar *t2i_nearest_name (const gchar * name, const gchar * const *candidates);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iDiagnostic, t2i_diagnostic_free)

G_END_DECLS
