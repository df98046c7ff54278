/* t2igenerator: generates images from noise and a condition.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2igenerator
 * @title: t2igenerator
 *
 * Generates images from a condition (text features, or pseudo text
 * features from t2iperturb) and, for the architectures that take it, a
 * latent noise entry (t2inoise), and adds them as @output, f32 [N, 3, R,
 * R] in [-1, 1] (not clamped).  @arch picks the network from the
 * architecture registry (t2i/arch.h, core/models/); each property says
 * which architectures read it, and one an architecture does not read is
 * an error.
 *
 * - `stylegan2` (core/models/stylegan2.c, t2i/stylegan2.h): StyleGAN2
 *   with LAFITE's conditional StyleSpace.  Mapping: z normalised by its
 *   second moment, @mapping-layers FCs of width @w-dim (learning-rate
 *   multiplier 0.01, equalised learning rate, lrelu); the average of w is
 *   tracked with decay @w-avg-beta while G trains and @truncation pulls w
 *   towards it.  Synthesis: a learned 4x4 constant, per resolution a
 *   modulated convolution that upsamples and one that does not, each with
 *   noise (@noise-mode), and skip toRGB outputs.  Every layer's style
 *   depends on w and h (@cond-mode).  Channels at resolution r are
 *   min(@channel-base / r, @channels).  Parameters have the official
 *   names (`G.mapping.fc0.weight`, `G.synthesis.b8.conv0.affine_0.weight`,
 *   ...); `noise_const` and `mapping.w_avg` are buffers.
 *
 * - `sdn` (core/models/sdn.c, t2i/sdn.h): SDN's symmetric generator, VGG19
 *   run backwards from the text condition @cond (no noise): g-fc8, g-fc7,
 *   g-fc6 (@hidden wide) to the mirror of pool5, then per VGG19 block a
 *   nearest x2 upsampling and one conv3x3 + ReLU per VGG19 conv, the last
 *   one giving the image with 3 @choices channels (@choices candidates
 *   for diverse synthesis).  Every activation is an entry
 *   `<prefix>/<tap>` named after the VGG19 tap it mirrors (relu1_1 ..
 *   pool5, shaped as a VGG19 of @width would give them), for SDN's
 *   Stage-I distillation (t2iloss kind=sdn-stage1, docs/sdn.md).
 *
 * Model files describe themselves: weights=FILE alone rebuilds the
 * network a checkpoint or exported model holds (its architecture and
 * model options are in the file), and a model option set here that
 * disagrees with the file is an error naming both values.  group=ema/G
 * reads the trainer's moving average of group G.
 *
 * The random noise inputs are drawn from the session RNG, so a seed gives
 * the same images on every machine.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2itextsrc text="a red circle" batch-size=4 ! t2inoise output=z dim=32 ! t2inoise output=h dim=16 ! t2igenerator cond=h noise=z resolution=16 channels=32 w-dim=32 cond-hidden=32 mapping-layers=2 ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2igenerator.h"

#define EXAMPLE "t2itextsrc text=\"a red circle\" batch-size=4 ! " \
    "t2inoise output=z dim=32 ! t2inoise output=h dim=16 ! " \
    "t2igenerator cond=h noise=z resolution=16 channels=32 w-dim=32 " \
    "cond-hidden=32 mapping-layers=2 ! fakesink"

struct _T2iGenerator
{
  T2iNetwork parent;
};

G_DEFINE_TYPE (T2iGenerator, t2i_generator, T2I_TYPE_NETWORK);
GST_ELEMENT_REGISTER_DEFINE (t2igenerator, "t2igenerator", GST_RANK_NONE,
    T2I_TYPE_GENERATOR);

static void
t2i_generator_class_init (T2iGeneratorClass * klass)
{
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);

  t2i_network_class_set_role (T2I_NETWORK_CLASS (klass), T2I_ROLE_GENERATOR,
      "stylegan2");
  gst_element_class_set_static_metadata (ec, "t2i generator",
      "Filter/Tensor/Generator",
      "Generates images from noise and a text condition (StyleGAN2, LAFITE), "
      "or from the condition alone (SDN)",
      "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_generator_init (T2iGenerator * self)
{
}
