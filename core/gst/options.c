/* Options of variants: installing them as properties, tracking what the
 * user set, resolving a variant's config (see t2i/options.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/options.h"

#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK (t2i-option-error-quark, t2i_option_error)

const T2iOption *
t2i_options_find (const T2iOption * options, const char *name)
{
  for (const T2iOption * o = options; o && o->name; o++)
    if (strcmp (o->name, name) == 0)
      return o;
  return NULL;
}

static GType
config_type (T2iOptionType type)
{
  switch (type) {
    case T2I_OPTION_TYPE_INT:
      return G_TYPE_INT;
    case T2I_OPTION_TYPE_DOUBLE:
      return G_TYPE_DOUBLE;
    case T2I_OPTION_TYPE_BOOLEAN:
      return G_TYPE_BOOLEAN;
    default:
      return G_TYPE_STRING;
  }
}

/* the default of @o as a config value */
static void
default_value (const T2iOption * o, GValue * v)
{
  char *end = NULL;
  g_value_init (v, config_type (o->type));
  switch (o->type) {
    case T2I_OPTION_TYPE_INT:
      g_value_set_int (v, (gint) g_ascii_strtoll (o->def, &end, 0));
      break;
    case T2I_OPTION_TYPE_DOUBLE:
      g_value_set_double (v, g_ascii_strtod (o->def, &end));
      break;
    case T2I_OPTION_TYPE_BOOLEAN:
      g_value_set_boolean (v, g_ascii_strcasecmp (o->def, "true") == 0);
      break;
    default:
      g_value_set_string (v, o->def);
  }
  /* a default must be a plain number (write 2147483647, not G_MAXINT) */
  if (end && *end)
    g_error ("t2i: option %s: default '%s' is not a number", o->name,
        o->def);
}

/* ---- installing ---- */

typedef struct
{
  const T2iOption *first;
  double min, max;
  GString *variants;            /* "stylegan2, multistage" */
  GString *defaults;            /* "stylegan2 128, multistage 32" */
  gboolean defaults_differ;
  guint n;
} Union;

static gchar *
camel (const char *prefix, const char *name)
{
  GString *s = g_string_new (prefix);
  gboolean up = TRUE;
  for (const char *p = name; *p; p++) {
    if (*p == '-' || *p == '_' || *p == '/') {
      up = TRUE;
      continue;
    }
    g_string_append_c (s, up ? g_ascii_toupper (*p) : *p);
    up = FALSE;
  }
  return g_string_free (s, FALSE);
}

static GType
choice_enum (const char *type_prefix, const T2iOption * o)
{
  g_autofree gchar *type_name = camel (type_prefix, o->name);
  GType t = g_type_from_name (type_name);
  if (t)
    return t;
  g_auto (GStrv) choices = g_strsplit (o->choices, "|", -1);
  guint n = g_strv_length (choices);
  GEnumValue *values = g_new0 (GEnumValue, n + 1);
  for (guint i = 0; i < n; i++) {
    values[i].value = (gint) i;
    values[i].value_name = g_intern_string (choices[i]);
    values[i].value_nick = g_intern_string (choices[i]);
  }
  t = g_enum_register_static (g_intern_string (type_name), values);
  gst_type_mark_as_plugin_api (t, 0);
  return t;
}

