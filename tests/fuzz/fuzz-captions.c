/* libFuzzer target: one captions.jsonl line (t2i_captions_parse_line(),
 * the folder dataset's parser).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <t2i/captions.h>

#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 * data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 * data, size_t size)
{
  T2iCaptionsLine line;
  GError *error = NULL;

  if (t2i_captions_parse_line ((const char *) data, size, &line, &error)) {
    /* what the dataset reads of a good line */
    g_assert (line.image && *line.image && line.split && line.captions
        && line.captions[0]);
    for (guint i = 0; line.captions[i]; i++)
      g_assert (*line.captions[i]
          && strlen (line.captions[i]) <= T2I_CAPTION_MAX_BYTES);
    t2i_captions_line_clear (&line);
  } else {
    g_assert (error && error->domain == T2I_CAPTIONS_ERROR
        && !strchr (error->message, '\n'));
    g_error_free (error);
  }
  return 0;
}
