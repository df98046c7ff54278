/* T2iNetwork: the base class of the elements that run an architecture of
 * the registry (see t2i/element.h and t2i/arch.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/element.h"

#include <json-glib/json-glib.h>
#include <string.h>
#include "t2i/arch.h"
#include "t2i/models.h"

GST_DEBUG_CATEGORY_STATIC (t2i_network_debug);
#define GST_CAT_DEFAULT t2i_network_debug

/* a chain of share= longer than this is a loop */
#define MAX_SHARE_DEPTH 8

typedef struct
{
  /* properties */
  gchar *arch_name;             /* arch= as set; NULL: from file or default */
  T2iOptionValues *values;      /* the architecture options the user set */
  gchar *share;
  gchar *weights_prefix;
  gboolean weights_strict;

  /* resolved (cached until a property changes) */
  gboolean resolved;
  const T2iArch *arch;
  GstStructure *config;
  gchar *prefix;                /* of the network in weights= */
  T2iSafetensors *st;           /* weights=, open until build */
  T2iNetwork *owner;            /* share=: the element whose network runs */

  gpointer net;                 /* built (own) or borrowed from owner */
} T2iNetworkPrivate;

enum
{
  PROP_0,
  PROP_SHARE,
  PROP_WEIGHTS_PREFIX,
  PROP_WEIGHTS_STRICT,
};

/* the properties a role class installs (t2i_network_class_set_role) */
enum
{
  RPROP_0,
  RPROP_ARCH,
  RPROP_FIRST_OPTION,
};

G_DEFINE_ABSTRACT_TYPE_WITH_CODE (T2iNetwork, t2i_network,
    T2I_TYPE_TRANSFORM, G_ADD_PRIVATE (T2iNetwork)
    GST_DEBUG_CATEGORY_INIT (t2i_network_debug, "t2inetwork", 0,
        "t2i network elements"));

#define PRIV(self) ((T2iNetworkPrivate *) t2i_network_get_instance_private (T2I_NETWORK (self)))

static const char *
role_of (T2iNetwork * self)
{
  return T2I_NETWORK_GET_CLASS (self)->role;
}

const T2iArch *
t2i_network_get_arch (T2iNetwork * self)
{
  return PRIV (self)->arch;
}

const GstStructure *
t2i_network_get_config (T2iNetwork * self)
{
  return PRIV (self)->config;
}

gpointer
t2i_network_get_net (T2iNetwork * self)
{
  return PRIV (self)->net;
}

static void
unresolve (T2iNetworkPrivate * p)
{
  p->resolved = FALSE;
  p->arch = NULL;
  g_clear_pointer (&p->config, gst_structure_free);
  g_clear_pointer (&p->prefix, g_free);
  g_clear_pointer (&p->st, t2i_safetensors_free);
  g_clear_object (&p->owner);
}

static gchar *
get_weights (T2iNetwork * self)
{
  gchar *w = NULL;
  g_object_get (self, "weights", &w, NULL);
  if (w && !*w)
    g_clear_pointer (&w, g_free);
  return w;
}

/* ---- finding the network in a weights file ---- */

/* "<prefix><stem>" for one of the '|'-separated stems */
static gboolean
has_stem (T2iSafetensors * st, const char *prefix, const char *stems)
{
  g_auto (GStrv) alt = g_strsplit (stems, "|", -1);
  for (gchar ** s = alt; *s; s++) {
    g_autofree char *name = g_strconcat (prefix, *s, NULL);
    if (t2i_safetensors_has (st, name))
      return TRUE;
  }
  return FALSE;
}

/* the prefixes under which @st holds a tensor named <prefix><stem>; names
 * whose prefix has a '/' are optimizer state or moving averages and do not
 * count */
static GPtrArray *
stem_prefixes (T2iSafetensors * st, const char *stems)
{
  GPtrArray *found = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) alt = g_strsplit (stems, "|", -1);
  const char *const *names = t2i_safetensors_names (st);
  for (gchar ** stem = alt; *stem; stem++) {
    const gsize sl = strlen (*stem);
    for (guint i = 0; names[i]; i++) {
      const gsize nl = strlen (names[i]);
      if (nl < sl || strcmp (names[i] + nl - sl, *stem) != 0)
        continue;
      g_autofree char *pre = g_strndup (names[i], nl - sl);
      if (strchr (pre, '/') || (*pre && pre[strlen (pre) - 1] != '.'))
        continue;
      if (!g_ptr_array_find_with_equal_func (found, pre, g_str_equal, NULL))
        g_ptr_array_add (found, g_steal_pointer (&pre));
    }
  }
  return found;
}

