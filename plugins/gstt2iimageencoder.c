/* t2iimageencoder: encodes images.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2iimageencoder
 * @title: t2iimageencoder
 *
 * Encodes the images of @input (f32 [N, 3, H, W] in [-1, 1]) with the
 * network @arch (t2i/arch.h, core/models/, docs/models.md); a property
 * the architecture does not read is an error:
 *
 * - `clip` (default): the CLIP image tower weights= holds (`clip-vit` or
 *   `cnn`; @vision chooses without weights);
 * - `clip-vit`: OpenAI CLIP's vision transformer, after the reference
 *   preprocessing (bicubic resize of the shorter side, centre crop, CLIP's
 *   mean and std); @output is the projected embedding f32 [N, E];
 * - `cnn`: the small CLIP-style CNN encoder of t2i/clip.h, on the images
 *   as they are (any size), the image tower pipelines/clip-pretrain.t2i
 *   trains; @output f32 [N, E];
 * - `vgg19`: VGG19's features, one entry per tap of @layers named
 *   `<output>/<tap>` (f32 [N, C, h, w]), with @pooling and @input-mode
 *   for SDN's teacher and @width below 64 for a VGG19-shaped network
 *   small enough to train here (it then follows trainable=, like the
 *   other encoders; set trainable=false for a frozen teacher);
 * - `inception-v3`: Inception-v3 (@inception-variant), resized to 299 x
 *   299; @output is the 2048-d pool feature, @logits-output the logits;
 * - `probe`: not an image network but a classifier head on features an
 *   encoder upstream wrote (@input, e.g. `vgg/pool5`): @output is the
 *   logits f32 [N, @classes], through one hidden ReLU layer of @hidden
 *   units when set (pipelines/vgg-pretrain.t2i, docs/sdn.md).
 *
 * The forward is differentiable: gradients reach the input even when the
 * encoder is frozen (trainable=false), so a loss on the features of
 * generated images trains the generator upstream.  share=NAME runs the
 * network of the image encoder NAME (one copy in memory), e.g. the frozen
 * CLIP that encodes the real images on the generated ones.
 *
 * Weights: the tensors load under their official names after a prefix:
 * the group the file describes, "<group>." when the file has it, else the
 * one prefix under which the file holds the network (@weights-prefix
 * names it).  CLIP's sizes are read from the file.  Without weights the
 * network is initialised from the session seed.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2idatasetsrc dataset=shapes batch-size=4 resolution=32 max-steps=1 ! t2iimageencoder arch=cnn widths=8,16,32 embed-dim=32 normalize=true ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2iimageencoder.h"

#define EXAMPLE "t2idatasetsrc dataset=shapes batch-size=4 resolution=32 " \
    "max-steps=1 ! t2iimageencoder arch=cnn widths=8,16,32 embed-dim=32 " \
    "normalize=true ! fakesink"

struct _T2iImageEncoder
{
  T2iNetwork parent;
};

G_DEFINE_TYPE (T2iImageEncoder, t2i_image_encoder, T2I_TYPE_NETWORK);
GST_ELEMENT_REGISTER_DEFINE (t2iimageencoder, "t2iimageencoder",
    GST_RANK_NONE, T2I_TYPE_IMAGE_ENCODER);

static void
t2i_image_encoder_class_init (T2iImageEncoderClass * klass)
{
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);

  t2i_network_class_set_role (T2I_NETWORK_CLASS (klass),
      T2I_ROLE_IMAGE_ENCODER, "clip");
  gst_element_class_set_static_metadata (ec, "t2i image encoder",
      "Filter/Tensor", "Encodes images with CLIP (ViT or CNN), VGG19 or "
      "Inception-v3", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_image_encoder_init (T2iImageEncoder * self)
{
}
