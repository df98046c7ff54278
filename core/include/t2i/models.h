/* t2i — shared architectures (core/models/): CLIP, VGG19, Inception-v3.
 *
 * This header holds what the models share; each family has its own header
 * (t2i/clip.h, t2i/vgg.h, t2i/inception.h), which includes this one.
 *
 * Every model keeps its parameters in a #T2iParamGroup under the names the
 * official PyTorch state dicts use (OpenAI CLIP, torchvision, pytorch-fid),
 * so a checkpoint converted with scripts/convert-checkpoint loads by name.
 * Architecture hyper-parameters are inferred from the tensor shapes of a
 * file, as OpenAI's build_model() does.  See docs/models.md.
 *
 * Conventions shared by the model headers:
 *
 * - a model built into an existing group takes a module @prefix that is
 *   joined with a dot, as the blocks of nn.h do ("clip" gives
 *   "clip.visual.conv1.weight"; %NULL or "" gives "visual.conv1.weight");
 * - a file @prefix is prepended as it is (as t2i_param_group_load() does):
 *   "" reads "visual.conv1.weight", "G.clip." reads
 *   "G.clip.visual.conv1.weight";
 * - loading checks every tensor the model needs before copying anything and
 *   reports all missing and mis-shaped names in one #GError; tensors of the
 *   file the model does not use are ignored (a full CLIP file loads into a
 *   text-only model, a torchvision file with AuxLogits into the FID model);
 * - images are NCHW float tensors in [-1, 1] (the record convention) unless
 *   stated otherwise; forward functions borrow their inputs, return new
 *   references and are differentiable with respect to their inputs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/ops.h>
#include <t2i/params.h>
#include <t2i/rng.h>
#include <t2i/safetensors.h>

G_BEGIN_DECLS

#define T2I_MODEL_ERROR (t2i_model_error_quark ())
GQuark t2i_model_error_quark (void);

/**
 * T2iModelError:
 * @T2I_MODEL_ERROR_CONFIG: invalid hyper-parameters, or ones a file's
 *   shapes contradict
 * @T2I_MODEL_ERROR_NOT_FOUND: the file holds no such model (or tower)
 *   under the prefix
 * @T2I_MODEL_ERROR_MISMATCH: tensors the model needs are missing from the
 *   file or have other shapes (the message lists them all)
 * @T2I_MODEL_ERROR_UNSUPPORTED: a known variant t2i does not implement
 *   (CLIP with a ResNet image encoder)
 * @T2I_MODEL_ERROR_ARGUMENT: a bad argument at run time (an unknown
 *   feature name)
 */
typedef enum {
  T2I_MODEL_ERROR_CONFIG,
  T2I_MODEL_ERROR_NOT_FOUND,
  T2I_MODEL_ERROR_MISMATCH,
  T2I_MODEL_ERROR_UNSUPPORTED,
  T2I_MODEL_ERROR_ARGUMENT,
} T2iModelError;

/**
 * t2i_resize_bicubic2d:
 * @x: [N, C, H, W], f32 or f64
 * @out_h: output height
 * @out_w: output width
 *
 * torch.nn.functional.interpolate(x, (out_h, out_w), mode="bicubic",
 * align_corners=False) without antialiasing: Keys' cubic kernel with
 * a = -0.75, source index (dst + 0.5) * in / out - 0.5, border samples
 * replicated.  Computed as two matrix products with the interpolation
 * matrices (A_h x A_w^T), so it is exact and differentiable.  PIL's bicubic
 * (what torchvision does on PIL images, and OpenAI's CLIP preprocessing)
 * differs: a = -0.5 and, when shrinking, a kernel widened by the scale
 * (antialiasing).
 *
 * Returns: [N, C, out_h, out_w]
 */
T2iTensor *t2i_resize_bicubic2d (T2iTensor * x, gint out_h, gint out_w);

G_END_DECLS
