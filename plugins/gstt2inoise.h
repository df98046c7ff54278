/* t2inoise: a Gaussian noise entry from the session RNG.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_NOISE (t2i_noise_get_type ())
G_DECLARE_FINAL_TYPE (T2iNoise, t2i_noise, T2I, NOISE, T2iTransform)

GST_ELEMENT_REGISTER_DECLARE (t2inoise);

G_END_DECLS
