/* Helpers shared by the operations of t2iop (see recordops.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recordops.h"

const char *
t2i_record_op_output (const GstStructure * config)
{
  return t2i_config_has_string (config, "output") ?
      t2i_config_string (config, "output") : t2i_config_string (config,
      "input");
}

gboolean
t2i_record_op_require_input (const GstStructure * config,
    const GstStructure * in, gboolean floating, gint min_ndim,
    const char **dtype, gint * ndim, gint64 * shape, GError ** error)
{
  const char *input = t2i_config_string (config, "input");
  const char *dt;
  if (!t2i_caps_get_entry (in, input, &dt, ndim, shape)) {
    t2i_caps_require (in, input, NULL, 0, NULL, error);
    g_prefix_error (error, "input=%s: ", input);
    return FALSE;
  }
  gboolean is_float = g_str_equal (dt, "f32") || g_str_equal (dt, "f64");
  if (g_str_equal (dt, "str") || (floating && !is_float)
      || *ndim < min_ndim) {
    g_autofree char *s = t2i_shape_to_string (*ndim, shape);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s is %s%s; it needs a %stensor with at least %d dims",
        input, dt, s, floating ? "floating " : "", min_ndim);
    return FALSE;
  }
  if (dtype)
    *dtype = dt;
  return TRUE;
}

T2iTensor *
t2i_record_op_get_input (const GstStructure * config, GstBuffer * record,
    GError ** error)
{
  const char *input = t2i_config_string (config, "input");
  T2iTensor *t = t2i_record_get_tensor (record, input);
  if (!t) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "input=%s: the record has no such tensor (it has: %s)", input, has);
  }
  return t;
}

gint
t2i_record_op_axis (const GstStructure * config, gint ndim, GError ** error)
{
  gint axis = t2i_config_int (config, "axis");
  if (axis < -ndim || axis >= ndim) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "axis=%d is out of range for a tensor of %d dims", axis, ndim);
    return -1;
  }
  return axis < 0 ? axis + ndim : axis;
}
