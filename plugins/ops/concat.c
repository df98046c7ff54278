/* op=concat: entries joined along an axis.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recordops.h"

#include <string.h>

static const T2iOption options[] = {
  T2I_OPTION_STRING ("inputs", NULL, 0,
      "The entries to join, comma-separated, in order"),
  T2I_OPTION_ENTRY ("output", NULL, 0, "The joined entry"),
  T2I_RECORD_OP_AXIS (1),
  {NULL}
};

static gchar **
names_of (const GstStructure * config, GError ** error)
{
  const char *list = t2i_config_string (config, "inputs");
  gchar **names = g_strsplit_set (list ? list : "", ", ", -1);
  guint n = 0;
  for (gchar ** p = names; *p; p++)
    if (**p)
      names[n++] = *p;
    else
      g_free (*p);
  names[n] = NULL;
  if (n < 2 || !t2i_config_has_string (config, "output")) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "inputs= must name two entries or more, and output= the result");
    g_strfreev (names);
    return NULL;
  }
  return names;
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  g_auto (GStrv) names = names_of (config, error);
  if (!names)
    return FALSE;
  gint64 total[T2I_MAX_DIMS];
  gint ndim = 0, axis = -1;
  const char *dtype = NULL;
  for (gchar ** n = names; *n; n++) {
    gint64 shape[T2I_MAX_DIMS];
    gint nd;
    const char *dt;
    if (!t2i_caps_get_entry (in, *n, &dt, &nd, shape)
        || g_str_equal (dt, "str")) {
      t2i_caps_require (in, *n, NULL, 0, NULL, error);
      g_prefix_error (error, "inputs: %s: ", *n);
      if (error && !*error)
        g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
            "inputs: %s holds strings, not a tensor", *n);
      return FALSE;
    }
    if (!dtype) {
      dtype = dt;
      ndim = nd;
      memcpy (total, shape, sizeof total);
      axis = t2i_record_op_axis (config, nd, error);
      if (axis < 0)
        return FALSE;
      continue;
    }
    gboolean fits = g_str_equal (dt, dtype) && nd == ndim;
    for (gint d = 0; fits && d < nd; d++)
      fits = d == axis || shape[d] == total[d];
    if (!fits) {
      g_autofree char *a = t2i_shape_to_string (ndim, total);
      g_autofree char *b = t2i_shape_to_string (nd, shape);
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "inputs: %s %s%s does not join %s%s along axis %d", *n, dt, b,
          dtype, a, axis);
      return FALSE;
    }
    total[axis] += shape[axis];
  }
  t2i_caps_set_entry (out, t2i_config_string (config, "output"), dtype, ndim,
      total);
  return TRUE;
}

static gboolean
apply (const GstStructure * config, GstBuffer * record, GError ** error)
{
  g_auto (GStrv) names = names_of (config, error);
  if (!names)
    return FALSE;
  const guint n = g_strv_length (names);
  g_autofree T2iTensor **parts = g_new0 (T2iTensor *, n);
  for (guint i = 0; i < n; i++) {
    parts[i] = t2i_record_get_tensor (record, names[i]);
    if (!parts[i]) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
          "inputs: the record has no tensor %s", names[i]);
      return FALSE;
    }
  }
  gint axis = t2i_record_op_axis (config, parts[0]->ndim, error);
  if (axis < 0)
    return FALSE;
  g_autoptr (T2iTensor) y = t2i_concat (parts, (gint) n, axis);
  return t2i_record_set_tensor (record, t2i_config_string (config,
          "output"), y, error);
}

const T2iRecordOp t2i_record_op_concat = {
  "concat", "The entries of inputs= joined along axis into output=",
  options, negotiate, apply,
};
