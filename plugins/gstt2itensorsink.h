/* t2itensorsink: records to safetensors files.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define T2I_TYPE_TENSOR_SINK (t2i_tensor_sink_get_type ())
G_DECLARE_FINAL_TYPE (T2iTensorSink, t2i_tensor_sink, T2I, TENSOR_SINK,
    GstBaseSink)

GST_ELEMENT_REGISTER_DECLARE (t2itensorsink);

G_END_DECLS