static gchar *
quoted_list (GPtrArray * items)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < items->len; i++)
    g_string_append_printf (s, "%s\"%s\"", i ? ", " : "",
        (const char *) items->pdata[i]);
  return g_string_free (s, FALSE);
}

/* Which group of @st holds the network: sets p->prefix and returns the
 * description there (or NULL without error when the file has none). */
static GstStructure *
locate (T2iNetwork * self, T2iSafetensors * st, const T2iArch ** described,
    GError ** error)
{
  T2iNetworkPrivate *p = PRIV (self);
  const char *role = role_of (self);
  const char *group = t2i_transform_get_group_name (T2I_TRANSFORM (self));
  g_autofree gchar *from = NULL;

  *described = NULL;
  if (p->weights_prefix) {
    gsize l = strlen (p->weights_prefix);
    from = l && p->weights_prefix[l - 1] == '.' ?
        g_strndup (p->weights_prefix, l - 1) : g_strdup (p->weights_prefix);
  } else {
    g_auto (GStrv) groups = t2i_arch_described_groups (st, role);
    gboolean mine = FALSE;
    for (gchar ** g = groups; *g; g++)
      mine |= strcmp (*g, group) == 0;
    if (mine) {
      from = g_strdup (group);
    } else if (groups[0] && !groups[1]) {
      from = g_strdup (groups[0]);
    } else if (groups[0]) {
      g_autofree char *list = g_strjoinv (", ", groups);
      g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
          "describes a %s in several groups (%s): choose one with group= "
          "or weights-prefix=", role, list);
      return NULL;
    }
  }
  if (from) {
    GError *err = NULL;
    GstStructure *c = t2i_arch_read_description (st, from, role, described,
        &err);
    if (err) {
      g_propagate_error (error, err);
      return NULL;
    }
    if (c || p->weights_prefix) {
      p->prefix = p->weights_prefix ? g_strdup (p->weights_prefix)
          : g_strconcat (from, ".", NULL);
      return c;
    }
  }
  return NULL;
}

/* the prefix of an undescribed network, by the architecture's stem */
static gboolean
locate_by_stem (T2iNetwork * self, T2iSafetensors * st, const T2iArch * arch,
    GError ** error)
{
  T2iNetworkPrivate *p = PRIV (self);
  const char *group = t2i_transform_get_group_name (T2I_TRANSFORM (self));
  g_autofree char *gp = g_strconcat (group, ".", NULL);

  if (has_stem (st, gp, arch->stem)) {
    p->prefix = g_steal_pointer (&gp);
    return TRUE;
  }
  g_autoptr (GPtrArray) found = stem_prefixes (st, arch->stem);
  if (found->len == 1) {
    p->prefix = g_strdup (found->pdata[0]);
    return TRUE;
  }
  g_autofree char *list = quoted_list (found);
  g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
      "%s arch=%s %s (looked for %s%s%s%s); set weights-prefix=",
      found->len ? "several prefixes hold an" : "holds no", arch->name,
      found->len ? "network" : "network of this element",
      gp, arch->stem, found->len ? ", found " : "", list);
  return FALSE;
}

/* ---- resolving arch= and the options ---- */

static gboolean resolve (T2iNetwork * self, guint depth, GError ** error);

static T2iNetwork *
find_owner (T2iNetwork * self, GError ** error)
{
  T2iNetworkPrivate *p = PRIV (self);
  GstObject *parent = gst_object_get_parent (GST_OBJECT (self));
  GstElement *e = parent && GST_IS_BIN (parent) ?
      gst_bin_get_by_name_recurse_up (GST_BIN (parent), p->share) : NULL;
  g_clear_object (&parent);
  if (!e) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
        "share=%s: the pipeline has no element of that name (give the "
        "element whose network to run name=%s)", p->share, p->share);
    return NULL;
  }
  if (!T2I_IS_NETWORK (e) || g_strcmp0 (role_of (T2I_NETWORK (e)),
          role_of (self)) != 0 || (gpointer) e == (gpointer) self) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "share=%s: %s is not another %s element, whose network this one "
        "could run", p->share, p->share, G_OBJECT_TYPE_NAME (self));
    gst_object_unref (e);
    return NULL;
  }
  return T2I_NETWORK (e);
}

