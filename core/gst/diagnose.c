/* Locating and wording parse errors for t2i-launch.
 *
 * gst_parse_launch_full() says *what* went wrong (the GError code) but not
 * where.  The pipeline text is read again with the syntax model, every
 * element, property, value and caps filter is checked the way the parser
 * checks it, and the earliest problem of the kind GStreamer reported is
 * the one shown, with a "did you mean" hint.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "diagnose.h"
#include "syntax.h"

#include <string.h>

typedef enum
{
  ISSUE_SYNTAX,
  ISSUE_ELEMENT,
  ISSUE_PROPERTY,
  ISSUE_VALUE,
  ISSUE_RANGE,
  ISSUE_READ_ONLY,
  ISSUE_CAPS,
  ISSUE_REFERENCE,
} IssueKind;

typedef struct
{
  IssueKind kind;
  gsize offset;
  gchar *message;
} Issue;

static void
issue_free (Issue * issue)
{
  g_free (issue->message);
  g_free (issue);
}

static void
add_issue (GPtrArray * issues, IssueKind kind, gsize offset, gchar * message)
{
  Issue *issue = g_new0 (Issue, 1);

  issue->kind = kind;
  issue->offset = offset;
  issue->message = message;
  g_ptr_array_add (issues, issue);
}

/* ------------------------------------------------------------------ */
/* Hints                                                               */

/**
 * t2i_edit_distance:
 *
 * Optimal string alignment distance (insertions, deletions, substitutions
 * and transpositions of neighbours), ignoring ASCII case.
 */
guint
t2i_edit_distance (const gchar * a, const gchar * b)
{
  gsize n = strlen (a), m = strlen (b);
  g_autofree guint *d = g_new (guint, (n + 1) * (m + 1));
  guint result;

#define D(i, j) d[(i) * (m + 1) + (j)]
  for (gsize i = 0; i <= n; i++)
    D (i, 0) = i;
  for (gsize j = 0; j <= m; j++)
    D (0, j) = j;
  for (gsize i = 1; i <= n; i++) {
    for (gsize j = 1; j <= m; j++) {
      guint cost = g_ascii_tolower (a[i - 1]) != g_ascii_tolower (b[j - 1]);
      guint best = MIN (D (i - 1, j) + 1, D (i, j - 1) + 1);

      best = MIN (best, D (i - 1, j - 1) + cost);
      if (i > 1 && j > 1
          && g_ascii_tolower (a[i - 1]) == g_ascii_tolower (b[j - 2])
          && g_ascii_tolower (a[i - 2]) == g_ascii_tolower (b[j - 1]))
        best = MIN (best, D (i - 2, j - 2) + 1);
      D (i, j) = best;
    }
  }
  result = D (n, m);
#undef D
  return result;
}

/**
 * t2i_nearest_name:
 *
 * Returns: (transfer full) (nullable): the candidate closest to @name if it
 *   is close enough to be a likely typo (ties go to the alphabetically
 *   first), else %NULL
 */
gchar *
t2i_nearest_name (const gchar * name, const gchar * const *candidates)
{
  const gchar *best = NULL;
  guint best_distance = G_MAXUINT;
  guint limit = MAX (1, (strlen (name) + 1) / 3);

  for (const gchar * const *c = candidates; *c != NULL; c++) {
    guint d;

    if (strcmp (*c, name) == 0)
      continue;
    d = t2i_edit_distance (name, *c);
    if (d < best_distance || (d == best_distance && strcmp (*c, best) < 0)) {
      best = *c;
      best_distance = d;
    }
  }
  return best != NULL && best_distance <= limit ? g_strdup (best) : NULL;
}

static gchar *
with_hint (gchar * message, const gchar * name, const gchar * const *candidates)
{
  g_autofree gchar *nearest = t2i_nearest_name (name, candidates);
  gchar *result;

  if (nearest == NULL || *nearest == '\0')
    return message;
  result = g_strdup_printf ("%s (did you mean '%s'?)", message, nearest);
  g_free (message);
  return result;
}

