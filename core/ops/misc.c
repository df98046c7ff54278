/* Dropout and the LSTM cell.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ops-internal.h"
#include "t2i/rng.h"

/* ---- device transfer as an op ---- */

static void
copy_to_device_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gin[0] = t2i_copy_to_device (g, node->inputs[0]->device);
}

/**
 * t2i_copy_to_device:
 * A copy of @a on @device that keeps the graph: its gradient is copied
 * back to @a's device.  The way a host computation hands a tensor that
 * needs a gradient to the device (and back).
 */
T2iTensor *
t2i_copy_to_device (T2iTensor * a, T2iDevice device)
{
  g_return_val_if_fail (a != NULL, NULL);
  if (a->device == device)
    return t2i_tensor_ref (a);
  GError *err = NULL;
  T2iTensor *out = t2i_tensor_to_device (a, device, &err);
  if (!out) {
    g_critical ("t2i_copy_to_device: %s", err->message);
    g_error_free (err);
    return NULL;
  }
  t2i_ops_record (out, "copy_to_device", copy_to_device_backward, 1, &a);
  return out;
}

/* saved[0]: the scaled keep mask (0 or 1 / (1 - p)), dtype of x */
static void
dropout_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gin[0] = t2i_mul (g, node->saved[0]);
}

/* the scaled keep mask: 1 / (1 - p) with probability 1 - p, else 0 */
gboolean
t2i_cpu_dropout_mask (T2iTensor * mask, double p, T2iRng * rng)
{
  t2i_rng_fill_bernoulli (rng, mask, 1.0 - p);
  const double inv = 1.0 / (1.0 - p);
  if (mask->dtype == T2I_F32) {
    float *m = mask->data;
    const float s = (float) inv;
    for (gint64 i = 0; i < mask->numel; i++)
      m[i] *= s;
  } else {
    double *m = mask->data;
    for (gint64 i = 0; i < mask->numel; i++)
      m[i] *= inv;
  }
  return TRUE;
}

/**
 * t2i_dropout:
 * @x: the input (f32 or f64)
 * @p: the probability of zeroing an element, in [0, 1]
 * @training: drop only when %TRUE
 * @rng: (nullable): the generator, advanced by the draw; needed when
 *   @training and 0 < @p < 1
 *
 * Inverted dropout, as torch.nn.functional.dropout: in training each
 * element is kept with probability 1 - @p (one Bernoulli draw per element
 * from t2i_rng_fill_bernoulli(), in flat index order) and scaled by
 * 1 / (1 - @p); @p = 1 gives zeros.  In evaluation, or with @p = 0, the
 * result is @x itself (a new reference to it).
 */
T2iTensor *
t2i_dropout (T2iTensor * x, double p, gboolean training, struct _T2iRng *rng)
{
  g_return_val_if_fail (x != NULL, NULL);
  g_return_val_if_fail (x->dtype == T2I_F32 || x->dtype == T2I_F64, NULL);
  if (!(p >= 0 && p <= 1)) {
    g_critical ("t2i_dropout: p = %g is not in [0, 1]", p);
    return NULL;
  }
  if (!training || p == 0)
    return t2i_tensor_ref (x);

  g_autoptr (T2iTensor) mask = NULL;
  if (p >= 1) {
    mask = t2i_tensor_zeros_like (x);
  } else {
    g_return_val_if_fail (rng != NULL, NULL);
    mask = t2i_tensor_new_like (x);
    if (mask && !T2I_BACKEND (x)->dropout_mask (mask, p, rng))
      g_clear_pointer (&mask, t2i_tensor_unref);
  }
  if (!mask)
    return NULL;
  T2iTensor *y = T2I_BACKEND (x)->binary (T2I_BIN_MUL, x, mask);
  if (!y)
    return NULL;
  if (!t2i_any_requires_grad (1, &x))
    return y;
  T2iNode *node = t2i_node_new ("dropout", dropout_backward, 1, &x);
  t2i_node_save (node, 0, mask);
  return t2i_node_attach (node, y);
}

/* the CPU table's entry: the mean in double, the lerp in double */
gboolean
t2i_cpu_lerp_mean (T2iTensor * avg, const T2iTensor * x, double beta)
{
  const gint64 n = x->shape[0], d = x->shape[1];
  if (x->dtype == T2I_F32) {
    const float *wd = x->data;
    float *a = avg->data;
    for (gint64 j = 0; j < d; j++) {
      double s = 0;
      for (gint64 i = 0; i < n; i++)
        s += wd[i * d + j];
      s /= (double) n;
      a[j] = (float) (s + beta * ((double) a[j] - s));
    }
  } else {
    const double *wd = x->data;
    double *a = avg->data;
    for (gint64 j = 0; j < d; j++) {
      double s = 0;
      for (gint64 i = 0; i < n; i++)
        s += wd[i * d + j];
      s /= (double) n;
      a[j] = s + beta * (a[j] - s);
    }
  }
  return TRUE;
}

