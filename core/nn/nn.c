/* Building blocks (see t2i/nn.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/nn.h"

#include <math.h>

static T2iTensor *
add_param (T2iParamGroup * group, const char *prefix, const char *name,
    T2iTensor * t, gboolean trainable)
{
  g_autofree char *full = prefix && *prefix ? g_strconcat (prefix, ".", name,
      NULL) : g_strdup (name);
  t2i_param_group_add (group, full, t, trainable);
  t2i_tensor_unref (t);         /* the group holds it */
  return t;
}

static T2iTensor *
uniform (gint ndim, const gint64 * shape, double bound, T2iRng * rng)
{
  T2iTensor *t = t2i_tensor_new (T2I_F32, ndim, shape);
  t2i_rng_fill_uniform (rng, t, -bound, bound);
  return t;
}

void
t2i_nn_linear_init (T2iNnLinear * m, T2iParamGroup * group, const char *prefix,
    gint64 in, gint64 out, gboolean bias, T2iRng * rng)
{
  /* kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(in)), bias the same */
  double bound = 1.0 / sqrt ((double) in);
  m->weight = add_param (group, prefix, "weight",
      uniform (T2I_SHAPE (out, in), bound, rng), TRUE);
  m->bias = bias ? add_param (group, prefix, "bias",
      uniform (T2I_SHAPE (out), bound, rng), TRUE) : NULL;
}

T2iTensor *
t2i_nn_linear (T2iNnLinear * m, T2iTensor * x)
{
  return t2i_linear (x, m->weight, m->bias);
}

static void
conv_init (T2iNnConv2d * m, T2iParamGroup * group, const char *prefix,
    gint64 in, gint64 out, gint k, gint stride, gint padding, gboolean bias,
    T2iRng * rng, gboolean transposed)
{
  /* PyTorch: fan_in = weight.size(1) * k * k for both kinds */
  gint64 d0 = transposed ? in : out, d1 = transposed ? out : in;
  double bound = 1.0 / sqrt ((double) d1 * k * k);
  m->transposed = transposed;
  m->p = T2I_CONV_PARAMS (stride, padding);
  m->weight = add_param (group, prefix, "weight",
      uniform (T2I_SHAPE (d0, d1, k, k), bound, rng), TRUE);
  m->bias = bias ? add_param (group, prefix, "bias",
      uniform (T2I_SHAPE (out), bound, rng), TRUE) : NULL;
}

void
t2i_nn_conv2d_init (T2iNnConv2d * m, T2iParamGroup * group, const char *prefix,
    gint64 in, gint64 out, gint k, gint stride, gint padding, gboolean bias,
    T2iRng * rng)
{
  conv_init (m, group, prefix, in, out, k, stride, padding, bias, rng, FALSE);
}

void
t2i_nn_conv_transpose2d_init (T2iNnConv2d * m, T2iParamGroup * group,
    const char *prefix, gint64 in, gint64 out, gint k, gint stride,
    gint padding, gboolean bias, T2iRng * rng)
{
  conv_init (m, group, prefix, in, out, k, stride, padding, bias, rng, TRUE);
}

T2iTensor *
t2i_nn_conv2d (T2iNnConv2d * m, T2iTensor * x)
{
  return m->transposed ? t2i_conv_transpose2d (x, m->weight, m->bias, &m->p)
      : t2i_conv2d (x, m->weight, m->bias, &m->p);
}

void
t2i_nn_batch_norm_init (T2iNnBatchNorm * m, T2iParamGroup * group,
    const char *prefix, gint64 c)
{
  m->momentum = 0.1;
  m->eps = 1e-5;
  m->weight = add_param (group, prefix, "weight",
      t2i_tensor_full (T2I_F32, T2I_SHAPE (c), 1.0), TRUE);
  m->bias = add_param (group, prefix, "bias",
      t2i_tensor_zeros (T2I_F32, T2I_SHAPE (c)), TRUE);
  m->running_mean = add_param (group, prefix, "running_mean",
      t2i_tensor_zeros (T2I_F32, T2I_SHAPE (c)), FALSE);
  m->running_var = add_param (group, prefix, "running_var",
      t2i_tensor_full (T2I_F32, T2I_SHAPE (c), 1.0), FALSE);
}

T2iTensor *
t2i_nn_batch_norm (T2iNnBatchNorm * m, T2iTensor * x, gboolean training)
{
  return t2i_batch_norm (x, m->weight, m->bias, m->running_mean,
      m->running_var, training, m->momentum, m->eps);
}

void
t2i_nn_layer_norm_init (T2iNnLayerNorm * m, T2iParamGroup * group,
    const char *prefix, gint64 dim)
{
  m->eps = 1e-5;
  m->weight = add_param (group, prefix, "weight",
      t2i_tensor_full (T2I_F32, T2I_SHAPE (dim), 1.0), TRUE);
  m->bias = add_param (group, prefix, "bias",
      t2i_tensor_zeros (T2I_F32, T2I_SHAPE (dim)), TRUE);
}

T2iTensor *
t2i_nn_layer_norm (T2iNnLayerNorm * m, T2iTensor * x)
{
  return t2i_layer_norm (x, 1, m->weight, m->bias, m->eps);
}

