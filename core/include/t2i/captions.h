/* t2i — caption text from files: the captions.jsonl lines of folder
 * datasets, prompt files, and the limits on both.
 *
 * Files are untrusted: every limit below is checked with a one-line
 * #GError (docs/reliability.md), and no input makes a reader crash or
 * exhaust memory.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/** T2I_CAPTION_MAX_BYTES: one caption or prompt, in bytes of UTF-8 (CLIP
 * reads 77 tokens, a few hundred bytes; the tokenizer's cost grows with
 * the square of a word's length) */
#define T2I_CAPTION_MAX_BYTES 4096
/** T2I_CAPTIONS_MAX_LINE: one line of captions.jsonl, in bytes */
#define T2I_CAPTIONS_MAX_LINE (64 * 1024)
/** T2I_CAPTIONS_MAX_DEPTH: JSON arrays and objects nested in one line */
#define T2I_CAPTIONS_MAX_DEPTH 16
/** T2I_CAPTIONS_MAX_FILE: a captions.jsonl file, in bytes */
#define T2I_CAPTIONS_MAX_FILE ((gsize) 2 << 30)
/** T2I_PROMPTS_MAX_FILE: a prompts file (t2itextsrc location=), in bytes */
#define T2I_PROMPTS_MAX_FILE ((gsize) 16 << 20)

#define T2I_CAPTIONS_ERROR (t2i_captions_error_quark ())
GQuark t2i_captions_error_quark (void);

/**
 * T2iCaptionsError:
 * @T2I_CAPTIONS_ERROR_PARSE: a line is not what the format asks for
 * @T2I_CAPTIONS_ERROR_LIMIT: a file, line or caption is past its limit
 * @T2I_CAPTIONS_ERROR_IO: a file cannot be read
 */
typedef enum {
  T2I_CAPTIONS_ERROR_PARSE,
  T2I_CAPTIONS_ERROR_LIMIT,
  T2I_CAPTIONS_ERROR_IO,
} T2iCaptionsError;

/**
 * T2iCaptionsLine:
 * @image: the image path as written: relative, without "..", no
 *   backslash (checked)
 * @split: the "split" member, "train" when absent
 * @captions: the captions, surrounding white space removed, none empty
 * @subsets: (nullable): the strings of the "subsets" member
 *
 * One line of captions.jsonl (docs/data.md):
 * `{"image": "images/1.png", "captions": ["..."], "split": "train",
 * "subsets": ["..."]}` ("caption": "..." for a single caption).
 */
typedef struct {
  gchar *image;
  gchar *split;
  gchar **captions;
  gchar **subsets;
} T2iCaptionsLine;

/**
 * t2i_captions_parse_line:
 * @text: the line (not NUL-terminated), without its newline
 * @len: its length
 * @line: (out caller-allocates): the parsed line; clear it with
 *   t2i_captions_line_clear()
 * @error: a #T2I_CAPTIONS_ERROR; the message names no file (the caller
 *   prefixes "FILE:LINE: ")
 *
 * Returns: %TRUE with @line filled, %FALSE with @line zeroed
 */
gboolean t2i_captions_parse_line (const char *text, gsize len,
    T2iCaptionsLine * line, GError ** error);
void t2i_captions_line_clear (T2iCaptionsLine * line);

/**
 * t2i_captions_read_file:
 * @path: a file
 * @max_bytes: the largest size accepted
 * @contents: (out) (transfer full): its bytes, NUL-terminated (g_free())
 * @length: (out): their number
 * @error: #T2I_CAPTIONS_ERROR_IO, or #T2I_CAPTIONS_ERROR_LIMIT when the
 *   file holds more than @max_bytes (also a device or pipe that never
 *   ends, /dev/zero); the message names no file ("longer than 16 MiB, the
 *   limit"): the caller says which
 *
 * Returns: %TRUE when read
 */
gboolean t2i_captions_read_file (const char *path, gsize max_bytes,
    gchar ** contents, gsize * length, GError ** error);

G_END_DECLS
