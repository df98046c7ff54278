/* kind=csd: ICSD-GAN's cross-sample similarity distillation (eq. 1-2)
 * from a teacher stage's features to a student stage's.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

#define COS_EPS 1e-8

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("student", "d0/fake_feat",
      "Student features F_S, f32 [N, ...] (a coarse stage's discriminator "
      "features of its generated images)"),
  T2I_LOSS_ENTRY ("teacher", "d2/fake_feat",
      "Teacher features F_T, f32 [N, ...] (the last stage's); no gradient "
      "flows into them"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  gint64 ss[T2I_MAX_DIMS], ts[T2I_MAX_DIMS];
  if (!t2i_losses_require (in, config, "student", 0, error)
      || !t2i_losses_require (in, config, "teacher", 0, error))
    return FALSE;
  const char *s = t2i_config_string (config, "student");
  const char *t = t2i_config_string (config, "teacher");
  t2i_caps_get_entry (in, s, NULL, NULL, ss);
  t2i_caps_get_entry (in, t, NULL, NULL, ts);
  if (ss[0] != ts[0]) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "student=%s has %" G_GINT64_FORMAT " items but teacher=%s has %"
        G_GINT64_FORMAT ": both are features of one batch", s, ss[0], t,
        ts[0]);
    return FALSE;
  }
  return TRUE;
}

/* M = (cos(F'_i, F'_j)), F' the features flattened per item (eq. 1) */
static T2iTensor *
similarity_matrix (T2iTensor * f)
{
  g_autoptr (T2iTensor) flat = t2i_reshape (f, T2I_SHAPE (f->shape[0], -1));
  return t2i_cosine_similarity_matrix (flat, flat, COS_EPS);
}

T2iTensor *
t2i_losses_csd (T2iTensor * student, T2iTensor * teacher)
{
  /* the teacher branch gets no gradient (Fig. 2, Algorithm 1) */
  g_autoptr (T2iTensor) t = t2i_detach (teacher);
  g_autoptr (T2iTensor) ms = similarity_matrix (student);
  g_autoptr (T2iTensor) mt = similarity_matrix (t);
  /* 1/N^2 ||M_S - M_T||_F^2: the mean over the N x N entries (eq. 2) */
  g_autoptr (T2iTensor) d = t2i_sub (ms, mt);
  g_autoptr (T2iTensor) sq = t2i_square (d);
  return t2i_mean (sq, T2I_ALL_AXES, FALSE);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *s = t2i_losses_get (record, a->config, "student", error);
  T2iTensor *t = s ? t2i_losses_get (record, a->config, "teacher", error)
      : NULL;
  if (!t)
    return NULL;
  if (s->shape[0] != t->shape[0]) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "student and teacher hold %" G_GINT64_FORMAT " and %"
        G_GINT64_FORMAT " items", s->shape[0], t->shape[0]);
    return NULL;
  }
  return t2i_losses_csd (s, t);
}

const T2iLossKind t2i_loss_kind_csd = {
  "csd",
  "ICSD-GAN's cross-sample similarity distillation (eq. 1-2): 1/N^2 "
  "||M_S - M_T||_F^2, M the cosine matrices of the flattened student= and "
  "teacher= features, no gradient into the teacher",
  options, check, compute,
};
