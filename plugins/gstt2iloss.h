/* t2iloss: GAN, R1 and LAFITE contrastive losses (plugins/losses/).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_LOSS_ELEMENT (t2i_loss_element_get_type ())
G_DECLARE_FINAL_TYPE (T2iLossElement, t2i_loss_element, T2I, LOSS_ELEMENT,
    T2iLoss)

GST_ELEMENT_REGISTER_DECLARE (t2iloss);

G_END_DECLS
