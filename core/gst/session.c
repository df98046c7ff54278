/* T2iSession and its GstContext plumbing (see t2i/session.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/session.h"
#include "t2i/dist.h"
#include "t2i/ops.h"
#include "t2i/record.h"
#include "t2i/tensor.h"

struct _T2iSession
{
  GObject parent;
  GMutex lock;
  guint64 seed;
  gint threads;
  gboolean training;
  T2iRng rng;
  gint rank, size;
  gint64 resume_step;
  GHashTable *groups;           /* name -> Group */
  T2iDevice device;
  T2iCudaStream *stream;        /* the pipeline's stream (device cuda) */
  T2iPrecision precision;
};

typedef struct
{
  gpointer group;
  GstElement *owner;            /* weak: the owner unregisters itself */
} Group;

enum
{
  PROP_0,
  PROP_SEED,
  PROP_THREADS,
  PROP_TRAINING,
  PROP_DEVICE,
  PROP_PRECISION,
};

G_DEFINE_FINAL_TYPE (T2iSession, t2i_session, G_TYPE_OBJECT);

static void
t2i_session_finalize (GObject * obj)
{
  T2iSession *self = T2I_SESSION (obj);
  g_hash_table_destroy (self->groups);
  if (self->stream)
    t2i_cuda_stream_free (self->stream);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (t2i_session_parent_class)->finalize (obj);
}

