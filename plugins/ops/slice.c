/* op=slice: a range of an entry along an axis.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recordops.h"

static const T2iOption options[] = {
  T2I_RECORD_OP_INPUT (NULL),
  T2I_RECORD_OP_OUTPUT,
  T2I_RECORD_OP_AXIS (0),
  T2I_OPTION_INT ("start", 0, G_MININT, G_MAXINT, 0,
      "First index (negative counts from the end)"),
  T2I_OPTION_INT ("end", 2147483647, G_MININT, G_MAXINT, 0,
      "One past the last index (negative counts from the end; default: "
      "the end)"),
  {NULL}
};

/* [start, end) clamped to [0, n], as Python slices */
static void
bounds (const GstStructure * config, gint64 n, gint64 * start, gint64 * end)
{
  gint64 s = t2i_config_int (config, "start"), e = t2i_config_int (config,
      "end");
  s = s < 0 ? MAX (s + n, 0) : MIN (s, n);
  e = e < 0 ? MAX (e + n, 0) : MIN (e, n);
  *start = s;
  *end = MAX (e, s);
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 shape[T2I_MAX_DIMS], s, e;
  gint ndim;
  const char *dtype;
  if (!t2i_record_op_require_input (config, in, FALSE, 1, &dtype, &ndim,
          shape, error))
    return FALSE;
  gint axis = t2i_record_op_axis (config, ndim, error);
  if (axis < 0)
    return FALSE;
  bounds (config, shape[axis], &s, &e);
  if (e == s) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "start=%d end=%d select nothing of the %" G_GINT64_FORMAT
        " positions of axis %d", t2i_config_int (config, "start"),
        t2i_config_int (config, "end"), shape[axis], axis);
    return FALSE;
  }
  shape[axis] = e - s;
  t2i_caps_set_entry (out, t2i_record_op_output (config), dtype, ndim, shape);
  return TRUE;
}

static gboolean
apply (const GstStructure * config, GstBuffer * record, GError ** error)
{
  T2iTensor *x = t2i_record_op_get_input (config, record, error);
  if (!x)
    return FALSE;
  gint axis = t2i_record_op_axis (config, x->ndim, error);
  if (axis < 0)
    return FALSE;
  gint64 s, e;
  bounds (config, x->shape[axis], &s, &e);
  g_autoptr (T2iTensor) y = t2i_slice (x, axis, s, e);
  return t2i_record_set_tensor (record, t2i_record_op_output (config), y,
      error);
}

const T2iRecordOp t2i_record_op_slice = {
  "slice", "Indices start to end of an entry along axis (Python slice "
      "semantics)", options, negotiate, apply,
};
