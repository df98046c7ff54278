/* t2i-launch --graph FILE: the pipeline drawn by graphviz, with the record
 * entries on the links.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

gboolean t2i_dot_check_path (const gchar * path, GError ** error);

gboolean t2i_dot_caps_ready (GstBin * bin);

gchar *t2i_dot_describe (GstBin * bin);

gboolean t2i_dot_write (GstBin * bin, const gchar * path, gchar ** note,
    GError ** error);

G_END_DECLS
