/* Inception-v3 (see t2i/inception.h), following torchvision's
 * models/inception.py and pytorch-fid's inception.py.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "models-private.h"
#include "t2i/inception.h"

#include <string.h>

#define BN_EPS 1e-3

/* BasicConv2d: conv (no bias) + BatchNorm (eval) + ReLU */
typedef struct
{
  T2iTensor *weight;
  T2iNnBatchNorm bn;
  T2iConvParams p;
} Basic;

typedef enum
{
  MIXED_A,
  MIXED_B,
  MIXED_C,
  MIXED_D,
  MIXED_E,
} MixedKind;

#define MAX_BRANCH_CONVS 10

typedef struct
{
  MixedKind kind;
  Basic c[MAX_BRANCH_CONVS];
  gboolean pool_exclude_pad;    /* avg pool with count_include_pad=False */
  gboolean pool_max;            /* max pool instead of avg (FID Mixed_7c) */
} Mixed;

#define N_MIXED 11

struct _T2iInception
{
  T2iParamGroup *group;
  gsize skip;
  guint range[2];
  T2iInceptionVariant variant;
  Basic stem[5];                /* Conv2d_1a_3x3 .. Conv2d_4a_3x3 */
  Mixed mixed[N_MIXED];         /* Mixed_5b .. Mixed_7c */
  T2iNnLinear fc;
  gint num_classes;
};

static const char *const stem_names[5] = {
  "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1",
  "Conv2d_4a_3x3"
};

static const char *const mixed_names[N_MIXED] = {
  "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
  "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"
};

typedef struct
{
  T2iParamGroup *group;
  const char *prefix;
  T2iRng *rng;
} Builder;

static void
basic_init (Basic * b, Builder * bd, const char *block, const char *name,
    gint64 in, gint64 out, gint kh, gint kw, gint stride, gint ph, gint pw)
{
  g_autofree char *base = block ? g_strdup_printf ("%s.%s", block, name)
      : g_strdup (name);
  g_autofree char *mod = t2i_model_join (bd->prefix, base);
  g_autofree char *bn = t2i_model_join (mod, "bn");
  T2iTensor *w = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (out, in, kh, kw));

  /* torchvision: trunc_normal_(std=0.1, a=-2, b=2) (the bounds are 20 std) */
  if (bd->rng)
    t2i_rng_fill_normal (bd->rng, w, 0.0, 0.1);
  b->weight = t2i_model_add (bd->group, mod, "conv.weight", w, FALSE);
  t2i_nn_batch_norm_init (&b->bn, bd->group, bn, out);
  b->bn.eps = BN_EPS;
  b->p = T2I_CONV_PARAMS (stride, 0);
  b->p.padding[0] = ph;
  b->p.padding[1] = pw;
}

static T2iTensor *
basic (Basic * b, T2iTensor * x)
{
  g_autoptr (T2iTensor) y = t2i_conv2d (x, b->weight, NULL, &b->p);
  g_autoptr (T2iTensor) z = t2i_nn_batch_norm (&b->bn, y, FALSE);
  return t2i_relu (z);
}