static gchar **
factory_names (void)
{
  GList *features = gst_registry_get_feature_list (gst_registry_get (),
      GST_TYPE_ELEMENT_FACTORY);
  GPtrArray *names = g_ptr_array_new ();

  for (GList * l = features; l != NULL; l = l->next)
    g_ptr_array_add (names,
        g_strdup (gst_plugin_feature_get_name (GST_PLUGIN_FEATURE (l->data))));
  g_ptr_array_add (names, NULL);
  gst_plugin_feature_list_free (features);
  return (gchar **) g_ptr_array_free (names, FALSE);
}

static gchar **
property_names (GObjectClass * klass)
{
  guint n;
  g_autofree GParamSpec **specs = g_object_class_list_properties (klass, &n);
  gchar **names = g_new0 (gchar *, n + 1);

  for (guint i = 0; i < n; i++)
    names[i] = g_strdup (specs[i]->name);
  return names;
}

/* What a property takes, for "(expected ...)". */
static gchar *
expected_type (GParamSpec * pspec)
{
  GString *s;
  guint n = 0;

  if (G_IS_PARAM_SPEC_ENUM (pspec)) {
    GEnumClass *e = G_PARAM_SPEC_ENUM (pspec)->enum_class;

    s = g_string_new ("one of: ");
    for (guint i = 0; i < e->n_values; i++, n++)
      g_string_append_printf (s, "%s%s", n ? ", " : "",
          e->values[i].value_nick);
    return g_string_free (s, FALSE);
  }
  if (G_IS_PARAM_SPEC_FLAGS (pspec)) {
    GFlagsClass *f = G_PARAM_SPEC_FLAGS (pspec)->flags_class;

    s = g_string_new ("flags joined by '+' from: ");
    for (guint i = 0; i < f->n_values; i++, n++)
      g_string_append_printf (s, "%s%s", n ? ", " : "",
          f->values[i].value_nick);
    return g_string_free (s, FALSE);
  }
  return g_strdup (g_type_name (pspec->value_type));
}

/* The allowed range of a numeric property, for out-of-range values. */
static gchar *
expected_range (GParamSpec * pspec)
{
  const gchar *type = g_type_name (pspec->value_type);

#define RANGE(CHECK, CAST, FMT, CTYPE) \
  if (CHECK (pspec)) \
    return g_strdup_printf ("%s from %" FMT " to %" FMT, type, \
        (CTYPE) CAST (pspec)->minimum, (CTYPE) CAST (pspec)->maximum);
  RANGE (G_IS_PARAM_SPEC_INT, G_PARAM_SPEC_INT, "d", gint);
  RANGE (G_IS_PARAM_SPEC_UINT, G_PARAM_SPEC_UINT, "u", guint);
  RANGE (G_IS_PARAM_SPEC_LONG, G_PARAM_SPEC_LONG, "ld", glong);
  RANGE (G_IS_PARAM_SPEC_ULONG, G_PARAM_SPEC_ULONG, "lu", gulong);
  RANGE (G_IS_PARAM_SPEC_INT64, G_PARAM_SPEC_INT64, G_GINT64_FORMAT, gint64);
  RANGE (G_IS_PARAM_SPEC_UINT64, G_PARAM_SPEC_UINT64, G_GUINT64_FORMAT,
      guint64);
  RANGE (G_IS_PARAM_SPEC_FLOAT, G_PARAM_SPEC_FLOAT, "g", gdouble);
  RANGE (G_IS_PARAM_SPEC_DOUBLE, G_PARAM_SPEC_DOUBLE, "g", gdouble);
#undef RANGE
  return expected_type (pspec);
}

/* ------------------------------------------------------------------ */
/* Checks                                                              */

