/* T2iTransform and T2iLoss base classes (see t2i/element.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/element.h"

#include <string.h>
#include "t2i/ops.h"
#include "t2i/safetensors.h"

GST_DEBUG_CATEGORY_STATIC (t2i_transform_debug);
#define GST_CAT_DEFAULT t2i_transform_debug

typedef struct
{
  gchar *group_name;            /* property; NULL = element name */
  gboolean trainable;
  gchar *weights;
  gchar **drop;                 /* entries removed after process() */
  T2iParamGroup *params;
  GPtrArray *own;               /* T2iParam* this element added (borrowed) */
  gboolean shared;              /* params is another element's group */
  gboolean built;
  gboolean build_failed;        /* reported once; caps are not retried */
  gboolean registered;
  T2iSession *session;
  T2iRng init_rng;
  gchar *last_error;            /* negotiation error already posted */
} T2iTransformPrivate;

enum
{
  PROP_0,
  PROP_GROUP,
  PROP_TRAINABLE,
  PROP_WEIGHTS,
  PROP_DROP,
};

G_DEFINE_ABSTRACT_TYPE_WITH_CODE (T2iTransform, t2i_transform,
    GST_TYPE_BASE_TRANSFORM, G_ADD_PRIVATE (T2iTransform)
    GST_DEBUG_CATEGORY_INIT (t2i_transform_debug, "t2itransform", 0,
        "t2i transform base class"));

#define PRIV(self) ((T2iTransformPrivate *) t2i_transform_get_instance_private (self))

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (T2I_RECORD_CAPS_NAME));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (T2I_RECORD_CAPS_NAME));

const char *
t2i_transform_get_group_name (T2iTransform * self)
{
  T2iTransformPrivate *p = PRIV (self);
  return p->group_name ? p->group_name : GST_OBJECT_NAME (self);
}

T2iParamGroup *
t2i_transform_get_params (T2iTransform * self)
{
  T2iTransformPrivate *p = PRIV (self);
  if (!p->params)
    p->params = t2i_param_group_new (t2i_transform_get_group_name (self));
  return p->params;
}

gboolean
t2i_transform_is_trainable (T2iTransform * self)
{
  return PRIV (self)->trainable;
}

T2iParam *
t2i_transform_add_param (T2iTransform * self, const char *local_name,
    T2iTensor * value)
{
  T2iTransformPrivate *p = PRIV (self);
  T2iParam *param = t2i_param_group_add (t2i_transform_get_params (self),
      local_name, value, p->trainable);
  /* on the session's device, like the parameters build() made */
  if (param && p->session
      && !t2i_tensor_move_to_device (param->value,
          t2i_session_get_device (p->session), NULL))
    g_critical ("%s: cannot move parameter %s to %s", GST_OBJECT_NAME (self),
        local_name, t2i_device_name (t2i_session_get_device (p->session)));
  if (param && p->own)
    g_ptr_array_add (p->own, param);
  /* a group that gets its first parameter after build() (created lazily
   * at the first record) is registered then */
  if (param && p->built && !p->shared && !p->registered && p->session) {
    t2i_session_register_group (p->session,
        t2i_transform_get_group_name (self), p->params, GST_ELEMENT (self));
    p->registered = TRUE;
  }
  return param;
}

/* this element's own parameters: all of a group it does not share */
static void
set_own_trainable (T2iTransformPrivate * p, gboolean trainable)
{
  if (!p->params)
    return;
  if (!p->shared) {
    t2i_param_group_set_trainable (p->params, trainable);
    return;
  }
  for (guint i = 0; p->own && i < p->own->len; i++)
    t2i_param_group_set_param_trainable (g_ptr_array_index (p->own, i),
        trainable);
}

