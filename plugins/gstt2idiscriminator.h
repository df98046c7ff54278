/* t2idiscriminator: a StyleGAN2 discriminator with a semantic head.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_DISCRIMINATOR (t2i_discriminator_get_type ())
G_DECLARE_FINAL_TYPE (T2iDiscriminator, t2i_discriminator, T2I, DISCRIMINATOR,
    T2iNetwork)

GST_ELEMENT_REGISTER_DECLARE (t2idiscriminator);

G_END_DECLS