static gboolean
resolve_shared (T2iNetwork * self, guint depth, GError ** error)
{
  T2iNetworkPrivate *p = PRIV (self);
  g_autofree gchar *weights = get_weights (self);

  if (weights || p->weights_prefix) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "share=%s runs the network of %s, with its weights: drop %s=",
        p->share, p->share, weights ? "weights" : "weights-prefix");
    return FALSE;
  }
  p->owner = find_owner (self, error);
  if (!p->owner)
    return FALSE;
  if (depth >= MAX_SHARE_DEPTH) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "share=%s: the elements share each other's networks in a loop",
        p->share);
    return FALSE;
  }
  if (!resolve (p->owner, depth + 1, error)) {
    g_prefix_error (error, "share=%s: ", p->share);
    return FALSE;
  }
  T2iNetworkPrivate *o = PRIV (p->owner);
  if (p->arch_name && g_strcmp0 (p->arch_name, o->arch->name) != 0) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "arch=%s but share=%s runs arch=%s; drop arch=", p->arch_name,
        p->share, o->arch->name);
    return FALSE;
  }
  p->arch = o->arch;
  g_autofree char *variant = g_strdup_printf ("arch=%s", p->arch->name);
  g_autofree char *what = g_strdup_printf ("share=%s", p->share);
  p->config = t2i_options_resolve (p->arch->options, variant, p->values,
      o->config, what, error);
  return p->config != NULL;
}