/* weights= into the parameters this element added */
static gboolean
load_own (T2iTransformPrivate * p, T2iSafetensors * st, const char *group,
    const char *prefix, gboolean strict, GError ** error)
{
  g_autoptr (T2iParamGroup) view = t2i_param_group_new (group);
  g_autoptr (GString) missing = g_string_new (NULL);
  g_autofree char *pre = prefix ? g_strdup (prefix)
      : g_strconcat (group, ".", NULL);

  for (guint i = 0; i < p->own->len; i++) {
    T2iParam *param = g_ptr_array_index (p->own, i);
    g_autofree char *name = g_strconcat (pre, param->local_name, NULL);
    t2i_param_group_add (view, param->local_name, param->value,
        param->trainable);
    if (strict && !t2i_safetensors_has (st, name))
      g_string_append_printf (missing, "%s%s", missing->len ? ", " : "",
          name);
  }
  if (missing->len) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "%s: missing: %s", t2i_safetensors_get_path (st), missing->str);
    return FALSE;
  }
  return t2i_param_group_load (view, st, pre, FALSE, error);
}

/* only this element's parameters: the group may be (or become, when an
 * element later in the pipeline joins it) shared, and the file then holds
 * the other elements' parameters under the same prefix */
gboolean
t2i_transform_load_params (T2iTransform * self, T2iSafetensors * st,
    const char *prefix, gboolean strict, GError ** error)
{
  T2iTransformPrivate *p = PRIV (self);
  return load_own (p, st, t2i_transform_get_group_name (self), prefix,
      strict, error);
}

T2iSession *
t2i_transform_get_session (T2iTransform * self)
{
  T2iTransformPrivate *p = PRIV (self);
  return t2i_session_ensure (GST_ELEMENT (self), &p->session);
}

gboolean
t2i_transform_is_training (T2iTransform * self)
{
  return t2i_session_is_training (PRIV (self)->session);
}

T2iRng *
t2i_transform_get_init_rng (T2iTransform * self)
{
  return &PRIV (self)->init_rng;
}

static void
post_error (T2iTransform * self, GError * err)
{
  GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s", err->message), (NULL));
}

/* a trailing star matches a prefix, so attr/ followed by a star drops
 * every attr/ entry */
static gboolean
drop_matches (gchar ** drop, const char *name)
{
  for (gchar ** d = drop; d && *d; d++) {
    gsize l = strlen (*d);
    if (l && (*d)[l - 1] == '*' ? strncmp (*d, name, l - 1) == 0
        : strcmp (*d, name) == 0)
      return TRUE;
  }
  return FALSE;
}

static void
drop_from_caps (gchar ** drop, GstStructure * s)
{
  const GValue *list = gst_structure_get_value (s, "entries");
  if (!drop || !list || !GST_VALUE_HOLDS_ARRAY (list))
    return;
  g_auto (GStrv) names = g_new0 (gchar *, gst_value_array_get_size (list) + 1);
  for (guint i = 0; i < gst_value_array_get_size (list); i++)
    names[i] = g_value_dup_string (gst_value_array_get_value (list, i));
  for (gchar ** n = names; *n; n++)
    if (drop_matches (drop, *n))
      t2i_caps_remove_entry (s, *n);
}

static void
drop_from_record (gchar ** drop, GstBuffer * record)
{
  for (guint i = t2i_record_n_entries (record); drop && i > 0; i--) {
    const char *name = t2i_record_entry_name (record, i - 1);
    if (drop_matches (drop, name)) {
      g_autofree char *copy = g_strdup (name);
      t2i_record_remove (record, copy);
    }
  }
}

