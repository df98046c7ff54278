/* t2i — byte-level BPE tokenizers (OpenAI CLIP's format and training).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/tokenizer.h>

#include <gio/gio.h>
#include <stdlib.h>
#include <string.h>

#include "html-entities.inc"

G_DEFINE_QUARK (t2i-tokenizer-error-quark, t2i_tokenizer_error);

#define SOT_TEXT "<|startoftext|>"
#define EOT_TEXT "<|endoftext|>"
#define END_OF_WORD "</w>"
#define MAX_FILE_BYTES (64 << 20)
#define CACHE_MAX_WORDS 65536

/* ------------------------------------------------------------------------ */
/* Byte <-> symbol tables (GPT-2's bytes_to_unicode)                         */
/* ------------------------------------------------------------------------ */

static guint8 byte_id[256];     /* byte -> token id of its symbol */
static gunichar byte_char[256]; /* byte -> the code point standing for it */
static guint8 ext_byte[68];     /* code point - 256 -> byte, for the 68
                                 * bytes not printable as themselves */

static void
byte_tables_init (void)
{
  static gsize init = 0;

  if (g_once_init_enter (&init)) {
    gboolean printable[256] = { FALSE };
    gint b, n = 0, extra = 0;

    for (b = '!'; b <= '~'; b++)
      printable[b] = TRUE;
    for (b = 0xA1; b <= 0xAC; b++)
      printable[b] = TRUE;
    for (b = 0xAE; b <= 0xFF; b++)
      printable[b] = TRUE;
    /* ids follow the reference's list order: printable bytes ascending,
     * then the others ascending, mapped to U+0100 onwards */
    for (b = 0; b < 256; b++)
      if (printable[b]) {
        byte_id[b] = (guint8) n++;
        byte_char[b] = (gunichar) b;
      }
    for (b = 0; b < 256; b++)
      if (!printable[b]) {
        byte_id[b] = (guint8) n++;
        byte_char[b] = 256 + extra;
        ext_byte[extra++] = (guint8) b;
      }
    g_once_init_leave (&init, 1);
  }
}

/* The code point of a symbol character back to its byte, -1 if none. */
static gint
char_to_byte (gunichar c)
{
  if (c < 256 && byte_char[c] == c)
    return (gint) c;
  if (c >= 256 && c < 256 + G_N_ELEMENTS (ext_byte))
    return ext_byte[c - 256];
  return -1;
}

/* ------------------------------------------------------------------------ */
/* Unicode classes as the reference's regex and Python see them              */
/* ------------------------------------------------------------------------ */

/* \s of the `regex` module: the White_Space property */
static gboolean
is_regex_space (gunichar c)
{
  if (c <= 0x20)
    return c == 0x20 || (c >= 0x09 && c <= 0x0D);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A)
      || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
      || c == 0x3000;
}

/* Python's str.isspace(), which str.strip() uses: \s plus U+001C..U+001F */
static gboolean
is_py_space (gunichar c)
{
  return is_regex_space (c) || (c >= 0x1C && c <= 0x1F);
}

static gboolean
is_letter (gunichar c)
{
  switch (g_unichar_type (c)) {
    case G_UNICODE_UPPERCASE_LETTER:
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER:
      return TRUE;
    default:
      return FALSE;
  }
}

static gboolean
is_number (gunichar c)
{
  switch (g_unichar_type (c)) {
    case G_UNICODE_DECIMAL_NUMBER:
    case G_UNICODE_LETTER_NUMBER:
    case G_UNICODE_OTHER_NUMBER:
      return TRUE;
    default:
      return FALSE;
  }
}

/* Python's Cased property (Lowercase, Uppercase or Lt), close enough: the
 * general categories plus the Other_Lowercase/Other_Uppercase letters in
 * common use. */
static gboolean
is_cased (gunichar c)
{
  switch (g_unichar_type (c)) {
    case G_UNICODE_UPPERCASE_LETTER:
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
      return TRUE;
    default:
      break;
  }
  return c == 0xAA || c == 0xBA || (c >= 0x2B0 && c <= 0x2B8)
      || (c >= 0x2C0 && c <= 0x2C1) || (c >= 0x2E0 && c <= 0x2E4)
      || c == 0x345 || c == 0x37A || (c >= 0x1D2C && c <= 0x1D6A)
      || c == 0x1D78 || (c >= 0x1D9B && c <= 0x1DBF) || c == 0x2071
      || c == 0x207F || (c >= 0x2090 && c <= 0x209C)
      || (c >= 0x2160 && c <= 0x217F) || (c >= 0x24B6 && c <= 0x24E9);
}

/* Python's Case_Ignorable property: these categories plus the word-break
 * MidLetter, MidNumLet and Single_Quote characters */
static gboolean
is_case_ignorable (gunichar c)
{
  static const gunichar word_marks[] = {
    0x27, 0x2E, 0x3A, 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024,
    0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A,
  };
  gsize i;

  switch (g_unichar_type (c)) {
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_FORMAT:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_MODIFIER_SYMBOL:
      return TRUE;
    default:
      break;
  }
  for (i = 0; i < G_N_ELEMENTS (word_marks); i++)
    if (c == word_marks[i])
      return TRUE;
  return FALSE;
}

/* ------------------------------------------------------------------------ */
/* Text cleaning                                                             */
/* ------------------------------------------------------------------------ */

static int
entity_cmp (const void *key, const void *elem)
{
  return strcmp ((const char *) key, *(const char *const *) elem);
}

static const char *
entity_lookup (const char *name)
{
  const void *hit = bsearch (name, html_entities, G_N_ELEMENTS (html_entities),
      sizeof (html_entities[0]), entity_cmp);

  return hit ? ((const char *const *) hit)[1] : NULL;
}

static int
u32_cmp (const void *a, const void *b)
{
  guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;

  return x < y ? -1 : x > y;
}

/* Appends numeric reference @num as Python's html.unescape does. */
static void
append_charref (GString * out, guint64 num)
{
  guint32 n32;
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (html_invalid_charrefs); i++)
    if (html_invalid_charrefs[i].from == num) {
      g_string_append_unichar (out, html_invalid_charrefs[i].to);
      return;
    }
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
    g_string_append_unichar (out, 0xFFFD);
    return;
  }
  n32 = (guint32) num;
  if (bsearch (&n32, html_invalid_codepoints,
          G_N_ELEMENTS (html_invalid_codepoints), sizeof (guint32), u32_cmp))
    return;
  g_string_append_unichar (out, (gunichar) num);
}

/* Tries a reference at s[0] == '&'.  Returns the bytes consumed (0: none,
 * the '&' stays literal). */
