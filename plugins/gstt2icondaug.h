/* t2icondaug: conditioning augmentation (StackGAN, AttnGAN, ICSD-GAN).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_CONDAUG (t2i_condaug_get_type ())
G_DECLARE_FINAL_TYPE (T2iCondaug, t2i_condaug, T2I, CONDAUG, T2iNetwork)

GST_ELEMENT_REGISTER_DECLARE (t2icondaug);

G_END_DECLS
