/* kind=vq-diffusion: VQ-Diffusion's variational bound (CLIP-VQDiffusion
 * eq. 5-7) with the released code's auxiliary loss and importance
 * weights (t2i/vqdiffusion.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

#include <t2i/vqdiffusion.h>

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("logits", "logits",
      "The network's logits of x_0, f32 [N, K, L]"),
  T2I_LOSS_ENTRY ("x0", "tokens", "The tokens x_0, i32 [N, L] (or [N, h, w])"),
  T2I_LOSS_ENTRY ("xt", "xt", "The noised tokens x_t, i32 [N, L] (K: mask)"),
  T2I_LOSS_ENTRY ("t", "t", "The steps, i32 [N], 0 .. timesteps - 1"),
  T2I_LOSS_ENTRY ("pt", "pt",
      "The probability each step was drawn with, f32 [N] (importance=)"),
  T2I_OPTION_INT ("timesteps", 100, 2, 100000, 0,
      "Diffusion steps T of the schedule (the diffusion element's)"),
  T2I_OPTION_DOUBLE ("aux-weight", 0.0005, 0.0, 1e6, 0,
      "Weight of the auxiliary loss KL(x_0 || p(x_0 | x_t)) (0: none)"),
  T2I_OPTION_BOOLEAN ("adaptive-aux", TRUE, 0,
      "Scale the auxiliary loss by (1 - t / T) + 1, as the released code"),
  T2I_OPTION_BOOLEAN ("importance", TRUE, 0,
      "Divide each item's terms by its pt= (the importance sampling of t); "
      "false: the plain mean"),
  {NULL}
};

/* the flattened token count of @name, or -1 with @error */
static gint64
tokens (const GstStructure * in, const GstStructure * config,
    const char *prop, gint64 n, GError ** error)
{
  const char *name = t2i_config_string (config, prop);
  gint nd;
  gint64 s[T2I_MAX_DIMS];
  if (!t2i_caps_require (in, name, "i32", 0, NULL, error)) {
    g_prefix_error (error, "%s=%s: ", prop, name);
    return -1;
  }
  t2i_caps_get_entry (in, name, NULL, &nd, s);
  gint64 l = 1;
  for (gint i = 1; i < nd; i++)
    l *= s[i];
  if (nd < 2 || s[0] != n) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%s=%s must hold %" G_GINT64_FORMAT " items of tokens", prop, name,
        n);
    return -1;
  }
  return l;
}

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  const char *logits = t2i_config_string (config, "logits");
  gint64 s[T2I_MAX_DIMS];
  if (!t2i_losses_require (in, config, "logits", 3, error))
    return FALSE;
  t2i_caps_get_entry (in, logits, NULL, NULL, s);
  gint64 l0 = tokens (in, config, "x0", s[0], error);
  gint64 lt = l0 < 0 ? -1 : tokens (in, config, "xt", s[0], error);
  if (lt < 0)
    return FALSE;
  if (l0 != s[2] || lt != s[2]) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "logits=%s has %" G_GINT64_FORMAT " tokens per item but x0= has %"
        G_GINT64_FORMAT " and xt= %" G_GINT64_FORMAT, logits, s[2], l0, lt);
    return FALSE;
  }
  gint64 ns[1] = { s[0] };
  const char *t = t2i_config_string (config, "t");
  if (!t2i_caps_require (in, t, "i32", 1, ns, error)) {
    g_prefix_error (error, "t=%s: ", t);
    return FALSE;
  }
  if (t2i_config_boolean (config, "importance")
      && !t2i_losses_require (in, config, "pt", 1, error))
    return FALSE;
  return TRUE;
}

