/* t2i — conditional StyleGAN2 generator and residual discriminator.
 *
 * The architecture of StyleGAN2-ADA (NVlabs/stylegan2-ada-pytorch,
 * training/networks.py: skip generator, resnet discriminator) with the text
 * conditioning of LAFITE (drboog/Lafite): the condition h' reaches every
 * synthesis layer's style.  Parameters are created in a #T2iParamGroup
 * under the official names (`mapping.fc0.weight`,
 * `synthesis.b8.conv0.affine_0.weight`, `b32.conv1.weight`,
 * `b4.fts.weight`, ...), so a group named "G" holds
 * `G.mapping.fc0.weight` and official checkpoints convert by renaming the
 * top-level prefix only.
 *
 * Every layer uses StyleGAN's equalised learning rate: weights are stored
 * as N(0, 1) / lr_mul and multiplied at run time by lr_mul / sqrt(fan_in);
 * biases are multiplied by lr_mul.  Activations are leaky ReLU (slope 0.2)
 * times sqrt(2).
 *
 * Generator (a record of N items):
 *   w = mapping(normalize_2nd_moment(z))        mapping-layers FCs, lr 0.01
 *   w = w_avg + psi (w - w_avg)                 truncation (psi != 1)
 *   x = const (4x4); for each resolution 4, 8, ..., R:
 *     x = conv0(x, up 2)  (not at 4x4);  x = conv1(x)
 *     img = upsample2d(img) + torgb(x)          [1,3,3,1] filter, gain 4
 *   conv: y = lrelu(modconv(x, W, s, demod) + noise * strength + b)
 *   torgb: y = modconv(x, W, s / sqrt(Cin), no demod) + b
 * The style s of each layer depends on w and the condition h:
 *   concat   (official LAFITE at <= 256 px, "structure 2"; the paper's
 *            Sec. 3.2 (ii)-(iii)):
 *            s = affine_0([pre_1(pre_0(h)), w]), affine_0 bias init 1
 *   modulate (official above --change, "structure 1"):
 *            s = bias_layer(h) + affine(w) * scale_layer(h), 3 FCs each
 * pre_0/pre_1 and the first two FCs of scale/bias_layer are lrelu FCs with
 * lr multiplier 0.01 and widths (cond_dim + cond_hidden) / 2, cond_hidden.
 *
 * Discriminator (resnet): fromrgb (1x1) at the input resolution, then per
 * resolution R..8 a block: y = skip(x) (1x1, down 2, no bias, gain
 * sqrt(1/2)); x = conv1(conv0(x)) (3x3; conv1 blurs and strides by 2,
 * gain sqrt(1/2)); x = x + y.  Epilogue at 4x4: minibatch standard
 * deviation (groups of mbstd_group, mbstd_channels channels) -> conv 3x3 ->
 * fc (lrelu) -> out (1 logit), and the semantic head fts (fc -> cond_dim).
 * Channels at resolution r: min(channel_base / r, channel_max).
 *
 * Everything is composed of differentiable public ops, twice
 * differentiable (R1 through the discriminator).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/models.h>

G_BEGIN_DECLS

/**
 * T2iStyleGan2CondMode:
 * @T2I_STYLEGAN2_COND_CONCAT: s = affine_0([pre(h), w])
 * @T2I_STYLEGAN2_COND_MODULATE: s = beta(h) + affine(w) * gamma(h)
 *
 * How the condition enters each layer's style.
 */
typedef enum {
  T2I_STYLEGAN2_COND_CONCAT,
  T2I_STYLEGAN2_COND_MODULATE,
} T2iStyleGan2CondMode;

/**
 * T2iStyleGan2NoiseMode:
 * @T2I_STYLEGAN2_NOISE_RANDOM: fresh N(0, 1) noise per item and layer
 * @T2I_STYLEGAN2_NOISE_CONST: the layer's stored noise_const buffer
 * @T2I_STYLEGAN2_NOISE_NONE: no noise
 *
 * The per-layer noise inputs of the synthesis network.
 */
typedef enum {
  T2I_STYLEGAN2_NOISE_RANDOM,
  T2I_STYLEGAN2_NOISE_CONST,
  T2I_STYLEGAN2_NOISE_NONE,
} T2iStyleGan2NoiseMode;

/**
 * T2iStyleGan2GConfig:
 * @resolution: output side, a power of two >= 4
 * @img_channels: output channels (3)
 * @channel_base: channels at resolution r are min(@channel_base / r,
 *   @channel_max)
 * @channel_max: see @channel_base
 * @z_dim: latent size
 * @w_dim: intermediate latent size (also the width of the mapping FCs)
 * @cond_dim: condition size (h' features)
 * @cond_hidden: output width of the condition FCs (official: 512)
 * @mapping_layers: FCs of the mapping network
 * @mapping_lr_mul: their learning-rate multiplier (0.01)
 * @w_avg_beta: decay of the tracked average of w (0.995)
 * @cond_mode: how the condition enters the styles
 */
