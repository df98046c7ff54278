/* t2i — SGD, Adam and AdamW with PyTorch's update rules; gradient clipping.
 *
 * The elementwise loops are bandwidth bound: one pass per parameter, the
 * scalars folded in double and applied in f32 in the same order PyTorch's
 * single-tensor implementation applies them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/optim.h"
#include "../backend/backend.h"

#include <math.h>
#include <string.h>

/* threads only pay off on larger tensors */
#define PAR_ELEMS 32768

typedef struct {
  T2iTensor *buf1;              /* exp_avg, or SGD's momentum_buffer */
  T2iTensor *buf2;              /* exp_avg_sq */
  guint64 step;
} ParamState;

struct _T2iOptimizer {
  T2iParamGroup *group;
  T2iOptimizerConfig config;
  guint64 step;
  GHashTable *state;            /* local name (owned) -> ParamState* */
};

static void
param_state_free (gpointer data)
{
  ParamState *s = data;

  if (s->buf1)
    t2i_tensor_unref (s->buf1);
  if (s->buf2)
    t2i_tensor_unref (s->buf2);
  g_free (s);
}

void
t2i_optimizer_config_init (T2iOptimizerConfig * config, T2iOptimizerKind kind)
{
  g_return_if_fail (config != NULL);
  memset (config, 0, sizeof *config);
  config->kind = kind;
  config->lr = 1e-3;
  config->beta1 = 0.9;
  config->beta2 = 0.999;
  config->eps = 1e-8;
  if (kind == T2I_OPTIMIZER_ADAMW)
    config->weight_decay = 1e-2;
}

void
t2i_optimizer_config_lazy_regularization (T2iOptimizerConfig * config, guint interval)
{
  g_return_if_fail (config != NULL);
  if (interval <= 1)
    return;
  double ratio = (double) interval / (double) (interval + 1);

  config->lr *= ratio;
  config->beta1 = pow (config->beta1, ratio);
  config->beta2 = pow (config->beta2, ratio);
}

static const char *const kind_names[] = { "sgd", "adam", "adamw" };

const char *
t2i_optimizer_kind_to_string (T2iOptimizerKind kind)
{
  g_return_val_if_fail ((guint) kind < G_N_ELEMENTS (kind_names), NULL);
  return kind_names[kind];
}

gboolean
t2i_optimizer_kind_from_string (const char *name, T2iOptimizerKind * kind)
{
  g_return_val_if_fail (name != NULL, FALSE);
  for (guint i = 0; i < G_N_ELEMENTS (kind_names); i++)
    if (g_ascii_strcasecmp (name, kind_names[i]) == 0) {
      if (kind)
        *kind = (T2iOptimizerKind) i;
      return TRUE;
    }
  return FALSE;
}

T2iOptimizer *
t2i_optimizer_new (T2iParamGroup * group, const T2iOptimizerConfig * config)
{
  g_return_val_if_fail (group != NULL && config != NULL, NULL);
  g_return_val_if_fail ((guint) config->kind < G_N_ELEMENTS (kind_names), NULL);
  T2iOptimizer *opt = g_new0 (T2iOptimizer, 1);

  opt->group = t2i_param_group_ref (group);
  opt->config = *config;
  opt->state = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, param_state_free);
  return opt;
}

void
t2i_optimizer_free (T2iOptimizer * opt)
{
  if (opt == NULL)
    return;
  g_hash_table_unref (opt->state);
  t2i_param_group_unref (opt->group);
  g_free (opt);
}

T2iParamGroup *
t2i_optimizer_get_group (T2iOptimizer * opt)
{
  g_return_val_if_fail (opt != NULL, NULL);
  return opt->group;
}

T2iOptimizerConfig *
t2i_optimizer_get_config (T2iOptimizer * opt)
{
  g_return_val_if_fail (opt != NULL, NULL);
  return &opt->config;
}

void
t2i_optimizer_set_lr (T2iOptimizer * opt, double lr)
{
  g_return_if_fail (opt != NULL);
  opt->config.lr = lr;
}

double
t2i_optimizer_get_lr (T2iOptimizer * opt)
{
  g_return_val_if_fail (opt != NULL, 0.0);
  return opt->config.lr;
}

