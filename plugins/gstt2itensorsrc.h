/* t2itensorsrc: records from a safetensors file.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>
#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_TENSOR_SRC (t2i_tensor_src_get_type ())
G_DECLARE_FINAL_TYPE (T2iTensorSrc, t2i_tensor_src, T2I, TENSOR_SRC,
    T2iSource)

GST_ELEMENT_REGISTER_DECLARE (t2itensorsrc);

G_END_DECLS