static T2iTensor *
get_i32 (GstBuffer * record, const GstStructure * config, const char *prop,
    GError ** error)
{
  const char *name = t2i_config_string (config, prop);
  T2iTensor *t = t2i_record_get_tensor (record, name);
  if (!t || t->dtype != T2I_I32) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "%s=%s: the record has no such i32 tensor", prop, name);
    return NULL;
  }
  return t;
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  const GstStructure *c = a->config;
  T2iTensor *logits = t2i_losses_get (record, c, "logits", error);
  T2iTensor *x0 = logits ? get_i32 (record, c, "x0", error) : NULL;
  T2iTensor *xt = x0 ? get_i32 (record, c, "xt", error) : NULL;
  T2iTensor *t = xt ? get_i32 (record, c, "t", error) : NULL;
  if (!t)
    return NULL;
  const gint T = t2i_config_int (c, "timesteps");
  const gint64 n = logits->shape[0], K = logits->shape[1],
      L = logits->shape[2];
  /* the steps decide weights: read on the host */
  g_autoptr (T2iTensor) th = t2i_tensor_to_device (t, T2I_DEVICE_CPU, error);
  if (!th)
    return NULL;
  for (gint64 i = 0; i < n; i++) {
    const gint32 ti = t2i_tensor_i32 (th)[i];
    if (ti < 0 || ti >= T) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "t=%s holds step %d, outside 0 .. %d (timesteps=%d)",
          t2i_config_string (c, "t"), ti, T - 1, T);
      return NULL;
    }
  }
  T2iVqSchedule *s = t2i_vq_schedule_new (T, (gint) K);
  g_autoptr (T2iTensor) x0f = t2i_reshape (x0, T2I_SHAPE (n, L));
  g_autoptr (T2iTensor) xtf = t2i_reshape (xt, T2I_SHAPE (n, L));
  T2iTensor *aux = NULL;
  const double aux_w = t2i_config_double (c, "aux-weight");
  g_autoptr (T2iTensor) terms = t2i_vq_loss_terms (s, logits, x0f, xtf, t,
      aux_w != 0.0 ? &aux : NULL);
  t2i_vq_schedule_free (s);
  g_autoptr (T2iTensor) aux_terms = aux;

  /* per item: terms + aux-weight * ((1 - t / T) + 1) * aux, over pt */
  g_autoptr (T2iTensor) total = t2i_tensor_ref (terms);
  if (aux_terms) {
    g_autoptr (T2iTensor) wh = t2i_tensor_new (terms->dtype, T2I_SHAPE (n));
    for (gint64 i = 0; i < n; i++) {
      const double ti = t2i_tensor_i32 (th)[i];
      t2i_tensor_set (wh, i, aux_w * (t2i_config_boolean (c, "adaptive-aux")
              ? (1.0 - ti / T) + 1.0 : 1.0));
    }
    g_autoptr (T2iTensor) w = t2i_tensor_to_device (wh, terms->device, NULL);
    g_autoptr (T2iTensor) wa = t2i_mul (w, aux_terms);
    T2iTensor *sum = t2i_add (total, wa);
    t2i_tensor_unref (total);
    total = sum;
  }
  if (t2i_config_boolean (c, "importance")) {
    T2iTensor *pt = t2i_losses_get (record, c, "pt", error);
    if (!pt)
      return NULL;
    g_autoptr (T2iTensor) ptd = t2i_tensor_to_dtype (pt, total->dtype);
    T2iTensor *q = t2i_div (total, ptd);
    t2i_tensor_unref (total);
    total = q;
  }
  g_autoptr (T2iTensor) mean = t2i_mean (total, T2I_ALL_AXES, FALSE);
  return t2i_mul_scalar (mean, 1.0 / (double) L);
}

const T2iLossKind t2i_loss_kind_vq_diffusion = {
  "vq-diffusion",
  "VQ-Diffusion's bound (eq. 5-7): mean over the batch of (1/L) sum over "
  "tokens of KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)), -log p(x_0|x_t) at "
  "t = 0, plus aux-weight times the auxiliary KL, each item over its pt",
  options, check, compute,
};