static gsize
unescape_one (const char *s, GString * out)
{
  const char *p = s + 1;

  if (*p == '#') {
    gboolean hex = (p[1] == 'x' || p[1] == 'X');
    const char *d = p + (hex ? 2 : 1), *q = d;
    guint64 num = 0;

    while (hex ? g_ascii_isxdigit (*q) : g_ascii_isdigit (*q)) {
      if (num <= 0x10FFFF)      /* saturate: any larger is out of range */
        num = num * (hex ? 16 : 10) + (hex ? (guint64) g_ascii_xdigit_value (*q)
            : (guint64) (*q - '0'));
      q++;
    }
    if (q == d)
      return 0;
    if (*q == ';')
      q++;
    append_charref (out, num);
    return (gsize) (q - s);
  } else {
    /* [^\t\n\f <&#;]{1,32};? counted in characters */
    const char *q = p;
    gint n = 0;
    gsize len;
    char *name;
    const char *v;

    while (*q && n < 32 && !strchr ("\t\n\f <&#;", *q)) {
      q = g_utf8_next_char (q);
      n++;
    }
    if (n == 0)
      return 0;
    if (*q == ';')
      q++;
    len = (gsize) (q - p);
    name = g_strndup (p, len);
    v = entity_lookup (name);
    if (v) {
      g_string_append (out, v);
    } else {
      /* the longest prefix (2 characters or more) that is an entity */
      gsize k;

      for (k = len - 1; k >= 2 && !v; k--) {
        name[k] = '\0';
        if ((v = entity_lookup (name))) {
          g_string_append (out, v);
          g_string_append_len (out, p + k, (gssize) (len - k));
        }
      }
      if (!v) {
        g_string_append_c (out, '&');
        g_string_append_len (out, p, (gssize) len);
      }
    }
    g_free (name);
    return (gsize) (q - s);
  }
}

static char *
html_unescape (const char *s)
{
  GString *out;

  if (!strchr (s, '&'))
    return g_strdup (s);
  out = g_string_sized_new (strlen (s));
  while (*s) {
    gsize used = 0;

    if (*s == '&')
      used = unescape_one (s, out);
    if (used == 0) {
      g_string_append_c (out, *s);
      used = 1;
    }
    s += used;
  }
  return g_string_free (out, FALSE);
}

/* str.strip(): drops leading and trailing isspace() characters */
static char *
py_strip (const char *s)
{
  const char *end = s + strlen (s), *p;

  while (*s && is_py_space (g_utf8_get_char (s)))
    s = g_utf8_next_char (s);
  while (end > s) {
    p = g_utf8_prev_char (end);
    if (!is_py_space (g_utf8_get_char (p)))
      break;
    end = p;
  }
  return g_strndup (s, (gsize) (end - s));
}

/* re.sub(r'\s+', ' ', s) */
static char *
collapse_space (const char *s)
{
  GString *out = g_string_sized_new (strlen (s));
  gboolean in_space = FALSE;

  for (; *s; s = g_utf8_next_char (s)) {
    gunichar c = g_utf8_get_char (s);

    if (is_regex_space (c)) {
      if (!in_space)
        g_string_append_c (out, ' ');
      in_space = TRUE;
    } else {
      g_string_append_len (out, s, g_utf8_next_char (s) - s);
      in_space = FALSE;
    }
  }
  return g_string_free (out, FALSE);
}

/* Python's str.lower(): full lower-case mapping with the final sigma rule. */
static char *
py_lower (const char *s)
{
  glong n, i, j;
  gunichar *u = g_utf8_to_ucs4_fast (s, -1, &n);
  GString *out = g_string_sized_new (strlen (s));

  for (i = 0; i < n; i++) {
    gunichar c = u[i];

    if (c == 0x130) {
      g_string_append (out, "i\xcc\x87");
      continue;
    }
    if (c == 0x3A3) {
      gboolean final;

      for (j = i - 1; j >= 0 && is_case_ignorable (u[j]); j--);
      final = j >= 0 && is_cased (u[j]);
      if (final) {
        for (j = i + 1; j < n && is_case_ignorable (u[j]); j++);
        final = j == n || !is_cased (u[j]);
      }
      g_string_append_unichar (out, final ? 0x3C2 : 0x3C3);
      continue;
    }
    if (c >= 0x2160 && c <= 0x216F)
      c += 16;
    else if (c >= 0x24B6 && c <= 0x24CF)
      c += 26;
    else
      c = g_unichar_tolower (c);
    g_string_append_unichar (out, c);
  }
  g_free (u);
  return g_string_free (out, FALSE);
}

/**
 * t2i_tokenizer_clean:
 * @text: UTF-8 text (invalid sequences are replaced with U+FFFD)
 *
 * The reference's text normalisation without ftfy:
 * whitespace_clean(basic_clean(text)).lower(), that is HTML-unescape twice,
 * strip, collapse white space runs to one space, strip, lower-case.
 *
 * Returns: (transfer full): the cleaned text
 */
char *
t2i_tokenizer_clean (const char *text)
{
  char *a, *b;

  g_return_val_if_fail (text != NULL, NULL);

  a = g_utf8_make_valid (text, -1);
  b = html_unescape (a);
  g_free (a);
  a = html_unescape (b);
  g_free (b);
  b = py_strip (a);
  g_free (a);
  a = collapse_space (b);
  g_free (b);
  b = py_strip (a);
  g_free (a);
  a = py_lower (b);
  g_free (b);
  return a;
}

/* ------------------------------------------------------------------------ */
/* Pre-tokenisation: the reference's findall pattern, by hand                */
/* ------------------------------------------------------------------------ */

/* Matches ASCII @lit at @s case-insensitively the way the `regex` module
 * does on lower-cased text (simple case folding: 'ſ' matches 's').
 * Returns the bytes matched, 0 if none. */
static gsize
match_literal (const char *s, const char *lit)
{
  const char *p = s;

  for (; *lit; lit++) {
    gunichar c = g_utf8_get_char (p);

    if (c == 0)
      return 0;
    if (g_ascii_tolower (c < 128 ? (char) c : 0) != *lit
        && !(*lit == 's' && c == 0x17F))
      return 0;
    p = g_utf8_next_char (p);
  }
  return (gsize) (p - s);
}

/* U+0345 COMBINING GREEK YPOGEGRAMMENI case-folds to a letter (iota), so
 * under the pattern's IGNORECASE flag it matches none of the three classes
 * and is skipped like white space. */
#define IGNORED_MARK 0x345

/* returns FALSE to stop the split */
typedef gboolean (*PieceFunc) (const char *piece, gsize len, gpointer user);

/* Calls @func for each piece of cleaned @text, in order. */
static void
split_pieces (const char *text, PieceFunc func, gpointer user)
{
  static const char *const literals[] = {
    SOT_TEXT, EOT_TEXT, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
  };
  const char *s = text;

  while (*s) {
    gunichar c = g_utf8_get_char (s);
    const char *e;
    gsize i, m = 0;

    for (i = 0; i < G_N_ELEMENTS (literals) && m == 0; i++)
      m = match_literal (s, literals[i]);
    if (m) {
      if (!func (s, m, user))
        return;
      s += m;
      continue;
    }
    e = g_utf8_next_char (s);
    if (is_letter (c)) {
      while (*e && is_letter (g_utf8_get_char (e)))
        e = g_utf8_next_char (e);
    } else if (is_number (c)) {
      /* one character */
    } else if (is_regex_space (c) || c == IGNORED_MARK) {
      s = e;
      continue;
    } else {
      while (*e) {
        gunichar d = g_utf8_get_char (e);

        if (is_regex_space (d) || is_letter (d) || is_number (d)
            || d == IGNORED_MARK)
          break;
        e = g_utf8_next_char (e);
      }
    }
    if (!func (s, (gsize) (e - s), user))
      return;
    s = e;
  }
}

