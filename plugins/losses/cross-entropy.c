/* kind=cross-entropy: softmax cross-entropy of logits against integer
 * class ids, e.g. a classifier head (t2iimageencoder arch=probe) against
 * shapes' attributes (attr/color, attr/shape: i32 [N, 2], one column per
 * object, -1 where there is none) or emoji's item ids (id, i32 [N]).  As
 * torch.nn.functional.cross_entropy (logits, target, ignore_index): the
 * mean over the items whose id is not ignore-index.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("input", "logits", "Logits, f32 [N, C]"),
  T2I_LOSS_ENTRY ("target", "attr/shape",
      "Class ids, i32 [N], or [N, K] with one column read (column=)"),
  T2I_OPTION_INT ("column", 0, 0, 1 << 20, 0,
      "The column of a [N, K] target (shapes: 0 is the first object)"),
  T2I_OPTION_INT ("ignore-index", -1, G_MININT, G_MAXINT, 0,
      "Items with this id do not count (as PyTorch's ignore_index)"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  gint64 ls[T2I_MAX_DIMS], ts[T2I_MAX_DIMS];
  gint tn;
  if (!t2i_losses_require (in, config, "input", 2, error))
    return FALSE;
  const char *input = t2i_config_string (config, "input");
  const char *target = t2i_config_string (config, "target");
  if (!t2i_caps_require (in, target, "i32", 0, NULL, error)) {
    g_prefix_error (error, "target=%s: ", target);
    return FALSE;
  }
  t2i_caps_get_entry (in, input, NULL, NULL, ls);
  t2i_caps_get_entry (in, target, NULL, &tn, ts);
  const gint column = t2i_config_int (config, "column");
  if ((tn != 1 && tn != 2) || ts[0] != ls[0] || (tn == 1 && column != 0)
      || (tn == 2 && column >= ts[1])) {
    g_autofree char *a = t2i_shape_to_string (2, ls);
    g_autofree char *b = t2i_shape_to_string (tn, ts);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s %s and target=%s %s: need logits [N, C] and class ids "
        "[N] or [N, K] with column=%d < K", input, a, target, b, column);
    return FALSE;
  }
  return TRUE;
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *logits = t2i_losses_get (record, a->config, "input", error);
  if (!logits)
    return NULL;
  const char *target = t2i_config_string (a->config, "target");
  T2iTensor *t = t2i_record_get_tensor (record, target);
  const gint64 n = logits->shape[0], c = logits->shape[1];
  const gint column = t2i_config_int (a->config, "column");
  const gint ignore = t2i_config_int (a->config, "ignore-index");
  if (!t || t->dtype != T2I_I32 || t->shape[0] != n || t->ndim > 2
      || (t->ndim == 2 && column >= t->shape[1])) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "target=%s: needs i32 [%" G_GINT64_FORMAT "] or [%" G_GINT64_FORMAT
        ", K] (the record has: %s)", target, n, n, has);
    return NULL;
  }
  const gint64 stride = t->ndim == 2 ? t->shape[1] : 1;
  const gint32 *ids = t2i_tensor_i32 (t);
  g_autoptr (GArray) rows = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GArray) labels = g_array_new (FALSE, FALSE, sizeof (gint32));
  for (gint64 i = 0; i < n; i++) {
    const gint32 y = ids[i * stride + column];
    if (y == ignore)
      continue;
    if (y < 0 || y >= c) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "target=%s: item %" G_GINT64_FORMAT " has class %d, not in [0, %"
          G_GINT64_FORMAT ") of input=%s", target, i, y, c,
          t2i_config_string (a->config, "input"));
      return NULL;
    }
    const gint32 row = (gint32) i;
    g_array_append_val (rows, row);
    g_array_append_val (labels, y);
  }
  if (rows->len == 0) {
    /* nothing to learn from: 0, with the graph (PyTorch gives NaN) */
    g_autoptr (T2iTensor) s = t2i_sum (logits, T2I_ALL_AXES, FALSE);
    return t2i_mul_scalar (s, 0.0);
  }
  g_autoptr (T2iTensor) y = t2i_tensor_from_data (T2I_I32,
      T2I_SHAPE (labels->len), labels->data);
  if (rows->len == n)
    return t2i_cross_entropy (logits, y);
  g_autoptr (T2iTensor) idx = t2i_tensor_from_data (T2I_I32,
      T2I_SHAPE (rows->len), rows->data);
  g_autoptr (T2iTensor) kept = t2i_index_select (logits, 0, idx);
  return t2i_cross_entropy (kept, y);
}

const T2iLossKind t2i_loss_kind_cross_entropy = {
  "cross-entropy",
  "Softmax cross-entropy of logits input= [N, C] against class ids target= "
  "(i32 [N], or a column= of [N, K]), averaged over the items whose id is "
  "not ignore-index",
  options, check, compute,
};
