/* t2itextencoder: CLIP text transformer as an element.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_TEXT_ENCODER (t2i_text_encoder_get_type ())
G_DECLARE_FINAL_TYPE (T2iTextEncoder, t2i_text_encoder, T2I, TEXT_ENCODER,
    T2iNetwork)

GST_ELEMENT_REGISTER_DECLARE (t2itextencoder);

G_END_DECLS