static GParamSpec *
make_pspec (const char *type_prefix, Union * u, gboolean all)
{
  const T2iOption *o = u->first;
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;
  GString *blurb = g_string_new (o->blurb);
  if (!all || u->defaults_differ) {
    g_string_append (blurb, " (");
    if (!all)
      g_string_append (blurb, u->variants->str);
    if (u->defaults_differ)
      g_string_append_printf (blurb, "%sdefault: %s", all ? "" : "; ",
          u->defaults->str);
    g_string_append (blurb, ")");
  }
  const char *b = g_intern_string (blurb->str);
  g_string_free (blurb, TRUE);
  const char *name = g_intern_string (o->name);
  GValue def = G_VALUE_INIT;
  GParamSpec *p = NULL;

  default_value (o, &def);
  switch (o->type) {
    case T2I_OPTION_TYPE_INT:
      p = g_param_spec_int (name, name, b, (gint) u->min, (gint) u->max,
          g_value_get_int (&def), flags);
      break;
    case T2I_OPTION_TYPE_DOUBLE:
      p = g_param_spec_double (name, name, b, u->min, u->max,
          g_value_get_double (&def), flags);
      break;
    case T2I_OPTION_TYPE_BOOLEAN:
      p = g_param_spec_boolean (name, name, b, g_value_get_boolean (&def),
          flags);
      break;
    case T2I_OPTION_TYPE_CHOICE:{
      GType t = choice_enum (type_prefix, o);
      GEnumClass *ec = g_type_class_ref (t);
      GEnumValue *dv = g_enum_get_value_by_nick (ec, o->def);
      p = g_param_spec_enum (name, name, b, t, dv ? dv->value : 0, flags);
      g_type_class_unref (ec);
      break;
    }
    default:
      p = g_param_spec_string (name, name, b, o->def, flags);
  }
  g_value_unset (&def);
  return p;
}

static void
union_free (gpointer p)
{
  Union *u = p;
  g_string_free (u->variants, TRUE);
  g_string_free (u->defaults, TRUE);
  g_free (u);
}

guint
t2i_options_install (GObjectClass * klass, guint first_id,
    const char *type_prefix, const T2iOption * const *tables,
    const char *const *names, guint n_tables)
{
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash,
      g_str_equal, NULL, union_free);
  g_autoptr (GPtrArray) order = g_ptr_array_new ();

  for (guint t = 0; t < n_tables; t++) {
    for (const T2iOption * o = tables[t]; o && o->name; o++) {
      Union *u = g_hash_table_lookup (seen, o->name);
      const char *def = o->def ? o->def : "unset";
      if (!u) {
        u = g_new0 (Union, 1);
        u->first = o;
        u->min = o->min;
        u->max = o->max;
        u->variants = g_string_new (NULL);
        u->defaults = g_string_new (NULL);
        g_hash_table_insert (seen, (gpointer) o->name, u);
        g_ptr_array_add (order, u);
      } else {
        g_assert (u->first->type == o->type);
        g_assert (g_strcmp0 (u->first->choices, o->choices) == 0);
        u->min = MIN (u->min, o->min);
        u->max = MAX (u->max, o->max);
        if (g_strcmp0 (u->first->def, o->def) != 0)
          u->defaults_differ = TRUE;
      }
      g_string_append_printf (u->variants, "%s%s", u->n ? ", " : "",
          names[t]);
      g_string_append_printf (u->defaults, "%s%s %s", u->n ? ", " : "",
          names[t], def);
      u->n++;
    }
  }
  for (guint i = 0; i < order->len; i++) {
    Union *u = order->pdata[i];
    g_object_class_install_property (klass, first_id + i,
        make_pspec (type_prefix, u, u->n == n_tables));
  }
  return order->len;
}

GType
t2i_options_variant_enum (const char *type_name, const char *none,
    const char *const *names, const char *const *descriptions, guint n)
{
  GType t = g_type_from_name (type_name);
  if (t)
    return t;
  const guint first = none ? 1 : 0;
  GEnumValue *values = g_new0 (GEnumValue, n + first + 1);
  if (none) {
    values[0].value_name = none;
    values[0].value_nick = "none";
  }
  for (guint i = 0; i < n; i++) {
    values[first + i].value = (gint) (first + i);
    values[first + i].value_name = descriptions[i];
    values[first + i].value_nick = names[i];
  }
  t = g_enum_register_static (g_intern_string (type_name), values);
  gst_type_mark_as_plugin_api (t, 0);
  return t;
}

/* ---- values ---- */

