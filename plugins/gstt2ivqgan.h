/* t2ivqgan: the Gumbel VQGAN image tokenizer.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_VQGAN (t2i_vqgan_get_type ())
G_DECLARE_FINAL_TYPE (T2iVqGan, t2i_vqgan, T2I, VQGAN, T2iNetwork)

GST_ELEMENT_REGISTER_DECLARE (t2ivqgan);

G_END_DECLS
