/* op=rename: an entry under another name.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recordops.h"

static const T2iOption options[] = {
  T2I_RECORD_OP_INPUT (NULL),
  T2I_OPTION_ENTRY ("output", NULL, 0, "The new name"),
  {NULL}
};

static gboolean
check_names (const GstStructure * config, GError ** error)
{
  if (!t2i_config_has_string (config, "output")
      || g_str_equal (t2i_config_string (config, "output"),
          t2i_config_string (config, "input"))) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "output= must name the new entry (not input=)");
    return FALSE;
  }
  return TRUE;
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  const char *input = t2i_config_string (config, "input");
  const char *dtype;
  gint ndim;
  gint64 shape[T2I_MAX_DIMS];
  if (!check_names (config, error))
    return FALSE;
  if (!t2i_caps_get_entry (in, input, &dtype, &ndim, shape)) {
    t2i_caps_require (in, input, NULL, 0, NULL, error);
    g_prefix_error (error, "input=%s: ", input);
    return FALSE;
  }
  t2i_caps_set_entry (out, t2i_config_string (config, "output"), dtype, ndim,
      shape);
  t2i_caps_remove_entry (out, input);
  return TRUE;
}

static gboolean
apply (const GstStructure * config, GstBuffer * record, GError ** error)
{
  const char *input = t2i_config_string (config, "input");
  const char *output = t2i_config_string (config, "output");
  T2iTensor *t = t2i_record_get_tensor (record, input);
  const char *const *strv = t2i_record_get_strings (record, input);
  gboolean ok;
  if (t)
    ok = t2i_record_set_tensor (record, output, t, error);
  else if (strv)
    ok = t2i_record_set_strings (record, output, strv, error);
  else
    return t2i_record_op_get_input (config, record, error) != NULL;
  return ok && t2i_record_remove (record, input);
}

const T2iRecordOp t2i_record_op_rename = {
  "rename", "An entry (tensor or strings) under the name output=",
  options, negotiate, apply,
};
