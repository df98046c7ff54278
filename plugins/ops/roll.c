/* op=roll: an entry rolled along an axis (the batch, for mismatched
 * pairs).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recordops.h"

static const T2iOption options[] = {
  T2I_RECORD_OP_INPUT (NULL),
  T2I_RECORD_OP_OUTPUT,
  T2I_OPTION_INT ("shift", 1, G_MININT, G_MAXINT, 0,
      "Positions to roll by: out[i] = in[(i - shift) mod n], as torch.roll"),
  T2I_RECORD_OP_AXIS (0),
  {NULL}
};

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  const char *input = t2i_config_string (config, "input");
  gint64 shape[T2I_MAX_DIMS];
  gint ndim;
  const char *dtype;
  /* strings (captions) roll too, along their only axis */
  if (t2i_caps_get_entry (in, input, &dtype, &ndim, shape)
      && g_str_equal (dtype, "str")) {
    if (t2i_record_op_axis (config, 1, error) < 0)
      return FALSE;
  } else if (!t2i_record_op_require_input (config, in, FALSE, 1, &dtype,
          &ndim, shape, error) || t2i_record_op_axis (config, ndim,
          error) < 0) {
    return FALSE;
  }
  t2i_caps_set_entry (out, t2i_record_op_output (config), dtype, ndim, shape);
  return TRUE;
}

static gint64
shift_of (const GstStructure * config, gint64 n)
{
  gint64 k = n ? t2i_config_int (config, "shift") % n : 0;
  return k < 0 ? k + n : k;
}

static gboolean
apply (const GstStructure * config, GstBuffer * record, GError ** error)
{
  const char *const *strv = t2i_record_get_strings (record,
      t2i_config_string (config, "input"));
  if (strv) {
    const gint64 n = g_strv_length ((gchar **) strv), k = shift_of (config, n);
    g_autofree const char **rolled = g_new0 (const char *, n + 1);
    for (gint64 i = 0; i < n; i++)
      rolled[i] = strv[(i - k + n) % n];
    return t2i_record_set_strings (record, t2i_record_op_output (config),
        rolled, error);
  }
  T2iTensor *x = t2i_record_op_get_input (config, record, error);
  if (!x)
    return FALSE;
  gint axis = t2i_record_op_axis (config, x->ndim, error);
  if (axis < 0)
    return FALSE;
  const gint64 n = x->shape[axis], k = shift_of (config, n);
  g_autoptr (T2iTensor) y = NULL;
  if (k == 0) {
    y = t2i_tensor_ref (x);
  } else {
    /* [in[n - k:], in[:n - k]] */
    g_autoptr (T2iTensor) tail = t2i_slice (x, axis, n - k, n);
    g_autoptr (T2iTensor) head = t2i_slice (x, axis, 0, n - k);
    T2iTensor *parts[2] = { tail, head };
    y = t2i_concat (parts, 2, axis);
  }
  return t2i_record_set_tensor (record, t2i_record_op_output (config), y,
      error);
}

const T2iRecordOp t2i_record_op_roll = {
  "roll", "An entry rolled by shift positions along axis (torch.roll; "
      "shift=1 on the batch pairs each item with its neighbour's)",
  options, negotiate, apply,
};
