/* t2il2v: DiST-GAN's language-to-vision module.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_L2V (t2i_l2v_get_type ())
G_DECLARE_FINAL_TYPE (T2iL2v, t2i_l2v, T2I, L2V, T2iNetwork)

GST_ELEMENT_REGISTER_DECLARE (t2il2v);

G_END_DECLS