void
t2i_nn_embedding_init (T2iNnEmbedding * m, T2iParamGroup * group,
    const char *prefix, gint64 vocab, gint64 dim, double std, T2iRng * rng)
{
  T2iTensor *w = t2i_tensor_new (T2I_F32, T2I_SHAPE (vocab, dim));
  t2i_rng_fill_normal (rng, w, 0.0, std);
  m->weight = add_param (group, prefix, "weight", w, TRUE);
}

T2iTensor *
t2i_nn_embedding (T2iNnEmbedding * m, T2iTensor * ids)
{
  return t2i_embedding (m->weight, ids);
}

void
t2i_nn_attention_init (T2iNnAttention * m, T2iParamGroup * group,
    const char *prefix, gint64 dim, gint heads, T2iRng * rng)
{
  g_return_if_fail (dim % heads == 0);
  /* torch: xavier_uniform in_proj, zero biases, out_proj default weight */
  double bound = sqrt (6.0 / (double) (dim + 3 * dim));
  m->heads = heads;
  m->in_proj_weight = add_param (group, prefix, "in_proj_weight",
      uniform (T2I_SHAPE (3 * dim, dim), bound, rng), TRUE);
  m->in_proj_bias = add_param (group, prefix, "in_proj_bias",
      t2i_tensor_zeros (T2I_F32, T2I_SHAPE (3 * dim)), TRUE);
  g_autofree char *op = prefix && *prefix ? g_strconcat (prefix, ".out_proj",
      NULL) : g_strdup ("out_proj");
  t2i_nn_linear_init (&m->out_proj, group, op, dim, dim, TRUE, rng);
  t2i_init_zeros (m->out_proj.bias);
}

T2iTensor *
t2i_nn_attention (T2iNnAttention * m, T2iTensor * x, gboolean causal)
{
  gint64 b = x->shape[0], l = x->shape[1], d = x->shape[2];
  gint64 h = m->heads, dh = d / h;
  static const gint perm[4] = { 0, 2, 1, 3 };
  T2iTensor *qkv = t2i_linear (x, m->in_proj_weight, m->in_proj_bias);
  T2iTensor *parts[3];
  gint64 sizes[3] = { d, d, d };

  t2i_split (qkv, 2, 3, sizes, parts);
  t2i_tensor_unref (qkv);
  for (gint i = 0; i < 3; i++) {
    T2iTensor *r = t2i_reshape (parts[i], T2I_SHAPE (b, l, h, dh));
    t2i_tensor_unref (parts[i]);
    parts[i] = t2i_permute (r, perm);
    t2i_tensor_unref (r);
  }
  T2iTensor *a = t2i_scaled_dot_product_attention (parts[0], parts[1],
      parts[2], causal, 0.0);
  for (gint i = 0; i < 3; i++)
    t2i_tensor_unref (parts[i]);
  T2iTensor *ap = t2i_permute (a, perm);
  t2i_tensor_unref (a);
  T2iTensor *merged = t2i_reshape (ap, T2I_SHAPE (b, l, d));
  t2i_tensor_unref (ap);
  T2iTensor *out = t2i_nn_linear (&m->out_proj, merged);
  t2i_tensor_unref (merged);
  return out;
}

static char *
join (const char *prefix, const char *name)
{
  return prefix && *prefix ? g_strconcat (prefix, ".", name, NULL)
      : g_strdup (name);
}

void
t2i_nn_residual_block_init (T2iNnResidualBlock * m, T2iParamGroup * group,
    const char *prefix, gint64 dim, gint heads, gint mlp_ratio, T2iRng * rng)
{
  g_autofree char *ln1 = join (prefix, "ln_1");
  g_autofree char *attn = join (prefix, "attn");
  g_autofree char *ln2 = join (prefix, "ln_2");
  g_autofree char *fc = join (prefix, "mlp.c_fc");
  g_autofree char *proj = join (prefix, "mlp.c_proj");
  t2i_nn_layer_norm_init (&m->ln_1, group, ln1, dim);
  t2i_nn_attention_init (&m->attn, group, attn, dim, heads, rng);
  t2i_nn_layer_norm_init (&m->ln_2, group, ln2, dim);
  t2i_nn_linear_init (&m->c_fc, group, fc, dim, dim * mlp_ratio, TRUE, rng);
  t2i_nn_linear_init (&m->c_proj, group, proj, dim * mlp_ratio, dim, TRUE, rng);
}

T2iTensor *
t2i_nn_residual_block (T2iNnResidualBlock * m, T2iTensor * x, gboolean causal)
{
  T2iTensor *h = t2i_nn_layer_norm (&m->ln_1, x);
  T2iTensor *a = t2i_nn_attention (&m->attn, h, causal);
  t2i_tensor_unref (h);
  T2iTensor *x1 = t2i_add (x, a);
  t2i_tensor_unref (a);
  h = t2i_nn_layer_norm (&m->ln_2, x1);
  T2iTensor *f = t2i_nn_linear (&m->c_fc, h);
  t2i_tensor_unref (h);
  T2iTensor *g = t2i_quick_gelu (f);
  t2i_tensor_unref (f);
  T2iTensor *p = t2i_nn_linear (&m->c_proj, g);
  t2i_tensor_unref (g);
  T2iTensor *out = t2i_add (x1, p);
  t2i_tensor_unref (x1);
  t2i_tensor_unref (p);
  return out;
}