/* arch=, the prefix and the options of a network of its own */
static gboolean
resolve_own (T2iNetwork * self, const char *weights, GError ** error)
{
  T2iNetworkPrivate *p = PRIV (self);
  T2iNetworkClass *klass = T2I_NETWORK_GET_CLASS (self);
  g_autoptr (GstStructure) described = NULL;
  const T2iArch *file_arch = NULL;

  if (weights) {
    GError *err = NULL;
    p->st = t2i_safetensors_load (weights, error);
    if (!p->st)
      return FALSE;
    described = locate (self, p->st, &file_arch, &err);
    if (err) {
      g_propagate_error (error, err);
      return FALSE;
    }
  }

  const char *name = p->arch_name ? p->arch_name : file_arch ?
      file_arch->name : klass->default_arch;
  p->arch = t2i_arch_find (klass->role, name);
  if (!p->arch) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "arch=%s is not a %s architecture", name, klass->role);
    return FALSE;
  }
  if (file_arch && file_arch != p->arch) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "arch=%s disagrees with the file, which holds arch=%s; drop arch=",
        p->arch->name, file_arch->name);
    return FALSE;
  }
  if (p->st && !p->prefix && !locate_by_stem (self, p->st, p->arch, error))
    return FALSE;
  if (p->st && !described && p->arch->read_file) {
    described = p->arch->read_file (p->st, p->prefix, error);
    if (!described)
      return FALSE;
  }

  /* fine-tuning may grow the model: the user's value of an option that
   * adds parameters wins over the file's */
  for (const T2iOption * o = p->arch->options; described
      && !p->weights_strict && o->name; o++)
    if ((o->flags & T2I_OPTION_GROWS)
        && t2i_option_values_is_set (p->values, o->name))
      gst_structure_remove_field (described, o->name);
  g_autofree char *variant = g_strdup_printf ("arch=%s", p->arch->name);
  g_autofree char *what = weights ? g_strdup_printf ("weights=%s", weights)
      : NULL;
  p->config = t2i_options_resolve (p->arch->options, variant, p->values,
      described, what, error);
  if (!p->config)
    return FALSE;
  if (p->arch->configure) {
    T2iArchContext ctx = {
      .element = self,.config = p->config,.weights = p->st,.prefix =
          p->prefix,
    };
    if (!p->arch->configure (p->config, &ctx, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
resolve (T2iNetwork * self, guint depth, GError ** error)
{
  T2iNetworkPrivate *p = PRIV (self);

  if (p->resolved)
    return TRUE;
  unresolve (p);
  if (p->share && *p->share) {
    p->resolved = resolve_shared (self, depth, error);
  } else {
    g_autofree gchar *weights = get_weights (self);
    p->resolved = resolve_own (self, weights, error);
    if (!p->resolved && weights && !g_str_has_prefix ((*error)->message,
            "weights="))
      g_prefix_error (error, "weights=%s: ", weights);
  }
  if (!p->resolved)
    unresolve (p);
  return p->resolved;
}

/* ---- T2iTransform vfuncs ---- */

static gboolean
t2i_network_negotiate (T2iTransform * t, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  T2iNetworkPrivate *p = PRIV (t);
  if (!resolve (T2I_NETWORK (t), 0, error))
    return FALSE;
  return p->arch->negotiate (p->config, in, out, error);
}

/* "{"arch":NAME,...model options}" */
static gchar *
describe (const T2iArch * arch, const GstStructure * config)
{
  g_autofree gchar *opts = t2i_config_to_json (config, arch->options);
  g_autofree gchar *name = g_strescape (arch->name, NULL);
  return g_strdup_printf ("{\"arch\":\"%s\"%s%s", name,
      strcmp (opts, "{}") != 0 ? "," : "", opts + 1);
}

static gboolean
t2i_network_build (T2iTransform * t, const GstStructure * in,
    GError ** error)
{
  T2iNetwork *self = T2I_NETWORK (t);
  T2iNetworkPrivate *p = PRIV (self);

  if (!resolve (self, 0, error))
    return FALSE;
  if (p->owner) {
    p->net = t2i_network_get_net (p->owner);
    if (!p->net) {
      g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
          "share=%s: %s has not built its network yet; the element whose "
          "network is shared must come before this one in the pipeline",
          p->share, p->share);
      return FALSE;
    }
    return TRUE;
  }
  T2iArchContext ctx = {
    .element = self,.config = p->config,.params =
        t2i_transform_get_params (t),.init_rng =
        t2i_transform_get_init_rng (t),.weights = p->st,.prefix = p->prefix,
    .trainable = t2i_transform_is_trainable (t),
  };
  p->net = p->arch->build (p->config, in, &ctx, error);
  g_clear_pointer (&p->st, t2i_safetensors_free);
  if (!p->net)
    return FALSE;
  g_autofree gchar *json = describe (p->arch, p->config);
  t2i_param_group_set_model (t2i_transform_get_params (t), role_of (self),
      json);
  return TRUE;
}

static gboolean
t2i_network_load_weights (T2iTransform * t, T2iSafetensors * st,
    GError ** error)
{
  T2iNetworkPrivate *p = PRIV (t);
  if (p->arch->load) {
    T2iArchContext ctx = {
      .element = t,.config = p->config,.params =
          t2i_transform_get_params (t),.weights = st,.prefix = p->prefix,
    };
    return p->arch->load (p->net, &ctx, error);
  }
  return t2i_transform_load_params (t, st, p->prefix, p->weights_strict,
      error);
}

static gboolean
t2i_network_process (T2iTransform * t, GstBuffer * record, GError ** error)
{
  T2iNetworkPrivate *p = PRIV (t);
  T2iTransform *runner = p->owner ? T2I_TRANSFORM (p->owner) : t;
  T2iArchContext ctx = {
    .element = t,.config = p->config,.params =
        t2i_transform_get_params (runner),.training =
        t2i_transform_is_training (t),.trainable =
        t2i_transform_is_trainable (runner),.rng =
        t2i_session_get_rng (t2i_transform_get_session (t)),
  };
  return p->arch->forward (p->net, &ctx, record, error);
}

static GstStateChangeReturn
t2i_network_change_state (GstElement * element, GstStateChange transition)
{
  T2iNetwork *self = T2I_NETWORK (element);
  T2iNetworkPrivate *p = PRIV (self);

  /* a property the architecture does not read, or one a model file
   * contradicts, fails before any data flows */
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !p->net) {
    GError *err = NULL;
    if (!resolve (self, 0, &err)) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", err->message),
          (NULL));
      g_error_free (err);
      return GST_STATE_CHANGE_FAILURE;
    }
  }
  return GST_ELEMENT_CLASS (t2i_network_parent_class)->change_state (element,
      transition);
}

/* ---- properties ---- */

