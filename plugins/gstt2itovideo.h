/* t2itovideo: an image entry as video/x-raw RGB frames or grids.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define T2I_TYPE_TO_VIDEO (t2i_to_video_get_type ())
G_DECLARE_FINAL_TYPE (T2iToVideo, t2i_to_video, T2I, TO_VIDEO, GstElement)

GST_ELEMENT_REGISTER_DECLARE (t2itovideo);

G_END_DECLS