static gboolean
collect_piece (const char *piece, gsize len, gpointer user)
{
  g_ptr_array_add ((GPtrArray *) user, g_strndup (piece, len));
  return TRUE;
}

/**
 * t2i_tokenizer_split:
 * @text: UTF-8 text
 *
 * Cleans @text (t2i_tokenizer_clean()) and splits it into the words BPE
 * works on, as the reference's regular expression does.
 *
 * Returns: (transfer full) (element-type utf8): the words
 */
GPtrArray *
t2i_tokenizer_split (const char *text)
{
  GPtrArray *words = g_ptr_array_new_with_free_func (g_free);
  char *clean;

  g_return_val_if_fail (text != NULL, words);

  clean = t2i_tokenizer_clean (text);
  split_pieces (clean, collect_piece, words);
  g_free (clean);
  return words;
}

/* ------------------------------------------------------------------------ */
/* The tokenizer                                                             */
/* ------------------------------------------------------------------------ */

typedef struct
{
  guint64 key;                  /* (a << 32) | b, G_MAXUINT64 = empty */
  gint32 rank;
  gint32 result;
} MergeSlot;

struct _T2iTokenizer
{
  gint ref_count;
  gint n_merges;
  gint vocab_size;
  char **vocab;                 /* id -> symbol text, e.g. "ab</w>" */
  GHashTable *encoder;          /* symbol text -> id (last id wins) */
  gint32 *merge_a, *merge_b;    /* the parts of merge i, as ids */
  MergeSlot *slots;
  guint64 slot_mask;
  GByteArray *raw;              /* the bytes each id decodes to */
  guint32 *raw_off;             /* vocab_size + 1 offsets into @raw */
  GMutex lock;
  GHashTable *cache;            /* word bytes -> gint32[1 + n] (n first) */
};

G_DEFINE_BOXED_TYPE (T2iTokenizer, t2i_tokenizer, t2i_tokenizer_ref,
    t2i_tokenizer_unref);

static inline guint64
slot_hash (guint64 key)
{
  key ^= key >> 33;
  key *= G_GUINT64_CONSTANT (0xff51afd7ed558ccd);
  key ^= key >> 33;
  return key;
}

static const MergeSlot *
merge_find (const T2iTokenizer * tok, gint32 a, gint32 b)
{
  guint64 key = ((guint64) (guint32) a << 32) | (guint32) b;
  guint64 i = slot_hash (key) & tok->slot_mask;

  for (;; i = (i + 1) & tok->slot_mask) {
    if (tok->slots[i].key == key)
      return &tok->slots[i];
    if (tok->slots[i].key == G_MAXUINT64)
      return NULL;
  }
}

static void
merge_insert (T2iTokenizer * tok, gint32 a, gint32 b, gint32 rank,
    gint32 result)
{
  guint64 key = ((guint64) (guint32) a << 32) | (guint32) b;
  guint64 i = slot_hash (key) & tok->slot_mask;

  for (;; i = (i + 1) & tok->slot_mask) {
    if (tok->slots[i].key == key || tok->slots[i].key == G_MAXUINT64) {
      /* a repeated pair takes its last rank, as the reference's dict */
      tok->slots[i].key = key;
      tok->slots[i].rank = rank;
      tok->slots[i].result = result;
      return;
    }
  }
}

/* UTF-8 text of byte @b's symbol, with "</w>" when @final */
static void
append_byte_symbol (GString * s, guint8 b, gboolean final)
{
  g_string_append_unichar (s, byte_char[b]);
  if (final)
    g_string_append (s, END_OF_WORD);
}

/* Builds a tokenizer from merge texts (parts[2*i], parts[2*i+1]).  Takes
 * ownership of @parts' strings.  @where names the source for errors. */
static T2iTokenizer *
tokenizer_build (GPtrArray * parts, const gint * lines, const char *where,
    GError ** error)
{
  T2iTokenizer *tok = g_new0 (T2iTokenizer, 1);
  gint n = (gint) parts->len / 2, i, id;
  guint64 cap = 16;

  byte_tables_init ();
  tok->ref_count = 1;
  tok->n_merges = n;
  tok->vocab_size = T2I_TOKENIZER_N_BYTE_TOKENS + n + 2;
  tok->vocab = g_new0 (char *, tok->vocab_size + 1);
  tok->encoder = g_hash_table_new (g_str_hash, g_str_equal);
  g_mutex_init (&tok->lock);
  tok->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  for (i = 0; i < 512; i++) {
    GString *s = g_string_new (NULL);
    gint b;

    for (b = 0; b < 256; b++)
      if (byte_id[b] == i % 256)
        break;
    append_byte_symbol (s, (guint8) b, i >= 256);
    tok->vocab[i] = g_string_free (s, FALSE);
  }
  for (i = 0; i < n; i++)
    tok->vocab[512 + i] = g_strconcat (g_ptr_array_index (parts, 2 * i),
        g_ptr_array_index (parts, 2 * i + 1), NULL);
  tok->vocab[512 + n] = g_strdup (SOT_TEXT);
  tok->vocab[513 + n] = g_strdup (EOT_TEXT);
  for (id = 0; id < tok->vocab_size; id++)
    g_hash_table_insert (tok->encoder, tok->vocab[id], GINT_TO_POINTER (id));

  while (cap < 2 * (guint64) n + 16)
    cap *= 2;
  tok->slots = g_new (MergeSlot, cap);
  tok->slot_mask = cap - 1;
  for (i = 0; i < (gint) cap; i++)
    tok->slots[i].key = G_MAXUINT64;
  tok->merge_a = g_new (gint32, MAX (n, 1));
  tok->merge_b = g_new (gint32, MAX (n, 1));
  for (i = 0; i < n; i++) {
    gpointer va, vb, vr;
    const char *pa = g_ptr_array_index (parts, 2 * i);
    const char *pb = g_ptr_array_index (parts, 2 * i + 1);

    if (!g_hash_table_lookup_extended (tok->encoder, pa, NULL, &va)
        || !g_hash_table_lookup_extended (tok->encoder, pb, NULL, &vb)) {
      g_set_error (error, T2I_TOKENIZER_ERROR, T2I_TOKENIZER_ERROR_PARSE,
          "%s:%d: merge \"%s %s\" uses a symbol that is neither a byte nor "
          "the result of a merge", where, lines ? lines[i] : i + 2, pa, pb);
      g_ptr_array_unref (parts);
      t2i_tokenizer_unref (tok);
      return NULL;
    }
    vr = g_hash_table_lookup (tok->encoder, tok->vocab[512 + i]);
    tok->merge_a[i] = GPOINTER_TO_INT (va);
    tok->merge_b[i] = GPOINTER_TO_INT (vb);
    merge_insert (tok, GPOINTER_TO_INT (va), GPOINTER_TO_INT (vb), i,
        GPOINTER_TO_INT (vr));
  }
  g_ptr_array_unref (parts);

  /* what each id decodes to: its symbol characters mapped back to bytes
   * ("</w>" is plain ASCII and maps to itself) */
  tok->raw = g_byte_array_new ();
  tok->raw_off = g_new (guint32, tok->vocab_size + 1);
  for (id = 0; id < tok->vocab_size; id++) {
    const char *p;

    tok->raw_off[id] = tok->raw->len;
    for (p = tok->vocab[id]; *p; p = g_utf8_next_char (p)) {
      gint b = char_to_byte (g_utf8_get_char (p));
      guint8 byte = (guint8) (b < 0 ? '?' : b);

      g_byte_array_append (tok->raw, &byte, 1);
    }
  }
  tok->raw_off[tok->vocab_size] = tok->raw->len;
  return tok;
}