struct _T2iOptionValues
{
  GHashTable *set;              /* name -> GValue* (the property's type) */
};

static void
gvalue_free (gpointer p)
{
  g_value_unset (p);
  g_free (p);
}

T2iOptionValues *
t2i_option_values_new (void)
{
  T2iOptionValues *v = g_new0 (T2iOptionValues, 1);
  v->set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      gvalue_free);
  return v;
}

void
t2i_option_values_free (T2iOptionValues * values)
{
  if (!values)
    return;
  g_hash_table_unref (values->set);
  g_free (values);
}

void
t2i_option_values_set (T2iOptionValues * values, GParamSpec * pspec,
    const GValue * value)
{
  GValue *copy = g_new0 (GValue, 1);
  g_value_init (copy, G_VALUE_TYPE (value));
  g_value_copy (value, copy);
  g_hash_table_replace (values->set, g_strdup (pspec->name), copy);
}

gboolean
t2i_option_values_is_set (T2iOptionValues * values, const char *name)
{
  return values && g_hash_table_contains (values->set, name);
}

gchar **
t2i_option_values_names (T2iOptionValues * values)
{
  guint n = 0;
  gpointer *keys = values ? g_hash_table_get_keys_as_array (values->set, &n)
      : NULL;
  gchar **r = g_new0 (gchar *, n + 1);
  for (guint i = 0; i < n; i++)
    r[i] = g_strdup (keys[i]);
  g_free (keys);
  qsort (r, n, sizeof (gchar *), (GCompareFunc) g_strcmp0);
  return r;
}

/* a property value (enums as their nick) as a config value of @type */
static void
to_config_value (const GValue * in, GType type, GValue * out)
{
  g_value_init (out, type);
  if (G_VALUE_HOLDS_ENUM (in)) {
    GEnumClass *ec = g_type_class_ref (G_VALUE_TYPE (in));
    GEnumValue *ev = g_enum_get_value (ec, g_value_get_enum (in));
    g_value_set_string (out, ev ? ev->value_nick : NULL);
    g_type_class_unref (ec);
  } else {
    g_value_transform (in, out);
  }
}

void
t2i_option_values_get (T2iOptionValues * values, GParamSpec * pspec,
    const GstStructure * config, GValue * value)
{
  const GValue *v = values ? g_hash_table_lookup (values->set, pspec->name)
      : NULL;
  const GValue *c = config ? gst_structure_get_value (config, pspec->name)
      : NULL;
  if (v) {
    g_value_copy (v, value);
  } else if (c && G_IS_PARAM_SPEC_ENUM (pspec)) {
    GEnumClass *ec = g_type_class_ref (pspec->value_type);
    GEnumValue *ev = g_enum_get_value_by_nick (ec, g_value_get_string (c));
    g_value_set_enum (value, ev ? ev->value : 0);
    g_type_class_unref (ec);
  } else if (c) {
    g_value_transform (c, value);
  } else {
    g_param_value_set_default (pspec, value);
  }
}

/* ---- resolving ---- */

static gchar *
value_text (const GValue * v)
{
  if (G_VALUE_HOLDS_STRING (v))
    return g_strdup (g_value_get_string (v) ? g_value_get_string (v) : "");
  if (G_VALUE_HOLDS_BOOLEAN (v))
    return g_strdup (g_value_get_boolean (v) ? "true" : "false");
  if (G_VALUE_HOLDS_DOUBLE (v)) {
    gchar buf[G_ASCII_DTOSTR_BUF_SIZE];
    return g_strdup (g_ascii_dtostr (buf, sizeof buf, g_value_get_double (v)));
  }
  if (G_VALUE_HOLDS_INT (v))
    return g_strdup_printf ("%d", g_value_get_int (v));
  return g_strdup_value_contents (v);
}

