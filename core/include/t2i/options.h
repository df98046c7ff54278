/* t2i — options of a variant: architectures, loss kinds, record ops.
 *
 * An element that comes in variants (t2igenerator arch=, t2iloss kind=,
 * t2iop op=) lets each variant declare its own options in a table of
 * #T2iOption.  The element class installs the union of its variants'
 * options as GObject properties (t2i_options_install()), remembers which
 * ones the user set (#T2iOptionValues), and when the variant is known
 * resolves them into a config (t2i_options_resolve()): a GstStructure with
 * one typed field per option of the variant (int, double, boolean, or
 * string for strings, entries and choices), where a property the variant
 * does not read is an error naming it, and, for a model loaded from a file
 * that describes itself, a property that disagrees with the file is an
 * error naming both values.
 *
 *   static const T2iOption options[] = {
 *     T2I_OPTION_ENTRY ("cond", "h", 0, "Condition entry, f32 [N, D]"),
 *     T2I_OPTION_INT ("channels", 128, 1, 4096, T2I_OPTION_MODEL,
 *         "Most channels of any layer"),
 *     T2I_OPTION_CHOICE ("cond-mode", "concat", "concat|modulate",
 *         T2I_OPTION_MODEL, "How the condition enters the styles"),
 *     { NULL }
 *   };
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define T2I_OPTION_ERROR (t2i_option_error_quark ())
GQuark t2i_option_error_quark (void);

typedef enum {
  T2I_OPTION_ERROR_NOT_APPLICABLE,
  T2I_OPTION_ERROR_CONFLICT,
  T2I_OPTION_ERROR_INVALID,
} T2iOptionError;

typedef enum {
  T2I_OPTION_TYPE_INT,
  T2I_OPTION_TYPE_DOUBLE,
  T2I_OPTION_TYPE_BOOLEAN,
  T2I_OPTION_TYPE_STRING,
  T2I_OPTION_TYPE_ENTRY,        /* a string naming a record entry */
  T2I_OPTION_TYPE_CHOICE,       /* one of @choices */
} T2iOptionType;

/**
 * T2iOptionFlags:
 * @T2I_OPTION_MODEL: the option defines the model (a hyper-parameter):
 *   it is stored in checkpoints and model files, and read back from them
 * @T2I_OPTION_GROWS: a model option that adds parameters when set (a
 *   learned null embedding for classifier-free guidance): with
 *   weights-strict=false the user's value wins over the file's, so
 *   fine-tuning can grow a loaded model
 */
typedef enum {
  T2I_OPTION_MODEL = 1 << 0,
  T2I_OPTION_GROWS = 1 << 1,
} T2iOptionFlags;

/**
 * T2iOption:
 * @name: the property name ("channels")
 * @type: its type
 * @def: the default as text ("128", "0.5", "true", "h"); %NULL leaves a
 *   string unset
 * @min: smallest value (int, double)
 * @max: largest value (int, double)
 * @choices: the values of a choice, separated by '|'
 * @flags: #T2iOptionFlags
 * @blurb: one line for gst-inspect and the docs
 */
typedef struct {
  const char *name;
  T2iOptionType type;
  const char *def;
  double min;
  double max;
  const char *choices;
  guint flags;
  const char *blurb;
} T2iOption;

/* the default as text, after macro expansion */
#define T2I_OPTION_TEXT_(x) #x
#define T2I_OPTION_TEXT(x) T2I_OPTION_TEXT_ (x)

#define T2I_OPTION_INT(name, def, min, max, flags, blurb) \
  { name, T2I_OPTION_TYPE_INT, T2I_OPTION_TEXT (def), min, max, NULL, \
    flags, blurb }
#define T2I_OPTION_DOUBLE(name, def, min, max, flags, blurb) \
  { name, T2I_OPTION_TYPE_DOUBLE, T2I_OPTION_TEXT (def), min, max, NULL, \
    flags, blurb }