static GstCaps *
t2i_transform_transform_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * filter)
{
  T2iTransform *self = T2I_TRANSFORM (trans);
  T2iTransformClass *klass = T2I_TRANSFORM_GET_CLASS (self);
  T2iTransformPrivate *p = PRIV (self);
  GstCaps *res;

  /* in NULL (gst_parse_launch linking) the element may not know its
   * model yet (weights= is read in NULL->READY, and may not exist before
   * a trainer writes it): the entries are checked when the caps arrive */
  if (direction == GST_PAD_SRC || GST_STATE (self) == GST_STATE_NULL) {
    res = direction == GST_PAD_SRC ? t2i_record_caps_new_any ()
        : gst_caps_ref (caps);
  } else {
    res = gst_caps_new_empty ();
    for (guint i = 0; i < gst_caps_get_size (caps); i++) {
      const GstStructure *in = gst_caps_get_structure (caps, i);
      GstStructure *out = gst_structure_copy (in);
      GError *err = NULL;
      if (gst_structure_has_field (in, "entries") && klass->negotiate
          && !klass->negotiate (self, in, out, &err)) {
        if (g_strcmp0 (p->last_error, err->message) != 0) {
          g_free (p->last_error);
          p->last_error = g_strdup (err->message);
          post_error (self, err);
        }
        g_error_free (err);
        gst_structure_free (out);
        continue;
      }
      drop_from_caps (p->drop, out);
      gst_caps_append_structure (res, out);
    }
  }
  if (filter) {
    GstCaps *f = gst_caps_intersect_full (filter, res, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (res);
    res = f;
  }
  return res;
}

static gboolean
build (T2iTransform * self, const GstStructure * in, GError ** error)
{
  T2iTransformClass *klass = T2I_TRANSFORM_GET_CLASS (self);
  T2iTransformPrivate *p = PRIV (self);
  T2iSession *session = t2i_transform_get_session (self);
  const char *group = t2i_transform_get_group_name (self);

  /* deterministic initialisation: session seed + group name */
  p->init_rng.seed = t2i_session_get_seed (session) ^ g_str_hash (group)
      ^ 0x5DEECE66DULL;
  p->init_rng.offset = 0;

  /* a group another element of the session already registered is shared */
  T2iParamGroup *existing = t2i_session_lookup_group (session, group);
  if (existing && existing != p->params) {
    if (p->params && t2i_param_group_n_params (p->params) > 0) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "group=%s is already used by another element", group);
      return FALSE;
    }
    g_clear_pointer (&p->params, t2i_param_group_unref);
    p->params = t2i_param_group_ref (existing);
    p->shared = TRUE;
  }
  t2i_transform_get_params (self);
  guint first = t2i_param_group_n_params (p->params);
  if (!p->own)
    p->own = g_ptr_array_new ();
  g_ptr_array_set_size (p->own, 0);
  if (klass->build && !klass->build (self, in, error))
    return FALSE;
  /* parameters added to the group directly (models built into it) */
  for (guint i = first; i < t2i_param_group_n_params (p->params); i++) {
    T2iParam *param = t2i_param_group_get (p->params, i);
    if (!g_ptr_array_find (p->own, param, NULL))
      g_ptr_array_add (p->own, param);
  }
  if (!p->trainable)
    set_own_trainable (p, FALSE);
  if (p->weights) {
    g_autoptr (T2iSafetensors) st = t2i_safetensors_load (p->weights, error);
    gboolean ok;
    if (!st)
      ok = FALSE;
    else if (klass->load_weights)
      ok = klass->load_weights (self, st, error);
    else
      ok = t2i_transform_load_params (self, st, NULL, TRUE, error);
    if (!ok) {
      g_prefix_error (error, "weights=%s: ", p->weights);
      return FALSE;
    }
  }
  /* the parameters live on the session's device from here on */
  if (!t2i_param_group_to_device (p->params, t2i_session_get_device (session),
          error))
    return FALSE;
  if (!p->shared && t2i_param_group_n_params (p->params) > 0) {
    t2i_session_register_group (session, group, p->params, GST_ELEMENT (self));
    p->registered = TRUE;
  }
  return TRUE;
}

typedef struct
{
  T2iTransform *self;
  const GstStructure *in;
  GstBuffer *record;
} Work;

static gboolean
guarded_build (gpointer data, GError ** error)
{
  Work *w = data;
  return build (w->self, w->in, error);
}

