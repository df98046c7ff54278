/* t2ivqdiffusion: CLIP-VQDiffusion's diffusion image decoder.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_VQDIFFUSION (t2i_vqdiffusion_get_type ())
G_DECLARE_FINAL_TYPE (T2iVqDiffusion, t2i_vqdiffusion, T2I, VQDIFFUSION,
    T2iNetwork)

GST_ELEMENT_REGISTER_DECLARE (t2ivqdiffusion);

G_END_DECLS
