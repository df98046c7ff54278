/* kind=dist-con: DiST-GAN's CLIP-based adaptive contrastive loss (eq. 3-4),
 * and with adaptive=false the InfoNCE of eq. 2.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

#include <math.h>

#define COS_EPS 1e-8

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("input", "fake_emb",
      "Image embeddings of the generated images x~_i, f32 [N, E] (a frozen "
      "CLIP image encoder on the generator's output)"),
  T2I_LOSS_ENTRY ("cond", "text_emb",
      "Text embeddings of the input texts t_i, f32 [N, E]"),
  T2I_OPTION_DOUBLE ("tau", 1.0, 1e-6, 1000.0, 0,
      "Temperature: S(x, t) is the cosine similarity over tau"),
  T2I_OPTION_BOOLEAN ("adaptive", TRUE, 0,
      "Weigh each negative (x~_i, t_j) by sigma_ij = 1 / m_ij, m the cosine "
      "of the texts t_i and t_j (eq. 3-4); false: plain InfoNCE (eq. 2)"),
  T2I_OPTION_DOUBLE ("min-similarity", 0.001, 1e-12, 1.0, 0,
      "Floor of m_ij, which keeps sigma_ij = 1 / m_ij finite for texts "
      "whose cosine is near zero or negative"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  gint64 is[T2I_MAX_DIMS], ts[T2I_MAX_DIMS];
  if (!t2i_losses_require (in, config, "input", 2, error)
      || !t2i_losses_require (in, config, "cond", 2, error))
    return FALSE;
  const char *input = t2i_config_string (config, "input");
  const char *cond = t2i_config_string (config, "cond");
  t2i_caps_get_entry (in, input, NULL, NULL, is);
  t2i_caps_get_entry (in, cond, NULL, NULL, ts);
  if (is[0] != ts[0] || is[1] != ts[1]) {
    g_autofree char *a = t2i_shape_to_string (2, is);
    g_autofree char *b = t2i_shape_to_string (2, ts);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s %s and cond=%s %s must be paired image and text "
        "embeddings of one size", input, a, cond, b);
    return FALSE;
  }
  return TRUE;
}

T2iTensor *
t2i_losses_dist_con (T2iTensor * images, T2iTensor * texts, double tau,
    gboolean adaptive, double min_similarity)
{
  const gint64 n = images->shape[0];
  /* l[i, j] = S(x~_i, t_j) = cos / tau */
  g_autoptr (T2iTensor) s = t2i_cosine_similarity_matrix (images, texts,
      COS_EPS);
  g_autoptr (T2iTensor) l = t2i_mul_scalar (s, 1.0 / tau);
  g_autoptr (T2iTensor) z = NULL;
  if (adaptive) {
    /* log sigma_ij = -log max(m_ij, floor): weights, not a path for the
     * gradient */
    g_autoptr (T2iTensor) t = t2i_detach (texts);
    g_autoptr (T2iTensor) m = t2i_cosine_similarity_matrix (t, t, COS_EPS);
    g_autoptr (T2iTensor) mf = t2i_clamp (m, min_similarity, G_MAXDOUBLE);
    g_autoptr (T2iTensor) ls = t2i_log (mf);
    z = t2i_sub (l, ls);
  } else {
    z = t2i_tensor_ref (l);
  }
  /* -log(exp(l_ii) / sum_j sigma_ij exp(l_ij)) = lse_j(z_ij) - l_ii */
  g_autoptr (T2iTensor) lse = t2i_logsumexp (z, 1, FALSE);
  g_autoptr (T2iTensor) eye_h = t2i_tensor_zeros (l->dtype, T2I_SHAPE (n, n));
  for (gint64 i = 0; i < n; i++)
    t2i_tensor_set (eye_h, i * n + i, 1.0);
  g_autoptr (T2iTensor) eye = t2i_tensor_to_device (eye_h, l->device, NULL);
  g_autoptr (T2iTensor) ld = t2i_mul (l, eye);
  g_autoptr (T2iTensor) diag = t2i_sum (ld, 1, FALSE);
  g_autoptr (T2iTensor) per = t2i_sub (lse, diag);
  return t2i_mean (per, T2I_ALL_AXES, FALSE);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *x = t2i_losses_get (record, a->config, "input", error);
  T2iTensor *t = x ? t2i_losses_get (record, a->config, "cond", error) : NULL;
  if (!t)
    return NULL;
  return t2i_losses_dist_con (x, t, t2i_config_double (a->config, "tau"),
      t2i_config_boolean (a->config, "adaptive"),
      t2i_config_double (a->config, "min-similarity"));
}

const T2iLossKind t2i_loss_kind_dist_con = {
  "dist-con",
  "DiST-GAN's adaptive contrastive loss (eq. 3-4): mean_i -log(exp(S_ii) / "
  "sum_j exp(S_ij) / max(m_ij, min-similarity)), S the cosine of image "
  "input= and text cond= over tau, m the cosine of the texts; "
  "adaptive=false: InfoNCE (eq. 2)",
  options, check, compute,
};
