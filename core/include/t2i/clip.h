/* t2i — CLIP: OpenAI's text transformer and ViT image encoder, and a small
 * CNN image encoder for CLIP-style models trained here.
 *
 * The text tower and the ViT are exactly OpenAI's clip/model.py:
 *
 *   text:   x = token_embedding[tokens] + positional_embedding
 *           x = resblocks(x)          pre-LN, causal mask, QuickGELU MLP
 *           x = ln_final(x)           the per-token embeddings [N, L, W]
 *           pooled = x[n, argmax(tokens[n])] @ text_projection      [N, E]
 *   vision: x = conv1(image)          kernel = stride = patch, no bias
 *           x = [class_embedding; patches] + positional_embedding
 *           x = resblocks(ln_pre(x))  no mask
 *           pooled = ln_post(x[:, 0]) @ proj                        [N, E]
 *
 * with OpenAI's state-dict names (token_embedding.weight,
 * transformer.resblocks.0.attn.in_proj_weight, visual.conv1.weight,
 * visual.proj, logit_scale, ...).  t2i_clip_config_from_safetensors() infers
 * every size from the shapes as build_model() does: widths from
 * ln_final.weight and visual.conv1.weight, layer counts from the resblock
 * names, heads = width / 64, patch size from conv1, image size from the
 * positional embedding, context length, vocabulary and embedding size from
 * positional_embedding, token_embedding.weight and text_projection.  A file
 * may hold one tower only.  CLIP with a ResNet image encoder
 * (visual.layer1.*) is reported as unsupported.
 *
 * The CNN image encoder (vision = %T2I_CLIP_VISION_CNN) is ours, for the
 * small CLIP-style encoders the project trains itself
 * (pipelines/clip-pretrain.t2i):
 *
 *   visual.stem:          conv3x3 (3 -> cnn_stem) + GroupNorm + SiLU
 *   visual.stages.S.0:    conv3x3 stride 2 (-> cnn_widths[S]) + GN + SiLU
 *   visual.stages.S.B:    x + SiLU (GN (conv3x3 (x))), B = 1 .. cnn_depth-1
 *   visual.head:          global average pool, Linear (-> embed_dim)
 *
 * (convs without bias, names "<block>.conv.weight", "<block>.norm.weight"
 * and ".bias"; GroupNorm with 8 groups, eps 1e-5).  It works at any input
 * size; image_size only sets the preprocessing resolution.
 *
 * Loading a file reads two optional "__metadata__" entries that override
 * what the shapes cannot tell: "t2i.clip.text_heads",
 * "t2i.clip.vision_heads" (default width / 64) and "t2i.clip.image_size"
 * (CNN only; default 64).  t2i_clip_save() writes them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/models.h>

G_BEGIN_DECLS

/** T2I_CLIP_CNN_MAX_STAGES: stride-2 stages of the CNN encoder at most */
#define T2I_CLIP_CNN_MAX_STAGES 6

typedef enum {
  T2I_CLIP_VISION_NONE = 0,
  T2I_CLIP_VISION_VIT,
  T2I_CLIP_VISION_CNN,
} T2iClipVisionKind;

/**
 * T2iClipTowers:
 * @T2I_CLIP_TOWERS_PRESENT: whatever the file holds (at least one tower)
 * @T2I_CLIP_TEXT: the text tower (an error if the file lacks it)
 * @T2I_CLIP_VISION: the image tower (an error if the file lacks it)
 * @T2I_CLIP_BOTH: both
 */
typedef enum {
  T2I_CLIP_TOWERS_PRESENT = 0,
  T2I_CLIP_TEXT = 1 << 0,
  T2I_CLIP_VISION = 1 << 1,
  T2I_CLIP_BOTH = T2I_CLIP_TEXT | T2I_CLIP_VISION,
} T2iClipTowers;

