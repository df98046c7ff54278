/* t2i — SDN's symmetric generator (Yuan & Peng, "Text-to-image Synthesis
 * via Symmetrical Distillation Networks", ACM MM 2018; docs/sdn.md).
 *
 * The student of SDN: VGG19's convolutional part run backwards, so that
 * every activation has the shape of the VGG19 tap it mirrors and can be
 * distilled from it level by level (Stage I).  With W the block-1 width
 * (VGG19: 64) and R the resolution (a multiple of 32):
 *
 *   text condition t [N, D]
 *   fc8: Linear(D, H) + ReLU, fc7: Linear(H, H) + ReLU,      (g-fc8, g-fc7)
 *   fc6: Linear(H, 8W (R/32)^2) + ReLU, reshaped to           (g-fc6)
 *        [N, 8W, R/32, R/32]                                  = pool5
 *   per VGG block b = 5 .. 1, in reverse:
 *     nearest x2 upsampling                                   = reluB_last
 *     one conv3x3 + ReLU per VGG conv of the block, named after it
 *     (convB_I maps reluB_I's mirror to the level before VGG's convB_I):
 *       block 5: conv5_4 5_3 5_2 -> relu5_3 5_2 5_1, conv5_1 -> pool4
 *       block 4: conv4_4 4_3 4_2 -> relu4_3 4_2 4_1, conv4_1 -> pool3
 *       block 3: conv3_4 3_3 3_2 -> relu3_3 3_2 3_1, conv3_1 -> pool2
 *       block 2: conv2_2 -> relu2_1,                 conv2_1 -> pool1
 *       block 1: conv1_2 -> relu1_1,                 conv1_1 -> image
 *   the image [N, 3n, R, R] (no activation): n candidates of 3 channels,
 *   RGB in [-1, 1], for diverse synthesis (eq. 4-5; n = 1 otherwise).
 *
 * That is the released code's network (PKU-ICST-MIPL/CKD_TMM2019,
 * stage1/model.py: the 4096-4096-25088 FCs, nearest upsampling, 16 convs
 * with ReLU but the last) with W and H as parameters (64 and 4096 there)
 * and no noise input, as there.  Parameters: fc8, fc7, fc6 and conv5_4 ..
 * conv1_1 (.weight, .bias).  Initialisation: He (kaiming normal, fan_in,
 * ReLU gain; the last conv gain 1), zero biases; the code's N(0, 0.02) /
 * N(0, 0.1) suits its 512 channels, not the narrow networks a CPU trains.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/models.h>

G_BEGIN_DECLS

/* the 21 mirrored levels: VGG19's taps relu1_1 .. pool5 (SDN's 22 levels
 * without the input image, which is eq. 2's image loss) */
#define T2I_SDN_N_LEVELS 21

typedef struct {
  gint cond_dim;                /* D */
  gint resolution;              /* R, a multiple of 32 */
  gint width;                   /* W: block-1 channels of the VGG19 it mirrors */
  gint hidden;                  /* H: widths of fc8 and fc7 */
  gint choices;                 /* n: candidates per condition */
} T2iSdnConfig;

/* the paper's sizes: W 64, H 4096, R 224, n 1; cond_dim 1024 (the
 * char-CNN-RNN embeddings the released code reads) */
void t2i_sdn_config_init (T2iSdnConfig * c);

typedef struct _T2iSdn T2iSdn;

/* the levels, %NULL-terminated, in VGG19's order (relu1_1 first) */
const char *const *t2i_sdn_levels (void);

/**
 * t2i_sdn_new:
 * @c: the configuration (checked)
 * @group: the group to add the parameters to
 * @prefix: (nullable): module prefix inside @group
 * @rng: (nullable): draws the initial values; %NULL leaves zeros (weights
 *   are loaded next)
 * @error: return location for a #GError (an invalid configuration)
 *
 * Returns: (transfer full) (nullable): the generator
 */
T2iSdn *t2i_sdn_new (const T2iSdnConfig * c, T2iParamGroup * group,
    const char *prefix, T2iRng * rng, GError ** error);
void t2i_sdn_free (T2iSdn * m);
const T2iSdnConfig *t2i_sdn_get_config (T2iSdn * m);

/**
 * t2i_sdn_forward:
 * @m: the generator
 * @cond: f32 [N, D]
 * @levels: (out caller-allocates) (optional): T2I_SDN_N_LEVELS new
 *   references, in the order of t2i_sdn_levels()
 *
 * Returns: (transfer full): the images [N, 3n, R, R]
 */
T2iTensor *t2i_sdn_forward (T2iSdn * m, T2iTensor * cond,
    T2iTensor ** levels);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iSdn, t2i_sdn_free)

G_END_DECLS
