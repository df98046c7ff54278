/* StyleGAN2 modulated convolution, non-fused form.
 *
 * What is implemented, in the terms of StyleGAN2-ADA's
 * training/networks.py modulated_conv2d(fused_modconv=False) and
 * torch_utils/ops/conv2d_resample.py:
 *
 *   xs = x * s[:, :, None, None]
 *   up = 1:  y = conv2d(xs, w, padding = p)
 *   up = 2:  t = conv_transpose2d(xs, w.transpose(0, 1), stride 2,
 *                padding = pt)                               (no flip)
 *            t = pad / crop t by (a0 + pt, a1 + pt) on each spatial side
 *            y = depthwise FIR of t with f = outer([1,3,3,1]) / 64 * 4
 *            where a0 = p + 2 - (k - 1), a1 = p + 1 - (k - 2),
 *            pt = max(min(-a0, -a1), 0)
 *   demodulate: y = y * d[:, :, None, None],
 *            d[n, o] = rsqrt(sum_{i,kh,kw} (w[o,i,kh,kw] s[n,i])^2 + 1e-8)
 *                    = rsqrt((s^2) @ (sum_{kh,kw} w^2)^T + 1e-8)
 *
 * (the [1,3,3,1] filter is symmetric, so upfirdn2d's flip does not matter;
 * the gain up^2 = 4 makes the filter sum to 4, restoring the magnitude lost
 * to the zeros that the stride-2 transposed conv inserts).  For k = 3,
 * p = 1 this is exactly SynthesisLayer(up=2): output 2H x 2W.  In general
 * the output is (2H + 2p + 1 - k) for up = 2 and (H + 2p + 1 - k) for
 * up = 1.
 *
 * The op is composed of public differentiable ops (mul, conv2d,
 * conv_transpose2d, linear, rsqrt, ...), so it is differentiable twice
 * whenever they are; no backward of its own is needed.  The demodulation
 * coefficients cost one [N,Cin] x [Cin,Cout] product instead of building
 * per-sample weights.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/ops.h"

#include <string.h>

/* [1,3,3,1] x [1,3,3,1] / 64 * gain 4 */
static T2iTensor *
blur_filter (T2iDType dtype, gint64 channels)
{
  static const double f1[4] = { 1, 3, 3, 1 };
  const gint64 shape[4] = { channels, 1, 4, 4 };
  T2iTensor *f = t2i_tensor_new (dtype, 4, shape);
  for (gint64 c = 0; c < channels; c++)
    for (gint i = 0; i < 4; i++)
      for (gint j = 0; j < 4; j++)
        t2i_tensor_set (f, c * 16 + i * 4 + j, f1[i] * f1[j] / 16.0);
  return f;
}

/* pads (> 0) or crops (< 0) the two spatial dims of @x [N,C,H,W] by @a0
 * before and @a1 after, the same on both axes */
static T2iTensor *
pad_or_crop (T2iTensor * x, gint a0, gint a1)
{
  g_autoptr (T2iTensor) p = NULL;
  if (a0 > 0 || a1 > 0)
    p = t2i_pad2d (x, MAX (a0, 0), MAX (a1, 0), MAX (a0, 0), MAX (a1, 0), 0.0);
  else
    p = t2i_tensor_ref (x);
  if (a0 >= 0 && a1 >= 0)
    return g_steal_pointer (&p);
  const gint64 H = p->shape[2], W = p->shape[3];
  const gint64 c0 = a0 < 0 ? -a0 : 0, c1 = a1 < 0 ? -a1 : 0;
  g_autoptr (T2iTensor) h = t2i_slice (p, 2, c0, H - c1);
  return t2i_slice (h, 3, c0, W - c1);
}

/**
 * t2i_modulated_conv2d:
 * @x: [N, Cin, H, W]
 * @w: [Cout, Cin, k, k]
 * @style: [N, Cin]
 * @demodulate: scale each output channel by d[n, o] (see above)
 * @padding: the padding of the k x k convolution (k / 2 keeps the size)
 * @up: 1, or 2 for transposed conv (stride 2) + [1,3,3,1] blur
 *
 * See the top of this file for the exact computation.  Differentiable
 * twice.
 */