static void
check_property (GPtrArray * issues, const T2iSyntaxElement * element,
    const T2iSyntaxProperty * prop, GObjectClass * klass)
{
  GParamSpec *pspec;
  GValue value = G_VALUE_INIT;

  if (g_type_is_a (G_OBJECT_CLASS_TYPE (klass), GST_TYPE_CHILD_PROXY)
      && strstr (prop->key, "::") != NULL)
    return;                     /* set on a child, possibly later */

  pspec = g_object_class_find_property (klass, prop->key);
  if (pspec == NULL) {
    g_auto (GStrv) names = property_names (klass);

    add_issue (issues, ISSUE_PROPERTY, prop->offset,
        with_hint (g_strdup_printf ("element '%s' has no property '%s'",
                element->factory, prop->key), prop->key,
            (const gchar * const *) names));
    return;
  }
  if (!(pspec->flags & G_PARAM_WRITABLE)) {
    add_issue (issues, ISSUE_READ_ONLY, prop->offset,
        g_strdup_printf ("property '%s' of '%s' is read-only", prop->key,
            element->factory));
    return;
  }

  g_value_init (&value, pspec->value_type);
  if (!gst_value_deserialize_with_pspec (&value, prop->value, pspec)) {
    /* element-valued properties also take a bin description */
    if (!g_type_is_a (pspec->value_type, GST_TYPE_ELEMENT)) {
      g_autofree gchar *expected = expected_type (pspec);

      add_issue (issues, ISSUE_VALUE, prop->offset,
          g_strdup_printf ("bad value '%s' for property '%s' of '%s' "
              "(expected %s)", prop->value, prop->key, element->factory,
              expected));
    }
  } else if (g_param_value_validate (pspec, &value)) {
    g_autofree gchar *expected = expected_range (pspec);

    add_issue (issues, ISSUE_RANGE, prop->offset,
        g_strdup_printf ("bad value '%s' for property '%s' of '%s' "
            "(expected %s)", prop->value, prop->key, element->factory,
            expected));
  }
  g_value_unset (&value);
}

static void
check_element (GPtrArray * issues, const T2iSyntaxElement * element,
    gchar *** factories)
{
  GstElementFactory *factory = gst_element_factory_find (element->factory);
  GstPluginFeature *loaded;
  GObjectClass *klass;

  if (factory == NULL) {
    if (*factories == NULL)
      *factories = factory_names ();
    add_issue (issues, ISSUE_ELEMENT, element->offset,
        with_hint (g_strdup_printf (element->is_bin ?
                "unknown bin type '%s'" : "unknown element '%s'",
                element->factory), element->factory,
            (const gchar * const *) *factories));
    return;
  }

  loaded = gst_plugin_feature_load (GST_PLUGIN_FEATURE (factory));
  gst_object_unref (factory);
  if (loaded == NULL)
    return;
  klass = g_type_class_ref (gst_element_factory_get_element_type
      (GST_ELEMENT_FACTORY (loaded)));
  for (guint i = 0; i < element->properties->len; i++) {
    const T2iSyntaxProperty *prop = g_ptr_array_index (element->properties,
        i);
    GParamSpec *pspec = g_object_class_find_property (klass, prop->key);

    check_property (issues, element, prop, klass);
    /* GObject refuses a construct property given twice with a critical
     * (name=a name=b); the others, GStreamer sets in turn */
    if (pspec == NULL
        || !(pspec->flags & (G_PARAM_CONSTRUCT | G_PARAM_CONSTRUCT_ONLY)))
      continue;
    for (guint j = 0; j < i; j++)
      if (g_object_class_find_property (klass, ((T2iSyntaxProperty *)
                  g_ptr_array_index (element->properties, j))->key) == pspec) {
        add_issue (issues, ISSUE_VALUE, prop->offset,
            g_strdup_printf ("property '%s' of '%s' is set twice",
                prop->key, element->factory));
        break;
      }
  }
  g_type_class_unref (klass);
  gst_object_unref (loaded);
}

/* The name GStreamer gives an element created without name=: the type name
 * without "Gst", lower-cased, with a per-type counter. */