static void
t2i_network_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iNetworkPrivate *p = PRIV (obj);
  switch (id) {
    case PROP_SHARE:
      g_free (p->share);
      p->share = g_value_dup_string (v);
      break;
    case PROP_WEIGHTS_PREFIX:
      g_free (p->weights_prefix);
      p->weights_prefix = g_value_dup_string (v);
      break;
    case PROP_WEIGHTS_STRICT:
      p->weights_strict = g_value_get_boolean (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
      return;
  }
  if (!p->net)
    p->resolved = FALSE;
}

static void
t2i_network_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iNetworkPrivate *p = PRIV (obj);
  switch (id) {
    case PROP_SHARE:
      g_value_set_string (v, p->share);
      break;
    case PROP_WEIGHTS_PREFIX:
      g_value_set_string (v, p->weights_prefix);
      break;
    case PROP_WEIGHTS_STRICT:
      g_value_set_boolean (v, p->weights_strict);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

/* arch= and the options of a role class */
static void
role_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iNetworkPrivate *p = PRIV (obj);
  if (id == RPROP_ARCH) {
    GEnumClass *ec = g_type_class_ref (pspec->value_type);
    GEnumValue *ev = g_enum_get_value (ec, g_value_get_enum (v));
    g_free (p->arch_name);
    p->arch_name = g_strdup (ev ? ev->value_nick : NULL);
    g_type_class_unref (ec);
  } else {
    t2i_option_values_set (p->values, pspec, v);
  }
  if (!p->net)
    p->resolved = FALSE;
}

static void
role_get_property (GObject * obj, guint id, GValue * v, GParamSpec * pspec)
{
  T2iNetwork *self = T2I_NETWORK (obj);
  T2iNetworkPrivate *p = PRIV (self);
  if (id == RPROP_ARCH) {
    const char *name = p->arch ? p->arch->name : p->arch_name;
    GEnumClass *ec = g_type_class_ref (pspec->value_type);
    GEnumValue *ev = name ? g_enum_get_value_by_nick (ec, name) : NULL;
    if (ev)
      g_value_set_enum (v, ev->value);
    else
      g_param_value_set_default (pspec, v);
    g_type_class_unref (ec);
  } else {
    t2i_option_values_get (p->values, pspec, p->config, v);
  }
}