/**
 * t2i_tokenizer_ref:
 * @tok: a tokenizer
 *
 * Returns: (transfer full): @tok
 */
T2iTokenizer *
t2i_tokenizer_ref (T2iTokenizer * tok)
{
  g_return_val_if_fail (tok != NULL, NULL);
  g_atomic_int_inc (&tok->ref_count);
  return tok;
}

/**
 * t2i_tokenizer_unref:
 * @tok: (transfer full) (nullable): a tokenizer
 *
 * Drops a reference; the last one frees @tok.
 */
void
t2i_tokenizer_unref (T2iTokenizer * tok)
{
  gint i;

  if (!tok || !g_atomic_int_dec_and_test (&tok->ref_count))
    return;
  g_hash_table_unref (tok->encoder);
  g_hash_table_unref (tok->cache);
  g_mutex_clear (&tok->lock);
  for (i = 0; i < tok->vocab_size; i++)
    g_free (tok->vocab[i]);
  g_free (tok->vocab);
  g_free (tok->merge_a);
  g_free (tok->merge_b);
  g_free (tok->slots);
  if (tok->raw)
    g_byte_array_unref (tok->raw);
  g_free (tok->raw_off);
  g_free (tok);
}

static gboolean
symbol_text_valid (const char *s)
{
  gsize len = strlen (s);
  const char *p, *end = s + len;

  if (len >= strlen (END_OF_WORD) && g_str_has_suffix (s, END_OF_WORD))
    end -= strlen (END_OF_WORD);
  if (end == s)
    return FALSE;
  for (p = s; p < end; p = g_utf8_next_char (p))
    if (char_to_byte (g_utf8_get_char (p)) < 0)
      return FALSE;
  return TRUE;
}

/* Splits merges-file text into merge parts (header line skipped). */
static T2iTokenizer *
parse_merges (const char *text, gsize len, const char *where, GError ** error)
{
  GPtrArray *parts = g_ptr_array_new_with_free_func (g_free);
  GArray *lines = g_array_new (FALSE, FALSE, sizeof (gint));
  const char *p = text, *end = text + len;
  gint line = 0;
  T2iTokenizer *tok;

  byte_tables_init ();
  if (!g_utf8_validate_len (text, len, NULL)) {
    g_set_error (error, T2I_TOKENIZER_ERROR, T2I_TOKENIZER_ERROR_PARSE,
        "%s: not UTF-8 text", where);
    goto fail;
  }
  if (len == 0) {
    g_set_error (error, T2I_TOKENIZER_ERROR, T2I_TOKENIZER_ERROR_PARSE,
        "%s: empty file (expected a header line, then merges)", where);
    goto fail;
  }
  while (p < end && (gint) lines->len < T2I_TOKENIZER_MAX_MERGES) {
    const char *nl = memchr (p, '\n', (gsize) (end - p));
    const char *le = nl ? nl : end;
    char *l;
    gchar *fields[3] = { NULL, NULL, NULL };
    gint nf = 0;
    const char *q;

    line++;
    if (line == 1) {            /* header */
      p = nl ? nl + 1 : end;
      continue;
    }
    /* str.split(): fields separated by isspace() runs */
    l = g_strndup (p, (gsize) (le - p));
    q = l;
    while (*q && nf < 3) {
      const char *f;

      while (*q && is_py_space (g_utf8_get_char (q)))
        q = g_utf8_next_char (q);
      if (!*q)
        break;
      f = q;
      while (*q && !is_py_space (g_utf8_get_char (q)))
        q = g_utf8_next_char (q);
      fields[nf++] = g_strndup (f, (gsize) (q - f));
    }
    g_free (l);
    if (nf == 0) {              /* blank line: ignored */
      p = nl ? nl + 1 : end;
      continue;
    }
    if (nf != 2 || !symbol_text_valid (fields[0])
        || !symbol_text_valid (fields[1])) {
      g_set_error (error, T2I_TOKENIZER_ERROR, T2I_TOKENIZER_ERROR_PARSE,
          "%s:%d: expected a merge \"A B\" of two byte-level symbols", where,
          line);
      g_free (fields[0]);
      g_free (fields[1]);
      g_free (fields[2]);
      goto fail;
    }
    g_ptr_array_add (parts, fields[0]);
    g_ptr_array_add (parts, fields[1]);
    g_array_append_val (lines, line);
    p = nl ? nl + 1 : end;
  }
  tok = tokenizer_build (parts, (const gint *) lines->data, where, error);
  g_array_unref (lines);
  return tok;

fail:
  g_ptr_array_unref (parts);
  g_array_unref (lines);
  return NULL;
}

/* Gunzips @data when it starts with the gzip magic; otherwise returns a
 * reference to it. */
static GBytes *
maybe_gunzip (GBytes * data, const char *where, GError ** error)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (data, &len);
  GZlibDecompressor *dec;
  GInputStream *mem, *conv;
  GByteArray *out;
  guint8 buf[65536];
  gssize r;

  if (len < 2 || d[0] != 0x1f || d[1] != 0x8b)
    return g_bytes_ref (data);

  dec = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  mem = g_memory_input_stream_new_from_bytes (data);
  conv = g_converter_input_stream_new (mem, G_CONVERTER (dec));
  out = g_byte_array_new ();
  while ((r = g_input_stream_read (conv, buf, sizeof (buf), NULL, error)) > 0) {
    if (out->len + (gsize) r > MAX_FILE_BYTES) {
      g_set_error (error, T2I_TOKENIZER_ERROR, T2I_TOKENIZER_ERROR_PARSE,
          "%s: more than %d MiB uncompressed", where, MAX_FILE_BYTES >> 20);
      r = -1;
      break;
    }
    g_byte_array_append (out, buf, (guint) r);
  }
  g_object_unref (conv);
  g_object_unref (mem);
  g_object_unref (dec);
  if (r < 0) {
    if (error && *error && (*error)->domain != T2I_TOKENIZER_ERROR)
      g_prefix_error (error, "%s: ", where);
    g_byte_array_unref (out);
    return NULL;
  }
  return g_byte_array_free_to_bytes (out);
}

static T2iTokenizer *
load_bytes (GBytes * file, const char *where, GError ** error)
{
  GBytes *text = maybe_gunzip (file, where, error);
  T2iTokenizer *tok;
  gsize len;
  const char *d;

  if (!text)
    return NULL;
  d = g_bytes_get_data (text, &len);
  tok = parse_merges (d ? d : "", len, where, error);
  g_bytes_unref (text);
  return tok;
}

