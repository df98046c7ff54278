/* t2itextencoder: encodes captions.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2itextencoder
 * @title: t2itextencoder
 *
 * Encodes text and adds the pooled embedding as @output, f32 [N, E],
 * L2-normalised with @normalize; on request also the token ids
 * (@tokens-output, i32 [N, L]), the per-token features (@token-features,
 * f32 [N, L, W]) and the mask of real tokens (@token-mask, f32 [N, L]).
 * @arch picks the network (t2i/arch.h); a property the architecture does
 * not read is an error:
 *
 * - `clip` (core/models/clip.c, t2i/clip.h): OpenAI CLIP's text
 *   transformer; the pooled embedding is the row at each caption's end
 *   token, projected; the token features are the ln_final outputs.
 *
 * @input is either a string entry (captions, tokenised with the byte-level
 * BPE of t2i/tokenizer.h) or an i32 [N, L] entry of token ids.  Captions
 * need a vocabulary: @vocab names a merges file in CLIP's format (OpenAI's
 * `bpe_simple_vocab_16e6.txt.gz`, or one t2i_tokenizer_save() wrote); with
 * @vocab-merges > 0 and a @vocab that does not exist yet, the element
 * trains a BPE of that many merges on the first record's captions and
 * saves it there (pipelines/clip-pretrain.t2i); without @vocab, the file
 * `<weights>-vocab.txt` beside weights=FILE when it exists, else the 512
 * byte symbols alone (a model trained with another vocabulary is then
 * refused).
 *
 * With weights=FILE the sizes are read from the file (its description, or
 * CLIP's tensor shapes as OpenAI's build_model() does) and the tensors
 * load under their official names after a prefix: the group the file
 * describes, "<group>." when the file has it, else the one prefix under
 * which the file holds a text tower (@weights-prefix names it).  Without
 * weights the model is created fresh with OpenAI's initialisation.  With
 * `group=clip` on both this element and a t2iimageencoder, the two towers
 * share one group (t2iloss kind=clip adds `logit_scale` to it).
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2itensorsrc location=in.safetensors ! t2itextencoder input=caption output=text_emb width=64 layers=1 embed-dim=32 normalize=true ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2itextencoder.h"

#define EXAMPLE "t2itensorsrc location=in.safetensors ! t2itextencoder " \
    "input=caption output=text_emb width=64 layers=1 embed-dim=32 " \
    "normalize=true ! fakesink"

struct _T2iTextEncoder
{
  T2iNetwork parent;
};

G_DEFINE_TYPE (T2iTextEncoder, t2i_text_encoder, T2I_TYPE_NETWORK);
GST_ELEMENT_REGISTER_DEFINE (t2itextencoder, "t2itextencoder",
    GST_RANK_NONE, T2I_TYPE_TEXT_ENCODER);

static void
t2i_text_encoder_class_init (T2iTextEncoderClass * klass)
{
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);

  t2i_network_class_set_role (T2I_NETWORK_CLASS (klass),
      T2I_ROLE_TEXT_ENCODER, "clip");
  gst_element_class_set_static_metadata (ec, "t2i text encoder",
      "Filter/Tensor", "Encodes captions or token ids with CLIP's text "
      "transformer (pretrained or trained from scratch)", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_text_encoder_init (T2iTextEncoder * self)
{
}