static gchar *
default_name (const gchar * factory_name, GHashTable * counts)
{
  GstElementFactory *factory = gst_element_factory_find (factory_name);
  GstPluginFeature *loaded;
  const gchar *type_name;
  gchar *name;
  guint count;

  if (factory == NULL)
    return NULL;
  loaded = gst_plugin_feature_load (GST_PLUGIN_FEATURE (factory));
  gst_object_unref (factory);
  if (loaded == NULL)
    return NULL;
  type_name = g_type_name (gst_element_factory_get_element_type
      (GST_ELEMENT_FACTORY (loaded)));
  count = GPOINTER_TO_UINT (g_hash_table_lookup (counts, type_name));
  g_hash_table_insert (counts, (gpointer) type_name,
      GUINT_TO_POINTER (count + 1));
  if (g_str_has_prefix (type_name, "Gst"))
    type_name += 3;
  if (*type_name != '\0' && g_ascii_isdigit (type_name[strlen (type_name)
              - 1]))
    name = g_strdup_printf ("%s-%u", type_name, count);
  else
    name = g_strdup_printf ("%s%u", type_name, count);
  gst_object_unref (loaded);
  for (gchar * c = name; *c != '\0'; c++)
    *c = g_ascii_tolower (*c);
  return name;
}

/* The names the elements will have, indexed like syntax->elements. */
static gchar **
element_names (const T2iSyntax * syntax)
{
  g_autoptr (GHashTable) counts = g_hash_table_new (g_str_hash, g_str_equal);
  gchar **names = g_new0 (gchar *, syntax->elements->len + 1);

  for (guint i = 0; i < syntax->elements->len; i++) {
    const T2iSyntaxElement *e = g_ptr_array_index (syntax->elements, i);
    const gchar *name = t2i_syntax_element_name (e);

    names[i] = name != NULL ? g_strdup (name) : default_name (e->factory,
        counts);
    if (names[i] == NULL)
      names[i] = g_strdup ("");
  }
  return names;
}

static void
check_reference (GPtrArray * issues, const gchar * ref, gsize offset,
    gchar ** names)
{
  if (ref == NULL || g_strv_contains ((const gchar * const *) names, ref))
    return;
  add_issue (issues, ISSUE_REFERENCE, offset,
      with_hint (g_strdup_printf ("no element named '%s'", ref), ref,
          (const gchar * const *) names));
}

static GPtrArray *
check (const T2iSyntax * syntax)
{
  GPtrArray *issues = g_ptr_array_new_with_free_func ((GDestroyNotify)
      issue_free);
  g_auto (GStrv) factories = NULL;
  g_auto (GStrv) names = element_names (syntax);

  if (syntax->error)
    add_issue (issues, ISSUE_SYNTAX, syntax->error_offset,
        g_strdup (syntax->error_message));

  for (guint i = 0; i < syntax->elements->len; i++)
    check_element (issues, g_ptr_array_index (syntax->elements, i), &factories);

  for (guint i = 0; i < syntax->links->len; i++) {
    const T2iSyntaxLink *link = g_ptr_array_index (syntax->links, i);

    if (link->caps != NULL) {
      GstCaps *caps = gst_caps_from_string (link->caps);

      if (caps == NULL)
        add_issue (issues, ISSUE_CAPS, link->caps_offset,
            g_strdup_printf ("bad caps '%s'", link->caps));
      else
        gst_caps_unref (caps);
    }
    check_reference (issues, link->src_ref, link->src_ref_offset, names);
    check_reference (issues, link->sink_ref, link->sink_ref_offset, names);
  }
  return issues;
}

/* The earliest issue of one of the kinds (-1 ends the list), or NULL. */
static Issue *
earliest (GPtrArray * issues, const gint * kinds)
{
  Issue *best = NULL;

  for (guint i = 0; i < issues->len; i++) {
    Issue *issue = g_ptr_array_index (issues, i);
    gboolean wanted = kinds == NULL;

    for (const gint * k = kinds; k != NULL && *k >= 0; k++)
      wanted |= (gint) issue->kind == *k;
    if (wanted && (best == NULL || issue->offset < best->offset))
      best = issue;
  }
  return best;
}

static T2iDiagnostic *
diagnostic_new (gsize offset, gchar * message)
{
  T2iDiagnostic *d = g_new0 (T2iDiagnostic, 1);

  d->offset = offset;
  d->message = message;
  return d;
}

static T2iDiagnostic *
diagnostic_from_issue (Issue * issue)
{
  T2iDiagnostic *d = diagnostic_new (issue->offset, issue->message);

  issue->message = NULL;
  return d;
}

