/* t2icondaug: conditioning augmentation.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2icondaug
 * @title: t2icondaug
 *
 * StackGAN's conditioning augmentation (Zhang et al. 2017; ICSD-GAN's
 * L_CA, eq. 4): the sentence features t (@input, f32 [N, D]) become the
 * parameters of a Gaussian, mu(t) and log sigma^2(t) (@mu-output,
 * @logvar-output, for t2iloss kind=ca-kl), and one sample c = mu + sigma
 * eps (@output, f32 [N, @cond-dim]) conditions the generator.  eps comes
 * from the session RNG (so a seed gives the same c on every machine), or
 * from the entry @noise; @sample=false gives c = mu.  @arch
 * (core/models/condaug.c):
 *
 * - `glu` (default): AttnGAN's CA_NET, a linear layer to 4 @cond-dim
 *   outputs, a GLU to 2 @cond-dim, the first half mu, the second log
 *   sigma^2.
 *
 * It trains with the generator: give both the same group= (e.g. group=G).
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2itextsrc text="a red circle" batch-size=2 ! t2inoise output=text_emb dim=16 ! t2icondaug cond-dim=8 ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2icondaug.h"

#define EXAMPLE "t2itextsrc text=\"a red circle\" batch-size=2 ! " \
    "t2inoise output=text_emb dim=16 ! t2icondaug cond-dim=8 ! fakesink"

struct _T2iCondaug
{
  T2iNetwork parent;
};

G_DEFINE_TYPE (T2iCondaug, t2i_condaug, T2I_TYPE_NETWORK);
GST_ELEMENT_REGISTER_DEFINE (t2icondaug, "t2icondaug", GST_RANK_NONE,
    T2I_TYPE_CONDAUG);

static void
t2i_condaug_class_init (T2iCondaugClass * klass)
{
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);

  t2i_network_class_set_role (T2I_NETWORK_CLASS (klass), T2I_ROLE_CONDAUG,
      "glu");
  gst_element_class_set_static_metadata (ec, "t2i conditioning augmentation",
      "Filter/Tensor", "Samples the generator's condition from a Gaussian "
      "whose mean and variance come from the text (StackGAN's CA)",
      "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_condaug_init (T2iCondaug * self)
{
}
