/* t2iimageencoder: CLIP ViT, CLIP-style CNN, VGG19 and Inception-v3 image
 * encoders as an element.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_IMAGE_ENCODER (t2i_image_encoder_get_type ())
G_DECLARE_FINAL_TYPE (T2iImageEncoder, t2i_image_encoder, T2I, IMAGE_ENCODER,
    T2iNetwork)

GST_ELEMENT_REGISTER_DECLARE (t2iimageencoder);

G_END_DECLS