static gboolean
t2i_transform_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    GstCaps * outcaps)
{
  T2iTransform *self = T2I_TRANSFORM (trans);
  T2iTransformPrivate *p = PRIV (self);
  GError *err = NULL;
  Work w = { self, gst_caps_get_structure (incaps, 0), NULL };

  if (p->built)
    return TRUE;
  /* parameters are uploaded on the session's stream */
  t2i_session_enter (p->session);
  /* a failed build has added parameters already: never build twice */
  if (p->build_failed)
    return FALSE;
  /* parameters the machine cannot hold fail as this element's error */
  if (!t2i_alloc_guard (guarded_build, &w, &err)) {
    post_error (self, err);
    g_error_free (err);
    p->build_failed = TRUE;
    return FALSE;
  }
  p->built = TRUE;
  return TRUE;
}

static gboolean
guarded_process (gpointer data, GError ** error)
{
  Work *w = data;
  return T2I_TRANSFORM_GET_CLASS (w->self)->process (w->self, w->record,
      error);
}

static GstFlowReturn
t2i_transform_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  T2iTransform *self = T2I_TRANSFORM (trans);
  T2iTransformClass *klass = T2I_TRANSFORM_GET_CLASS (self);
  GError *err = NULL;

  if (!t2i_record_is_record (buf)) {
    GST_ELEMENT_ERROR (self, STREAM, WRONG_TYPE,
        ("received a buffer that is not a t2i record"), (NULL));
    return GST_FLOW_ERROR;
  }
  /* the session's stream, and its device: a record from a host-side
   * element (t2ifromvideo, an application) is uploaded once, here */
  T2iSession *session = PRIV (self)->session;
  t2i_session_enter (session);
  if (!t2i_session_record_to_device (session, buf, &err)) {
    post_error (self, err);
    g_error_free (err);
    return GST_FLOW_ERROR;
  }
  gboolean prev = t2i_set_grad_enabled (t2i_transform_is_training (self));
  Work w = { self, NULL, buf };
  gboolean ok = klass->process ? t2i_alloc_guard (guarded_process, &w, &err)
      : TRUE;
  t2i_set_grad_enabled (prev);
  if (ok)
    drop_from_record (PRIV (self)->drop, buf);
  if (!ok) {
    post_error (self, err);
    g_error_free (err);
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static gboolean
t2i_transform_query (GstBaseTransform * trans, GstPadDirection direction,
    GstQuery * query)
{
  if (t2i_session_handle_context_query (GST_ELEMENT (trans), query,
          PRIV (T2I_TRANSFORM (trans))->session))
    return TRUE;
  return GST_BASE_TRANSFORM_CLASS (t2i_transform_parent_class)->query (trans,
      direction, query);
}

static void
t2i_transform_set_context (GstElement * element, GstContext * context)
{
  t2i_session_handle_set_context (element, context,
      &PRIV (T2I_TRANSFORM (element))->session);
  GST_ELEMENT_CLASS (t2i_transform_parent_class)->set_context (element,
      context);
}

static GstStateChangeReturn
t2i_transform_change_state (GstElement * element, GstStateChange transition)
{
  T2iTransform *self = T2I_TRANSFORM (element);
  T2iTransformPrivate *p = PRIV (self);

  if (transition == GST_STATE_CHANGE_NULL_TO_READY)
    t2i_session_ensure (element, &p->session);
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS (t2i_transform_parent_class)->change_state (element,
      transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL && p->registered) {
    t2i_session_unregister_group (p->session, t2i_transform_get_group_name (self),
        p->params);
    p->registered = FALSE;
  }
  return ret;
}

static void
t2i_transform_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iTransformPrivate *p = PRIV (T2I_TRANSFORM (obj));
  switch (id) {
    case PROP_GROUP:
      g_free (p->group_name);
      p->group_name = g_value_dup_string (v);
      break;
    case PROP_TRAINABLE:
      p->trainable = g_value_get_boolean (v);
      set_own_trainable (p, p->trainable);
      break;
    case PROP_WEIGHTS:
      g_free (p->weights);
      p->weights = g_value_dup_string (v);
      break;
    case PROP_DROP:{
      const char *d = g_value_get_string (v);
      g_strfreev (p->drop);
      p->drop = d && *d ? g_strsplit_set (d, ", ", -1) : NULL;
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_transform_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iTransform *self = T2I_TRANSFORM (obj);
  T2iTransformPrivate *p = PRIV (self);
  switch (id) {
    case PROP_GROUP:
      g_value_set_string (v, t2i_transform_get_group_name (self));
      break;
    case PROP_TRAINABLE:
      g_value_set_boolean (v, p->trainable);
      break;
    case PROP_WEIGHTS:
      g_value_set_string (v, p->weights);
      break;
    case PROP_DROP:{
      g_autofree char *d = p->drop ? g_strjoinv (",", p->drop) : NULL;
      g_value_set_string (v, d);
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_transform_finalize (GObject * obj)
{
  T2iTransformPrivate *p = PRIV (T2I_TRANSFORM (obj));
  g_free (p->group_name);
  g_free (p->weights);
  g_strfreev (p->drop);
  g_free (p->last_error);
  g_clear_pointer (&p->params, t2i_param_group_unref);
  g_clear_pointer (&p->own, g_ptr_array_unref);
  g_clear_object (&p->session);
  G_OBJECT_CLASS (t2i_transform_parent_class)->finalize (obj);
}

static void
t2i_transform_class_init (T2iTransformClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *bc = GST_BASE_TRANSFORM_CLASS (klass);

  oc->set_property = t2i_transform_set_property;
  oc->get_property = t2i_transform_get_property;
  oc->finalize = t2i_transform_finalize;
  ec->set_context = t2i_transform_set_context;
  ec->change_state = t2i_transform_change_state;
  bc->transform_caps = t2i_transform_transform_caps;
  bc->set_caps = t2i_transform_set_caps;
  bc->transform_ip = t2i_transform_transform_ip;
  bc->query = t2i_transform_query;

  g_object_class_install_property (oc, PROP_GROUP,
      g_param_spec_string ("group", "Group",
          "Name of the parameter group (default: the element's name); "
          "parameters are named <group>.<path>", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (oc, PROP_TRAINABLE,
      g_param_spec_boolean ("trainable", "Trainable",
          "Whether the trainer may update this element's parameters "
          "(false freezes them, e.g. pretrained encoders)", TRUE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (oc, PROP_WEIGHTS,
      g_param_spec_string ("weights", "Weights",
          "safetensors file to load the parameters from (names "
          "<group>.<path>); unset = initialise from the session seed", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (oc, PROP_DROP,
      g_param_spec_string ("drop", "Drop",
          "Entries to remove from the record after this element, "
          "comma-separated; 'attr/*' matches a prefix", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (ec, &sink_template);
  gst_element_class_add_static_pad_template (ec, &src_template);
  gst_type_mark_as_plugin_api (T2I_TYPE_TRANSFORM, 0);
}

static void
t2i_transform_init (T2iTransform * self)
{
  PRIV (self)->trainable = TRUE;
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), FALSE);
}

/* ================= T2iLoss ================= */

typedef struct
{
  gchar *output;
  gchar *update;
  gdouble weight;
  gchar **phases;               /* NULL: every record */
  guint every;
  gint64 start;
  gint64 until;                 /* -1: no end */
  gchar *entry;                 /* "loss/<output>" */
} T2iLossPrivate;

enum
{
  LPROP_0,
  LPROP_OUTPUT,
  LPROP_UPDATE,
  LPROP_WEIGHT,
  LPROP_PHASES,
  LPROP_EVERY,
  LPROP_START,
  LPROP_UNTIL,
};

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (T2iLoss, t2i_loss, T2I_TYPE_TRANSFORM);
#define LPRIV(self) ((T2iLossPrivate *) t2i_loss_get_instance_private (self))

const char *
t2i_loss_get_entry_name (T2iLoss * self)
{
  T2iLossPrivate *p = LPRIV (self);
  if (!p->entry)
    p->entry = g_strconcat ("loss/", p->output ? p->output :
        GST_OBJECT_NAME (self), NULL);
  return p->entry;
}

const char *
t2i_loss_get_update (T2iLoss * self)
{
  return LPRIV (self)->update;
}

guint
t2i_loss_get_every (T2iLoss * self)
{
  return LPRIV (self)->every;
}

/* whether the loss runs on @record: its phase is one of phases=, and its
 * step is start, start + every, ... before until */
static gboolean
loss_due (T2iLoss * self, GstBuffer * record, GError ** error)
{
  T2iLossPrivate *p = LPRIV (self);
  T2iRecordMeta *m = t2i_record_get_meta (record);
  const gint64 step = m ? m->step : 0;

  if (p->phases) {
    if (!m || !m->phase[0]) {
      g_autofree char *list = g_strjoinv (",", p->phases);
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
          "phases=%s but the records carry no phase: emit a record per "
          "phase at the source (t2idatasetsrc phases=D,G)", list);
      return FALSE;
    }
    if (!g_strv_contains ((const gchar * const *) p->phases, m->phase))
      return FALSE;
  }
  if (step < p->start || (p->until >= 0 && step >= p->until))
    return FALSE;
  return p->every <= 1 || (step - p->start) % p->every == 0;
}

static gboolean
t2i_loss_negotiate (T2iTransform * t, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  T2iLoss *self = T2I_LOSS (t);
  T2iLossClass *klass = T2I_LOSS_GET_CLASS (self);
  T2iLossPrivate *p = LPRIV (self);
  const char *entry = t2i_loss_get_entry_name (self);

  if (!p->update) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "property 'update' is not set: name the parameter group this loss "
        "trains (e.g. update=G)");
    return FALSE;
  }
  if (klass->check && !klass->check (self, in, error))
    return FALSE;
  t2i_caps_set_entry (out, entry, "f32", 0, NULL);
  g_autofree char *f = g_strconcat (entry, ".update", NULL);
  gst_structure_set (out, f, G_TYPE_STRING, p->update, NULL);
  return TRUE;
}

static gboolean
t2i_loss_process (T2iTransform * t, GstBuffer * record, GError ** error)
{
  T2iLoss *self = T2I_LOSS (t);
  T2iLossPrivate *p = LPRIV (self);
  GError *err = NULL;
  if (!loss_due (self, record, &err)) {
    if (!err)
      return TRUE;
    g_propagate_error (error, err);
    return FALSE;
  }
  T2iTensor *l = T2I_LOSS_GET_CLASS (self)->compute (self, record, error);
  if (!l)
    return FALSE;
  if (p->weight != 1.0) {
    T2iTensor *w = t2i_mul_scalar (l, p->weight);
    t2i_tensor_unref (l);
    l = w;
  }
  if (l->dtype != T2I_F32 && !l->requires_grad) {
    T2iTensor *c = t2i_tensor_to_dtype (l, T2I_F32);
    t2i_tensor_unref (l);
    l = c;
  }
  gboolean ok = t2i_record_set_tensor (record, t2i_loss_get_entry_name (self),
      l, error);
  t2i_tensor_unref (l);
  return ok;
}

static void
t2i_loss_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iLossPrivate *p = LPRIV (T2I_LOSS (obj));
  switch (id) {
    case LPROP_OUTPUT:
      g_free (p->output);
      p->output = g_value_dup_string (v);
      g_clear_pointer (&p->entry, g_free);
      break;
    case LPROP_UPDATE:
      g_free (p->update);
      p->update = g_value_dup_string (v);
      break;
    case LPROP_WEIGHT:
      p->weight = g_value_get_double (v);
      break;
    case LPROP_PHASES:{
      const char *ph = g_value_get_string (v);
      g_strfreev (p->phases);
      p->phases = ph && *ph ? g_strsplit_set (ph, ", ", -1) : NULL;
      break;
    }
    case LPROP_EVERY:
      p->every = g_value_get_uint (v);
      break;
    case LPROP_START:
      p->start = g_value_get_int64 (v);
      break;
    case LPROP_UNTIL:
      p->until = g_value_get_int64 (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_loss_get_property (GObject * obj, guint id, GValue * v, GParamSpec * pspec)
{
  T2iLossPrivate *p = LPRIV (T2I_LOSS (obj));
  switch (id) {
    case LPROP_OUTPUT:
      g_value_set_string (v, p->output);
      break;
    case LPROP_UPDATE:
      g_value_set_string (v, p->update);
      break;
    case LPROP_WEIGHT:
      g_value_set_double (v, p->weight);
      break;
    case LPROP_PHASES:{
      g_autofree char *ph = p->phases ? g_strjoinv (",", p->phases) : NULL;
      g_value_set_string (v, ph);
      break;
    }
    case LPROP_EVERY:
      g_value_set_uint (v, p->every);
      break;
    case LPROP_START:
      g_value_set_int64 (v, p->start);
      break;
    case LPROP_UNTIL:
      g_value_set_int64 (v, p->until);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_loss_finalize (GObject * obj)
{
  T2iLossPrivate *p = LPRIV (T2I_LOSS (obj));
  g_free (p->output);
  g_free (p->update);
  g_free (p->entry);
  g_strfreev (p->phases);
  G_OBJECT_CLASS (t2i_loss_parent_class)->finalize (obj);
}

static void
t2i_loss_class_init (T2iLossClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  T2iTransformClass *tc = T2I_TRANSFORM_CLASS (klass);

  oc->set_property = t2i_loss_set_property;
  oc->get_property = t2i_loss_get_property;
  oc->finalize = t2i_loss_finalize;
  tc->negotiate = t2i_loss_negotiate;
  tc->process = t2i_loss_process;

  g_object_class_install_property (oc, LPROP_OUTPUT,
      g_param_spec_string ("output", "Output",
          "The loss entry is loss/<output> (default: the element's name)",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (oc, LPROP_UPDATE,
      g_param_spec_string ("update", "Update",
          "Parameter group the trainer updates with this loss (e.g. G, D)",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (oc, LPROP_WEIGHT,
      g_param_spec_double ("weight", "Weight",
          "Factor the loss is multiplied by", -G_MAXDOUBLE, G_MAXDOUBLE, 1.0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (oc, LPROP_PHASES,
      g_param_spec_string ("phases", "Phases",
          "Compute the loss only on records of these phases, "
          "comma-separated (t2idatasetsrc phases=D,G; unset: every record)",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (oc, LPROP_EVERY,
      g_param_spec_uint ("every", "Every",
          "Compute the loss on steps start, start + every, ... only (a lazy "
          "regulariser: every=16); 0 or 1: every step", 0, G_MAXUINT, 1,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (oc, LPROP_START,
      g_param_spec_int64 ("start", "Start",
          "First step (the record's step) the loss runs on", 0, G_MAXINT64,
          0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (oc, LPROP_UNTIL,
      g_param_spec_int64 ("until", "Until",
          "The loss runs on steps before this one only (-1: no end)", -1,
          G_MAXINT64, -1, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  gst_type_mark_as_plugin_api (T2I_TYPE_LOSS, 0);
}

static void
t2i_loss_init (T2iLoss * self)
{
  LPRIV (self)->weight = 1.0;
  LPRIV (self)->every = 1;
  LPRIV (self)->until = -1;
}
