/* Building a pipeline from a gst-launch description so that an element
 * that refuses a link is heard: its own error, not "could not link".
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

GstElement *t2i_parse_launch (const char *description,
    GstParseContext * context, GError ** error);

G_END_DECLS
