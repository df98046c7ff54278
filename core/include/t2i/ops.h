/* t2i — differentiable ops.
 *
 * Every function returns a new reference (caller unrefs) and records a node
 * for autograd when grad mode is on and an input requires grad.  Inputs are
 * borrowed.  Floating ops accept f32 and f64 (f64 is the reference path used
 * by gradient checks); both inputs of a binary op must share a dtype.
 * Errors in arguments (shape mismatch, bad axis) are programming errors:
 * they g_critical() and return NULL.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/tensor.h>

G_BEGIN_DECLS

/* ---- elementwise, NumPy broadcasting (ops/elementwise.c) ---- */
T2iTensor *t2i_add (T2iTensor * a, T2iTensor * b);
T2iTensor *t2i_sub (T2iTensor * a, T2iTensor * b);
T2iTensor *t2i_mul (T2iTensor * a, T2iTensor * b);
T2iTensor *t2i_div (T2iTensor * a, T2iTensor * b);
T2iTensor *t2i_maximum (T2iTensor * a, T2iTensor * b);
T2iTensor *t2i_add_scalar (T2iTensor * a, double s);
T2iTensor *t2i_mul_scalar (T2iTensor * a, double s);
T2iTensor *t2i_pow_scalar (T2iTensor * a, double p);
T2iTensor *t2i_neg (T2iTensor * a);
T2iTensor *t2i_exp (T2iTensor * a);
T2iTensor *t2i_log (T2iTensor * a);
T2iTensor *t2i_sqrt (T2iTensor * a);
T2iTensor *t2i_rsqrt (T2iTensor * a);
T2iTensor *t2i_abs (T2iTensor * a);
T2iTensor *t2i_square (T2iTensor * a);
T2iTensor *t2i_clamp (T2iTensor * a, double lo, double hi);
/* reduce @g (a broadcast result) back to @ndim/@shape by summing: the
 * backward of broadcasting */
T2iTensor *t2i_sum_to_shape (T2iTensor * g, gint ndim, const gint64 * shape);
T2iTensor *t2i_expand (T2iTensor * a, gint ndim, const gint64 * shape);

/* ---- activations (ops/activation.c) ---- */
T2iTensor *t2i_relu (T2iTensor * a);
T2iTensor *t2i_leaky_relu (T2iTensor * a, double slope);
T2iTensor *t2i_gelu (T2iTensor * a);            /* exact, erf form */
T2iTensor *t2i_quick_gelu (T2iTensor * a);      /* x * sigmoid(1.702 x) */
T2iTensor *t2i_tanh (T2iTensor * a);
T2iTensor *t2i_sigmoid (T2iTensor * a);
T2iTensor *t2i_softplus (T2iTensor * a);        /* log(1 + e^x), stable */
T2iTensor *t2i_silu (T2iTensor * a);
T2iTensor *t2i_glu (T2iTensor * a, gint axis);  /* first half * sigmoid(second half) */

/* ---- reductions (ops/reduce.c); axis < 0 counts from the end ---- */
#define T2I_ALL_AXES G_MININT
T2iTensor *t2i_sum (T2iTensor * a, gint axis, gboolean keepdim);
T2iTensor *t2i_mean (T2iTensor * a, gint axis, gboolean keepdim);
T2iTensor *t2i_max (T2iTensor * a, gint axis, gboolean keepdim);  /* grad to first argmax */
T2iTensor *t2i_logsumexp (T2iTensor * a, gint axis, gboolean keepdim);
T2iTensor *t2i_softmax (T2iTensor * a, gint axis);
T2iTensor *t2i_log_softmax (T2iTensor * a, gint axis);
/* sum over several axes at once (mask bit i = axis i), keepdim */
T2iTensor *t2i_sum_axes (T2iTensor * a, guint axes_mask, gboolean keepdim);
T2iTensor *t2i_argmax (T2iTensor * a, gint axis);  /* i32, no grad */