/**
 * t2i_tokenizer_load:
 * @path: a merges file, gzip-compressed or not (CLIP's
 *   `bpe_simple_vocab_16e6.txt.gz` or one written by t2i_tokenizer_save())
 * @error: return location for a #G_FILE_ERROR or #T2I_TOKENIZER_ERROR
 *
 * Reads the file: the first line is a header and is skipped, then one merge
 * "A B" per line, of which the first %T2I_TOKENIZER_MAX_MERGES are used.
 * Blank lines are ignored.  Every symbol must be a byte symbol or the
 * result of a merge.
 *
 * Returns: (transfer full): a new tokenizer, or %NULL with @error set
 */
T2iTokenizer *
t2i_tokenizer_load (const char *path, GError ** error)
{
  GMappedFile *mf;
  GBytes *bytes;
  T2iTokenizer *tok;

  g_return_val_if_fail (path != NULL, NULL);

  mf = g_mapped_file_new (path, FALSE, error);
  if (!mf) {
    g_prefix_error (error, "tokenizer: ");
    return NULL;
  }
  bytes = g_mapped_file_get_bytes (mf);
  g_mapped_file_unref (mf);
  tok = load_bytes (bytes, path, error);
  g_bytes_unref (bytes);
  return tok;
}

/**
 * t2i_tokenizer_new_from_bytes:
 * @merges_file: the contents of a merges file, gzip-compressed or not
 * @error: return location for a #T2I_TOKENIZER_ERROR
 *
 * Like t2i_tokenizer_load() on data in memory.
 *
 * Returns: (transfer full): a new tokenizer, or %NULL with @error set
 */
T2iTokenizer *
t2i_tokenizer_new_from_bytes (GBytes * merges_file, GError ** error)
{
  g_return_val_if_fail (merges_file != NULL, NULL);
  return load_bytes (merges_file, "merges", error);
}

/**
 * t2i_tokenizer_save:
 * @tok: a tokenizer
 * @path: where to write; gzip-compressed when it ends in ".gz"
 * @error: return location for a #GError
 *
 * Writes @tok's merges in CLIP's format (a "#version: 0.2" header, then
 * "A B" lines, no newline after the last), atomically, so
 * t2i_tokenizer_load() gives back the same tokenizer, and so does the
 * reference's Python loader (with the same ids).
 *
 * Returns: %TRUE on success
 */
gboolean
t2i_tokenizer_save (T2iTokenizer * tok, const char *path, GError ** error)
{
  GString *text;
  gboolean ok;
  gint i;

  g_return_val_if_fail (tok != NULL && path != NULL, FALSE);

  /* no newline after the last merge: the reference's loader splits on
   * '\n' and would read a trailing empty line as one more (empty) merge */
  text = g_string_new ("#version: 0.2");
  for (i = 0; i < tok->n_merges; i++)
    g_string_append_printf (text, "\n%s %s", tok->vocab[tok->merge_a[i]],
        tok->vocab[tok->merge_b[i]]);

  if (g_str_has_suffix (path, ".gz")) {
    GZlibCompressor *comp =
        g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, 9);
    GOutputStream *mem = g_memory_output_stream_new_resizable ();
    GOutputStream *conv = g_converter_output_stream_new (mem,
        G_CONVERTER (comp));
    gsize written;

    ok = g_output_stream_write_all (conv, text->str, text->len, &written,
        NULL, error) && g_output_stream_close (conv, NULL, error);
    if (ok) {
      GBytes *gz =
          g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (mem));
      gsize len;
      const char *d = g_bytes_get_data (gz, &len);

      ok = g_file_set_contents (path, d, (gssize) len, error);
      g_bytes_unref (gz);
    }
    g_object_unref (conv);
    g_object_unref (mem);
    g_object_unref (comp);
  } else {
    ok = g_file_set_contents (path, text->str, (gssize) text->len, error);
  }
  g_string_free (text, TRUE);
  if (!ok)
    g_prefix_error (error, "tokenizer: %s: ", path);
  return ok;
}

/* ------------------------------------------------------------------------ */
/* Vocabulary                                                                */
/* ------------------------------------------------------------------------ */

/**
 * t2i_tokenizer_vocab_size:
 * @tok: a tokenizer
 *
 * Returns: the number of ids: 514 + the number of merges (49408 for CLIP)
 */
gint
t2i_tokenizer_vocab_size (T2iTokenizer * tok)
{
  g_return_val_if_fail (tok != NULL, 0);
  return tok->vocab_size;
}

/**
 * t2i_tokenizer_n_merges:
 * @tok: a tokenizer
 *
 * Returns: the number of merges (48894 for CLIP)
 */
gint
t2i_tokenizer_n_merges (T2iTokenizer * tok)
{
  g_return_val_if_fail (tok != NULL, 0);
  return tok->n_merges;
}

/**
 * t2i_tokenizer_sot:
 * @tok: a tokenizer
 *
 * Returns: the id of <|startoftext|>: 512 + the number of merges
 */
gint32
t2i_tokenizer_sot (T2iTokenizer * tok)
{
  g_return_val_if_fail (tok != NULL, -1);
  return tok->vocab_size - 2;
}

/**
 * t2i_tokenizer_eot:
 * @tok: a tokenizer
 *
 * Returns: the id of <|endoftext|>: 513 + the number of merges
 */
gint32
t2i_tokenizer_eot (T2iTokenizer * tok)
{
  g_return_val_if_fail (tok != NULL, -1);
  return tok->vocab_size - 1;
}

/**
 * t2i_tokenizer_token:
 * @tok: a tokenizer
 * @id: a token id
 *
 * Returns: (nullable): the token's symbol text as the reference's encoder
 *   spells it (bytes as GPT-2 code points, "</w>" ending a word), %NULL
 *   when @id is out of range
 */
const char *
t2i_tokenizer_token (T2iTokenizer * tok, gint32 id)
{
  g_return_val_if_fail (tok != NULL, NULL);
  if (id < 0 || id >= tok->vocab_size)
    return NULL;
  return tok->vocab[id];
}

/**
 * t2i_tokenizer_token_id:
 * @tok: a tokenizer
 * @token: symbol text, as t2i_tokenizer_token() gives
 *
 * Returns: the id the encoder uses for @token, -1 when not in the vocabulary
 */
gint32
t2i_tokenizer_token_id (T2iTokenizer * tok, const char *token)
{
  gpointer v;

  g_return_val_if_fail (tok != NULL && token != NULL, -1);
  if (!g_hash_table_lookup_extended (tok->encoder, token, NULL, &v))
    return -1;
  return GPOINTER_TO_INT (v);
}

/* ------------------------------------------------------------------------ */
/* Encoding                                                                  */
/* ------------------------------------------------------------------------ */

