/* t2ifromvideo: RGB video frames batched into an image entry.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define T2I_TYPE_FROM_VIDEO (t2i_from_video_get_type ())
G_DECLARE_FINAL_TYPE (T2iFromVideo, t2i_from_video, T2I, FROM_VIDEO,
    GstElement)

GST_ELEMENT_REGISTER_DECLARE (t2ifromvideo);

G_END_DECLS