guint64
t2i_optimizer_get_step (T2iOptimizer * opt)
{
  g_return_val_if_fail (opt != NULL, 0);
  return opt->step;
}

void
t2i_optimizer_zero_grad (T2iOptimizer * opt)
{
  g_return_if_fail (opt != NULL);
  t2i_param_group_zero_grad (opt->group);
}

/* ---- update kernels (f32): the CPU table's entries ---- */

gboolean
t2i_cpu_sgd_step (T2iTensor * value, const T2iTensor * grad, T2iTensor * buf,
    const T2iSgdArgs * a)
{
  float *restrict p = value->data;
  const float *restrict g = grad->data;
  const gint64 n = value->numel;
  const float lr = a->lr, wd = a->wd;
  const float mom = a->mom, damp1 = a->damp1;

  if (!a->momentum) {
#pragma omp parallel for simd if (n >= PAR_ELEMS)
    for (gint64 i = 0; i < n; i++) {
      float d = g[i] + wd * p[i];
      p[i] = p[i] + -lr * d;
    }
    return TRUE;
  }

  const gboolean first = a->first;
  float *restrict b = buf->data;
  const gboolean nesterov = a->nesterov;

#pragma omp parallel for simd if (n >= PAR_ELEMS)
  for (gint64 i = 0; i < n; i++) {
    float d = g[i] + wd * p[i];
    float bf = first ? d : b[i] * mom + damp1 * d;

    b[i] = bf;
    d = nesterov ? d + mom * bf : bf;
    p[i] = p[i] + -lr * d;
  }
  return TRUE;
}

gboolean
t2i_cpu_adam_step (T2iTensor * value, const T2iTensor * grad, T2iTensor * mt,
    T2iTensor * vt, const T2iAdamArgs * a)
{
  float *restrict p = value->data;
  const float *restrict g = grad->data;
  const gint64 n = value->numel;
  float *restrict m = mt->data;
  float *restrict v = vt->data;
  const gboolean decoupled = a->decoupled;
  const float b1 = a->b1, one_m_b1 = a->one_m_b1;
  const float b2 = a->b2, one_m_b2 = a->one_m_b2;
  const float l2 = a->l2, shrink = a->shrink;
  const float neg_step_size = a->neg_step_size, bc2_sqrt = a->bc2_sqrt;
  const float eps = a->eps;

#pragma omp parallel for simd if (n >= PAR_ELEMS)
  for (gint64 i = 0; i < n; i++) {
    float pi = p[i];
    float gi = g[i] + l2 * pi;

    if (decoupled)
      pi = pi * shrink;
    float mi = m[i] * b1 + one_m_b1 * gi;
    float vi = v[i] * b2 + one_m_b2 * (gi * gi);
    float denom = sqrtf (vi) / bc2_sqrt + eps;

    m[i] = mi;
    v[i] = vi;
    p[i] = pi + neg_step_size * (mi / denom);
  }
  return TRUE;
}

static void
sgd_update (const T2iOptimizerConfig * c, ParamState * s, T2iTensor * value)
{
  T2iSgdArgs a = {
    .lr = (float) c->lr,
    .wd = (float) c->weight_decay,
    .mom = (float) c->momentum,
    .damp1 = (float) (1.0 - c->dampening),
    .momentum = c->momentum != 0.0,
    .nesterov = c->nesterov,
  };

  if (a.momentum) {
    a.first = s->buf1 == NULL;
    if (a.first)
      s->buf1 = t2i_tensor_new_like (value);
  }
  if (s->buf1)
    t2i_tensor_move_to_device (s->buf1, value->device, NULL);
  T2I_BACKEND (value)->sgd_step (value, value->grad, s->buf1, &a);
}