void
t2i_network_class_set_role (T2iNetworkClass * klass, const char *role,
    const char *default_arch)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  g_autoptr (GPtrArray) tables = g_ptr_array_new ();
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  g_autoptr (GPtrArray) descriptions = g_ptr_array_new ();
  gint def = 0;

  klass->role = role;
  klass->default_arch = default_arch;
  oc->set_property = role_set_property;
  oc->get_property = role_get_property;

  for (const T2iArch * const *a = t2i_archs (); *a; a++) {
    if (strcmp ((*a)->role, role) != 0)
      continue;
    if (strcmp ((*a)->name, default_arch) == 0)
      def = (gint) names->len;
    g_ptr_array_add (tables, (gpointer) (*a)->options);
    g_ptr_array_add (names, (gpointer) (*a)->name);
    g_ptr_array_add (descriptions, (gpointer) (*a)->description);
  }
  g_assert (names->len > 0);

  g_autofree gchar *type_name = g_strdup_printf ("%sArch",
      G_OBJECT_CLASS_NAME (klass));
  GType arch_type = t2i_options_variant_enum (type_name, NULL,
      (const char *const *) names->pdata,
      (const char *const *) descriptions->pdata, names->len);
  g_object_class_install_property (oc, RPROP_ARCH,
      g_param_spec_enum ("arch", "Architecture",
          "The network (its options are listed with each property; "
          "default: the one weights= describes, else the first)", arch_type,
          def, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  t2i_options_install (oc, RPROP_FIRST_OPTION, G_OBJECT_CLASS_NAME (klass),
      (const T2iOption * const *) tables->pdata,
      (const char *const *) names->pdata, tables->len);
  gst_element_class_add_static_metadata (GST_ELEMENT_CLASS (klass),
      "t2i-role", role);
}

static void
t2i_network_finalize (GObject * obj)
{
  T2iNetworkPrivate *p = PRIV (obj);
  if (p->net && !p->owner && p->arch && p->arch->free)
    p->arch->free (p->net);
  p->net = NULL;
  unresolve (p);
  g_free (p->arch_name);
  g_free (p->share);
  g_free (p->weights_prefix);
  t2i_option_values_free (p->values);
  G_OBJECT_CLASS (t2i_network_parent_class)->finalize (obj);
}

static void
t2i_network_class_init (T2iNetworkClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  T2iTransformClass *tc = T2I_TRANSFORM_CLASS (klass);

  oc->set_property = t2i_network_set_property;
  oc->get_property = t2i_network_get_property;
  oc->finalize = t2i_network_finalize;
  ec->change_state = t2i_network_change_state;
  tc->negotiate = t2i_network_negotiate;
  tc->build = t2i_network_build;
  tc->load_weights = t2i_network_load_weights;
  tc->process = t2i_network_process;

  g_object_class_install_property (oc, PROP_SHARE,
      g_param_spec_string ("share", "Share",
          "Run the network of the element of this name (same object, same "
          "parameters, no copy) on this element's entries, e.g. a frozen "
          "encoder on real and generated images", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (oc, PROP_WEIGHTS_PREFIX,
      g_param_spec_string ("weights-prefix", "Weights prefix",
          "Prefix of the network's tensors in weights= (default: the group "
          "the file describes, \"<group>.\", or the one prefix holding "
          "such a network)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (oc, PROP_WEIGHTS_STRICT,
      g_param_spec_boolean ("weights-strict", "Weights strict",
          "Every parameter must be in weights= (false: parameters the file "
          "lacks keep their initial values, e.g. one added for fine-tuning)",
          TRUE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  gst_type_mark_as_plugin_api (T2I_TYPE_NETWORK, 0);
}

static void
t2i_network_init (T2iNetwork * self)
{
  T2iNetworkPrivate *p = PRIV (self);
  p->values = t2i_option_values_new ();
  p->weights_strict = TRUE;
}

/* ---- model descriptions (t2i/arch.h) ---- */

GstStructure *
t2i_arch_read_description (T2iSafetensors * st, const char *group,
    const char *role, const T2iArch ** arch, GError ** error)
{
  g_autofree char *key = g_strconcat (T2I_MODEL_METADATA_PREFIX, group,
      NULL);
  const char *json = t2i_safetensors_get_metadata (st, key);
  if (arch)
    *arch = NULL;
  if (!json)
    return NULL;
  g_autoptr (JsonNode) root = json_from_string (json, NULL);
  JsonObject *all = root && JSON_NODE_HOLDS_OBJECT (root) ?
      json_node_get_object (root) : NULL;
  JsonNode *node = all ? json_object_get_member (all, role) : NULL;
  if (!node)
    return NULL;
  JsonObject *obj = JSON_NODE_HOLDS_OBJECT (node) ?
      json_node_get_object (node) : NULL;
  const char *name = obj ? json_object_get_string_member_with_default (obj,
      "arch", NULL) : NULL;
  const T2iArch *a = name ? t2i_arch_find (role, name) : NULL;
  if (!a) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_UNSUPPORTED,
        "metadata %s describes a %s of arch %s, which this version of t2i "
        "does not have", key, role, name ? name : "(none)");
    return NULL;
  }
  /* the options without "arch" */
  g_autoptr (JsonNode) copy = json_node_copy (node);
  json_object_remove_member (json_node_get_object (copy), "arch");
  g_autofree char *opts = json_to_string (copy, FALSE);
  GstStructure *c = t2i_config_from_json (opts, a->options, error);
  if (!c) {
    g_prefix_error (error, "metadata %s: ", key);
    return NULL;
  }
  if (arch)
    *arch = a;
  return c;
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

gchar **
t2i_arch_described_groups (T2iSafetensors * st, const char *role)
{
  GPtrArray *out = g_ptr_array_new_null_terminated (4, g_free, TRUE);
  GHashTable *meta = t2i_safetensors_get_metadata_table (st);
  GHashTableIter it;
  gpointer k, v;
  if (meta) {
    g_hash_table_iter_init (&it, meta);
    while (g_hash_table_iter_next (&it, &k, &v)) {
      if (!g_str_has_prefix (k, T2I_MODEL_METADATA_PREFIX))
        continue;
      g_autoptr (JsonNode) root = json_from_string (v, NULL);
      if (root && JSON_NODE_HOLDS_OBJECT (root)
          && json_object_has_member (json_node_get_object (root), role))
        g_ptr_array_add (out, g_strdup ((const char *) k +
                strlen (T2I_MODEL_METADATA_PREFIX)));
    }
  }
  g_ptr_array_sort (out, compare_strings);
  return (gchar **) g_ptr_array_free (out, FALSE);
}
