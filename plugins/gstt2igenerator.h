/* t2igenerator: a text-conditional StyleGAN2 generator.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_GENERATOR (t2i_generator_get_type ())
G_DECLARE_FINAL_TYPE (T2iGenerator, t2i_generator, T2I, GENERATOR,
    T2iNetwork)

GST_ELEMENT_REGISTER_DECLARE (t2igenerator);

G_END_DECLS