/* the conv layers of each block kind, in torchvision's order */
static void
mixed_init (Mixed * m, Builder * bd, const char *name, MixedKind kind,
    gint64 in, gint64 arg)
{
  Basic *c = m->c;
  m->kind = kind;
  switch (kind) {
    case MIXED_A:              /* arg: pool_features */
      basic_init (&c[0], bd, name, "branch1x1", in, 64, 1, 1, 1, 0, 0);
      basic_init (&c[1], bd, name, "branch5x5_1", in, 48, 1, 1, 1, 0, 0);
      basic_init (&c[2], bd, name, "branch5x5_2", 48, 64, 5, 5, 1, 2, 2);
      basic_init (&c[3], bd, name, "branch3x3dbl_1", in, 64, 1, 1, 1, 0, 0);
      basic_init (&c[4], bd, name, "branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1);
      basic_init (&c[5], bd, name, "branch3x3dbl_3", 96, 96, 3, 3, 1, 1, 1);
      basic_init (&c[6], bd, name, "branch_pool", in, arg, 1, 1, 1, 0, 0);
      break;
    case MIXED_B:
      basic_init (&c[0], bd, name, "branch3x3", in, 384, 3, 3, 2, 0, 0);
      basic_init (&c[1], bd, name, "branch3x3dbl_1", in, 64, 1, 1, 1, 0, 0);
      basic_init (&c[2], bd, name, "branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1);
      basic_init (&c[3], bd, name, "branch3x3dbl_3", 96, 96, 3, 3, 2, 0, 0);
      break;
    case MIXED_C:              /* arg: channels_7x7 */
      basic_init (&c[0], bd, name, "branch1x1", in, 192, 1, 1, 1, 0, 0);
      basic_init (&c[1], bd, name, "branch7x7_1", in, arg, 1, 1, 1, 0, 0);
      basic_init (&c[2], bd, name, "branch7x7_2", arg, arg, 1, 7, 1, 0, 3);
      basic_init (&c[3], bd, name, "branch7x7_3", arg, 192, 7, 1, 1, 3, 0);
      basic_init (&c[4], bd, name, "branch7x7dbl_1", in, arg, 1, 1, 1, 0, 0);
      basic_init (&c[5], bd, name, "branch7x7dbl_2", arg, arg, 7, 1, 1, 3, 0);
      basic_init (&c[6], bd, name, "branch7x7dbl_3", arg, arg, 1, 7, 1, 0, 3);
      basic_init (&c[7], bd, name, "branch7x7dbl_4", arg, arg, 7, 1, 1, 3, 0);
      basic_init (&c[8], bd, name, "branch7x7dbl_5", arg, 192, 1, 7, 1, 0, 3);
      basic_init (&c[9], bd, name, "branch_pool", in, 192, 1, 1, 1, 0, 0);
      break;
    case MIXED_D:
      basic_init (&c[0], bd, name, "branch3x3_1", in, 192, 1, 1, 1, 0, 0);
      basic_init (&c[1], bd, name, "branch3x3_2", 192, 320, 3, 3, 2, 0, 0);
      basic_init (&c[2], bd, name, "branch7x7x3_1", in, 192, 1, 1, 1, 0, 0);
      basic_init (&c[3], bd, name, "branch7x7x3_2", 192, 192, 1, 7, 1, 0, 3);
      basic_init (&c[4], bd, name, "branch7x7x3_3", 192, 192, 7, 1, 1, 3, 0);
      basic_init (&c[5], bd, name, "branch7x7x3_4", 192, 192, 3, 3, 2, 0, 0);
      break;
    case MIXED_E:
      basic_init (&c[0], bd, name, "branch1x1", in, 320, 1, 1, 1, 0, 0);
      basic_init (&c[1], bd, name, "branch3x3_1", in, 384, 1, 1, 1, 0, 0);
      basic_init (&c[2], bd, name, "branch3x3_2a", 384, 384, 1, 3, 1, 0, 1);
      basic_init (&c[3], bd, name, "branch3x3_2b", 384, 384, 3, 1, 1, 1, 0);
      basic_init (&c[4], bd, name, "branch3x3dbl_1", in, 448, 1, 1, 1, 0, 0);
      basic_init (&c[5], bd, name, "branch3x3dbl_2", 448, 384, 3, 3, 1, 1, 1);
      basic_init (&c[6], bd, name, "branch3x3dbl_3a", 384, 384, 1, 3, 1, 0, 1);
      basic_init (&c[7], bd, name, "branch3x3dbl_3b", 384, 384, 3, 1, 1, 1, 0);
      basic_init (&c[8], bd, name, "branch_pool", in, 192, 1, 1, 1, 0, 0);
      break;
  }
}

static T2iTensor *
pool_branch (Mixed * m, T2iTensor * x)
{
  if (m->pool_max)
    return t2i_max_pool2d (x, 3, 1, 1);
  return t2i_avg_pool2d (x, 3, 1, 1, !m->pool_exclude_pad);
}

static T2iTensor *
chain (Basic * c, gint n, T2iTensor * x)
{
  T2iTensor *cur = t2i_tensor_ref (x);
  for (gint i = 0; i < n; i++) {
    T2iTensor *y = basic (&c[i], cur);
    t2i_tensor_unref (cur);
    cur = y;
  }
  return cur;
}

static T2iTensor *
cat_unref (T2iTensor ** parts, gint n)
{
  T2iTensor *out = t2i_concat (parts, n, 1);
  for (gint i = 0; i < n; i++)
    t2i_tensor_unref (parts[i]);
  return out;
}

static T2iTensor *
mixed_forward (Mixed * m, T2iTensor * x)
{
  Basic *c = m->c;
  T2iTensor *p[4], *q[2], *pooled;

  switch (m->kind) {
    case MIXED_A:
      p[0] = basic (&c[0], x);
      p[1] = chain (&c[1], 2, x);
      p[2] = chain (&c[3], 3, x);
      pooled = pool_branch (m, x);
      p[3] = basic (&c[6], pooled);
      t2i_tensor_unref (pooled);
      return cat_unref (p, 4);
    case MIXED_B:
      p[0] = basic (&c[0], x);
      p[1] = chain (&c[1], 3, x);
      p[2] = t2i_max_pool2d (x, 3, 2, 0);
      return cat_unref (p, 3);
    case MIXED_C:
      p[0] = basic (&c[0], x);
      p[1] = chain (&c[1], 3, x);
      p[2] = chain (&c[4], 5, x);
      pooled = pool_branch (m, x);
      p[3] = basic (&c[9], pooled);
      t2i_tensor_unref (pooled);
      return cat_unref (p, 4);
    case MIXED_D:
      p[0] = chain (&c[0], 2, x);
      p[1] = chain (&c[2], 4, x);
      p[2] = t2i_max_pool2d (x, 3, 2, 0);
      return cat_unref (p, 3);
    case MIXED_E:{
      p[0] = basic (&c[0], x);
      g_autoptr (T2iTensor) b3 = basic (&c[1], x);
      q[0] = basic (&c[2], b3);
      q[1] = basic (&c[3], b3);
      p[1] = cat_unref (q, 2);
      g_autoptr (T2iTensor) d3 = chain (&c[4], 2, x);
      q[0] = basic (&c[6], d3);
      q[1] = basic (&c[7], d3);
      p[2] = cat_unref (q, 2);
      pooled = pool_branch (m, x);
      p[3] = basic (&c[8], pooled);
      t2i_tensor_unref (pooled);
      return cat_unref (p, 4);
    }
  }
  g_return_val_if_reached (NULL);
}

T2iInception *
t2i_inception_new (T2iParamGroup * group, const char *prefix,
    T2iInceptionVariant variant, gint num_classes, T2iRng * rng)
{
  g_return_val_if_fail (num_classes >= -1, NULL);
  T2iInception *m = g_new0 (T2iInception, 1);
  Builder bd;
  static const gint c7[4] = { 128, 160, 160, 192 };
  gboolean fid = variant == T2I_INCEPTION_FID;

  m->group = group ? t2i_param_group_ref (group) : t2i_param_group_new ("");
  m->skip = t2i_model_prefix_len (prefix);
  m->variant = variant;
  bd.group = m->group;
  bd.prefix = prefix;
  bd.rng = rng;
  m->range[0] = t2i_param_group_n_params (m->group);

  basic_init (&m->stem[0], &bd, NULL, stem_names[0], 3, 32, 3, 3, 2, 0, 0);
  basic_init (&m->stem[1], &bd, NULL, stem_names[1], 32, 32, 3, 3, 1, 0, 0);
  basic_init (&m->stem[2], &bd, NULL, stem_names[2], 32, 64, 3, 3, 1, 1, 1);
  basic_init (&m->stem[3], &bd, NULL, stem_names[3], 64, 80, 1, 1, 1, 0, 0);
  basic_init (&m->stem[4], &bd, NULL, stem_names[4], 80, 192, 3, 3, 1, 0, 0);

  mixed_init (&m->mixed[0], &bd, mixed_names[0], MIXED_A, 192, 32);
  mixed_init (&m->mixed[1], &bd, mixed_names[1], MIXED_A, 256, 64);
  mixed_init (&m->mixed[2], &bd, mixed_names[2], MIXED_A, 288, 64);
  mixed_init (&m->mixed[3], &bd, mixed_names[3], MIXED_B, 288, 0);
  for (gint i = 0; i < 4; i++)
    mixed_init (&m->mixed[4 + i], &bd, mixed_names[4 + i], MIXED_C, 768, c7[i]);
  mixed_init (&m->mixed[8], &bd, mixed_names[8], MIXED_D, 768, 0);
  mixed_init (&m->mixed[9], &bd, mixed_names[9], MIXED_E, 1280, 0);
  mixed_init (&m->mixed[10], &bd, mixed_names[10], MIXED_E, 2048, 0);
  for (gint i = 0; i < N_MIXED; i++)
    m->mixed[i].pool_exclude_pad = fid;
  m->mixed[10].pool_max = fid;

  m->num_classes = num_classes == 0 ? (fid ? 1008 : 1000) : MAX (num_classes,
      0);
  if (m->num_classes > 0) {
    g_autofree char *fc = t2i_model_join (prefix, "fc");
    T2iRng fixed;
    t2i_rng_init (&fixed, 0);
    t2i_nn_linear_init (&m->fc, m->group, fc, 2048, m->num_classes, TRUE,
        rng ? rng : &fixed);
    if (rng)
      t2i_rng_fill_normal (rng, m->fc.weight, 0.0, 0.1);
  }
  m->range[1] = t2i_param_group_n_params (m->group);
  t2i_model_set_trainable (m->group, m->range[0], m->range[1], FALSE);
  return m;
}

gboolean
t2i_inception_load (T2iInception * m, T2iSafetensors * st, const char *prefix,
    GError ** error)
{
  g_return_val_if_fail (m != NULL && st != NULL, FALSE);
  return t2i_model_load_ranges (m->group, m->skip, m->range, 1, st, prefix,
      "Inception-v3", error);
}

T2iInception *
t2i_inception_new_from_safetensors (T2iSafetensors * st, const char *prefix,
    T2iInceptionVariant variant, GError ** error)
{
  const char *p = prefix ? prefix : "";
  g_autofree char *first = g_strconcat (p, "Conv2d_1a_3x3.conv.weight", NULL);
  g_autofree char *fc = g_strconcat (p, "fc.weight", NULL);
  gint nd, classes = -1;
  gint64 sh[T2I_MAX_DIMS];

  g_return_val_if_fail (st != NULL, NULL);
  if (!t2i_safetensors_has (st, first)) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
        "%s: no Inception-v3 under prefix \"%s\" (no \"%s\")",
        t2i_safetensors_get_path (st), p, first);
    return NULL;
  }
  if (t2i_safetensors_get_info (st, fc, NULL, &nd, sh, NULL)) {
    if (nd != 2 || sh[1] != 2048 || sh[0] < 1 || sh[0] > G_MAXINT) {
      g_autofree char *s = t2i_shape_to_string (nd, sh);
      g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
          "%s: \"%s\" is %s, not [classes, 2048]",
          t2i_safetensors_get_path (st), fc, s);
      return NULL;
    }
    classes = (gint) sh[0];
  }
  T2iInception *m = t2i_inception_new (NULL, NULL, variant, classes, NULL);
  if (!t2i_inception_load (m, st, prefix, error)) {
    t2i_inception_free (m);
    return NULL;
  }
  return m;
}