static void
t2i_session_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iSession *self = T2I_SESSION (obj);
  switch (id) {
    case PROP_SEED:
      t2i_session_set_seed (self, g_value_get_uint64 (v));
      break;
    case PROP_THREADS:
      self->threads = g_value_get_int (v);
      t2i_set_num_threads (self->threads);
      break;
    case PROP_TRAINING:
      self->training = g_value_get_boolean (v);
      break;
    case PROP_DEVICE:{
      T2iDevice d;
      g_autoptr (GError) err = NULL;
      if (!t2i_device_from_name (g_value_get_string (v), &d))
        g_critical ("t2i session: unknown device '%s' (cpu or cuda)",
            g_value_get_string (v));
      else if (!t2i_session_set_device (self, d, &err))
        g_critical ("t2i session: %s", err->message);
      break;
    }
    case PROP_PRECISION:{
      T2iPrecision p;
      g_autoptr (GError) err = NULL;
      if (!t2i_precision_from_name (g_value_get_string (v), &p))
        g_critical ("t2i session: unknown precision '%s' (f32 or bf16)",
            g_value_get_string (v));
      else if (!t2i_session_set_precision (self, p, &err))
        g_critical ("t2i session: %s", err->message);
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_session_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iSession *self = T2I_SESSION (obj);
  switch (id) {
    case PROP_SEED:
      g_value_set_uint64 (v, self->seed);
      break;
    case PROP_THREADS:
      g_value_set_int (v, self->threads);
      break;
    case PROP_TRAINING:
      g_value_set_boolean (v, self->training);
      break;
    case PROP_DEVICE:
      g_value_set_string (v, t2i_device_name (self->device));
      break;
    case PROP_PRECISION:
      g_value_set_string (v, t2i_precision_name (self->precision));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_session_class_init (T2iSessionClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  oc->finalize = t2i_session_finalize;
  oc->set_property = t2i_session_set_property;
  oc->get_property = t2i_session_get_property;
  g_object_class_install_property (oc, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed", "Seed of the session RNG", 0,
          G_MAXUINT64, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (oc, PROP_THREADS,
      g_param_spec_int ("threads", "Threads",
          "Compute threads (0 = one per core)", 0, 1024, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (oc, PROP_TRAINING,
      g_param_spec_boolean ("training", "Training",
          "Whether the pipeline trains (autograd on)", FALSE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (oc, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "Where the pipeline's tensors live: cpu or cuda (default: "
          "$T2I_DEVICE, else cpu)", "cpu",
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (oc, PROP_PRECISION,
      g_param_spec_string ("precision", "Precision",
          "What matmuls and convolutions multiply in: f32, or bf16 with f32 "
          "results and master weights (default: $T2I_PRECISION, else f32)",
          "f32", G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
}

static void
group_free (gpointer p)
{
  g_free (p);
}

static void
t2i_session_init (T2iSession * self)
{
  g_mutex_init (&self->lock);
  self->groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      group_free);
  /* a failure is reported by the elements that need the job (t2itrainer) */
  t2i_dist_init (NULL);
  self->rank = t2i_dist_rank ();
  self->size = t2i_dist_size ();
  t2i_rng_set_shard (&self->rng, (guint) self->rank, (guint) self->size);
}

T2iSession *
t2i_session_new (void)
{
  T2iSession *s = g_object_new (T2I_TYPE_SESSION, NULL);
  const char *env = g_getenv ("T2I_DEVICE");
  T2iDevice d;
  g_autoptr (GError) err = NULL;
  if (env && *env) {
    if (!t2i_device_from_name (env, &d))
      g_warning ("T2I_DEVICE=%s is not a device (cpu or cuda); using cpu",
          env);
    else if (!t2i_session_set_device (s, d, &err))
      g_warning ("T2I_DEVICE=%s: %s; using cpu", env, err->message);
  }
  env = g_getenv ("T2I_PRECISION");
  if (env && *env) {
    T2iPrecision p;
    g_clear_error (&err);
    if (!t2i_precision_from_name (env, &p))
      g_warning ("T2I_PRECISION=%s is not a precision (f32 or bf16); using "
          "f32", env);
    else if (!t2i_session_set_precision (s, p, &err))
      g_warning ("T2I_PRECISION=%s: %s", env, err->message);
  }
  return s;
}

T2iPrecision
t2i_session_get_precision (T2iSession * self)
{
  return self ? self->precision : T2I_PRECISION_F32;
}

T2iDevice
t2i_session_get_device (T2iSession * self)
{
  return self ? self->device : T2I_DEVICE_CPU;
}

gboolean
t2i_session_set_compute (T2iSession * self, T2iDevice device,
    T2iPrecision precision, GError ** error)
{
  g_return_val_if_fail (T2I_IS_SESSION (self), FALSE);
  if (precision != T2I_PRECISION_F32 && device != T2I_DEVICE_CPU) {
    g_set_error (error, T2I_PRECISION_ERROR, 0, "precision %s runs on the "
        "CPU only; %s computes in f32", t2i_precision_name (precision),
        t2i_device_name (device));
    return FALSE;
  }
  if (!t2i_precision_check (precision, error))
    return FALSE;
  if (device != self->device) {
    if (device == T2I_DEVICE_CUDA) {
      T2iCudaStream *stream = t2i_cuda_stream_new (error);
      if (!stream)
        return FALSE;
      self->stream = stream;
    } else if (self->stream) {
      t2i_cuda_stream_free (self->stream);
      self->stream = NULL;
    }
    self->device = device;
  }
  self->precision = precision;
  return TRUE;
}

gboolean
t2i_session_set_precision (T2iSession * self, T2iPrecision precision,
    GError ** error)
{
  g_return_val_if_fail (T2I_IS_SESSION (self), FALSE);
  return t2i_session_set_compute (self, self->device, precision, error);
}

gboolean
t2i_session_set_device (T2iSession * self, T2iDevice device, GError ** error)
{
  g_return_val_if_fail (T2I_IS_SESSION (self), FALSE);
  return t2i_session_set_compute (self, device, self->precision, error);
}

void
t2i_session_enter (T2iSession * self)
{
  if (self && self->stream)
    t2i_cuda_stream_set_current (self->stream);
  if (self)
    t2i_set_precision (self->precision);
}

T2iTensor *
t2i_session_to_device (T2iSession * self, T2iTensor * t, GError ** error)
{
  if (!t)
    return NULL;
  return t2i_tensor_to_device (t, t2i_session_get_device (self), error);
}

gboolean
t2i_session_record_to_device (T2iSession * self, GstBuffer * record,
    GError ** error)
{
  const T2iDevice device = t2i_session_get_device (self);
  if (device == T2I_DEVICE_CPU)
    return TRUE;
  t2i_session_enter (self);
  for (guint i = 0; i < t2i_record_n_entries (record); i++) {
    const char *name = t2i_record_entry_name (record, i);
    T2iTensor *t = t2i_record_get_tensor (record, name);
    if (!t || t->device == device)
      continue;
    /* a gradient leaf stays a leaf (on the device); a computed tensor keeps
     * its graph through a recorded copy */
    g_autoptr (T2iTensor) d = NULL;
    if (t->requires_grad && t->node)
      d = t2i_copy_to_device (t, device);
    else
      d = t2i_tensor_to_device (t, device, error);
    if (!d)
      return FALSE;
    if (t->requires_grad && !t->node)
      t2i_tensor_set_requires_grad (d, TRUE);
    if (!t2i_record_set_tensor (record, name, d, error))
      return FALSE;
  }
  return TRUE;
}

guint64
t2i_session_get_seed (T2iSession * self)
{
  return self ? self->seed : 0;
}

void
t2i_session_set_seed (T2iSession * self, guint64 seed)
{
  self->seed = seed;
  self->rng.seed = seed;
  self->rng.offset = 0;
}

gboolean
t2i_session_is_training (T2iSession * self)
{
  return self && self->training;
}

void
t2i_session_set_training (T2iSession * self, gboolean training)
{
  self->training = training;
}

T2iRng *
t2i_session_get_rng (T2iSession * self)
{
  return &self->rng;
}

gint
t2i_session_get_rank (T2iSession * self)
{
  return self ? self->rank : 0;
}

gint
t2i_session_get_size (T2iSession * self)
{
  return self ? self->size : 1;
}

void
t2i_session_set_rank (T2iSession * self, gint rank, gint size)
{
  g_return_if_fail (size >= 1 && rank >= 0 && rank < size);
  self->rank = rank;
  self->size = size;
  t2i_rng_set_shard (&self->rng, (guint) rank, (guint) size);
}

gint64
t2i_session_get_resume_step (T2iSession * self)
{
  return self ? self->resume_step : 0;
}

void
t2i_session_set_resume_step (T2iSession * self, gint64 step)
{
  self->resume_step = step;
}

void
t2i_session_register_group (T2iSession * self, const char *name,
    gpointer group, GstElement * owner)
{
  Group *g = g_new0 (Group, 1);
  g->group = group;
  g->owner = owner;
  g_mutex_lock (&self->lock);
  g_hash_table_replace (self->groups, g_strdup (name), g);
  g_mutex_unlock (&self->lock);
}

void
t2i_session_unregister_group (T2iSession * self, const char *name,
    gpointer group)
{
  g_mutex_lock (&self->lock);
  Group *g = g_hash_table_lookup (self->groups, name);
  if (g && g->group == group)
    g_hash_table_remove (self->groups, name);
  g_mutex_unlock (&self->lock);
}

gpointer
t2i_session_lookup_group (T2iSession * self, const char *name)
{
  g_mutex_lock (&self->lock);
  Group *g = g_hash_table_lookup (self->groups, name);
  gpointer r = g ? g->group : NULL;
  g_mutex_unlock (&self->lock);
  return r;
}

GstElement *
t2i_session_lookup_owner (T2iSession * self, const char *name)
{
  g_mutex_lock (&self->lock);
  Group *g = g_hash_table_lookup (self->groups, name);
  GstElement *r = g ? g->owner : NULL;
  g_mutex_unlock (&self->lock);
  return r;
}

static gint
compare_names (gconstpointer a, gconstpointer b, gpointer user)
{
  return g_strcmp0 (*(const gchar * const *) a, *(const gchar * const *) b);
}

gchar **
t2i_session_list_groups (T2iSession * self)
{
  g_mutex_lock (&self->lock);
  guint n;
  gpointer *keys = g_hash_table_get_keys_as_array (self->groups, &n);
  gchar **r = g_new0 (gchar *, n + 1);
  for (guint i = 0; i < n; i++)
    r[i] = g_strdup (keys[i]);
  g_free (keys);
  g_mutex_unlock (&self->lock);
  g_qsort_with_data (r, (gint) n, sizeof (gchar *), compare_names, NULL);
  return r;
}

/* ---- context plumbing ---- */

static T2iSession *
session_from_context (GstContext * context)
{
  T2iSession *s = NULL;
  if (g_strcmp0 (gst_context_get_context_type (context),
          T2I_SESSION_CONTEXT_TYPE) != 0)
    return NULL;
  const GstStructure *st = gst_context_get_structure (context);
  gst_structure_get (st, "session", T2I_TYPE_SESSION, &s, NULL);
  return s;
}

static GstContext *
context_new (T2iSession * session)
{
  GstContext *c = gst_context_new (T2I_SESSION_CONTEXT_TYPE, TRUE);
  GstStructure *st = gst_context_writable_structure (c);
  gst_structure_set (st, "session", T2I_TYPE_SESSION, session, NULL);
  return c;
}

GstContext *
t2i_session_context_new (T2iSession * session)
{
  g_return_val_if_fail (T2I_IS_SESSION (session), NULL);
  return context_new (session);
}

void
t2i_session_provide (T2iSession * session, GstElement * element)
{
  GstContext *c = context_new (session);
  gst_element_set_context (element, c);
  gst_context_unref (c);
}

void
t2i_session_handle_set_context (GstElement * element, GstContext * context,
    T2iSession ** slot)
{
  T2iSession *s = session_from_context (context);
  if (s) {
    GST_OBJECT_LOCK (element);
    if (*slot)
      g_object_unref (*slot);
    *slot = s;
    GST_OBJECT_UNLOCK (element);
  }
}

gboolean
t2i_session_handle_context_query (GstElement * element, GstQuery * query,
    T2iSession * session)
{
  const gchar *type;
  if (GST_QUERY_TYPE (query) != GST_QUERY_CONTEXT || !session)
    return FALSE;
  if (!gst_query_parse_context_type (query, &type)
      || g_strcmp0 (type, T2I_SESSION_CONTEXT_TYPE) != 0)
    return FALSE;
  GstContext *c = context_new (session);
  gst_query_set_context (query, c);
  gst_context_unref (c);
  return TRUE;
}

static gboolean
query_pads (GstElement * element, GstPadDirection dir, GstQuery * query)
{
  gboolean found = FALSE;
  GList *pads = dir == GST_PAD_SRC ? element->srcpads : element->sinkpads;
  GST_OBJECT_LOCK (element);
  GList *copy = NULL;
  for (GList * l = pads; l; l = l->next)
    copy = g_list_prepend (copy, gst_object_ref (l->data));
  GST_OBJECT_UNLOCK (element);
  for (GList * l = copy; l && !found; l = l->next)
    found = gst_pad_peer_query (GST_PAD (l->data), query);
  g_list_free_full (copy, gst_object_unref);
  return found;
}

T2iSession *
t2i_session_ensure (GstElement * element, T2iSession ** slot)
{
  if (*slot)
    return *slot;

  /* 1. neighbours */
  GstQuery *q = gst_query_new_context (T2I_SESSION_CONTEXT_TYPE);
  if (query_pads (element, GST_PAD_SRC, q) || query_pads (element, GST_PAD_SINK, q)) {
    GstContext *c = NULL;
    gst_query_parse_context (q, &c);
    if (c)
      gst_element_set_context (element, c);
  }
  gst_query_unref (q);
  if (*slot)
    return *slot;

  /* 2. the application or the bin (answers by setting the context) */
  GstMessage *m = gst_message_new_need_context (GST_OBJECT (element),
      T2I_SESSION_CONTEXT_TYPE);
  gst_element_post_message (element, m);
  if (*slot)
    return *slot;

  /* 3. create and announce it */
  T2iSession *s = t2i_session_new ();
  GstContext *c = context_new (s);
  g_object_unref (s);
  gst_element_set_context (element, c);
  gst_element_post_message (element,
      gst_message_new_have_context (GST_OBJECT (element), c));
  return *slot;
}
