/* t2i — neural-network building blocks.
 *
 * A block is a plain struct of parameter tensors plus its hyper-parameters.
 * *_init() creates the tensors with PyTorch's default initialisation,
 * drawing from @rng, and adds them to @group under "<prefix>.<name>" with
 * the names PyTorch state dicts use (weight, bias, running_mean, ...), so
 * official checkpoints load by name.  Forward functions borrow their input
 * and return a new reference.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/ops.h>
#include <t2i/params.h>
#include <t2i/rng.h>

G_BEGIN_DECLS

typedef struct {
  T2iTensor *weight;            /* [out, in] */
  T2iTensor *bias;              /* [out] or NULL */
} T2iNnLinear;

void t2i_nn_linear_init (T2iNnLinear * m, T2iParamGroup * group,
    const char *prefix, gint64 in, gint64 out, gboolean bias, T2iRng * rng);
T2iTensor *t2i_nn_linear (T2iNnLinear * m, T2iTensor * x);

typedef struct {
  T2iTensor *weight;            /* conv [out, in/g, k, k]; transposed [in, out/g, k, k] */
  T2iTensor *bias;
  T2iConvParams p;
  gboolean transposed;
} T2iNnConv2d;

void t2i_nn_conv2d_init (T2iNnConv2d * m, T2iParamGroup * group,
    const char *prefix, gint64 in, gint64 out, gint k, gint stride,
    gint padding, gboolean bias, T2iRng * rng);
void t2i_nn_conv_transpose2d_init (T2iNnConv2d * m, T2iParamGroup * group,
    const char *prefix, gint64 in, gint64 out, gint k, gint stride,
    gint padding, gboolean bias, T2iRng * rng);
T2iTensor *t2i_nn_conv2d (T2iNnConv2d * m, T2iTensor * x);

typedef struct {
  T2iTensor *weight, *bias;
  T2iTensor *running_mean, *running_var;        /* buffers: not trainable */
  double momentum, eps;
} T2iNnBatchNorm;

void t2i_nn_batch_norm_init (T2iNnBatchNorm * m, T2iParamGroup * group,
    const char *prefix, gint64 channels);
T2iTensor *t2i_nn_batch_norm (T2iNnBatchNorm * m, T2iTensor * x,
    gboolean training);

typedef struct {
  T2iTensor *weight, *bias;
  double eps;
} T2iNnLayerNorm;

void t2i_nn_layer_norm_init (T2iNnLayerNorm * m, T2iParamGroup * group,
    const char *prefix, gint64 dim);
T2iTensor *t2i_nn_layer_norm (T2iNnLayerNorm * m, T2iTensor * x);

typedef struct {
  T2iTensor *weight;            /* [vocab, dim] */
} T2iNnEmbedding;

void t2i_nn_embedding_init (T2iNnEmbedding * m, T2iParamGroup * group,
    const char *prefix, gint64 vocab, gint64 dim, double std, T2iRng * rng);
T2iTensor *t2i_nn_embedding (T2iNnEmbedding * m, T2iTensor * ids);

/* torch.nn.MultiheadAttention (packed in_proj, rows q|k|v), self-attention
 * on batch-first input [B, L, D] */
typedef struct {
  T2iTensor *in_proj_weight;    /* [3D, D] */
  T2iTensor *in_proj_bias;      /* [3D] */
  T2iNnLinear out_proj;
  gint heads;
} T2iNnAttention;

void t2i_nn_attention_init (T2iNnAttention * m, T2iParamGroup * group,
    const char *prefix, gint64 dim, gint heads, T2iRng * rng);
T2iTensor *t2i_nn_attention (T2iNnAttention * m, T2iTensor * x, gboolean causal);

/* CLIP's ResidualAttentionBlock: x += attn(ln_1(x)); x += mlp(ln_2(x)),
 * mlp = c_proj(quick_gelu(c_fc(.))); names ln_1, attn, ln_2, mlp.c_fc,
 * mlp.c_proj */
typedef struct {
  T2iNnLayerNorm ln_1, ln_2;
  T2iNnAttention attn;
  T2iNnLinear c_fc, c_proj;
} T2iNnResidualBlock;

void t2i_nn_residual_block_init (T2iNnResidualBlock * m, T2iParamGroup * group,
    const char *prefix, gint64 dim, gint heads, gint mlp_ratio, T2iRng * rng);
T2iTensor *t2i_nn_residual_block (T2iNnResidualBlock * m, T2iTensor * x,
    gboolean causal);

G_END_DECLS
