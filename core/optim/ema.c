/* t2i — exponential moving average of a parameter group.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/optim.h"
#include "../backend/backend.h"

#include <math.h>
#include <string.h>

#define PAR_ELEMS 32768

struct _T2iEma {
  T2iParamGroup *live;
  T2iParamGroup *shadow;
  double decay;
  gboolean warmup;
  guint64 n_updates;
};

/* Gives every live parameter a shadow (a copy of its current value). */
static void
ema_sync (T2iEma * ema)
{
  for (guint i = 0; i < t2i_param_group_n_params (ema->live); i++) {
    T2iParam *p = t2i_param_group_get (ema->live, i);

    if (t2i_param_group_lookup (ema->shadow, p->local_name) == NULL) {
      T2iTensor *copy = t2i_tensor_copy (p->value);

      t2i_param_group_add (ema->shadow, p->local_name, copy, FALSE);
      t2i_tensor_unref (copy);
    }
  }
}

T2iEma *
t2i_ema_new (T2iParamGroup * group, const char *name, double decay)
{
  g_return_val_if_fail (group != NULL, NULL);
  T2iEma *ema = g_new0 (T2iEma, 1);
  char *shadow_name = name ? g_strdup (name)
      : g_strdup_printf ("%s_ema", t2i_param_group_get_name (group));

  ema->live = t2i_param_group_ref (group);
  ema->shadow = t2i_param_group_new (shadow_name);
  ema->decay = decay;
  g_free (shadow_name);
  ema_sync (ema);
  return ema;
}

void
t2i_ema_free (T2iEma * ema)
{
  if (ema == NULL)
    return;
  t2i_param_group_unref (ema->shadow);
  t2i_param_group_unref (ema->live);
  g_free (ema);
}

T2iParamGroup *
t2i_ema_get_group (T2iEma * ema)
{
  g_return_val_if_fail (ema != NULL, NULL);
  return ema->shadow;
}

void
t2i_ema_set_decay (T2iEma * ema, double decay)
{
  g_return_if_fail (ema != NULL);
  ema->decay = decay;
}

double
t2i_ema_get_decay (T2iEma * ema)
{
  g_return_val_if_fail (ema != NULL, 0.0);
  return ema->decay;
}

void
t2i_ema_set_warmup (T2iEma * ema, gboolean warmup)
{
  g_return_if_fail (ema != NULL);
  ema->warmup = warmup;
}

guint64
t2i_ema_get_updates (T2iEma * ema)
{
  g_return_val_if_fail (ema != NULL, 0);
  return ema->n_updates;
}

void
t2i_ema_set_updates (T2iEma * ema, guint64 n_updates)
{
  g_return_if_fail (ema != NULL);
  ema->n_updates = n_updates;
}

/* The shadow of @p, or NULL (with a warning) if it no longer matches. */
static T2iParam *
shadow_of (T2iEma * ema, T2iParam * p)
{
  T2iParam *s = t2i_param_group_lookup (ema->shadow, p->local_name);

  if (s == NULL || s->value->dtype != p->value->dtype
      || !t2i_tensor_same_shape (s->value, p->value)
      || s->value->device != p->value->device) {
    g_critical ("EMA '%s': shadow of %s does not match the parameter; skipped",
        t2i_param_group_get_name (ema->shadow), p->name);
    return NULL;
  }
  return s;
}

static gsize
value_bytes (const T2iTensor * t)
{
  return (gsize) t->numel * t2i_dtype_size (t->dtype);
}

/* ---- the CPU table's entries ---- */

gboolean
t2i_cpu_ema_step (T2iTensor * shadow, const T2iTensor * live, double decay)
{
  const gint64 n = live->numel;
  if (live->dtype == T2I_F32) {
    float *restrict sd = shadow->data;
    const float *restrict pd = live->data;
    const float d = (float) decay, one_m_d = (float) (1.0 - decay);

#pragma omp parallel for simd if (n >= PAR_ELEMS)
    for (gint64 j = 0; j < n; j++)
      sd[j] = sd[j] * d + one_m_d * pd[j];
  } else {
    double *restrict sd = shadow->data;
    const double *restrict pd = live->data;

#pragma omp parallel for simd if (n >= PAR_ELEMS)
    for (gint64 j = 0; j < n; j++)
      sd[j] = sd[j] * decay + (1.0 - decay) * pd[j];
  }
  return TRUE;
}

gboolean
t2i_cpu_swap (T2iTensor * at, T2iTensor * bt)
{
  const gsize nbytes = value_bytes (at);
  guint8 *restrict a = at->data;
  guint8 *restrict b = bt->data;

#pragma omp parallel for simd if (nbytes >= PAR_ELEMS * 4)
  for (gsize j = 0; j < nbytes; j++) {
    guint8 t = a[j];
    a[j] = b[j];
    b[j] = t;
  }
  return TRUE;
}

void
t2i_ema_update_with_decay (T2iEma * ema, double decay)
{
  g_return_if_fail (ema != NULL);
  ema_sync (ema);
  for (guint i = 0; i < t2i_param_group_n_params (ema->live); i++) {
    T2iParam *p = t2i_param_group_get (ema->live, i);
    T2iParam *s = shadow_of (ema, p);
    gint64 n = p->value->numel;

    if (s == NULL || n == 0)
      continue;
    if (!p->trainable)
      T2I_BACKEND (s->value)->copy (s->value, p->value);
    else
      T2I_BACKEND (s->value)->ema_step (s->value, p->value, decay);
  }
  ema->n_updates++;
}

void
t2i_ema_update (T2iEma * ema)
{
  g_return_if_fail (ema != NULL);
  double decay = ema->decay;

  if (ema->warmup) {
    double n = (double) ema->n_updates;

    decay = MIN (decay, (1.0 + n) / (10.0 + n));
  }
  t2i_ema_update_with_decay (ema, decay);
}

void
t2i_ema_copy_to (T2iEma * ema)
{
  g_return_if_fail (ema != NULL);
  ema_sync (ema);
  for (guint i = 0; i < t2i_param_group_n_params (ema->live); i++) {
    T2iParam *p = t2i_param_group_get (ema->live, i);
    T2iParam *s = shadow_of (ema, p);

    if (s && p->value->numel > 0)
      T2I_BACKEND (p->value)->copy (p->value, s->value);
  }
}

void
t2i_ema_swap (T2iEma * ema)
{
  g_return_if_fail (ema != NULL);
  ema_sync (ema);
  for (guint i = 0; i < t2i_param_group_n_params (ema->live); i++) {
    T2iParam *p = t2i_param_group_get (ema->live, i);
    T2iParam *s = shadow_of (ema, p);
    gsize nbytes;

    if (s == NULL || (nbytes = value_bytes (p->value)) == 0)
      continue;
    T2I_BACKEND (p->value)->swap (p->value, s->value);
  }
}

double
t2i_ema_stylegan_beta (double ema_kimg, double rampup, guint64 cur_nimg,
    guint batch_size)
{
  double ema_nimg = ema_kimg * 1000.0;

  if (rampup > 0.0)
    ema_nimg = MIN (ema_nimg, (double) cur_nimg * rampup);
  return pow (0.5, (double) batch_size / MAX (ema_nimg, 1e-8));
}