static void
adam_update (const T2iOptimizerConfig * c, ParamState * s, T2iTensor * value)
{
  if (s->buf1 == NULL) {
    s->buf1 = t2i_tensor_zeros_like (value);
    s->buf2 = t2i_tensor_zeros_like (value);
  }
  const gboolean decoupled = c->kind == T2I_OPTIMIZER_ADAMW;
  const double step = (double) s->step;
  const double bc1 = 1.0 - pow (c->beta1, step);
  const double bc2 = 1.0 - pow (c->beta2, step);
  const T2iAdamArgs a = {
    .b1 = (float) c->beta1,
    .one_m_b1 = (float) (1.0 - c->beta1),
    .b2 = (float) c->beta2,
    .one_m_b2 = (float) (1.0 - c->beta2),
    .l2 = decoupled ? 0.0f : (float) c->weight_decay,
    .shrink = (float) (1.0 - c->lr * c->weight_decay),
    .neg_step_size = (float) (-(c->lr / bc1)),
    .bc2_sqrt = (float) sqrt (bc2),
    .eps = (float) c->eps,
    .decoupled = decoupled,
  };

  /* state loaded from a file sits next to its parameter */
  t2i_tensor_move_to_device (s->buf1, value->device, NULL);
  t2i_tensor_move_to_device (s->buf2, value->device, NULL);
  T2I_BACKEND (value)->adam_step (value, value->grad, s->buf1, s->buf2, &a);
}

void
t2i_optimizer_step (T2iOptimizer * opt)
{
  g_return_if_fail (opt != NULL);
  T2iParamGroup *group = opt->group;
  guint n = t2i_param_group_n_params (group);

  opt->step++;
  for (guint i = 0; i < n; i++) {
    T2iParam *p = t2i_param_group_get (group, i);
    T2iTensor *v = p->value, *g = v->grad;
    ParamState *s;

    if (!p->trainable || g == NULL)
      continue;
    if (v->dtype != T2I_F32 || g->dtype != T2I_F32 || g->numel != v->numel
        || v->device != g->device) {
      g_critical ("optimizer for '%s': parameter %s needs an f32 value and a "
          "gradient of the same size on its device; skipped",
          t2i_param_group_get_name (group), p->name);
      continue;
    }
    s = g_hash_table_lookup (opt->state, p->local_name);
    if (s == NULL) {
      s = g_new0 (ParamState, 1);
      g_hash_table_insert (opt->state, g_strdup (p->local_name), s);
    }
    s->step++;
    switch (opt->config.kind) {
      case T2I_OPTIMIZER_SGD:
        sgd_update (&opt->config, s, v);
        break;
      case T2I_OPTIMIZER_ADAM:
      case T2I_OPTIMIZER_ADAMW:
        adam_update (&opt->config, s, v);
        break;
    }
  }
}

/* ---- checkpointing ---- */

static const char *const adam_buffers[] = { "exp_avg", "exp_avg_sq" };
static const char *const sgd_buffers[] = { "momentum_buffer" };

static guint
kind_buffers (T2iOptimizerKind kind, const char *const **names)
{
  if (kind == T2I_OPTIMIZER_SGD) {
    *names = sgd_buffers;
    return G_N_ELEMENTS (sgd_buffers);
  }
  *names = adam_buffers;
  return G_N_ELEMENTS (adam_buffers);
}

void
t2i_optimizer_state_tensors (T2iOptimizer * opt, GPtrArray * names, GPtrArray * tensors)
{
  g_return_if_fail (opt != NULL && names != NULL && tensors != NULL);
  const char *gname = t2i_param_group_get_name (opt->group);
  const char *const *bufs;
  guint nbufs = kind_buffers (opt->config.kind, &bufs);

  for (guint i = 0; i < t2i_param_group_n_params (opt->group); i++) {
    T2iParam *p = t2i_param_group_get (opt->group, i);
    ParamState *s = g_hash_table_lookup (opt->state, p->local_name);

    if (s == NULL)
      continue;
    for (guint b = 0; b < nbufs; b++) {
      T2iTensor *t = b == 0 ? s->buf1 : s->buf2;

      if (t == NULL)
        continue;
      g_ptr_array_add (names, g_strdup_printf ("optim/%s/%s/%s", gname, p->local_name,
              bufs[b]));
      g_ptr_array_add (tensors, t2i_tensor_ref (t));
    }
  }
}