static gchar *
list_names (const T2iOption * options)
{
  GString *s = g_string_new (NULL);
  for (const T2iOption * o = options; o && o->name; o++)
    g_string_append_printf (s, "%s%s", s->len ? ", " : "", o->name);
  if (!s->len)
    g_string_append (s, "none");
  return g_string_free (s, FALSE);
}

static gboolean
in_range (const T2iOption * o, const GValue * v, const char *variant,
    GError ** error)
{
  double x;
  if (o->type == T2I_OPTION_TYPE_INT)
    x = g_value_get_int (v);
  else if (o->type == T2I_OPTION_TYPE_DOUBLE)
    x = g_value_get_double (v);
  else
    return TRUE;
  if (x >= o->min && x <= o->max)
    return TRUE;
  g_autofree gchar *t = value_text (v);
  g_set_error (error, T2I_OPTION_ERROR, T2I_OPTION_ERROR_INVALID,
      "%s=%s is out of range for %s (%g to %g)", o->name, t, variant, o->min,
      o->max);
  return FALSE;
}

static gboolean
values_equal (const GValue * a, const GValue * b)
{
  if (G_VALUE_HOLDS_DOUBLE (a))
    return g_value_get_double (a) == g_value_get_double (b);
  return gst_value_compare (a, b) == GST_VALUE_EQUAL;
}

GstStructure *
t2i_options_resolve (const T2iOption * options, const char *variant,
    T2iOptionValues * values, const GstStructure * file,
    const char *file_name, GError ** error)
{
  g_auto (GStrv) set = t2i_option_values_names (values);
  for (gchar ** n = set; *n; n++) {
    if (!t2i_options_find (options, *n)) {
      g_autofree gchar *all = list_names (options);
      g_set_error (error, T2I_OPTION_ERROR, T2I_OPTION_ERROR_NOT_APPLICABLE,
          "%s= does not apply to %s (it reads: %s)", *n, variant, all);
      return NULL;
    }
  }

  GstStructure *config = gst_structure_new_empty ("config");
  for (const T2iOption * o = options; o && o->name; o++) {
    const GValue *user = values ? g_hash_table_lookup (values->set, o->name)
        : NULL;
    const GValue *stored = file && (o->flags & T2I_OPTION_MODEL) ?
        gst_structure_get_value (file, o->name) : NULL;
    GValue v = G_VALUE_INIT;
    if (user) {
      to_config_value (user, config_type (o->type), &v);
      if (!in_range (o, &v, variant, error))
        goto fail;
      if (stored && !values_equal (&v, stored)) {
        g_autofree gchar *a = value_text (&v);
        g_autofree gchar *b = value_text (stored);
        g_set_error (error, T2I_OPTION_ERROR, T2I_OPTION_ERROR_CONFLICT,
            "%s=%s disagrees with %s, which holds a model with %s=%s; drop "
            "%s= (the file describes the model) or use another file",
            o->name, a, file_name ? file_name : "the weights file", o->name,
            b, o->name);
        g_value_unset (&v);
        goto fail;
      }
    } else if (stored) {
      g_value_init (&v, config_type (o->type));
      g_value_transform (stored, &v);
    } else {
      default_value (o, &v);
    }
    gst_structure_take_value (config, o->name, &v);
  }
  return config;

fail:
  gst_structure_free (config);
  return NULL;
}

/* ---- reading ---- */

static const GValue *
field (const GstStructure * config, const char *name, GType type)
{
  const GValue *v = gst_structure_get_value (config, name);
  if (!v || G_VALUE_TYPE (v) != type)
    g_error ("t2i: config has no %s option '%s'", g_type_name (type), name);
  return v;
}

gint
t2i_config_int (const GstStructure * config, const char *name)
{
  return g_value_get_int (field (config, name, G_TYPE_INT));
}

double
t2i_config_double (const GstStructure * config, const char *name)
{
  return g_value_get_double (field (config, name, G_TYPE_DOUBLE));
}

gboolean
t2i_config_boolean (const GstStructure * config, const char *name)
{
  return g_value_get_boolean (field (config, name, G_TYPE_BOOLEAN));
}