/* BPE on one word's bytes; appends the ids to @out. */
static void
bpe_word (T2iTokenizer * tok, const char *piece, gsize len, GArray * out)
{
  gint32 stack_syms[64], *sym;
  gint32 *cached;
  char *key;
  gsize i, n = len;

  if (len == strlen (SOT_TEXT) && memcmp (piece, SOT_TEXT, len) == 0) {
    gint32 id = t2i_tokenizer_sot (tok);

    g_array_append_val (out, id);
    return;
  }
  if (len == strlen (EOT_TEXT) && memcmp (piece, EOT_TEXT, len) == 0) {
    gint32 id = t2i_tokenizer_eot (tok);

    g_array_append_val (out, id);
    return;
  }

  key = g_strndup (piece, len);
  g_mutex_lock (&tok->lock);
  cached = g_hash_table_lookup (tok->cache, key);
  if (cached)
    g_array_append_vals (out, cached + 1, (guint) cached[0]);
  g_mutex_unlock (&tok->lock);
  if (cached) {
    g_free (key);
    return;
  }

  sym = len <= G_N_ELEMENTS (stack_syms) ? stack_syms : g_new (gint32, len);
  for (i = 0; i < len; i++)
    sym[i] = byte_id[(guint8) piece[i]] + (i + 1 == len ? 256 : 0);

  while (n > 1) {
    gint32 best_rank = G_MAXINT32, a = 0, b = 0, result = 0;
    gsize j, w;

    for (i = 0; i + 1 < n; i++) {
      const MergeSlot *m = merge_find (tok, sym[i], sym[i + 1]);

      if (m && m->rank < best_rank) {
        best_rank = m->rank;
        a = sym[i];
        b = sym[i + 1];
        result = m->result;
      }
    }
    if (best_rank == G_MAXINT32)
      break;
    /* merge every occurrence, left to right, without overlaps */
    for (j = 0, w = 0; j < n; w++) {
      if (j + 1 < n && sym[j] == a && sym[j + 1] == b) {
        sym[w] = result;
        j += 2;
      } else {
        sym[w] = sym[j];
        j++;
      }
    }
    n = w;
  }
  g_array_append_vals (out, sym, (guint) n);

  cached = g_new (gint32, n + 1);
  cached[0] = (gint32) n;
  memcpy (cached + 1, sym, n * sizeof (gint32));
  if (sym != stack_syms)
    g_free (sym);
  g_mutex_lock (&tok->lock);
  if (g_hash_table_size (tok->cache) >= CACHE_MAX_WORDS)
    g_hash_table_remove_all (tok->cache);
  g_hash_table_replace (tok->cache, key, cached);
  g_mutex_unlock (&tok->lock);
}

typedef struct
{
  T2iTokenizer *tok;
  GArray *ids;
  guint limit;                  /* stop once this many ids are known */
} EncodeCtx;

static gboolean
encode_piece (const char *piece, gsize len, gpointer user)
{
  EncodeCtx *ctx = user;

  bpe_word (ctx->tok, piece, len, ctx->ids);
  return ctx->ids->len < ctx->limit;
}

static GArray *
encode_limited (T2iTokenizer * tok, const char *text, guint limit)
{
  EncodeCtx ctx;
  char *clean;

  ctx.tok = tok;
  ctx.ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  ctx.limit = limit;
  clean = t2i_tokenizer_clean (text);
  split_pieces (clean, encode_piece, &ctx);
  g_free (clean);
  return ctx.ids;
}

/**
 * t2i_tokenizer_encode_ids:
 * @tok: a tokenizer
 * @text: UTF-8 text
 *
 * Encodes @text as the reference's SimpleTokenizer.encode() does: no
 * start or end token, no length limit.
 *
 * Returns: (transfer full) (element-type gint32): the ids
 */
GArray *
t2i_tokenizer_encode_ids (T2iTokenizer * tok, const char *text)
{
  g_return_val_if_fail (tok != NULL && text != NULL, NULL);

  return encode_limited (tok, text, G_MAXUINT);
}

/**
 * t2i_tokenizer_encode:
 * @tok: a tokenizer
 * @text: UTF-8 text
 * @context_length: length of @out_ids, at least 2 (CLIP uses
 *   %T2I_TOKENIZER_CONTEXT_LENGTH)
 * @out_ids: (out caller-allocates) (array length=context_length): the ids
 * @truncated: (out) (optional): whether @text did not fit
 *
 * Encodes @text as the reference's clip.tokenize(text, truncate=True):
 * start token, the ids, end token, then zeros.  Text that does not fit is
 * cut so the last id is still the end token.
 *
 * Returns: the number of ids before the padding (start and end included)
 */
gint
t2i_tokenizer_encode (T2iTokenizer * tok, const char *text,
    gint context_length, gint32 * out_ids, gboolean * truncated)
{
  GArray *ids;
  gint n, i;

  g_return_val_if_fail (tok != NULL && text != NULL && out_ids != NULL, 0);
  g_return_val_if_fail (context_length >= 2, 0);

  /* one id past the room tells whether the text was cut */
  ids = encode_limited (tok, text, (guint) context_length - 1);
  n = MIN ((gint) ids->len, context_length - 2);
  out_ids[0] = t2i_tokenizer_sot (tok);
  for (i = 0; i < n; i++)
    out_ids[1 + i] = g_array_index (ids, gint32, i);
  out_ids[1 + n] = t2i_tokenizer_eot (tok);
  for (i = n + 2; i < context_length; i++)
    out_ids[i] = 0;
  if (truncated)
    *truncated = (gint) ids->len > context_length - 2;
  g_array_unref (ids);
  return n + 2;
}

/**
 * t2i_tokenizer_encode_batch:
 * @tok: a tokenizer
 * @texts: (array length=n): UTF-8 texts
 * @n: number of texts, at least 1
 * @context_length: ids per text, at least 2
 * @n_truncated: (out) (optional): how many texts did not fit
 *
 * t2i_tokenizer_encode() for each text, into one tensor: the `tokens`
 * entry of a record.
 *
 * Returns: (transfer full): a new i32 tensor [@n, @context_length]
 */
T2iTensor *
t2i_tokenizer_encode_batch (T2iTokenizer * tok, const char *const *texts,
    gsize n, gint context_length, gint * n_truncated)
{
  gint64 shape[2];
  T2iTensor *t;
  gint32 *ids;
  gsize i;
  gint count = 0;

  g_return_val_if_fail (tok != NULL && texts != NULL && n > 0, NULL);
  g_return_val_if_fail (context_length >= 2, NULL);

  shape[0] = (gint64) n;
  shape[1] = context_length;
  t = t2i_tensor_new (T2I_I32, 2, shape);
  ids = t2i_tensor_i32 (t);
  for (i = 0; i < n; i++) {
    gboolean truncated = FALSE;

    t2i_tokenizer_encode (tok, texts[i] ? texts[i] : "", context_length,
        ids + i * (gsize) context_length, &truncated);
    count += truncated;
  }
  if (n_truncated)
    *n_truncated = count;
  return t;
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                  */
/* ------------------------------------------------------------------------ */

/* bytes.decode('utf-8', errors='replace'): one U+FFFD per maximal invalid
 * subpart */
static void
utf8_decode_replace (const guint8 * s, gsize len, GString * out)
{
  gsize i = 0;

  while (i < len) {
    guint8 b = s[i];
    gint need;
    guint8 lo = 0x80, hi = 0xBF;
    gsize j;

    if (b < 0x80) {
      g_string_append_c (out, (char) b);
      i++;
      continue;
    }
    if (b >= 0xC2 && b <= 0xDF)
      need = 1;
    else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      if (b == 0xE0)
        lo = 0xA0;
      else if (b == 0xED)
        hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      if (b == 0xF0)
        lo = 0x90;
      else if (b == 0xF4)
        hi = 0x8F;
    } else {
      g_string_append (out, "\xef\xbf\xbd");
      i++;
      continue;
    }
    for (j = 1; j <= (gsize) need; j++) {
      guint8 c = i + j < len ? s[i + j] : 0;
      guint8 l = j == 1 ? lo : 0x80, h = j == 1 ? hi : 0xBF;

      if (i + j >= len || c < l || c > h)
        break;
    }
    if (j > (gsize) need) {
      g_string_append_len (out, (const char *) s + i, need + 1);
      i += need + 1;
    } else {
      g_string_append (out, "\xef\xbf\xbd");
      i += j;
    }
  }
}

