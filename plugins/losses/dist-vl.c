/* kind=dist-vl: DiST-GAN's VL loss (eq. 5), the L2V module's feature- and
 * response-based distillation from CLIP.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

#define COS_EPS 1e-8

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("input", "v_m",
      "The intermediate embeddings v_m = T(TE(t)), f32 [N, E]"),
  T2I_LOSS_ENTRY ("target", "img_emb",
      "The image embeddings v_x = IE(x) of the paired images, f32 [N, E]"),
  T2I_OPTION_CHOICE ("reduce", "mean", "mean|sum", 0,
      "Each L1 term as the mean over its elements, or summed over each row "
      "and averaged over the batch"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  gint64 is[T2I_MAX_DIMS], ts[T2I_MAX_DIMS];
  if (!t2i_losses_require (in, config, "input", 2, error)
      || !t2i_losses_require (in, config, "target", 2, error))
    return FALSE;
  const char *input = t2i_config_string (config, "input");
  const char *target = t2i_config_string (config, "target");
  t2i_caps_get_entry (in, input, NULL, NULL, is);
  t2i_caps_get_entry (in, target, NULL, NULL, ts);
  if (is[0] != ts[0] || is[1] != ts[1]) {
    g_autofree char *a = t2i_shape_to_string (2, is);
    g_autofree char *b = t2i_shape_to_string (2, ts);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s %s and target=%s %s must have one shape (give the L2V "
        "module the image encoder's embed-dim)", input, a, target, b);
    return FALSE;
  }
  return TRUE;
}

/* |a - b| averaged over elements, or summed per row and averaged over the
 * rows */
static T2iTensor *
l1 (T2iTensor * a, T2iTensor * b, gboolean sum)
{
  g_autoptr (T2iTensor) d = t2i_sub (a, b);
  g_autoptr (T2iTensor) ad = t2i_abs (d);
  if (!sum)
    return t2i_mean (ad, T2I_ALL_AXES, FALSE);
  g_autoptr (T2iTensor) rows = t2i_sum (ad, 1, FALSE);
  return t2i_mean (rows, T2I_ALL_AXES, FALSE);
}

T2iTensor *
t2i_losses_dist_vl (T2iTensor * v_m, T2iTensor * v_x, gboolean sum)
{
  g_autoptr (T2iTensor) feature = l1 (v_m, v_x, sum);
  g_autoptr (T2iTensor) mm = t2i_cosine_similarity_matrix (v_m, v_m, COS_EPS);
  g_autoptr (T2iTensor) mi = t2i_cosine_similarity_matrix (v_x, v_x, COS_EPS);
  g_autoptr (T2iTensor) response = l1 (mm, mi, sum);
  return t2i_add (feature, response);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *vm = t2i_losses_get (record, a->config, "input", error);
  T2iTensor *vx = vm ? t2i_losses_get (record, a->config, "target", error)
      : NULL;
  if (!vx)
    return NULL;
  return t2i_losses_dist_vl (vm, vx, g_str_equal (t2i_config_string
          (a->config, "reduce"), "sum"));
}

const T2iLossKind t2i_loss_kind_dist_vl = {
  "dist-vl",
  "DiST-GAN's VL loss (eq. 5): L1(v_m, v_x) + L1(M_m, M_i), M the cosine "
  "matrices of the batch's v_m (input=) and of its image embeddings v_x "
  "(target=)",
  options, check, compute,
};
