/* Helpers shared by the loss kinds (see losses.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

#include <math.h>
#include <string.h>

#define COS_EPS 1e-8

gboolean
t2i_losses_require (const GstStructure * in, const GstStructure * config,
    const char *prop, gint ndim, GError ** error)
{
  const char *name = t2i_config_string (config, prop);
  if (!name || !*name) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "%s= is empty: name the entry to read", prop);
    return FALSE;
  }
  if (!t2i_caps_require (in, name, NULL, ndim, NULL, error)) {
    g_prefix_error (error, "%s=%s: ", prop, name);
    return FALSE;
  }
  return TRUE;
}

gboolean
t2i_losses_require_logits (const GstStructure * in,
    const GstStructure * config, const char *prop, GError ** error)
{
  gint64 shape[T2I_MAX_DIMS];
  gint ndim;

  if (!t2i_losses_require (in, config, prop, 0, error))
    return FALSE;
  const char *name = t2i_config_string (config, prop);
  t2i_caps_get_entry (in, name, NULL, &ndim, shape);
  if (ndim != 1 && !(ndim == 2 && shape[1] == 1)) {
    g_autofree char *s = t2i_shape_to_string (ndim, shape);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%s=%s must hold one logit per item, [N] or [N,1], not %s", prop,
        name, s);
    return FALSE;
  }
  return TRUE;
}

gboolean
t2i_losses_require_pair (const GstStructure * in,
    const GstStructure * config, const char *prop, GError ** error)
{
  gint64 fs[T2I_MAX_DIMS], cs[T2I_MAX_DIMS];
  gint fn, cn;

  if (!t2i_losses_require (in, config, prop, 0, error)
      || !t2i_losses_require (in, config, "cond", 2, error))
    return FALSE;
  const char *features = t2i_config_string (config, prop);
  const char *cond = t2i_config_string (config, "cond");
  t2i_caps_get_entry (in, features, NULL, &fn, fs);
  t2i_caps_get_entry (in, cond, NULL, &cn, cs);
  gint64 d = 1;
  for (gint i = 1; i < fn; i++)
    d *= fs[i];
  if (fn < 2 || fs[0] != cs[0] || d != cs[1]) {
    g_autofree char *sf = t2i_shape_to_string (fn, fs);
    g_autofree char *sc = t2i_shape_to_string (cn, cs);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%s=%s %s does not pair with cond=%s %s: both need N items of the "
        "same feature size", prop, features, sf, cond, sc);
    return FALSE;
  }
  return TRUE;
}

gboolean
t2i_losses_require_same (const GstStructure * in,
    const GstStructure * config, const char *a, const char *b,
    GError ** error)
{
  gint64 as[T2I_MAX_DIMS], bs[T2I_MAX_DIMS];
  gint an, bn;
  if (!t2i_losses_require (in, config, a, 0, error)
      || !t2i_losses_require (in, config, b, 0, error))
    return FALSE;
  const char *na = t2i_config_string (config, a);
  const char *nb = t2i_config_string (config, b);
  t2i_caps_get_entry (in, na, NULL, &an, as);
  t2i_caps_get_entry (in, nb, NULL, &bn, bs);
  if (an != bn || memcmp (as, bs, an * sizeof (gint64))) {
    g_autofree char *sa = t2i_shape_to_string (an, as);
    g_autofree char *sb = t2i_shape_to_string (bn, bs);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%s=%s %s and %s=%s %s must have one shape", a, na, sa, b, nb, sb);
    return FALSE;
  }
  return TRUE;
}

T2iTensor *
t2i_losses_get (GstBuffer * record, const GstStructure * config,
    const char *prop, GError ** error)
{
  const char *name = t2i_config_string (config, prop);
  T2iTensor *t = t2i_record_get_tensor (record, name);
  if (!t || (t->dtype != T2I_F32 && t->dtype != T2I_F64)) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "%s=%s: the record has no such float tensor (it has: %s)", prop,
        name, has);
    return NULL;
  }
  return t;
}

static T2iTensor *
mean_softplus (T2iTensor * x, double sign)
{
  g_autoptr (T2iTensor) s = sign < 0 ? t2i_neg (x) : t2i_tensor_ref (x);
  g_autoptr (T2iTensor) sp = t2i_softplus (s);
  return t2i_mean (sp, T2I_ALL_AXES, FALSE);
}

T2iTensor *
t2i_losses_gan_d (T2iTensor * real, T2iTensor * fake)
{
  g_autoptr (T2iTensor) lf = mean_softplus (fake, 1.0);
  g_autoptr (T2iTensor) lr = mean_softplus (real, -1.0);
  return t2i_add (lf, lr);
}

T2iTensor *
t2i_losses_gan_g (T2iTensor * fake)
{
  return mean_softplus (fake, -1.0);
}

/* the n x n identity of @like's dtype, on its device */
static T2iTensor *
eye (const T2iTensor * like, gint64 n)
{
  g_autoptr (T2iTensor) e = t2i_tensor_zeros (like->dtype, T2I_SHAPE (n, n));
  for (gint64 i = 0; i < n; i++)
    t2i_tensor_set (e, i * n + i, 1.0);
  return t2i_tensor_to_device (e, like->device, NULL);
}