/* @def: TRUE or FALSE, as written */
#define T2I_OPTION_BOOLEAN(name, def, flags, blurb) \
  { name, T2I_OPTION_TYPE_BOOLEAN, #def, 0, 0, NULL, flags, blurb }
#define T2I_OPTION_STRING(name, def, flags, blurb) \
  { name, T2I_OPTION_TYPE_STRING, def, 0, 0, NULL, flags, blurb }
#define T2I_OPTION_ENTRY(name, def, flags, blurb) \
  { name, T2I_OPTION_TYPE_ENTRY, def, 0, 0, NULL, flags, blurb }
#define T2I_OPTION_CHOICE(name, def, choices, flags, blurb) \
  { name, T2I_OPTION_TYPE_CHOICE, def, 0, 0, choices, flags, blurb }

/* the option called @name in the %NULL-terminated table, or %NULL */
const T2iOption *t2i_options_find (const T2iOption * options,
    const char *name);

/**
 * t2i_options_install:
 * @klass: the element class
 * @first_id: the property id of the first option; the others follow
 * @type_prefix: prefix of the enum types made for choices ("T2iGenerator")
 * @tables: the option tables of the variants
 * @names: the variants' names (for blurbs and enum docs)
 * @n_tables: how many
 *
 * Installs every distinct option of @tables once, as a property with
 * GST_PARAM_MUTABLE_READY; the blurb says which variants read it and,
 * where they differ, each one's default.  Two variants may declare an
 * option of the same name only with the same type (and choices).
 *
 * Returns: the number of properties installed
 */
guint t2i_options_install (GObjectClass * klass, guint first_id,
    const char *type_prefix, const T2iOption * const *tables,
    const char *const *names, guint n_tables);

/**
 * t2i_options_variant_enum:
 * @type_name: the enum type's name ("T2iLossElementKind")
 * @none: (nullable): the description of a value 0 nicknamed "none" that
 *   means "not chosen yet"; %NULL: no such value
 * @names: the variants' names (the nicks)
 * @descriptions: one line each
 * @n: how many
 *
 * Registers (once) the enum of a variant property (arch=, kind=, op=):
 * value i is @names[i] (i + 1 with @none).
 *
 * Returns: the type
 */
GType t2i_options_variant_enum (const char *type_name, const char *none,
    const char *const *names, const char *const *descriptions, guint n);

/* ---- the values the user set ---- */

typedef struct _T2iOptionValues T2iOptionValues;

T2iOptionValues *t2i_option_values_new (void);
void t2i_option_values_free (T2iOptionValues * values);
/* from set_property: records @value as set by the user */
void t2i_option_values_set (T2iOptionValues * values, GParamSpec * pspec,
    const GValue * value);
/* for get_property: the user's value, else @config's, else the pspec
 * default */
void t2i_option_values_get (T2iOptionValues * values, GParamSpec * pspec,
    const GstStructure * config, GValue * value);
gboolean t2i_option_values_is_set (T2iOptionValues * values,
    const char *name);
/* the names the user set, sorted (free with g_strfreev()) */
gchar **t2i_option_values_names (T2iOptionValues * values);

/**
 * t2i_options_resolve:
 * @options: the variant's table
 * @variant: how to name the variant in errors ("arch=stylegan2")
 * @values: (nullable): what the user set
 * @file: (nullable): a config read from a model file
 *   (t2i_config_from_json()); its model options win over the defaults
 * @file_name: (nullable): how to name @file in errors ("weights=G.safetensors")
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the config (a structure named
 *   "config" with every option of @options); %NULL when the user set an
 *   option the variant does not read, or one that disagrees with @file
 */
GstStructure *t2i_options_resolve (const T2iOption * options,
    const char *variant, T2iOptionValues * values, const GstStructure * file,
    const char *file_name, GError ** error);

/* ---- reading a config (the option must exist in it: a programming
 * error otherwise) ---- */
gint t2i_config_int (const GstStructure * config, const char *name);
double t2i_config_double (const GstStructure * config, const char *name);
gboolean t2i_config_boolean (const GstStructure * config, const char *name);
/* strings, entries and choices; %NULL when unset */
const char *t2i_config_string (const GstStructure * config, const char *name);
/* a string option that is set and not empty */
gboolean t2i_config_has_string (const GstStructure * config,
    const char *name);
void t2i_config_set_int (GstStructure * config, const char *name, gint v);

/* "name=value" of the option, for messages */
gchar *t2i_config_describe (const GstStructure * config, const char *name);

/**
 * t2i_config_to_json:
 * @config: a resolved config
 * @options: its table
 *
 * Returns: (transfer full): a JSON object with the model options only
 *   (#T2I_OPTION_MODEL), e.g. {"resolution":32,"channels":64}
 */
gchar *t2i_config_to_json (const GstStructure * config,
    const T2iOption * options);

/**
 * t2i_config_from_json:
 * @json: what t2i_config_to_json() wrote
 * @options: the table to read it with (unknown keys are errors)
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the config
 */
GstStructure *t2i_config_from_json (const char *json,
    const T2iOption * options, GError ** error);

G_END_DECLS