T2iTensor *
t2i_modulated_conv2d (T2iTensor * x, T2iTensor * w, T2iTensor * style,
    gboolean demodulate, gint padding, gint up)
{
  g_return_val_if_fail (x != NULL && w != NULL && style != NULL, NULL);
  if (x->ndim != 4 || w->ndim != 4 || style->ndim != 2
      || x->dtype != w->dtype || x->dtype != style->dtype
      || x->device != w->device || x->device != style->device
      || (x->dtype != T2I_F32 && x->dtype != T2I_F64)
      || w->shape[1] != x->shape[1] || w->shape[2] != w->shape[3]
      || style->shape[0] != x->shape[0] || style->shape[1] != x->shape[1]) {
    g_critical ("t2i_modulated_conv2d: need x [N,Cin,H,W], w [Cout,Cin,k,k] "
        "and style [N,Cin] of one float dtype");
    return NULL;
  }
  if ((up != 1 && up != 2) || padding < 0) {
    g_critical ("t2i_modulated_conv2d: up must be 1 or 2 and padding >= 0");
    return NULL;
  }
  const gint64 N = x->shape[0], Cin = x->shape[1], Cout = w->shape[0];
  const gint k = (gint) w->shape[2];

  const gint64 s4[4] = { N, Cin, 1, 1 };
  g_autoptr (T2iTensor) s = t2i_reshape (style, 4, s4);
  g_autoptr (T2iTensor) xs = t2i_mul (x, s);
  g_autoptr (T2iTensor) y = NULL;

  if (up == 1) {
    T2iConvParams p = T2I_CONV_PARAMS (1, padding);
    y = t2i_conv2d (xs, w, NULL, &p);
  } else {
    const gint a0 = padding + 2 - (k - 1), a1 = padding + 1 - (k - 2);
    const gint pt = MAX (MIN (-a0, -a1), 0);
    T2iConvParams pc = T2I_CONV_PARAMS (2, pt);
    g_autoptr (T2iTensor) wt = t2i_transpose (w, 0, 1);
    g_autoptr (T2iTensor) t = t2i_conv_transpose2d (xs, wt, NULL, &pc);
    if (!t)
      return NULL;
    g_autoptr (T2iTensor) tp = pad_or_crop (t, a0 + pt, a1 + pt);
    if (tp->shape[2] < 4 || tp->shape[3] < 4) {
      g_critical ("t2i_modulated_conv2d: padding %d too small for k = %d",
          padding, k);
      return NULL;
    }
    g_autoptr (T2iTensor) fh = blur_filter (x->dtype, Cout);
    g_autoptr (T2iTensor) f = t2i_tensor_to_device (fh, x->device, NULL);
    T2iConvParams pb = T2I_CONV_PARAMS (1, 0);
    pb.groups = (gint) Cout;
    y = t2i_conv2d (tp, f, NULL, &pb);
  }
  if (!y || !demodulate)
    return g_steal_pointer (&y);

  /* d = rsqrt(s^2 [N,Cin] . (sum_{kh,kw} w^2 [Cout,Cin])^T + 1e-8) */
  g_autoptr (T2iTensor) w2 = t2i_square (w);
  g_autoptr (T2iTensor) w2s = t2i_sum_axes (w2, 4u | 8u, FALSE);
  g_autoptr (T2iTensor) st2 = t2i_square (style);
  g_autoptr (T2iTensor) e = t2i_linear (st2, w2s, NULL);
  g_autoptr (T2iTensor) ee = t2i_add_scalar (e, 1e-8);
  g_autoptr (T2iTensor) d = t2i_rsqrt (ee);
  const gint64 d4[4] = { N, Cout, 1, 1 };
  g_autoptr (T2iTensor) d4t = t2i_reshape (d, 4, d4);
  return t2i_mul (y, d4t);
}