void
t2i_optimizer_state_metadata (T2iOptimizer * opt, GHashTable * metadata)
{
  g_return_if_fail (opt != NULL && metadata != NULL);
  const char *gname = t2i_param_group_get_name (opt->group);

  g_hash_table_insert (metadata, g_strdup_printf ("optim/%s/step", gname),
      g_strdup_printf ("%" G_GUINT64_FORMAT, opt->step));
  g_hash_table_insert (metadata, g_strdup_printf ("optim/%s/kind", gname),
      g_strdup (kind_names[opt->config.kind]));
  for (guint i = 0; i < t2i_param_group_n_params (opt->group); i++) {
    T2iParam *p = t2i_param_group_get (opt->group, i);
    ParamState *s = g_hash_table_lookup (opt->state, p->local_name);
    guint64 step = s ? s->step : 0;

    if (step != opt->step)
      g_hash_table_insert (metadata, g_strdup_printf ("optim/%s/%s/step", gname,
              p->local_name), g_strdup_printf ("%" G_GUINT64_FORMAT, step));
  }
}

static gboolean
parse_step (const char *s, guint64 * out)
{
  return s != NULL && g_ascii_string_to_unsigned (s, 10, 0, G_MAXUINT64, out, NULL);
}

gboolean
t2i_optimizer_load_state (T2iOptimizer * opt, T2iSafetensors * st, GError ** error)
{
  g_return_val_if_fail (opt != NULL && st != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  const char *gname = t2i_param_group_get_name (opt->group);
  const char *path = t2i_safetensors_get_path (st);
  char *key;
  const char *kind_s;
  guint64 group_step;
  T2iOptimizerKind kind;
  GHashTable *staged = NULL;
  gboolean ok = FALSE;
  const char *const *bufs;
  guint nbufs = kind_buffers (opt->config.kind, &bufs);

  key = g_strdup_printf ("optim/%s/step", gname);
  if (!parse_step (t2i_safetensors_get_metadata (st, key), &group_step)) {
    g_set_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_NOT_FOUND,
        "%s: no optimizer state for group '%s' (metadata \"%s\" missing or not a "
        "step count)", path, gname, key);
    g_free (key);
    return FALSE;
  }
  g_free (key);
  key = g_strdup_printf ("optim/%s/kind", gname);
  kind_s = t2i_safetensors_get_metadata (st, key);
  g_free (key);
  if (kind_s == NULL || !t2i_optimizer_kind_from_string (kind_s, &kind)
      || kind != opt->config.kind) {
    g_set_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_UNSUPPORTED,
        "%s: optimizer state of group '%s' was written by \"%s\", not \"%s\"", path,
        gname, kind_s ? kind_s : "(unknown)", kind_names[opt->config.kind]);
    return FALSE;
  }

  staged = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, param_state_free);
  for (guint i = 0; i < t2i_param_group_n_params (opt->group); i++) {
    T2iParam *p = t2i_param_group_get (opt->group, i);
    ParamState *s = g_new0 (ParamState, 1);
    gboolean any = FALSE;

    key = g_strdup_printf ("optim/%s/%s/step", gname, p->local_name);
    const char *ps = t2i_safetensors_get_metadata (st, key);
    g_free (key);
    s->step = group_step;
    if (ps && !parse_step (ps, &s->step)) {
      g_set_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_FORMAT,
          "%s: optimizer step of %s is not a number: \"%s\"", path, p->name, ps);
      param_state_free (s);
      goto out;
    }
    for (guint b = 0; b < nbufs; b++) {
      T2iTensor *t;

      key = g_strdup_printf ("optim/%s/%s/%s", gname, p->local_name, bufs[b]);
      if (!t2i_safetensors_has (st, key)) {
        g_free (key);
        continue;
      }
      t = t2i_safetensors_read (st, key, error);
      if (t && (t->dtype != T2I_F32 || !t2i_tensor_same_shape (t, p->value))) {
        char *ts = t2i_shape_to_string (t->ndim, t->shape);
        char *vs = t2i_shape_to_string (p->value->ndim, p->value->shape);

        g_set_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_FORMAT,
            "%s: \"%s\" is %s %s, parameter %s is f32 %s", path, key,
            t2i_dtype_name (t->dtype), ts, p->name, vs);
        g_free (ts);
        g_free (vs);
        g_clear_pointer (&t, t2i_tensor_unref);
      }
      g_free (key);
      /* next to its parameter */
      if (t && !t2i_tensor_move_to_device (t, p->value->device, error))
        g_clear_pointer (&t, t2i_tensor_unref);
      if (t == NULL) {
        param_state_free (s);
        goto out;
      }
      if (b == 0)
        s->buf1 = t;
      else
        s->buf2 = t;
      any = TRUE;
    }
    if (opt->config.kind != T2I_OPTIMIZER_SGD && any && (s->buf1 == NULL
            || s->buf2 == NULL)) {
      g_set_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_FORMAT,
          "%s: optimizer state of %s is incomplete (needs exp_avg and exp_avg_sq)",
          path, p->name);
      param_state_free (s);
      goto out;
    }
    if (any || (s->step > 0 && opt->config.kind == T2I_OPTIMIZER_SGD))
      g_hash_table_insert (staged, g_strdup (p->local_name), s);
    else
      param_state_free (s);
  }

  g_hash_table_unref (opt->state);
  opt->state = g_steal_pointer (&staged);
  opt->step = group_step;
  ok = TRUE;