/* A link error ("could not link a to b..."): the link between them. */
static gboolean
find_link (const T2iSyntax * syntax, const gchar * message, gsize * offset)
{
  g_auto (GStrv) names = element_names (syntax);

  for (guint i = 0; i < syntax->links->len; i++) {
    const T2iSyntaxLink *link = g_ptr_array_index (syntax->links, i);
    const gchar *src = link->src >= 0 ? names[link->src] : link->src_ref;
    const gchar *sink = link->sink >= 0 ? names[link->sink] : link->sink_ref;
    g_autofree gchar *prefix = NULL;

    if (src == NULL || sink == NULL)
      continue;
    prefix = g_strdup_printf ("could not link %s to %s", src, sink);
    if (g_str_has_prefix (message, prefix)) {
      *offset = link->offset;
      return TRUE;
    }
  }
  return FALSE;
}

/* The first whole-word occurrence of @word, or -1. */
static gssize
find_word (const gchar * text, const gchar * word)
{
  gsize n = strlen (word);

  for (const gchar * p = strstr (text, word); p != NULL && n > 0;
      p = strstr (p + 1, word)) {
    gboolean start = p == text || g_ascii_isspace (p[-1]) || p[-1] == '!'
        || p[-1] == '(';
    gboolean end = p[n] == '\0' || g_ascii_isspace (p[n]) || p[n] == '!'
        || p[n] == ')';

    if (start && end)
      return p - text;
  }
  return -1;
}

/**
 * t2i_diagnose_parse_error:
 * @text: the description given to gst_parse_launch_full()
 * @error: its error
 * @context: (nullable): the parse context it was given
 *
 * Returns: (transfer full): where in @text the error is and a clean,
 *   hinted message for it
 */
T2iDiagnostic *
t2i_diagnose_parse_error (const gchar * text, const GError * error,
    GstParseContext * context)
{
  static const gint syntax_kinds[] = { ISSUE_SYNTAX, -1 };
  static const gint element_kinds[] = { ISSUE_ELEMENT, -1 };
  static const gint reference_kinds[] = { ISSUE_REFERENCE, -1 };
  static const gint property_kinds[] = { ISSUE_PROPERTY, -1 };
  static const gint value_kinds[] = { ISSUE_VALUE, ISSUE_READ_ONLY, -1 };
  static const gint caps_kinds[] = { ISSUE_CAPS, -1 };
  g_autoptr (T2iSyntax) syntax = t2i_syntax_parse (text);
  g_autoptr (GPtrArray) issues = check (syntax);
  const gint *preferred[2] = { NULL, NULL };
  Issue *issue = NULL;
  gsize offset;

  if (error->domain == GST_PARSE_ERROR) {
    switch (error->code) {
      case GST_PARSE_ERROR_SYNTAX:
        preferred[0] = syntax_kinds;
        break;
      case GST_PARSE_ERROR_NO_SUCH_ELEMENT:
        preferred[0] = element_kinds;
        preferred[1] = reference_kinds;
        break;
      case GST_PARSE_ERROR_NO_SUCH_PROPERTY:
        preferred[0] = property_kinds;
        break;
      case GST_PARSE_ERROR_COULD_NOT_SET_PROPERTY:
        preferred[0] = value_kinds;
        break;
      case GST_PARSE_ERROR_LINK:
        preferred[0] = caps_kinds;
        break;
      default:
        break;
    }
  }

  for (guint i = 0; i < G_N_ELEMENTS (preferred) && issue == NULL; i++) {
    if (preferred[i] != NULL)
      issue = earliest (issues, preferred[i]);
  }
  if (issue != NULL)
    return diagnostic_from_issue (issue);

  if (g_error_matches (error, GST_PARSE_ERROR, GST_PARSE_ERROR_LINK)
      && find_link (syntax, error->message, &offset))
    return diagnostic_new (offset, g_strdup (error->message));

  if (g_error_matches (error, GST_PARSE_ERROR,
          GST_PARSE_ERROR_NO_SUCH_ELEMENT) && context != NULL) {
    g_auto (GStrv) missing = gst_parse_context_get_missing_elements (context);
    gssize at = missing != NULL && missing[0] != NULL ?
        find_word (text, missing[0]) : -1;

    if (at >= 0)
      return diagnostic_new (at, g_strdup_printf ("unknown element '%s'",
              missing[0]));
  }

  /* GStreamer and the model disagree: any problem found is still real */
  if ((issue = earliest (issues, NULL)) != NULL)
    return diagnostic_from_issue (issue);

  return diagnostic_new (syntax->first_offset, g_strdup (error->message));
}

