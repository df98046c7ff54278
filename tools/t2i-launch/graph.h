/* Checks on the links of a built pipeline for t2i-launch.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

gchar *t2i_graph_find_loop (GstBin * pipeline);

GPtrArray *t2i_graph_add_missing_sinks (GstBin * pipeline);

G_END_DECLS