/**
 * t2i_tokenizer_decode:
 * @tok: a tokenizer
 * @ids: (array length=n): token ids
 * @n: number of ids
 * @skip_special: drop start tokens and stop at the first end token (and so
 *   before any padding)
 *
 * Decodes as the reference's SimpleTokenizer.decode(): the ids' bytes,
 * UTF-8 decoded with U+FFFD for invalid sequences, every "</w>" turned into
 * a space (so decoded text ends with a space).  Ids out of range decode to
 * U+FFFD.
 *
 * Returns: (transfer full): the text
 */
char *
t2i_tokenizer_decode (T2iTokenizer * tok, const gint32 * ids, gsize n,
    gboolean skip_special)
{
  GByteArray *bytes;
  GString *text;
  gsize i;
  char *p, *q;

  g_return_val_if_fail (tok != NULL && (ids != NULL || n == 0), NULL);

  bytes = g_byte_array_new ();
  for (i = 0; i < n; i++) {
    gint32 id = ids[i];

    if (skip_special && id == t2i_tokenizer_eot (tok))
      break;
    if (skip_special && id == t2i_tokenizer_sot (tok))
      continue;
    if (id < 0 || id >= tok->vocab_size)
      g_byte_array_append (bytes, (const guint8 *) "\xef\xbf\xbd", 3);
    else
      g_byte_array_append (bytes, tok->raw->data + tok->raw_off[id],
          tok->raw_off[id + 1] - tok->raw_off[id]);
  }
  text = g_string_sized_new (bytes->len + 1);
  utf8_decode_replace (bytes->data, bytes->len, text);
  g_byte_array_unref (bytes);

  /* .replace('</w>', ' ') */
  for (p = q = text->str; *p;) {
    if (strncmp (p, END_OF_WORD, 4) == 0) {
      *q++ = ' ';
      p += 4;
    } else {
      *q++ = *p++;
    }
  }
  *q = '\0';
  text->len = (gsize) (q - text->str);
  return g_string_free (text, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Training                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct
{
  GArray *syms;                 /* gint32 symbol ids (trainer's own) */
  gint64 freq;
  gint stamp;                   /* last merge that visited this word */
} TrainWord;

typedef struct
{
  gint64 count;
  GArray *words;                /* guint word indices (may be stale) */
} PairStat;

typedef struct
{
  gint64 count;
  gint32 a, b;
} HeapEntry;

typedef struct
{
  GPtrArray *sym_text;          /* id -> symbol text */
  GHashTable *sym_ids;          /* symbol text -> id */
  GHashTable *pairs;            /* guint64 key (boxed) -> PairStat */
  GArray *heap;                 /* HeapEntry, max-heap */
  GArray *words;                /* TrainWord */
  GHashTable *word_index;       /* word bytes -> index into @words */
} Trainer;

static gboolean
heap_less (const HeapEntry * x, const HeapEntry * y)
{
  /* "less" = lower priority: smaller count, then larger (a, b) */
  if (x->count != y->count)
    return x->count < y->count;
  if (x->a != y->a)
    return x->a > y->a;
  return x->b > y->b;
}

static void
heap_push (GArray * heap, gint64 count, gint32 a, gint32 b)
{
  HeapEntry e = { count, a, b };
  HeapEntry *h;
  guint i;

  g_array_append_val (heap, e);
  h = (HeapEntry *) heap->data;
  for (i = heap->len - 1; i > 0;) {
    guint parent = (i - 1) / 2;

    if (!heap_less (&h[parent], &h[i]))
      break;
    e = h[parent];
    h[parent] = h[i];
    h[i] = e;
    i = parent;
  }
}

static HeapEntry
heap_pop (GArray * heap)
{
  HeapEntry *h = (HeapEntry *) heap->data, top = h[0], t;
  guint i = 0, n;

  h[0] = h[heap->len - 1];
  g_array_set_size (heap, heap->len - 1);
  n = heap->len;
  h = (HeapEntry *) heap->data;
  for (;;) {
    guint l = 2 * i + 1, r = l + 1, m = i;

    if (l < n && heap_less (&h[m], &h[l]))
      m = l;
    if (r < n && heap_less (&h[m], &h[r]))
      m = r;
    if (m == i)
      break;
    t = h[m];
    h[m] = h[i];
    h[i] = t;
    i = m;
  }
  return top;
}

static inline guint64
pair_key (gint32 a, gint32 b)
{
  return ((guint64) (guint32) a << 32) | (guint32) b;
}

static void
pair_stat_free (gpointer p)
{
  PairStat *ps = p;

  g_array_unref (ps->words);
  g_free (ps);
}

static PairStat *
pair_get (Trainer * t, gint32 a, gint32 b)
{
  guint64 key = pair_key (a, b);
  PairStat *ps = g_hash_table_lookup (t->pairs, &key);

  if (!ps) {
    guint64 *k = g_new (guint64, 1);

    *k = key;
    ps = g_new0 (PairStat, 1);
    ps->words = g_array_new (FALSE, FALSE, sizeof (guint));
    g_hash_table_insert (t->pairs, k, ps);
  }
  return ps;
}

/* Adds @sign * freq to the counts of every pair of word @w; with @sign > 0
 * and @only_with >= 0, registers @w with the pairs that contain
 * @only_with. */
static void
word_count_pairs (Trainer * t, guint w, gint sign, gint32 only_with,
    GHashTable * touched)
{
  TrainWord *tw = &g_array_index (t->words, TrainWord, w);
  const gint32 *s = (const gint32 *) tw->syms->data;
  guint i;

  for (i = 0; i + 1 < tw->syms->len; i++) {
    PairStat *ps = pair_get (t, s[i], s[i + 1]);

    ps->count += sign * tw->freq;
    if (sign > 0 && (only_with < 0 || s[i] == only_with
            || s[i + 1] == only_with))
      g_array_append_val (ps->words, w);
    if (touched) {
      guint64 *k = g_new (guint64, 1);

      *k = pair_key (s[i], s[i + 1]);
      g_hash_table_add (touched, k);
    }
  }
}

static gint32
trainer_symbol (Trainer * t, const char *text)
{
  gpointer v;

  if (g_hash_table_lookup_extended (t->sym_ids, text, NULL, &v))
    return GPOINTER_TO_INT (v);
  g_ptr_array_add (t->sym_text, g_strdup (text));
  g_hash_table_insert (t->sym_ids, g_ptr_array_index (t->sym_text,
          t->sym_text->len - 1), GINT_TO_POINTER (t->sym_text->len - 1));
  return (gint32) t->sym_text->len - 1;
}

static gboolean
train_piece (const char *piece, gsize len, gpointer user)
{
  Trainer *t = user;
  gpointer v;
  char *key;

  if ((len == strlen (SOT_TEXT) && memcmp (piece, SOT_TEXT, len) == 0)
      || (len == strlen (EOT_TEXT) && memcmp (piece, EOT_TEXT, len) == 0))
    return TRUE;
  key = g_strndup (piece, len);
  if (g_hash_table_lookup_extended (t->word_index, key, NULL, &v)) {
    g_array_index (t->words, TrainWord, GPOINTER_TO_UINT (v)).freq++;
    g_free (key);
  } else {
    TrainWord tw = { NULL, 1, -1 };
    gsize i;

    tw.syms = g_array_sized_new (FALSE, FALSE, sizeof (gint32), (guint) len);
    for (i = 0; i < len; i++) {
      gint32 id = byte_id[(guint8) piece[i]] + (i + 1 == len ? 256 : 0);

      g_array_append_val (tw.syms, id);
    }
    g_hash_table_insert (t->word_index, key, GUINT_TO_POINTER (t->words->len));
    g_array_append_val (t->words, tw);
  }
  return TRUE;
}

/**
 * t2i_tokenizer_train:
 * @captions: (array length=n_captions): UTF-8 texts to learn from
 * @n_captions: number of texts
 * @n_merges: merges to learn, 0..%T2I_TOKENIZER_MAX_MERGES
 * @error: return location for a #T2I_TOKENIZER_ERROR
 *
 * Learns byte-level BPE merges from @captions, cleaned and split into
 * words exactly as encoding does, so the result encodes like any loaded
 * tokenizer and t2i_tokenizer_save() writes it in CLIP's format.  Each step
 * merges the most frequent adjacent pair (ties: the pair of lowest symbol
 * ids, so training is deterministic); training stops early when no pair
 * occurs twice.  The tokenizer has 514 + merges ids, SOT = 512 + merges and
 * EOT = 513 + merges.
 *
 * Returns: (transfer full): a new tokenizer, or %NULL with @error set
 */
T2iTokenizer *
t2i_tokenizer_train (const char *const *captions, gsize n_captions,
    gint n_merges, GError ** error)
{
  Trainer t;
  GPtrArray *parts;
  gsize i;
  guint w;
  gint m;
  GHashTableIter it;
  gpointer k, v;
  T2iTokenizer *tok;

  g_return_val_if_fail (captions != NULL || n_captions == 0, NULL);

  if (n_merges < 0 || n_merges > T2I_TOKENIZER_MAX_MERGES) {
    g_set_error (error, T2I_TOKENIZER_ERROR, T2I_TOKENIZER_ERROR_INVALID,
        "tokenizer: %d merges asked, must be 0..%d", n_merges,
        T2I_TOKENIZER_MAX_MERGES);
    return NULL;
  }

  byte_tables_init ();
  t.sym_text = g_ptr_array_new_with_free_func (g_free);
  t.sym_ids = g_hash_table_new (g_str_hash, g_str_equal);
  t.pairs = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
      pair_stat_free);
  t.heap = g_array_new (FALSE, FALSE, sizeof (HeapEntry));
  t.words = g_array_new (FALSE, FALSE, sizeof (TrainWord));
  t.word_index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  parts = g_ptr_array_new_with_free_func (g_free);

  /* symbols 0..511 are the byte symbols, numbered as token ids */
  for (m = 0; m < 512; m++) {
    GString *s = g_string_new (NULL);
    gint b;

    for (b = 0; b < 256; b++)
      if (byte_id[b] == m % 256)
        break;
    append_byte_symbol (s, (guint8) b, m >= 256);
    trainer_symbol (&t, s->str);
    g_string_free (s, TRUE);
  }

  for (i = 0; i < n_captions; i++) {
    char *clean;

    if (!captions[i])
      continue;
    clean = t2i_tokenizer_clean (captions[i]);
    split_pieces (clean, train_piece, &t);
    g_free (clean);
  }

  for (w = 0; w < t.words->len; w++)
    word_count_pairs (&t, w, +1, -1, NULL);
  g_hash_table_iter_init (&it, t.pairs);
  while (g_hash_table_iter_next (&it, &k, &v))
    heap_push (t.heap, ((PairStat *) v)->count,
        (gint32) (*(guint64 *) k >> 32), (gint32) (*(guint64 *) k));

  for (m = 0; m < n_merges && t.heap->len > 0;) {
    HeapEntry e = heap_pop (t.heap);
    guint64 key = pair_key (e.a, e.b);
    PairStat *ps = g_hash_table_lookup (t.pairs, &key);
    GHashTable *touched;
    GArray *list;
    gint32 c;
    char *joined;
    guint j;

    if (!ps || ps->count != e.count)
      continue;                 /* stale entry */
    if (e.count < 2)
      break;

    joined = g_strconcat (g_ptr_array_index (t.sym_text, e.a),
        g_ptr_array_index (t.sym_text, e.b), NULL);
    c = trainer_symbol (&t, joined);
    g_free (joined);
    g_ptr_array_add (parts, g_strdup (g_ptr_array_index (t.sym_text, e.a)));
    g_ptr_array_add (parts, g_strdup (g_ptr_array_index (t.sym_text, e.b)));

    touched = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
    list = g_array_ref (ps->words);
    for (j = 0; j < list->len; j++) {
      guint wi = g_array_index (list, guint, j);
      TrainWord *tw = &g_array_index (t.words, TrainWord, wi);
      gint32 *s = (gint32 *) tw->syms->data;
      guint a, b, len = tw->syms->len;
      gboolean found = FALSE;

      if (tw->stamp == m)
        continue;
      tw->stamp = m;
      for (a = 0; a + 1 < len && !found; a++)
        found = s[a] == e.a && s[a + 1] == e.b;
      if (!found)
        continue;
      word_count_pairs (&t, wi, -1, -1, touched);
      for (a = 0, b = 0; a < len; b++) {
        if (a + 1 < len && s[a] == e.a && s[a + 1] == e.b) {
          s[b] = c;
          a += 2;
        } else {
          s[b] = s[a];
          a++;
        }
      }
      g_array_set_size (tw->syms, b);
      word_count_pairs (&t, wi, +1, c, touched);
    }
    g_array_unref (list);

    g_hash_table_iter_init (&it, touched);
    while (g_hash_table_iter_next (&it, &k, NULL)) {
      guint64 tk = *(guint64 *) k;
      PairStat *tp = g_hash_table_lookup (t.pairs, &tk);

      if (tp->count > 0)
        heap_push (t.heap, tp->count, (gint32) (tk >> 32), (gint32) tk);
    }
    g_hash_table_unref (touched);
    m++;
  }

  for (w = 0; w < t.words->len; w++)
    g_array_unref (g_array_index (t.words, TrainWord, w).syms);
  g_array_unref (t.words);
  g_hash_table_unref (t.word_index);
  g_hash_table_unref (t.pairs);
  g_array_unref (t.heap);
  g_hash_table_unref (t.sym_ids);
  g_ptr_array_unref (t.sym_text);

  tok = tokenizer_build (parts, NULL, "trained merges", error);
  return tok;
}