/**
 * t2i_diagnose_values:
 * @text: a description that gst_parse_launch_full() accepted
 *
 * GStreamer accepts values out of a property's range (GLib only warns and
 * keeps the default) and read-only properties; this finds them.
 *
 * Returns: (transfer full) (nullable): the first such problem, or %NULL
 */
T2iDiagnostic *
t2i_diagnose_values (const gchar * text)
{
  static const gint kinds[] = { ISSUE_RANGE, ISSUE_READ_ONLY, ISSUE_VALUE,
    -1
  };
  g_autoptr (T2iSyntax) syntax = t2i_syntax_parse (text);
  g_autoptr (GPtrArray) issues = check (syntax);
  Issue *issue = earliest (issues, kinds);

  return issue != NULL ? diagnostic_from_issue (issue) : NULL;
}

/* whether GStreamer will make at least one element of the description
 * (a bin, or an element whose factory exists) */
static gboolean
any_element_made (const T2iSyntax * syntax)
{
  for (guint i = 0; i < syntax->elements->len; i++) {
    const T2iSyntaxElement *e = g_ptr_array_index (syntax->elements, i);
    GstElementFactory *factory;

    if (e->is_bin)
      return TRUE;
    factory = gst_element_factory_find (e->factory);
    if (factory != NULL) {
      gst_object_unref (factory);
      return TRUE;
    }
  }
  return FALSE;
}

/**
 * t2i_diagnose_limits:
 * @text: a description about to be given to gst_parse_launch_full()
 *
 * Bins nested deeper than %T2I_SYNTAX_MAX_DEPTH: GStreamer would build
 * (and later run) them recursively until the stack runs out; and links
 * between references without any element, on which it crashes.
 *
 * Returns: (transfer full) (nullable): where the limit is passed, or %NULL
 */
T2iDiagnostic *
t2i_diagnose_limits (const gchar * text)
{
  static const gint reference_kinds[] = { ISSUE_REFERENCE, -1 };
  g_autoptr (T2iSyntax) syntax = t2i_syntax_parse (text);

  if (syntax->too_deep)
    return diagnostic_new (syntax->error_offset,
        g_steal_pointer (&syntax->error_message));
  /* GStreamer 1.22 crashes on links between references when no element
   * of the description can be made ("a. ! b." and "e f. ! e." with no
   * element e: SIGSEGV; "!t.!t.": endless caps queries), and on some
   * descriptions with a syntax error (fuzz-launch): then, and on any
   * syntax error, the first unknown element, syntax error or reference to
   * an element that does not exist is reported without asking GStreamer */
  static const gint first_kinds[] = { ISSUE_CAPS, ISSUE_REFERENCE, -1 };
  g_autoptr (GPtrArray) issues = check (syntax);
  Issue *issue = NULL;

  if (syntax->error || (!any_element_made (syntax)
          && syntax->links->len > 0))
    issue = earliest (issues, syntax->error
        || syntax->elements->len > 0 ? NULL : reference_kinds);
  /* Nor does it survive everything else it parses past: it drops a caps
   * filter it cannot parse and links its two neighbours directly, which
   * can close a loop it then queries caps around forever ("t. ! queue !
   * a/b x ! tee name=t": the caps are "a/b x", up to the next '!'), and a
   * link to a name no element has can crash it ("tee nAme=t ! 2 q.e !
   * x0.").  So bad caps and such references are refused first. */
  if (issue == NULL)
    issue = earliest (issues, first_kinds);
  return issue != NULL ? diagnostic_from_issue (issue) : NULL;
}

void
t2i_diagnostic_free (T2iDiagnostic * diagnostic)
{
  if (diagnostic == NULL)
    return;
  g_free (diagnostic->message);
  g_free (diagnostic);
}
