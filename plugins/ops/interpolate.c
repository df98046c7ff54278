/* op=interpolate: a batch of two items to a strip of steps items between
 * them (DiST-GAN's Fig. 3: images between two similar texts).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recordops.h"

static const T2iOption options[] = {
  T2I_OPTION_STRING ("inputs", NULL, 0,
      "Entries of two items each (e.g. the conditions of two prompts), "
      "comma-separated: each becomes (1 - a) x_0 + a x_1 for a = 0, "
      "1 / (steps - 1), ..., 1"),
  T2I_OPTION_STRING ("hold", NULL, 0,
      "Entries of two items whose first item is repeated steps times (the "
      "noise, so that only the condition changes along the strip)"),
  T2I_OPTION_INT ("steps", 8, 2, 4096, 0, "Items of the strip"),
  {NULL}
};

static gchar **
list (const GstStructure * config, const char *prop)
{
  const char *s = t2i_config_string (config, prop);
  gchar **names = g_strsplit_set (s ? s : "", ", ", -1);
  guint n = 0;
  for (gchar ** p = names; *p; p++)
    if (**p)
      names[n++] = *p;
    else
      g_free (*p);
  names[n] = NULL;
  return names;
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  static const char *const props[2] = { "inputs", "hold" };
  const gint steps = t2i_config_int (config, "steps");
  guint total = 0;
  for (gint p = 0; p < 2; p++) {
    g_auto (GStrv) names = list (config, props[p]);
    for (gchar ** n = names; *n; n++, total++) {
      const char *dtype;
      gint ndim;
      gint64 shape[T2I_MAX_DIMS];
      if (!t2i_caps_get_entry (in, *n, &dtype, &ndim, shape)
          || g_str_equal (dtype, "str") || ndim < 1 || shape[0] != 2
          || (p == 0 && !g_str_equal (dtype, "f32")
              && !g_str_equal (dtype, "f64"))) {
        g_autofree char *offers = t2i_caps_describe (in);
        g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
            "%s: %s must be a %stensor of two items (upstream offers %s)",
            props[p], *n, p == 0 ? "floating " : "", offers);
        return FALSE;
      }
      shape[0] = steps;
      t2i_caps_set_entry (out, *n, dtype, ndim, shape);
    }
  }
  if (total == 0) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "inputs= names no entry to interpolate");
    return FALSE;
  }
  return TRUE;
}

static gboolean
apply (const GstStructure * config, GstBuffer * record, GError ** error)
{
  const gint steps = t2i_config_int (config, "steps");
  g_auto (GStrv) inputs = list (config, "inputs");
  g_auto (GStrv) hold = list (config, "hold");
  for (gint p = 0; p < 2; p++) {
    for (gchar ** n = p == 0 ? inputs : hold; *n; n++) {
      T2iTensor *x = t2i_record_get_tensor (record, *n);
      if (!x || x->ndim < 1 || x->shape[0] != 2) {
        g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
            "%s: the record has no tensor %s of two items",
            p == 0 ? "inputs" : "hold", *n);
        return FALSE;
      }
      g_autoptr (T2iTensor) x0 = t2i_slice (x, 0, 0, 1);
      g_autoptr (T2iTensor) x1 = t2i_slice (x, 0, p == 0 ? 1 : 0, p == 0 ? 2
          : 1);
      g_autofree T2iTensor **rows = g_new0 (T2iTensor *, steps);
      for (gint i = 0; i < steps; i++) {
        const double a = (double) i / (steps - 1);
        g_autoptr (T2iTensor) w0 = t2i_mul_scalar (x0, 1.0 - a);
        g_autoptr (T2iTensor) w1 = t2i_mul_scalar (x1, a);
        rows[i] = t2i_add (w0, w1);
      }
      g_autoptr (T2iTensor) y = t2i_concat (rows, steps, 0);
      for (gint i = 0; i < steps; i++)
        t2i_tensor_unref (rows[i]);
      if (!t2i_record_set_tensor (record, *n, y, error))
        return FALSE;
    }
  }
  return TRUE;
}

const T2iRecordOp t2i_record_op_interpolate = {
  "interpolate", "A batch of two items to steps items between them "
      "(inputs=, linearly; hold= repeats the first)", options, negotiate,
  apply,
};
