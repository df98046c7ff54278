/* t2i — Inception-v3 (torchvision's Inception3, pytorch-fid's FID variant).
 *
 * torchvision's module names: Conv2d_1a_3x3 ... Conv2d_4a_3x3, Mixed_5b ...
 * Mixed_7c, fc; every conv is a BasicConv2d ("<name>.conv.weight", no
 * bias, then "<name>.bn.weight|bias|running_mean|running_var", BatchNorm
 * eps 1e-3, always in eval mode, then ReLU).  The auxiliary classifier is
 * not built (a file's AuxLogits.* tensors are ignored).
 *
 * %T2I_INCEPTION_FID is pytorch-fid's network (the TensorFlow FID graph,
 * weights pt_inception-2015-12-05): 1008 classes, and the pool branches of
 * Mixed_5b/5c/5d (A), Mixed_6b..6e (C) and Mixed_7b (E_1) average with
 * count_include_pad=False while Mixed_7c (E_2) max-pools.
 * %T2I_INCEPTION_TORCHVISION is torchvision's (1000 classes,
 * count_include_pad=True everywhere, average pool in Mixed_7c).
 *
 * Input: images in [-1, 1], which is what both networks expect (pytorch-fid
 * maps [0, 1] to 2x - 1; torchvision's transform_input maps ImageNet-
 * normalised input to the same range).  The forward resizes to 299 x 299
 * with bilinear interpolation (align_corners False, no antialiasing) when
 * asked to and the input has another size; without resizing the input must
 * be at least 75 x 75.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/models.h>

G_BEGIN_DECLS

typedef enum {
  T2I_INCEPTION_FID,
  T2I_INCEPTION_TORCHVISION,
} T2iInceptionVariant;

/**
 * T2iInceptionFeature:
 * @T2I_INCEPTION_BLOCK0: after the first max pool, [N, 64, 73, 73] at 299
 *   (pytorch-fid block 0)
 * @T2I_INCEPTION_BLOCK1: after the second max pool, [N, 192, 35, 35]
 *   (block 1)
 * @T2I_INCEPTION_MIXED_6E: Mixed_6e, [N, 768, 17, 17] (block 2; DAMSM's
 *   region features)
 * @T2I_INCEPTION_POOL: the global average pool of Mixed_7c, [N, 2048]
 *   (block 3, the FID features)
 * @T2I_INCEPTION_LOGITS: fc(pool), [N, classes] (with the fc bias)
 */
typedef enum {
  T2I_INCEPTION_BLOCK0 = 1 << 0,
  T2I_INCEPTION_BLOCK1 = 1 << 1,
  T2I_INCEPTION_MIXED_6E = 1 << 2,
  T2I_INCEPTION_POOL = 1 << 3,
  T2I_INCEPTION_LOGITS = 1 << 4,
} T2iInceptionFeature;

/* the features asked for, new references; the others stay %NULL */
typedef struct {
  T2iTensor *block0;
  T2iTensor *block1;
  T2iTensor *mixed_6e;
  T2iTensor *pool;
  T2iTensor *logits;
} T2iInceptionOutputs;

typedef struct _T2iInception T2iInception;

/**
 * t2i_inception_new:
 * @group: (nullable): the group to add the parameters to; %NULL creates a
 *   group named ""
 * @prefix: (nullable): module prefix inside @group
 * @variant: the network
 * @num_classes: fc outputs; 0 for the variant's (1008 or 1000); -1 for no fc
 * @rng: (nullable): torchvision's initialisation (N(0, 0.1) weights, BN
 *   1 / 0); %NULL skips the draws when weights are loaded next
 *
 * The parameters are frozen (not trainable).
 *
 * Returns: (transfer full): the model
 */
T2iInception *t2i_inception_new (T2iParamGroup * group, const char *prefix,
    T2iInceptionVariant variant, gint num_classes, T2iRng * rng);
gboolean t2i_inception_load (T2iInception * inc, T2iSafetensors * st,
    const char *prefix, GError ** error);
/* new (classes from fc.weight's shape; no fc when the file has none) + load */
T2iInception *t2i_inception_new_from_safetensors (T2iSafetensors * st,
    const char *prefix, T2iInceptionVariant variant, GError ** error);
void t2i_inception_free (T2iInception * inc);
/* (transfer none) */
T2iParamGroup *t2i_inception_get_params (T2iInception * inc);
/* fc outputs, 0 without fc */
gint t2i_inception_get_num_classes (T2iInception * inc);

/**
 * t2i_inception_forward:
 * @inc: the model
 * @x: [N, 3, H, W] in [-1, 1]
 * @resize: resize to 299 x 299 first (bilinear) when the size differs
 * @want: #T2iInceptionFeature flags
 * @out: (out caller-allocates): the outputs (cleared first)
 * @error: return location for a #GError (input too small, logits without
 *   fc)
 *
 * Runs as far as the deepest feature asked for.
 *
 * Returns: %TRUE on success
 */
gboolean t2i_inception_forward (T2iInception * inc, T2iTensor * x,
    gboolean resize, guint want, T2iInceptionOutputs * out, GError ** error);
/* unrefs the outputs and sets them to %NULL */
void t2i_inception_outputs_clear (T2iInceptionOutputs * out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iInception, t2i_inception_free)

G_END_DECLS