const char *
t2i_config_string (const GstStructure * config, const char *name)
{
  return g_value_get_string (field (config, name, G_TYPE_STRING));
}

gboolean
t2i_config_has_string (const GstStructure * config, const char *name)
{
  const char *s = t2i_config_string (config, name);
  return s && *s;
}

void
t2i_config_set_int (GstStructure * config, const char *name, gint v)
{
  gst_structure_set (config, name, G_TYPE_INT, v, NULL);
}

gchar *
t2i_config_describe (const GstStructure * config, const char *name)
{
  const GValue *v = gst_structure_get_value (config, name);
  g_autofree gchar *t = v ? value_text (v) : g_strdup ("?");
  return g_strdup_printf ("%s=%s", name, t);
}

/* ---- JSON ---- */

gchar *
t2i_config_to_json (const GstStructure * config, const T2iOption * options)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  for (const T2iOption * o = options; o && o->name; o++) {
    const GValue *v = gst_structure_get_value (config, o->name);
    if (!(o->flags & T2I_OPTION_MODEL) || !v)
      continue;
    json_builder_set_member_name (b, o->name);
    if (G_VALUE_HOLDS_INT (v))
      json_builder_add_int_value (b, g_value_get_int (v));
    else if (G_VALUE_HOLDS_DOUBLE (v))
      json_builder_add_double_value (b, g_value_get_double (v));
    else if (G_VALUE_HOLDS_BOOLEAN (v))
      json_builder_add_boolean_value (b, g_value_get_boolean (v));
    else if (g_value_get_string (v))
      json_builder_add_string_value (b, g_value_get_string (v));
    else
      json_builder_add_null_value (b);
  }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

GstStructure *
t2i_config_from_json (const char *json, const T2iOption * options,
    GError ** error)
{
  g_autoptr (JsonNode) root = json_from_string (json, NULL);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, T2I_OPTION_ERROR, T2I_OPTION_ERROR_INVALID,
        "the model description is not a JSON object");
    return NULL;
  }
  JsonObject *obj = json_node_get_object (root);
  GstStructure *config = gst_structure_new_empty ("config");
  g_autoptr (GList) members = json_object_get_members (obj);
  for (GList * l = members; l; l = l->next) {
    const char *name = l->data;
    const T2iOption *o = t2i_options_find (options, name);
    JsonNode *n = json_object_get_member (obj, name);
    GValue v = G_VALUE_INIT;
    gboolean ok = o && JSON_NODE_HOLDS_VALUE (n);
    if (ok) {
      GType vt = json_node_get_value_type (n);
      g_value_init (&v, config_type (o->type));
      if (o->type == T2I_OPTION_TYPE_INT && vt == G_TYPE_INT64)
        g_value_set_int (&v, (gint) json_node_get_int (n));
      else if (o->type == T2I_OPTION_TYPE_DOUBLE && (vt == G_TYPE_DOUBLE
              || vt == G_TYPE_INT64))
        g_value_set_double (&v, json_node_get_double (n));
      else if (o->type == T2I_OPTION_TYPE_BOOLEAN && vt == G_TYPE_BOOLEAN)
        g_value_set_boolean (&v, json_node_get_boolean (n));
      else if (config_type (o->type) == G_TYPE_STRING && vt == G_TYPE_STRING)
        g_value_set_string (&v, json_node_get_string (n));
      else
        ok = FALSE;
    }
    if (!ok) {
      if (G_IS_VALUE (&v))
        g_value_unset (&v);
      g_set_error (error, T2I_OPTION_ERROR, T2I_OPTION_ERROR_INVALID,
          "the model description has %s '%s', which this version of t2i "
          "does not read", o ? "a bad value for" : "an unknown option", name);
      gst_structure_free (config);
      return NULL;
    }
    gst_structure_take_value (config, name, &v);
  }
  return config;
}
