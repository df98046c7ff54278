/* t2i — byte-level BPE tokenizers: OpenAI CLIP's and our own.
 *
 * A #T2iTokenizer is a list of BPE merges in the format of CLIP's
 * `bpe_simple_vocab_16e6.txt.gz` (a header line, then one merge "a b" per
 * line; gzip or plain text).  Loading one builds the vocabulary exactly as
 * CLIP's simple_tokenizer.py does:
 *
 *   ids 0..255      the 256 bytes, as GPT-2's bytes_to_unicode() orders them
 *   ids 256..511    the same 256 symbols ending a word ("</w>" appended)
 *   512..511+M      one per merge, the two parts joined (M merges, at most
 *                   %T2I_TOKENIZER_MAX_MERGES are read)
 *   512+M, 513+M    <|startoftext|> and <|endoftext|>
 *
 * so the official file gives the 49,408-token vocabulary with SOT = 49406
 * and EOT = 49407, and a tokenizer trained with t2i_tokenizer_train() on M
 * merges has 514 + M tokens.
 *
 * Encoding follows the reference step by step: HTML-unescape twice
 * (numeric references as Python's html.unescape, named ones for the HTML 4
 * set and &apos;), strip, collapse white space to one space, lower-case
 * (Python's str.lower(), final sigma included), split into words with the
 * pattern
 *
 *   <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+
 *
 * (case-insensitive), map each word's UTF-8 bytes to byte symbols, and apply
 * the merges lowest rank first, the last symbol carrying "</w>".
 *
 * Not implemented: ftfy.fix_text(), which the reference runs first.  Text
 * that ftfy would change (mojibake, curly quotes, ligatures, full-width
 * forms, non-NFC sequences, control characters) may therefore tokenize
 * differently from the reference; plain text, which is what datasets
 * mostly hold, does not.  Invalid UTF-8 input is first repaired with
 * U+FFFD replacements.
 *
 * Character classes come from GLib's Unicode tables; they agree with the
 * reference (Python 3.11, `regex`) on every code point except, in the
 * final-sigma rule only, a hundred characters new in Unicode 15.
 *
 * A tokenizer is immutable after creation and safe to use from several
 * threads at once (its word cache is locked).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>
#include <t2i/tensor.h>

G_BEGIN_DECLS

/** T2I_TOKENIZER_CONTEXT_LENGTH: CLIP's text context, in tokens */
#define T2I_TOKENIZER_CONTEXT_LENGTH 77
/** T2I_TOKENIZER_MAX_MERGES: merges read from a file at most: 49152-256-2 */
#define T2I_TOKENIZER_MAX_MERGES 48894
/** T2I_TOKENIZER_N_BYTE_TOKENS: ids below this are byte symbols (with and
 * without "</w>") */
#define T2I_TOKENIZER_N_BYTE_TOKENS 512

#define T2I_TOKENIZER_ERROR (t2i_tokenizer_error_quark ())
GQuark t2i_tokenizer_error_quark (void);

/**
 * T2iTokenizerError:
 * @T2I_TOKENIZER_ERROR_PARSE: a merges file is malformed (the message
 *   names the line)
 * @T2I_TOKENIZER_ERROR_INVALID: bad arguments to training (nothing to learn
 *   from, too many merges asked)
 */
typedef enum {
  T2I_TOKENIZER_ERROR_PARSE,
  T2I_TOKENIZER_ERROR_INVALID,
} T2iTokenizerError;

typedef struct _T2iTokenizer T2iTokenizer;

#define T2I_TYPE_TOKENIZER (t2i_tokenizer_get_type ())
GType t2i_tokenizer_get_type (void);

/* ---- creation ---- */
T2iTokenizer *t2i_tokenizer_load (const char *path, GError ** error);
T2iTokenizer *t2i_tokenizer_new_from_bytes (GBytes * merges_file, GError ** error);
T2iTokenizer *t2i_tokenizer_train (const char *const *captions, gsize n_captions,
    gint n_merges, GError ** error);
gboolean t2i_tokenizer_save (T2iTokenizer * tok, const char *path, GError ** error);
T2iTokenizer *t2i_tokenizer_ref (T2iTokenizer * tok);
void t2i_tokenizer_unref (T2iTokenizer * tok);

/* ---- vocabulary ---- */
gint t2i_tokenizer_vocab_size (T2iTokenizer * tok);
gint t2i_tokenizer_n_merges (T2iTokenizer * tok);
gint32 t2i_tokenizer_sot (T2iTokenizer * tok);
gint32 t2i_tokenizer_eot (T2iTokenizer * tok);
const char *t2i_tokenizer_token (T2iTokenizer * tok, gint32 id);
gint32 t2i_tokenizer_token_id (T2iTokenizer * tok, const char *token);

/* ---- text ---- */
char *t2i_tokenizer_clean (const char *text);
GPtrArray *t2i_tokenizer_split (const char *text);
GArray *t2i_tokenizer_encode_ids (T2iTokenizer * tok, const char *text);
gint t2i_tokenizer_encode (T2iTokenizer * tok, const char *text,
    gint context_length, gint32 * out_ids, gboolean * truncated);
T2iTensor *t2i_tokenizer_encode_batch (T2iTokenizer * tok,
    const char *const *texts, gsize n, gint context_length, gint * n_truncated);
char *t2i_tokenizer_decode (T2iTokenizer * tok, const gint32 * ids, gsize n,
    gboolean skip_special);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iTokenizer, t2i_tokenizer_unref)

G_END_DECLS