void
t2i_update_running_mean (T2iTensor * avg, T2iTensor * x, double beta)
{
  g_return_if_fail (avg != NULL && x != NULL);
  if (x->ndim != 2 || avg->numel != x->shape[1] || avg->dtype != x->dtype
      || avg->device != x->device
      || (x->dtype != T2I_F32 && x->dtype != T2I_F64) || x->shape[0] < 1) {
    g_critical ("t2i_update_running_mean: need x [N, D] (N >= 1) and avg [D] "
        "of one float dtype and device");
    return;
  }
  T2I_BACKEND (x)->lerp_mean (avg, x, beta);
}

/**
 * t2i_lstm_cell:
 * @x: [N, In]
 * @h: (nullable): [N, Hd], zeros when %NULL
 * @c: (nullable): [N, Hd], zeros when %NULL
 * @w_ih: [4 Hd, In]
 * @w_hh: [4 Hd, Hd]
 * @b_ih: (nullable): [4 Hd]
 * @b_hh: (nullable): [4 Hd]
 * @c_out: (out): the new cell state c' (a new reference)
 *
 * One step of torch.nn.LSTMCell, gates in PyTorch order i, f, g, o:
 *   [i f g o] = x w_ih^T + b_ih + h w_hh^T + b_hh
 *   c' = sigmoid(f) c + sigmoid(i) tanh(g),  h' = sigmoid(o) tanh(c')
 * Composed of public ops, so differentiable twice.
 *
 * Returns: h' (new reference)
 */
T2iTensor *
t2i_lstm_cell (T2iTensor * x, T2iTensor * h, T2iTensor * c,
    T2iTensor * w_ih, T2iTensor * w_hh, T2iTensor * b_ih, T2iTensor * b_hh,
    T2iTensor ** c_out)
{
  g_return_val_if_fail (x != NULL && w_ih != NULL && w_hh != NULL
      && c_out != NULL, NULL);
  *c_out = NULL;
  const gint64 Hd = w_hh->ndim == 2 ? w_hh->shape[1] : -1;
  if (x->ndim != 2 || w_ih->ndim != 2 || w_hh->ndim != 2
      || (x->dtype != T2I_F32 && x->dtype != T2I_F64)
      || w_ih->dtype != x->dtype || w_hh->dtype != x->dtype
      || w_ih->shape[0] != 4 * Hd || w_hh->shape[0] != 4 * Hd
      || w_ih->shape[1] != x->shape[1]
      || (h && (h->ndim != 2 || h->shape[0] != x->shape[0]
              || h->shape[1] != Hd || h->dtype != x->dtype))
      || (c && (c->ndim != 2 || c->shape[0] != x->shape[0]
              || c->shape[1] != Hd || c->dtype != x->dtype))
      || (b_ih && (b_ih->numel != 4 * Hd || b_ih->dtype != x->dtype))
      || (b_hh && (b_hh->numel != 4 * Hd || b_hh->dtype != x->dtype))) {
    g_critical ("t2i_lstm_cell: need x [N,In], h, c [N,H], w_ih [4H,In], "
        "w_hh [4H,H], biases [4H], one float dtype");
    return NULL;
  }

  g_autoptr (T2iTensor) gates = t2i_linear (x, w_ih, b_ih);
  if (h) {
    g_autoptr (T2iTensor) gh = t2i_linear (h, w_hh, b_hh);
    g_autoptr (T2iTensor) sum = t2i_add (gates, gh);
    g_clear_pointer (&gates, t2i_tensor_unref);
    gates = g_steal_pointer (&sum);
  } else if (b_hh) {
    g_autoptr (T2iTensor) sum = t2i_add (gates, b_hh);
    g_clear_pointer (&gates, t2i_tensor_unref);
    gates = g_steal_pointer (&sum);
  }

  T2iTensor *parts[4] = { NULL };
  const gint64 sizes[4] = { Hd, Hd, Hd, Hd };
  t2i_split (gates, 1, 4, sizes, parts);
  g_autoptr (T2iTensor) gi = t2i_sigmoid (parts[0]);
  g_autoptr (T2iTensor) gf = t2i_sigmoid (parts[1]);
  g_autoptr (T2iTensor) gg = t2i_tanh (parts[2]);
  g_autoptr (T2iTensor) go = t2i_sigmoid (parts[3]);
  for (gint i = 0; i < 4; i++)
    t2i_tensor_unref (parts[i]);

  g_autoptr (T2iTensor) ig = t2i_mul (gi, gg);
  g_autoptr (T2iTensor) c_new = NULL;
  if (c) {
    g_autoptr (T2iTensor) fc = t2i_mul (gf, c);
    c_new = t2i_add (fc, ig);
  } else {
    c_new = t2i_tensor_ref (ig);
  }
  g_autoptr (T2iTensor) tc = t2i_tanh (c_new);
  T2iTensor *h_new = t2i_mul (go, tc);
  *c_out = g_steal_pointer (&c_new);
  return h_new;
}