/**
 * T2iClipConfig:
 * @embed_dim: the joint embedding size E
 * @context_length: text positions (77 for OpenAI's models)
 * @vocab_size: token ids are in [0, vocab_size)
 * @text_width: W; 0 means no text tower
 * @text_heads: attention heads of the text tower (OpenAI: W / 64)
 * @text_layers: residual attention blocks of the text tower
 * @vision: the image tower's kind; %T2I_CLIP_VISION_NONE means none
 * @image_size: input resolution after preprocessing
 * @vision_width: ViT width
 * @vision_heads: ViT heads (OpenAI: width / 64)
 * @vision_layers: ViT blocks
 * @patch_size: ViT patch size (image_size must be a multiple)
 * @cnn_stem: CNN stem channels
 * @cnn_n_stages: CNN stride-2 stages, 1 .. %T2I_CLIP_CNN_MAX_STAGES
 * @cnn_widths: channels of each stage
 * @cnn_depth: conv layers per stage (the first one strided), >= 1
 *
 * All channel counts of the CNN must be multiples of 8 (GroupNorm groups).
 */
typedef struct {
  gint embed_dim;
  gint context_length;
  gint vocab_size;
  gint text_width;
  gint text_heads;
  gint text_layers;
  T2iClipVisionKind vision;
  gint image_size;
  gint vision_width;
  gint vision_heads;
  gint vision_layers;
  gint patch_size;
  gint cnn_stem;
  gint cnn_n_stages;
  gint cnn_widths[T2I_CLIP_CNN_MAX_STAGES];
  gint cnn_depth;
} T2iClipConfig;

typedef struct _T2iClip T2iClip;

/* OpenAI's ViT-B/32: E 512; text 77 x 49408, width 512, 8 heads, 12 layers;
 * vision 224 px, patch 32, width 768, 12 heads, 12 layers */
void t2i_clip_config_init_vit_b32 (T2iClipConfig * cfg);

/**
 * t2i_clip_config_init_small:
 * @cfg: (out caller-allocates): the config
 * @image_size: 32 or 64 (any size works)
 * @vocab_size: the tokenizer's vocabulary (49408 for OpenAI's)
 *
 * The small CLIP-style model the project pretrains on two cores: E 256;
 * text 77 tokens, width 256, 4 heads, 4 layers; CNN image encoder with a
 * 32-channel stem and stages of 64, 128, 256 channels, depth 1 (455 K
 * parameters; depth 2 gives 1.2 M at about five times the cost).
 */
void t2i_clip_config_init_small (T2iClipConfig * cfg, gint image_size,
    gint vocab_size);

gboolean t2i_clip_config_validate (const T2iClipConfig * cfg, GError ** error);

/**
 * t2i_clip_config_from_safetensors:
 * @st: an open file
 * @prefix: (nullable): prepended to the official names
 * @towers: the towers wanted
 * @cfg: (out caller-allocates): the inferred config; a tower that is not
 *   wanted, or absent with %T2I_CLIP_TOWERS_PRESENT, is left out
 * @error: return location for a #GError
 *
 * Infers the architecture from the tensor shapes (see above).  Shapes are
 * checked in full only by t2i_clip_load().
 *
 * Returns: %TRUE on success
 */
gboolean t2i_clip_config_from_safetensors (T2iSafetensors * st,
    const char *prefix, T2iClipTowers towers, T2iClipConfig * cfg,
    GError ** error);

/**
 * t2i_clip_new:
 * @cfg: a valid config
 * @group: (nullable): the group to add the parameters to; %NULL creates a
 *   group named "" (so parameter names are the official names)
 * @prefix: (nullable): module prefix inside @group
 * @rng: (nullable): initialiser randomness; %NULL skips the random draws
 *   when the weights are about to be loaded (t2i_clip_load()): they are then
 *   zero or PyTorch's default from a fixed generator, not a proper init
 *
 * Creates the towers @cfg describes with OpenAI's initialisation for
 * training from scratch (token embedding N(0, 0.02), positional N(0, 0.01),
 * text blocks N(0, W^-1/2) / N(0, W^-1/2 (2L)^-1/2) / N(0, (2W)^-1/2),
 * projections N(0, W^-1/2), ViT embeddings W^-1/2 N(0, 1), PyTorch's
 * defaults elsewhere; logit_scale ln(1/0.07)).  Parameters are trainable.
 *
 * Returns: (transfer full): the model
 */