out:
  if (staged)
    g_hash_table_unref (staged);
  return ok;
}

/* ---- gradient clipping ---- */

double
t2i_cpu_sq_sum (const T2iTensor * g)
{
  double acc = 0.0;
  gint64 n = g->numel;

  if (g->dtype == T2I_F32) {
    const float *d = g->data;
#pragma omp parallel for simd reduction(+:acc) if (n >= PAR_ELEMS)
    for (gint64 i = 0; i < n; i++)
      acc += (double) d[i] * (double) d[i];
  } else if (g->dtype == T2I_F64) {
    const double *d = g->data;
#pragma omp parallel for simd reduction(+:acc) if (n >= PAR_ELEMS)
    for (gint64 i = 0; i < n; i++)
      acc += d[i] * d[i];
  }
  return acc;
}

static gboolean
grad_usable (T2iTensor * t)
{
  return t != NULL && t->grad != NULL
      && (t->grad->dtype == T2I_F32 || t->grad->dtype == T2I_F64);
}

double
t2i_grad_norm (T2iTensor * const *params, guint n)
{
  g_return_val_if_fail (params != NULL || n == 0, 0.0);
  double total = 0.0;

  for (guint i = 0; i < n; i++)
    if (grad_usable (params[i]))
      total += T2I_BACKEND (params[i]->grad)->sq_sum (params[i]->grad);
  return sqrt (total);
}

gboolean
t2i_cpu_scale (T2iTensor * g, double coef)
{
  gint64 n = g->numel;

  if (g->dtype == T2I_F32) {
    float *d = g->data, c = (float) coef;
#pragma omp parallel for simd if (n >= PAR_ELEMS)
    for (gint64 i = 0; i < n; i++)
      d[i] *= c;
  } else {
    double *d = g->data;
#pragma omp parallel for simd if (n >= PAR_ELEMS)
    for (gint64 i = 0; i < n; i++)
      d[i] *= coef;
  }
  return TRUE;
}

double
t2i_clip_grad_norm (T2iTensor * const *params, guint n, double max_norm)
{
  g_return_val_if_fail (params != NULL || n == 0, 0.0);
  double norm = t2i_grad_norm (params, n);
  double coef = max_norm / (norm + 1e-6);

  /* torch clamps the coefficient at 1 and multiplies always; NaN survives the
   * clamp there, so it does here */
  if (coef < 1.0 || isnan (coef))
    for (guint i = 0; i < n; i++)
      if (grad_usable (params[i]))
        T2I_BACKEND (params[i]->grad)->scale (params[i]->grad, coef);
  return norm;
}

double
t2i_param_groups_clip_grad_norm (T2iParamGroup * const *groups, guint n_groups,
    double max_norm)
{
  g_return_val_if_fail (groups != NULL || n_groups == 0, 0.0);
  GPtrArray *ts = g_ptr_array_new ();
  double norm;

  for (guint gi = 0; gi < n_groups; gi++)
    for (guint i = 0; i < t2i_param_group_n_params (groups[gi]); i++) {
      T2iParam *p = t2i_param_group_get (groups[gi], i);

      if (p->trainable)
        g_ptr_array_add (ts, p->value);
    }
  norm = t2i_clip_grad_norm ((T2iTensor * const *) ts->pdata, ts->len, max_norm);
  g_ptr_array_unref (ts);
  return norm;
}