T2iTensor *
t2i_losses_contrastive (T2iTensor * features, T2iTensor * cond, double tau,
    gboolean official_exp)
{
  const gint64 n = features->shape[0];
  g_autoptr (T2iTensor) flat = t2i_reshape (features, T2I_SHAPE (n, -1));
  /* s[j, i] = cos(x_j, h'_i) */
  g_autoptr (T2iTensor) s = t2i_cosine_similarity_matrix (flat, cond,
      COS_EPS);
  g_autoptr (T2iTensor) st = t2i_mul_scalar (s, 1.0 / tau);
  g_autoptr (T2iTensor) logits = official_exp ? t2i_exp (st)
      : t2i_tensor_ref (st);
  /* softmax over the images j for each condition i */
  g_autoptr (T2iTensor) ls = t2i_log_softmax (logits, 0);
  g_autoptr (T2iTensor) id = eye (ls, n);
  g_autoptr (T2iTensor) diag = t2i_mul (ls, id);
  g_autoptr (T2iTensor) sum = t2i_sum (diag, T2I_ALL_AXES, FALSE);
  if (official_exp) {
    g_autoptr (T2iTensor) m = t2i_mul_scalar (sum, -1.0 / (double) n);
    return t2i_add_scalar (m, -log (tau));
  }
  return t2i_mul_scalar (sum, -tau / (double) n);
}

T2iTensor *
t2i_losses_r1 (T2iTensor * real_logits, T2iTensor * image, double r1_gamma,
    GError ** error)
{
  if (!t2i_grad_enabled () || !real_logits->requires_grad) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "R1 needs the real logits with their autograd graph: it only runs "
        "in a training pipeline (t2itrainer downstream)");
    return NULL;
  }
  if (!image->requires_grad || image->node) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "R1 needs the real images as a gradient leaf: set "
        "real-requires-grad=true on the discriminator");
    return NULL;
  }
  g_autoptr (T2iTensor) total = t2i_sum (real_logits, T2I_ALL_AXES, FALSE);
  T2iTensor **grads = t2i_grad (total, NULL, &image, 1, TRUE);
  T2iTensor *g = grads ? grads[0] : NULL;
  g_free (grads);
  if (!g) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "R1: the real logits do not depend on the image entry; give the "
        "loss the entry the discriminator scored (its real=)");
    return NULL;
  }
  const gint64 n = g->shape[0];
  g_autoptr (T2iTensor) grad = g;
  g_autoptr (T2iTensor) flat = t2i_reshape (grad, T2I_SHAPE (n, -1));
  g_autoptr (T2iTensor) sq = t2i_square (flat);
  g_autoptr (T2iTensor) per_item = t2i_sum (sq, 1, FALSE);
  g_autoptr (T2iTensor) mean = t2i_mean (per_item, T2I_ALL_AXES, FALSE);
  return t2i_mul_scalar (mean, r1_gamma / 2.0);
}
