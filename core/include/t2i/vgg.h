/* t2i — VGG19 feature extractor (torchvision's vgg19().features).
 *
 * Sixteen conv3x3 (padding 1) + ReLU layers in five blocks, each block
 * ending in a 2x2 stride-2 pool, with torchvision's state-dict names
 * features.N.weight / .bias, N in 0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23,
 * 25, 28, 30, 32, 34.  The classifier is not built (a file's classifier.*
 * tensors are ignored).
 *
 * Feature taps, in network order:
 *
 *   input                 the normalised input (see #T2iVggInput)
 *   convB_I               conv output before the ReLU (B block, I layer)
 *   reluB_I               after the ReLU
 *   poolB                 after the pool
 *
 * e.g. conv1_1 relu1_1 conv1_2 relu1_2 pool1 conv2_1 ... relu5_4 pool5.
 * SDN's TensorFlow code names its ReLU outputs "convB_I": its 22 levels are
 * the list t2i_vgg19_sdn_taps() returns (input, relu1_1, relu1_2, pool1,
 * ..., relu5_4, pool5).  Pools floor odd sizes (PyTorch); TensorFlow's SAME
 * pooling differs there (at 224 px every pooled size is even).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/models.h>

G_BEGIN_DECLS

typedef enum {
  T2I_VGG_POOL_MAX,             /* torchvision */
  T2I_VGG_POOL_AVG,             /* SDN's teacher, style-transfer code */
} T2iVggPool;

/**
 * T2iVggInput:
 * @T2I_VGG_INPUT_IMAGENET: RGB in [-1, 1] -> [0, 1] -> ImageNet mean
 *   (0.485, 0.456, 0.406) / std (0.229, 0.224, 0.225) (torchvision weights)
 * @T2I_VGG_INPUT_BGR255: RGB in [-1, 1] -> channels reversed to BGR,
 *   scaled to 0..255, no mean subtraction (SDN's TensorFlow code)
 * @T2I_VGG_INPUT_RAW: the input is used as it is
 */
typedef enum {
  T2I_VGG_INPUT_IMAGENET,
  T2I_VGG_INPUT_BGR255,
  T2I_VGG_INPUT_RAW,
} T2iVggInput;

typedef struct _T2iVgg19 T2iVgg19;

/* the taps, %NULL-terminated, in network order (38 names, "input" first) */
const char *const *t2i_vgg19_tap_names (void);
/* SDN's 22 levels, %NULL-terminated */
const char *const *t2i_vgg19_sdn_taps (void);
/* the position of @name in t2i_vgg19_tap_names(), or -1 */
gint t2i_vgg19_tap_index (const char *name);
/* channels of tap @name in a VGG19 of block-1 width @width (64: VGG19's
 * 64, 128, 256, 512, 512), or -1 for an unknown tap */
gint t2i_vgg19_tap_channels (const char *name, gint width);
/* how many times tap @name is downsampled from the input (1, 2, ..., 32),
 * or -1 */
gint t2i_vgg19_tap_stride (const char *name);

/**
 * t2i_vgg19_new:
 * @group: (nullable): the group to add the parameters to; %NULL creates a
 *   group named ""
 * @prefix: (nullable): module prefix inside @group
 * @pool: the pooling
 * @input: the input normalisation
 * @rng: (nullable): torchvision's initialisation (kaiming normal, fan_out,
 *   zero bias); %NULL skips the draws when weights are loaded next
 *
 * The parameters are frozen (not trainable): the network is a teacher or
 * a metric.  Use t2i_param_group_set_param_trainable() to fine-tune.
 *
 * Returns: (transfer full): the model
 */
T2iVgg19 *t2i_vgg19_new (T2iParamGroup * group, const char *prefix,
    T2iVggPool pool, T2iVggInput input, T2iRng * rng);
/* the same with @width channels in block 1 and width * (2, 4, 8, 8) in
 * blocks 2-5 (t2i_vgg19_new(): 64), a VGG19-shaped network small enough to
 * train on a CPU (SDN's teacher trained here, docs/sdn.md) */
T2iVgg19 *t2i_vgg19_new_width (T2iParamGroup * group, const char *prefix,
    T2iVggPool pool, T2iVggInput input, gint width, T2iRng * rng);
gboolean t2i_vgg19_load (T2iVgg19 * vgg, T2iSafetensors * st,
    const char *prefix, GError ** error);
T2iVgg19 *t2i_vgg19_new_from_safetensors (T2iSafetensors * st,
    const char *prefix, T2iVggPool pool, T2iVggInput input, GError ** error);
void t2i_vgg19_free (T2iVgg19 * vgg);
/* (transfer none) */
T2iParamGroup *t2i_vgg19_get_params (T2iVgg19 * vgg);

/**
 * t2i_vgg19_forward:
 * @vgg: the model
 * @x: [N, 3, H, W], H and W >= 32 for pool5
 * @taps: @n tap names
 * @n: how many
 * @out: (out caller-allocates): @n new references, in the order of @taps
 * @error: return location for a #GError (an unknown tap name)
 *
 * Runs the network as far as the deepest tap asked for.
 *
 * Returns: %TRUE on success
 */
gboolean t2i_vgg19_forward (T2iVgg19 * vgg, T2iTensor * x,
    const char *const *taps, gint n, T2iTensor ** out, GError ** error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iVgg19, t2i_vgg19_free)

G_END_DECLS