/* ---- shape (ops/shape.c); results are contiguous copies ---- */
T2iTensor *t2i_reshape (T2iTensor * a, gint ndim, const gint64 * shape); /* one dim may be -1 */
T2iTensor *t2i_permute (T2iTensor * a, const gint * perm);
T2iTensor *t2i_transpose (T2iTensor * a, gint d0, gint d1);
T2iTensor *t2i_concat (T2iTensor ** ts, gint n, gint axis);
/* splits @a along @axis into @n pieces of @sizes; fills out[0..n-1] */
void t2i_split (T2iTensor * a, gint axis, gint n, const gint64 * sizes, T2iTensor ** out);
T2iTensor *t2i_slice (T2iTensor * a, gint axis, gint64 start, gint64 end);
/* index_select: @index i32 [K] picks K entries along @axis */
T2iTensor *t2i_index_select (T2iTensor * a, gint axis, T2iTensor * index);
/* rows of @weight [V,D] for ids i32 [...], result [..., D] */
T2iTensor *t2i_embedding (T2iTensor * weight, T2iTensor * ids);
/* a [N, ...] picks a[n, idx[n], ...] along axis 1: result [N, ...rest] */
T2iTensor *t2i_gather_rows (T2iTensor * a, T2iTensor * idx);
T2iTensor *t2i_pad2d (T2iTensor * a, gint top, gint bottom, gint left, gint right, double value);

/* ---- compute precision (ops/precision.c) ----
 * With T2I_PRECISION_BF16 the matmuls (t2i_matmul, t2i_linear) and
 * convolutions (forward and both gradients) of f32 tensors multiply in
 * bfloat16 on the CPU's bf16 dot products: their inputs are rounded to
 * nearest-even bf16, the products accumulate in f32 and the results are
 * f32.  Tensors, and so the parameters the optimizers update, stay f32
 * (master weights); bf16 keeps f32's exponent range, so gradients need no
 * loss scaling.  Every other op, attention's own products included, stays
 * f32.  A shape oneDNN cannot run in bf16 runs in f32.  The setting is per
 * thread, like grad mode; a pipeline's session sets it on its elements'
 * threads (its "precision" property, t2i-launch --precision). */
typedef enum {
  T2I_PRECISION_F32,
  T2I_PRECISION_BF16,
} T2iPrecision;
#define T2I_PRECISION_ERROR (t2i_precision_error_quark ())
GQuark t2i_precision_error_quark (void);
T2iPrecision t2i_get_precision (void);
/* sets the calling thread's precision; returns the previous one */
T2iPrecision t2i_set_precision (T2iPrecision precision);
const char *t2i_precision_name (T2iPrecision precision);     /* "f32", "bf16" */
gboolean t2i_precision_from_name (const char *name, T2iPrecision * out);
/* whether this machine computes in @precision (bf16: AVX512-BF16 or AMX;
 * $T2I_NO_BF16 makes it answer no, for tests) */
gboolean t2i_precision_check (T2iPrecision precision, GError ** error);

/* ---- linear algebra (ops/linear.c) ---- */
/* a [..., M, K] @ b [..., K, N]; batch dims broadcast */
T2iTensor *t2i_matmul (T2iTensor * a, T2iTensor * b);
/* x [..., in] · w[out, in]^T + b[out]; @b nullable */
T2iTensor *t2i_linear (T2iTensor * x, T2iTensor * w, T2iTensor * b);

/* ---- convolution (ops/conv.c) ---- */
typedef struct {
  gint stride[2];
  gint padding[2];
  gint dilation[2];
  gint groups;
  gint output_padding[2];       /* conv-transpose only */
} T2iConvParams;
#define T2I_CONV_PARAMS(s, p) ((T2iConvParams){ {s, s}, {p, p}, {1, 1}, 1, {0, 0} })
/* x [N,Cin,H,W], w [Cout,Cin/g,kh,kw], b [Cout] nullable */
T2iTensor *t2i_conv2d (T2iTensor * x, T2iTensor * w, T2iTensor * b, const T2iConvParams * p);
/* x [N,Cin,H,W], w [Cin,Cout/g,kh,kw] (PyTorch layout), b [Cout] nullable */
T2iTensor *t2i_conv_transpose2d (T2iTensor * x, T2iTensor * w, T2iTensor * b,
    const T2iConvParams * p);
/* the weight gradient of conv2d as an op of its own (differentiable) */
T2iTensor *t2i_conv2d_weight_grad (T2iTensor * x, T2iTensor * grad_y,
    const gint64 * w_shape, const T2iConvParams * p);

/* ---- resampling and pooling (ops/pool.c) ---- */
T2iTensor *t2i_upsample_nearest2d (T2iTensor * x, gint scale);
T2iTensor *t2i_upsample_bilinear2d (T2iTensor * x, gint out_h, gint out_w, gboolean align_corners);
T2iTensor *t2i_avg_pool2d (T2iTensor * x, gint k, gint stride, gint padding, gboolean count_include_pad);
T2iTensor *t2i_max_pool2d (T2iTensor * x, gint k, gint stride, gint padding);
T2iTensor *t2i_adaptive_avg_pool2d (T2iTensor * x, gint out_h, gint out_w);

