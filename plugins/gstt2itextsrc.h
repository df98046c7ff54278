/* t2itextsrc: batches of prompts for inference.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>
#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_TEXT_SRC (t2i_text_src_get_type ())
G_DECLARE_FINAL_TYPE (T2iTextSrc, t2i_text_src, T2I, TEXT_SRC,
    T2iSource)

GST_ELEMENT_REGISTER_DECLARE (t2itextsrc);

G_END_DECLS
