/* t2iperturb: pseudo text features by perturbing features (LAFITE).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_PERTURB (t2i_perturb_get_type ())
G_DECLARE_FINAL_TYPE (T2iPerturb, t2i_perturb, T2I, PERTURB, T2iTransform)

GST_ELEMENT_REGISTER_DECLARE (t2iperturb);

G_END_DECLS
