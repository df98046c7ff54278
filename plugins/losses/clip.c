/* kind=clip: CLIP's symmetric InfoNCE with a learnable logit scale.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

#include <math.h>

/* OpenAI's init, ln(1 / 0.07), and the clamp of the scale at 100 */
#define LOGIT_SCALE_INIT 2.659260036932778
#define LOGIT_SCALE_MAX 4.605170185988092
#define NORM_EPS 1e-12

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("input", "img_emb", "Image embeddings, f32 [N, E]"),
  T2I_LOSS_ENTRY ("cond", "text_emb",
      "Text embeddings of the same items, f32 [N, E]"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  gint64 is[T2I_MAX_DIMS], ts[T2I_MAX_DIMS];
  gint ind, tnd;

  if (!t2i_losses_require (in, config, "input", 2, error)
      || !t2i_losses_require (in, config, "cond", 2, error))
    return FALSE;
  const char *input = t2i_config_string (config, "input");
  const char *cond = t2i_config_string (config, "cond");
  t2i_caps_get_entry (in, input, NULL, &ind, is);
  t2i_caps_get_entry (in, cond, NULL, &tnd, ts);
  if (is[0] != ts[0] || is[1] != ts[1]) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "] and cond=%s [%"
        G_GINT64_FORMAT ",%" G_GINT64_FORMAT "] must be paired image and "
        "text embeddings of one size", input, is[0], is[1], cond,
        ts[0], ts[1]);
    return FALSE;
  }
  return TRUE;
}

static gboolean
build (const T2iLossArgs * a, GError ** error)
{
  T2iParamGroup *g = t2i_transform_get_params (a->element);
  if (t2i_param_group_lookup (g, "logit_scale"))
    return TRUE;
  g_autoptr (T2iTensor) v = t2i_tensor_scalar (T2I_F32, LOGIT_SCALE_INIT);
  if (!t2i_transform_add_param (a->element, "logit_scale", v)) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "group=%s already has a logit_scale", t2i_param_group_get_name (g));
    return FALSE;
  }
  return TRUE;
}

T2iTensor *
t2i_losses_clip (T2iTensor * image_emb, T2iTensor * text_emb,
    T2iTensor * scale_log)
{
  const gint64 n = image_emb->shape[0];
  g_autoptr (T2iTensor) labels_h = t2i_tensor_new (T2I_I32, T2I_SHAPE (n));
  for (gint64 i = 0; i < n; i++)
    t2i_tensor_i32 (labels_h)[i] = (gint32) i;
  g_autoptr (T2iTensor) labels = t2i_tensor_to_device (labels_h,
      image_emb->device, NULL);

  g_autoptr (T2iTensor) in = t2i_l2_normalize (image_emb, 1, NORM_EPS);
  g_autoptr (T2iTensor) tn = t2i_l2_normalize (text_emb, 1, NORM_EPS);
  g_autoptr (T2iTensor) tt = t2i_transpose (tn, 0, 1);
  g_autoptr (T2iTensor) cos = t2i_matmul (in, tt);
  g_autoptr (T2iTensor) s = t2i_clamp (scale_log, -G_MAXDOUBLE,
      LOGIT_SCALE_MAX);
  g_autoptr (T2iTensor) scale = t2i_exp (s);
  g_autoptr (T2iTensor) per_image = t2i_mul (cos, scale);
  g_autoptr (T2iTensor) per_text = t2i_transpose (per_image, 0, 1);
  g_autoptr (T2iTensor) li = t2i_cross_entropy (per_image, labels);
  g_autoptr (T2iTensor) lt = t2i_cross_entropy (per_text, labels);
  g_autoptr (T2iTensor) sum = t2i_add (li, lt);
  return t2i_mul_scalar (sum, 0.5);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *img = t2i_losses_get (record, a->config, "input", error);
  T2iTensor *txt = img ? t2i_losses_get (record, a->config, "cond", error)
      : NULL;
  if (!txt)
    return NULL;
  if (img->dtype != txt->dtype || !t2i_tensor_same_shape (img, txt)
      || img->ndim != 2) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s and cond=%s must be paired [N, E] embeddings of one dtype",
        t2i_config_string (a->config, "input"),
        t2i_config_string (a->config, "cond"));
    return NULL;
  }
  T2iParam *p = t2i_param_group_lookup (t2i_transform_get_params
      (a->element), "logit_scale");
  if (!p) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "the element has no logit_scale parameter");
    return NULL;
  }
  T2iTensor *ls = p->value;
  g_autoptr (T2iTensor) lsd = ls->dtype == img->dtype ? t2i_tensor_ref (ls)
      : t2i_tensor_to_dtype (ls, img->dtype);
  return t2i_losses_clip (img, txt, lsd);
}

const T2iLossKind t2i_loss_kind_clip = {
  "clip",
  "CLIP's symmetric InfoNCE between image embeddings input= and text "
  "embeddings cond= (paired rows), cosine logits times exp(logit_scale), "
  "a learnable parameter (ln(1/0.07) at init, clamped at ln 100)",
  options, check, compute, build,
};
