/* A model of the gst-launch syntax (the lexer and grammar of GStreamer
 * 1.22's gst/parse), used only to find *where* an error is: GStreamer's
 * parse errors carry no positions.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Bins nested deeper are refused: GStreamer builds and runs nested bins
 * recursively, and so does the model's parser. */
#define T2I_SYNTAX_MAX_DEPTH 256

typedef enum
{
  T2I_TOKEN_END,
  T2I_TOKEN_ASSIGNMENT,         /* name=value */
  T2I_TOKEN_PRESET,             /* @preset=value */
  T2I_TOKEN_PADREF,             /* .pad */
  T2I_TOKEN_REF,                /* name. or name.pad */
  T2I_TOKEN_BINREF,             /* type.( */
  T2I_TOKEN_IDENTIFIER,         /* element factory name */
  T2I_TOKEN_LINK,               /* ! or ! caps ! */
  T2I_TOKEN_LINK_ALL,           /* : or ! caps : */
  T2I_TOKEN_URL,                /* proto://... or /path */
  T2I_TOKEN_CHAR,               /* an operator or a character of its own */
} T2iTokenType;

typedef struct
{
  T2iTokenType type;
  gsize start;
  gsize end;
} T2iToken;

GArray *t2i_syntax_lex (const gchar * text);

typedef struct
{
  gchar *key;
  /* the value as GStreamer sees it: outer double quotes removed and
   * backslash escapes resolved */
  gchar *value;
  gsize offset;                 /* of the key */
} T2iSyntaxProperty;

typedef struct
{
  gchar *factory;               /* factory name, or the bin type */
  gsize offset;
  gboolean is_bin;
  GPtrArray *properties;        /* T2iSyntaxProperty */
} T2iSyntaxElement;

typedef struct
{
  gsize offset;                 /* of the '!' */
  gchar *caps;                  /* filter caps, or NULL */
  gsize caps_offset;
  /* index into elements, or -1 for a reference (then *_ref) or URL */
  gint src;
  gint sink;
  gchar *src_ref;
  gchar *sink_ref;
  gsize src_ref_offset;
  gsize sink_ref_offset;
} T2iSyntaxLink;

typedef struct
{
  GPtrArray *elements;          /* T2iSyntaxElement, in creation order */
  GPtrArray *links;             /* T2iSyntaxLink */
  /* the first syntax error, if any */
  gboolean error;
  /* ... and it is bins nested deeper than T2I_SYNTAX_MAX_DEPTH */
  gboolean too_deep;
  gsize error_offset;
  gchar *error_message;
  /* offset of the first token (for errors that belong nowhere) */
  gsize first_offset;
} T2iSyntax;

T2iSyntax *t2i_syntax_parse (const gchar * text);

void t2i_syntax_free (T2iSyntax * syntax);

const gchar *t2i_syntax_element_name (const T2iSyntaxElement * element);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iSyntax, t2i_syntax_free)

G_END_DECLS
