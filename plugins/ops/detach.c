/* op=detach: the same values without their autograd graph.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recordops.h"

static const T2iOption options[] = {
  T2I_RECORD_OP_INPUT (NULL),
  T2I_RECORD_OP_OUTPUT,
  {NULL}
};

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 shape[T2I_MAX_DIMS];
  gint ndim;
  const char *dtype;
  if (!t2i_record_op_require_input (config, in, FALSE, 0, &dtype, &ndim,
          shape, error))
    return FALSE;
  t2i_caps_set_entry (out, t2i_record_op_output (config), dtype, ndim, shape);
  return TRUE;
}

static gboolean
apply (const GstStructure * config, GstBuffer * record, GError ** error)
{
  T2iTensor *x = t2i_record_op_get_input (config, record, error);
  if (!x)
    return FALSE;
  g_autoptr (T2iTensor) y = t2i_detach (x);
  return t2i_record_set_tensor (record, t2i_record_op_output (config), y,
      error);
}

const T2iRecordOp t2i_record_op_detach = {
  "detach", "The same values without their autograd graph: no gradient "
      "flows back through the output", options, negotiate, apply,
};