T2iClip *t2i_clip_new (const T2iClipConfig * cfg, T2iParamGroup * group,
    const char *prefix, T2iRng * rng);

/**
 * t2i_clip_load:
 * @clip: a model
 * @st: an open file
 * @prefix: (nullable): prepended to the official names
 * @error: return location for a #GError
 *
 * Copies the file's tensors into every tower of @clip (f16/bf16 files are
 * converted to f32).  logit_scale is read when the file has it and kept
 * otherwise.  Nothing changes on error.
 *
 * Returns: %TRUE on success
 */
gboolean t2i_clip_load (T2iClip * clip, T2iSafetensors * st,
    const char *prefix, GError ** error);

/* config_from_safetensors + new (group "", names = official names) + load */
T2iClip *t2i_clip_new_from_safetensors (T2iSafetensors * st,
    const char *prefix, T2iClipTowers towers, GError ** error);

/* writes the model's tensors under their official names, with the
 * "t2i.clip.*" metadata entries */
gboolean t2i_clip_save (T2iClip * clip, const char *path, GError ** error);

void t2i_clip_free (T2iClip * clip);

const T2iClipConfig *t2i_clip_get_config (T2iClip * clip);
/* (transfer none) */
T2iParamGroup *t2i_clip_get_params (T2iClip * clip);
/* (transfer none): the 0-d logit_scale parameter (a log) */
T2iTensor *t2i_clip_get_logit_scale (T2iClip * clip);
gboolean t2i_clip_has_text (T2iClip * clip);
gboolean t2i_clip_has_vision (T2iClip * clip);
/* the preprocessing resolution; overrides the config's (a CNN encoder
 * runs at any size) */
void t2i_clip_set_image_size (T2iClip * clip, gint image_size);

/**
 * t2i_clip_encode_text:
 * @clip: a model with a text tower
 * @tokens: i32 [N, L], L <= context_length (positions beyond L are not
 *   needed: the causal mask makes a shorter row equal to its padded form)
 * @per_token: (out) (optional) (transfer full): the per-token embeddings
 *   after ln_final, before the projection, [N, L, W]
 *
 * Without @per_token, the positions after the last EOT of the batch are
 * not computed (they cannot influence an EOT through the causal mask, so
 * the result is the same): short captions padded to 77 cost only their
 * length.
 *
 * Returns: the pooled embedding at each row's largest token id (EOT),
 *   projected: [N, E] (not normalised)
 */
T2iTensor *t2i_clip_encode_text (T2iClip * clip, T2iTensor * tokens,
    T2iTensor ** per_token);

/* images preprocessed ([N, 3, S, S], S = the image size) -> [N, E], not
 * normalised */
T2iTensor *t2i_clip_encode_image (T2iClip * clip, T2iTensor * images);

/**
 * t2i_clip_preprocess_images:
 * @images: [N, 3, H, W] in [-1, 1]
 * @size: the model's resolution
 *
 * OpenAI's preprocessing on tensors: resize the shorter side to @size
 * (torchvision Resize: the longer side becomes int(size * long / short))
 * with t2i_resize_bicubic2d(), centre crop @size x @size (torchvision's
 * offsets, round half to even), map to [0, 1], normalise with CLIP's mean
 * (0.48145466, 0.4578275, 0.40821073) and std (0.26862954, 0.26130258,
 * 0.27577711).  Differentiable.  The reference resizes PIL images with
 * PIL's antialiased bicubic, so its pixels differ slightly.
 *
 * Returns: [N, 3, size, size]
 */
T2iTensor *t2i_clip_preprocess_images (T2iTensor * images, gint size);
/* t2i_clip_preprocess_images() at the model's image size */
T2iTensor *t2i_clip_preprocess (T2iClip * clip, T2iTensor * images);

/* exp(logit_scale) * normalize(image_emb [Ni, E])
 * normalize(text_emb [Nt, E])^T: OpenAI's logits_per_image [Ni, Nt] */
T2iTensor *t2i_clip_logits (T2iClip * clip, T2iTensor * image_emb,
    T2iTensor * text_emb);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iClip, t2i_clip_free)

G_END_DECLS
