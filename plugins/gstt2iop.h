/* t2iop: small operations on a record's entries (plugins/ops/).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_OP (t2i_op_get_type ())
G_DECLARE_FINAL_TYPE (T2iOp, t2i_op, T2I, OP, T2iTransform)

GST_ELEMENT_REGISTER_DECLARE (t2iop);

G_END_DECLS