typedef struct {
  gint resolution;
  gint img_channels;
  gint channel_base;
  gint channel_max;
  gint z_dim;
  gint w_dim;
  gint cond_dim;
  gint cond_hidden;
  gint mapping_layers;
  double mapping_lr_mul;
  double w_avg_beta;
  T2iStyleGan2CondMode cond_mode;
} T2iStyleGan2GConfig;

/**
 * T2iStyleGan2DConfig:
 * @resolution: input side, a power of two >= 8
 * @img_channels: input channels (3)
 * @channel_base: as for the generator
 * @channel_max: as for the generator
 * @cond_dim: width of the semantic head f_s (0: no head)
 * @mbstd_group: minibatch-std group size (4); the batch is split into
 *   groups of min(@mbstd_group, N) items, N must be a multiple of it
 * @mbstd_channels: minibatch-std channels (1; 0 disables the layer)
 */
typedef struct {
  gint resolution;
  gint img_channels;
  gint channel_base;
  gint channel_max;
  gint cond_dim;
  gint mbstd_group;
  gint mbstd_channels;
} T2iStyleGan2DConfig;

typedef struct _T2iStyleGan2G T2iStyleGan2G;
typedef struct _T2iStyleGan2D T2iStyleGan2D;

/* official defaults (512 channels, 8 mapping layers, w 512, concat) */
void t2i_stylegan2_g_config_init (T2iStyleGan2GConfig * config);
void t2i_stylegan2_d_config_init (T2iStyleGan2DConfig * config);
/* min(@channel_base / @res, @channel_max) */
gint t2i_stylegan2_channels (gint channel_base, gint channel_max, gint res);

/**
 * t2i_stylegan2_g_new:
 * @config: the architecture
 * @group: receives the parameters (trainable) and buffers (`noise_const`,
 *   `mapping.w_avg`: not trainable)
 * @prefix: (nullable): module prefix of the names (t2i/models.h)
 * @rng: draws the initial values
 * @error: return location for a #GError (%T2I_MODEL_ERROR_CONFIG)
 *
 * Returns: (transfer full) (nullable): the generator, or %NULL when
 *   @config is invalid
 */
T2iStyleGan2G *t2i_stylegan2_g_new (const T2iStyleGan2GConfig * config,
    T2iParamGroup * group, const char *prefix, T2iRng * rng, GError ** error);
void t2i_stylegan2_g_free (T2iStyleGan2G * g);
const T2iStyleGan2GConfig *t2i_stylegan2_g_get_config (T2iStyleGan2G * g);

/**
 * t2i_stylegan2_g_mapping:
 * @g: the generator
 * @z: f32 [N, z_dim]
 * @update_w_avg: move the tracked average towards mean(w) with decay
 *   w_avg_beta (no gradient), as in training
 * @psi: truncation; 1 leaves w as it is
 *
 * Returns: (transfer full): w, f32 [N, w_dim]
 */
T2iTensor *t2i_stylegan2_g_mapping (T2iStyleGan2G * g, T2iTensor * z,
    gboolean update_w_avg, double psi);

/**
 * t2i_stylegan2_g_synthesis:
 * @g: the generator
 * @w: f32 [N, w_dim] (every layer gets the same w)
 * @cond: f32 [N, cond_dim]
 * @noise: which noise inputs
 * @rng: (nullable): draws the random noise (layer by layer, in order);
 *   needed for %T2I_STYLEGAN2_NOISE_RANDOM
 *
 * Returns: (transfer full): the image, f32 [N, img_channels, R, R]
 */
T2iTensor *t2i_stylegan2_g_synthesis (T2iStyleGan2G * g, T2iTensor * w,
    T2iTensor * cond, T2iStyleGan2NoiseMode noise, T2iRng * rng);

/**
 * t2i_stylegan2_d_new:
 * @config: the architecture
 * @group: receives the parameters
 * @prefix: (nullable): module prefix of the names (t2i/models.h)
 * @rng: draws the initial values
 * @error: return location for a #GError (%T2I_MODEL_ERROR_CONFIG)
 *
 * Returns: (transfer full) (nullable): the discriminator, or %NULL when
 *   @config is invalid
 */
T2iStyleGan2D *t2i_stylegan2_d_new (const T2iStyleGan2DConfig * config,
    T2iParamGroup * group, const char *prefix, T2iRng * rng, GError ** error);
void t2i_stylegan2_d_free (T2iStyleGan2D * d);
const T2iStyleGan2DConfig *t2i_stylegan2_d_get_config (T2iStyleGan2D * d);

/**
 * t2i_stylegan2_d_forward:
 * @d: the discriminator
 * @img: f32 [N, img_channels, R, R]
 * @logits: (out) (transfer full): f_d(x), f32 [N]
 * @features: (out) (optional) (transfer full): f_s(x), f32 [N, cond_dim]
 *   (%NULL when the head is disabled)
 * @error: return location for a #GError
 *
 * Returns: %FALSE (with @error, %T2I_MODEL_ERROR_ARGUMENT) when @img does
 *   not fit the network or N is not a multiple of the minibatch-std group
 */
gboolean t2i_stylegan2_d_forward (T2iStyleGan2D * d, T2iTensor * img,
    T2iTensor ** logits, T2iTensor ** features, GError ** error);

G_END_DECLS