/* ---- normalisation (ops/norm.c) ---- */
/* x [N,C,...]; weight/bias [C] nullable; running stats [C] nullable, updated
 * in place in training mode (momentum as PyTorch, unbiased running var) */
T2iTensor *t2i_batch_norm (T2iTensor * x, T2iTensor * weight, T2iTensor * bias,
    T2iTensor * running_mean, T2iTensor * running_var, gboolean training,
    double momentum, double eps);
/* normalises over the last @norm_ndim dims; weight/bias nullable */
T2iTensor *t2i_layer_norm (T2iTensor * x, gint norm_ndim, T2iTensor * weight,
    T2iTensor * bias, double eps);
T2iTensor *t2i_group_norm (T2iTensor * x, gint groups, T2iTensor * weight,
    T2iTensor * bias, double eps);
/* adaptive LN piece: x [B,L,D] * (1 + scale[B,1,D]) + shift[B,1,D] */
T2iTensor *t2i_adaln_modulate (T2iTensor * x, T2iTensor * scale, T2iTensor * shift);
/* L2-normalise along @axis: x / max(||x||, eps) */
T2iTensor *t2i_l2_normalize (T2iTensor * x, gint axis, double eps);
/* cos(a_i, b_j): a [N,D], b [M,D] -> [N,M] */
T2iTensor *t2i_cosine_similarity_matrix (T2iTensor * a, T2iTensor * b, double eps);

/* ---- StyleGAN2 modulated convolution (ops/modconv.c) ----
 * x [N,Cin,H,W], w [Cout,Cin,k,k], style [N,Cin]; y = conv(x * s, w) * d with
 * d[n,o] = rsqrt(sum_{i,kh,kw} (w[o,i] s[n,i])^2 + 1e-8) when @demodulate.
 * @up = 2 upsamples by a transposed conv (stride 2) before the 3x3. */
T2iTensor *t2i_modulated_conv2d (T2iTensor * x, T2iTensor * w, T2iTensor * style,
    gboolean demodulate, gint padding, gint up);

/* ---- attention (ops/attention.c) ---- */
/* q [B,H,Lq,Dh], k,v [B,H,Lk,Dh] -> [B,H,Lq,Dh]; softmax(q k^T * scale) v,
 * causal masks j > i; scale <= 0 means 1/sqrt(Dh) */
T2iTensor *t2i_scaled_dot_product_attention (T2iTensor * q, T2iTensor * k,
    T2iTensor * v, gboolean causal, double scale);

/* ---- devices ---- */
/* a copy of @a on @device, recorded: the gradient goes back to @a's
 * device (a new reference to @a when it is already there) */
T2iTensor *t2i_copy_to_device (T2iTensor * a, T2iDevice device);

/* ---- misc ---- */
struct _T2iRng;
T2iTensor *t2i_dropout (T2iTensor * x, double p, gboolean training, struct _T2iRng *rng);
/* in place, no gradient: avg [D] = m + beta (avg - m), m the mean of the
 * rows of x [N, D] (StyleGAN2's tracked w_avg) */
void t2i_update_running_mean (T2iTensor * avg, T2iTensor * x, double beta);
/* LSTM cell (PyTorch gate order i,f,g,o): returns h', sets *c_out */
T2iTensor *t2i_lstm_cell (T2iTensor * x, T2iTensor * h, T2iTensor * c,
    T2iTensor * w_ih, T2iTensor * w_hh, T2iTensor * b_ih, T2iTensor * b_hh,
    T2iTensor ** c_out);

/* ---- loss helpers (ops/loss.c) ---- */
/* mean over rows of -log_softmax(logits)[label]; labels i32 [N] */
T2iTensor *t2i_cross_entropy (T2iTensor * logits, T2iTensor * labels);
T2iTensor *t2i_bce_with_logits (T2iTensor * logits, T2iTensor * targets);  /* mean */
T2iTensor *t2i_l1_loss (T2iTensor * a, T2iTensor * b);    /* mean |a-b| */
T2iTensor *t2i_mse_loss (T2iTensor * a, T2iTensor * b);   /* mean (a-b)^2 */

G_END_DECLS
