/* arch=glu for t2icondaug: StackGAN's conditioning augmentation as
 * AttnGAN builds it (taoxugit/AttnGAN CA_NET), ICSD-GAN's L_CA input.
 *
 *   [mu, log sigma^2] = GLU(fc(t))            fc: Linear(D -> 4 cond-dim)
 *   c = mu + exp(log sigma^2 / 2) * eps,      eps ~ N(0, I)
 *
 * GLU halves the 4 cond-dim outputs of fc to 2 cond-dim (first half times
 * the sigmoid of the second), the first cond-dim being mu and the others
 * log sigma^2.  eps is drawn from the session RNG (one normal per element,
 * in stream order), or read from noise=.  With sample=false, c = mu.
 *
 * Parameters: fc.weight [4 cond-dim, D], fc.bias (torch.nn.Linear's
 * names and initialisation).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

static const T2iOption options[] = {
  T2I_OPTION_ENTRY ("input", "text_emb", 0,
      "Sentence features t, f32 [N, D]"),
  T2I_OPTION_ENTRY ("output", "c", 0,
      "The augmented condition c, f32 [N, cond-dim]"),
  T2I_OPTION_ENTRY ("mu-output", "ca/mu", 0,
      "Entry for mu(t), f32 [N, cond-dim] (unset: not added)"),
  T2I_OPTION_ENTRY ("logvar-output", "ca/logvar", 0,
      "Entry for log sigma^2(t), f32 [N, cond-dim] (unset: not added)"),
  T2I_OPTION_ENTRY ("noise", NULL, 0,
      "Entry of eps, f32 [N, cond-dim] (unset: drawn from the session RNG)"),
  T2I_OPTION_BOOLEAN ("sample", TRUE, 0,
      "Sample c = mu + sigma eps; false: c = mu"),
  T2I_OPTION_INT ("cond-dim", 100, 1, 65536, T2I_OPTION_MODEL,
      "Size of c (AttnGAN's CONDITION_DIM)"),
  T2I_OPTION_INT ("input-dim", 0, 0, 65536, T2I_OPTION_MODEL,
      "Size of t (0: the width of the input entry)"),
  {NULL}
};

typedef struct
{
  T2iNnLinear fc;
  gint64 cond_dim, input_dim;
} CondAug;

static gboolean
check (const GstStructure * config, const GstStructure * in, gint64 * n,
    gint64 * d, GError ** error)
{
  const char *input = t2i_config_string (config, "input");
  gint64 s[T2I_MAX_DIMS];
  if (!t2i_caps_require (in, input, "f32", 2, NULL, error)) {
    g_prefix_error (error, "input=%s: ", input);
    return FALSE;
  }
  t2i_caps_get_entry (in, input, NULL, NULL, s);
  const gint want = t2i_config_int (config, "input-dim");
  if (want > 0 && s[1] != want) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s has %" G_GINT64_FORMAT " features per item but the model "
        "takes input-dim=%d", input, s[1], want);
    return FALSE;
  }
  if (t2i_config_has_string (config, "noise")) {
    const char *noise = t2i_config_string (config, "noise");
    gint64 ws[2] = { s[0], t2i_config_int (config, "cond-dim") };
    if (!t2i_caps_require (in, noise, "f32", 2, ws, error)) {
      g_prefix_error (error, "noise=%s: ", noise);
      return FALSE;
    }
  }
  *n = s[0];
  *d = s[1];
  return TRUE;
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 n, d;
  if (!check (config, in, &n, &d, error))
    return FALSE;
  gint64 shape[2] = { n, t2i_config_int (config, "cond-dim") };
  static const char *const outs[] = { "output", "mu-output",
    "logvar-output"
  };
  for (guint i = 0; i < G_N_ELEMENTS (outs); i++)
    if (t2i_config_has_string (config, outs[i]))
      t2i_caps_set_entry (out, t2i_config_string (config, outs[i]), "f32", 2,
          shape);
  return TRUE;
}

static gpointer
build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  gint64 n, d;
  if (!check (config, in, &n, &d, error))
    return NULL;
  t2i_config_set_int (config, "input-dim", (gint) d);
  CondAug *m = g_new0 (CondAug, 1);
  m->cond_dim = t2i_config_int (config, "cond-dim");
  m->input_dim = d;
  t2i_nn_linear_init (&m->fc, ctx->params, "fc", d, 4 * m->cond_dim, TRUE,
      ctx->init_rng);
  return m;
}

static gboolean
forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  CondAug *m = net;
  const GstStructure *config = ctx->config;
  const char *input = t2i_config_string (config, "input");
  T2iTensor *t = t2i_record_get_tensor (record, input);
  if (!t || t->dtype != T2I_F32 || t->ndim != 2
      || t->shape[1] != m->input_dim) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s must be f32 [N, %" G_GINT64_FORMAT "] (the record has: %s)",
        input, m->input_dim, has);
    return FALSE;
  }
  const gint64 n = t->shape[0], k = m->cond_dim;
  g_autoptr (T2iTensor) y = t2i_nn_linear (&m->fc, t);
  g_autoptr (T2iTensor) g = t2i_glu (y, 1);
  T2iTensor *parts[2] = { NULL };
  t2i_split (g, 1, 2, (gint64[]) { k, k }, parts);
  g_autoptr (T2iTensor) mu = parts[0];
  g_autoptr (T2iTensor) logvar = parts[1];
  g_autoptr (T2iTensor) c = NULL;

  if (t2i_config_boolean (config, "sample")) {
    g_autoptr (T2iTensor) eps = NULL;
    if (t2i_config_has_string (config, "noise")) {
      const char *noise = t2i_config_string (config, "noise");
      T2iTensor *e = t2i_record_get_tensor (record, noise);
      if (!e || e->dtype != T2I_F32 || e->numel != n * k) {
        g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
            "noise=%s must be f32 [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
            "]", noise, n, k);
        return FALSE;
      }
      eps = t2i_tensor_ref (e);
    } else {
      eps = t2i_tensor_new (T2I_F32, T2I_SHAPE (n, k));
      t2i_rng_fill_normal (ctx->rng, eps, 0.0, 1.0);
    }
    g_autoptr (T2iTensor) half = t2i_mul_scalar (logvar, 0.5);
    g_autoptr (T2iTensor) std = t2i_exp (half);
    g_autoptr (T2iTensor) se = t2i_mul (std, eps);
    c = t2i_add (mu, se);
  } else {
    c = t2i_tensor_ref (mu);
  }
  if (!t2i_record_set_tensor (record, t2i_config_string (config, "output"),
          c, error))
    return FALSE;
  if (t2i_config_has_string (config, "mu-output")
      && !t2i_record_set_tensor (record, t2i_config_string (config,
              "mu-output"), mu, error))
    return FALSE;
  return !t2i_config_has_string (config, "logvar-output")
      || t2i_record_set_tensor (record, t2i_config_string (config,
          "logvar-output"), logvar, error);
}

const T2iArch t2i_arch_condaug_glu = {
  "glu", T2I_ROLE_CONDAUG,
  "StackGAN's conditioning augmentation as AttnGAN's CA_NET: fc, GLU to mu "
      "and log sigma^2, c = mu + sigma eps",
  options, "fc.weight",
  NULL, NULL, negotiate, build, NULL, forward, g_free,
};