void
t2i_inception_free (T2iInception * m)
{
  if (!m)
    return;
  t2i_param_group_unref (m->group);
  g_free (m);
}

T2iParamGroup *
t2i_inception_get_params (T2iInception * m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->group;
}

gint
t2i_inception_get_num_classes (T2iInception * m)
{
  g_return_val_if_fail (m != NULL, 0);
  return m->num_classes;
}

void
t2i_inception_outputs_clear (T2iInceptionOutputs * out)
{
  g_return_if_fail (out != NULL);
  g_clear_pointer (&out->block0, t2i_tensor_unref);
  g_clear_pointer (&out->block1, t2i_tensor_unref);
  g_clear_pointer (&out->mixed_6e, t2i_tensor_unref);
  g_clear_pointer (&out->pool, t2i_tensor_unref);
  g_clear_pointer (&out->logits, t2i_tensor_unref);
}

gboolean
t2i_inception_forward (T2iInception * m, T2iTensor * x, gboolean resize,
    guint want, T2iInceptionOutputs * out, GError ** error)
{
  g_return_val_if_fail (m != NULL && x != NULL && out != NULL, FALSE);
  memset (out, 0, sizeof (*out));
  if (x->ndim != 4 || x->shape[1] != 3) {
    g_autofree char *s = t2i_shape_to_string (x->ndim, x->shape);
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_ARGUMENT,
        "Inception-v3 needs images [N, 3, H, W], got %s", s);
    return FALSE;
  }
  if ((want & T2I_INCEPTION_LOGITS) && m->num_classes == 0) {
    g_set_error_literal (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_ARGUMENT,
        "Inception-v3 was built without fc: no logits");
    return FALSE;
  }
  gboolean do_resize = resize && (x->shape[2] != 299 || x->shape[3] != 299);
  if (!do_resize && (x->shape[2] < 75 || x->shape[3] < 75)) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_ARGUMENT,
        "Inception-v3 needs images of at least 75 x 75 (got %" G_GINT64_FORMAT
        " x %" G_GINT64_FORMAT ") unless resized", x->shape[2], x->shape[3]);
    return FALSE;
  }

  T2iTensor *h = do_resize ? t2i_upsample_bilinear2d (x, 299, 299, FALSE)
      : t2i_tensor_ref (x);
  /* block 0 */
  for (gint i = 0; i < 3; i++)
    T2I_MODEL_STEP (h, basic (&m->stem[i], h));
  T2I_MODEL_STEP (h, t2i_max_pool2d (h, 3, 2, 0));
  if (want & T2I_INCEPTION_BLOCK0)
    out->block0 = t2i_tensor_ref (h);
  if (want < T2I_INCEPTION_BLOCK1)
    goto done;
  /* block 1 */
  T2I_MODEL_STEP (h, basic (&m->stem[3], h));
  T2I_MODEL_STEP (h, basic (&m->stem[4], h));
  T2I_MODEL_STEP (h, t2i_max_pool2d (h, 3, 2, 0));
  if (want & T2I_INCEPTION_BLOCK1)
    out->block1 = t2i_tensor_ref (h);
  if (want < T2I_INCEPTION_MIXED_6E)
    goto done;
  /* block 2 */
  for (gint i = 0; i < 8; i++)
    T2I_MODEL_STEP (h, mixed_forward (&m->mixed[i], h));
  if (want & T2I_INCEPTION_MIXED_6E)
    out->mixed_6e = t2i_tensor_ref (h);
  if (want < T2I_INCEPTION_POOL)
    goto done;
  /* block 3 */
  for (gint i = 8; i < N_MIXED; i++)
    T2I_MODEL_STEP (h, mixed_forward (&m->mixed[i], h));
  T2I_MODEL_STEP (h, t2i_adaptive_avg_pool2d (h, 1, 1));
  T2I_MODEL_STEP (h, t2i_reshape (h, T2I_SHAPE (h->shape[0], 2048)));
  if (want & T2I_INCEPTION_POOL)
    out->pool = t2i_tensor_ref (h);
  if (want & T2I_INCEPTION_LOGITS)
    out->logits = t2i_nn_linear (&m->fc, h);
done:
  t2i_tensor_unref (h);
  return TRUE;
}
