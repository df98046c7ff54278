/* VGG19 features (see t2i/vgg.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "models-private.h"
#include "t2i/vgg.h"

#include <string.h>

#define N_CONVS 16
#define N_TAPS 38

static const gint block_convs[5] = { 2, 2, 4, 4, 4 };
/* block b has width * block_mult[b] channels (64, 128, 256, 512, 512) */
static const gint block_mult[5] = { 1, 2, 4, 8, 8 };

static const char *const tap_names[N_TAPS + 1] = {
  "input",
  "conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1",
  "conv2_1", "relu2_1", "conv2_2", "relu2_2", "pool2",
  "conv3_1", "relu3_1", "conv3_2", "relu3_2", "conv3_3", "relu3_3",
  "conv3_4", "relu3_4", "pool3",
  "conv4_1", "relu4_1", "conv4_2", "relu4_2", "conv4_3", "relu4_3",
  "conv4_4", "relu4_4", "pool4",
  "conv5_1", "relu5_1", "conv5_2", "relu5_2", "conv5_3", "relu5_3",
  "conv5_4", "relu5_4", "pool5",
  NULL
};

static const char *const sdn_taps[23] = {
  "input", "relu1_1", "relu1_2", "pool1", "relu2_1", "relu2_2", "pool2",
  "relu3_1", "relu3_2", "relu3_3", "relu3_4", "pool3",
  "relu4_1", "relu4_2", "relu4_3", "relu4_4", "pool4",
  "relu5_1", "relu5_2", "relu5_3", "relu5_4", "pool5", NULL
};

struct _T2iVgg19
{
  T2iParamGroup *group;
  gsize skip;
  guint range[2];
  T2iNnConv2d conv[N_CONVS];
  T2iVggPool pool;
  T2iVggInput input;
};

const char *const *
t2i_vgg19_tap_names (void)
{
  return tap_names;
}

const char *const *
t2i_vgg19_sdn_taps (void)
{
  return sdn_taps;
}

gint
t2i_vgg19_tap_index (const char *name)
{
  g_return_val_if_fail (name != NULL, -1);
  for (gint i = 0; i < N_TAPS; i++)
    if (strcmp (tap_names[i], name) == 0)
      return i;
  return -1;
}

gint
t2i_vgg19_tap_channels (const char *name, gint width)
{
  g_return_val_if_fail (name != NULL, -1);
  if (strcmp (name, "input") == 0)
    return 3;
  if (t2i_vgg19_tap_index (name) < 0)
    return -1;
  const gboolean pool = g_str_has_prefix (name, "pool");
  const gint block = name[strlen (name) - (pool ? 1 : 3)] - '1';
  return width * block_mult[block];
}

gint
t2i_vgg19_tap_stride (const char *name)
{
  g_return_val_if_fail (name != NULL, -1);
  if (strcmp (name, "input") == 0)
    return 1;
  if (t2i_vgg19_tap_index (name) < 0)
    return -1;
  const gboolean pool = g_str_has_prefix (name, "pool");
  const gint block = name[strlen (name) - (pool ? 1 : 3)] - '1';
  return 1 << (block + (pool ? 1 : 0));
}

T2iVgg19 *
t2i_vgg19_new (T2iParamGroup * group, const char *prefix, T2iVggPool pool,
    T2iVggInput input, T2iRng * rng)
{
  return t2i_vgg19_new_width (group, prefix, pool, input, 64, rng);
}

T2iVgg19 *
t2i_vgg19_new_width (T2iParamGroup * group, const char *prefix,
    T2iVggPool pool, T2iVggInput input, gint width, T2iRng * rng)
{
  g_return_val_if_fail (width >= 1, NULL);
  T2iVgg19 *m = g_new0 (T2iVgg19, 1);
  T2iRng fixed;
  gint64 in = 3;
  gint k = 0, idx = 0;

  m->group = group ? t2i_param_group_ref (group) : t2i_param_group_new ("");
  t2i_rng_init (&fixed, 0);
  m->skip = t2i_model_prefix_len (prefix);
  m->pool = pool;
  m->input = input;
  m->range[0] = t2i_param_group_n_params (m->group);
  for (gint b = 0; b < 5; b++) {
    for (gint i = 0; i < block_convs[b]; i++, k++) {
      g_autofree char *name = t2i_model_joinf (prefix, "features.%d", idx);
      t2i_nn_conv2d_init (&m->conv[k], m->group, name, in,
          width * block_mult[b], 3, 1, 1, TRUE, rng ? rng : &fixed);
      /* torchvision: kaiming_normal_(fan_out, relu), zero bias */
      if (rng)
        t2i_init_kaiming_normal (m->conv[k].weight, rng, 0.0, T2I_FAN_OUT,
            T2I_NONLINEARITY_RELU);
      t2i_init_zeros (m->conv[k].bias);
      in = width * block_mult[b];
      idx += 2;                 /* conv, relu */
    }
    idx++;                      /* pool */
  }
  m->range[1] = t2i_param_group_n_params (m->group);
  t2i_model_set_trainable (m->group, m->range[0], m->range[1], FALSE);
  return m;
}

gboolean
t2i_vgg19_load (T2iVgg19 * m, T2iSafetensors * st, const char *prefix,
    GError ** error)
{
  g_return_val_if_fail (m != NULL && st != NULL, FALSE);
  return t2i_model_load_ranges (m->group, m->skip, m->range, 1, st, prefix,
      "VGG19 features", error);
}

T2iVgg19 *
t2i_vgg19_new_from_safetensors (T2iSafetensors * st, const char *prefix,
    T2iVggPool pool, T2iVggInput input, GError ** error)
{
  const char *p = prefix ? prefix : "";
  g_autofree char *first = g_strconcat (p, "features.0.weight", NULL);

  g_return_val_if_fail (st != NULL, NULL);
  if (!t2i_safetensors_has (st, first)) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
        "%s: no VGG19 under prefix \"%s\" (no \"%s\")",
        t2i_safetensors_get_path (st), p, first);
    return NULL;
  }
  T2iVgg19 *m = t2i_vgg19_new (NULL, NULL, pool, input, NULL);
  if (!t2i_vgg19_load (m, st, prefix, error)) {
    t2i_vgg19_free (m);
    return NULL;
  }
  return m;
}

void
t2i_vgg19_free (T2iVgg19 * m)
{
  if (!m)
    return;
  t2i_param_group_unref (m->group);
  g_free (m);
}

T2iParamGroup *
t2i_vgg19_get_params (T2iVgg19 * m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->group;
}

static T2iTensor *
normalise_input (T2iVgg19 * m, T2iTensor * x)
{
  static const double mean[3] = { 0.485, 0.456, 0.406 };
  static const double std[3] = { 0.229, 0.224, 0.225 };
  static const double s255[3] = { 127.5, 127.5, 127.5 };
  double scale[3], shift[3];

  switch (m->input) {
    case T2I_VGG_INPUT_IMAGENET:
      for (gint c = 0; c < 3; c++) {
        scale[c] = 0.5 / std[c];
        shift[c] = (0.5 - mean[c]) / std[c];
      }
      return t2i_model_channel_affine (x, scale, shift);
    case T2I_VGG_INPUT_BGR255:{
      g_autoptr (T2iTensor) idx = t2i_tensor_from_data (T2I_I32,
          T2I_SHAPE (3), (gint32[]) { 2, 1, 0 });
      g_autoptr (T2iTensor) bgr = t2i_index_select (x, 1, idx);
      return t2i_model_channel_affine (bgr, s255, s255);
    }
    case T2I_VGG_INPUT_RAW:
    default:
      return t2i_tensor_ref (x);
  }
}

gboolean
t2i_vgg19_forward (T2iVgg19 * m, T2iTensor * x, const char *const *taps,
    gint n, T2iTensor ** out, GError ** error)
{
  gint want[N_TAPS] = { 0 }, deepest = -1;

  g_return_val_if_fail (m != NULL && x != NULL && (n == 0 || taps), FALSE);
  g_return_val_if_fail (x->ndim == 4 && x->shape[1] == 3, FALSE);
  for (gint j = 0; j < n; j++) {
    gint k = t2i_vgg19_tap_index (taps[j]);
    if (k < 0) {
      g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_ARGUMENT,
          "VGG19 has no feature \"%s\" (input, convB_I, reluB_I or poolB, "
          "e.g. conv1_1, relu3_4, pool5)", taps[j]);
      return FALSE;
    }
    want[k] = 1;
    deepest = MAX (deepest, k);
    out[j] = NULL;
  }

  T2iTensor *cur = normalise_input (m, x);
  gint tap = 0, k = 0;
#define EMIT() G_STMT_START { \
    for (gint j_ = 0; j_ < n; j_++) \
      if (want[tap] && strcmp (taps[j_], tap_names[tap]) == 0) \
        out[j_] = t2i_tensor_ref (cur); \
  } G_STMT_END
  EMIT ();
  for (gint b = 0; b < 5 && tap < deepest; b++) {
    for (gint i = 0; i < block_convs[b] && tap < deepest; i++, k++) {
      T2iTensor *y = t2i_nn_conv2d (&m->conv[k], cur);
      t2i_tensor_unref (cur);
      cur = y;
      tap++;
      EMIT ();
      if (tap >= deepest)
        break;
      y = t2i_relu (cur);
      t2i_tensor_unref (cur);
      cur = y;
      tap++;
      EMIT ();
    }
    if (tap >= deepest)
      break;
    T2iTensor *y = m->pool == T2I_VGG_POOL_AVG
        ? t2i_avg_pool2d (cur, 2, 2, 0, TRUE) : t2i_max_pool2d (cur, 2, 2, 0);
    t2i_tensor_unref (cur);
    cur = y;
    tap++;
    EMIT ();
  }
#undef EMIT
  t2i_tensor_unref (cur);
  return TRUE;
}
