/* oneDNN helpers: engine and per-thread streams, error checking, cached
 * primitives with their layout reorders (see dnnl-util.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "dnnl-util.h"

#include "t2i/tensor.h"

#include <oneapi/dnnl/dnnl_debug.h>
#include <stdlib.h>
#include <string.h>

/* ---- engine, streams, errors ---- */

static dnnl_engine_t engine;

dnnl_engine_t
t2i_dnnl_engine (void)
{
  static gsize init = 0;

  if (g_once_init_enter (&init)) {
    dnnl_engine_t e = NULL;
    if (dnnl_engine_create (&e, dnnl_cpu, 0) != dnnl_success)
      g_error ("t2i: cannot create the oneDNN CPU engine");
    engine = e;
    g_once_init_leave (&init, 1);
  }
  return engine;
}

static void
stream_free (gpointer s)
{
  dnnl_stream_destroy (s);
}

static GPrivate stream_key = G_PRIVATE_INIT (stream_free);

dnnl_stream_t
t2i_dnnl_stream (void)
{
  dnnl_stream_t s = g_private_get (&stream_key);

  if (!s) {
    if (dnnl_stream_create (&s, t2i_dnnl_engine (),
            dnnl_stream_default_flags) != dnnl_success)
      g_error ("t2i: cannot create a oneDNN stream");
    g_private_set (&stream_key, s);
  }
  return s;
}

const char *
t2i_dnnl_status_name (dnnl_status_t status)
{
  return dnnl_status2str (status);
}

gboolean
t2i_dnnl_check (dnnl_status_t status, const char *what)
{
  if (G_LIKELY (status == dnnl_success))
    return TRUE;
  g_critical ("t2i: oneDNN %s failed: %s", what, dnnl_status2str (status));
  return FALSE;
}

/* ---- memory descriptors ---- */

gboolean
t2i_dnnl_md_strided (dnnl_memory_desc_t * md, gint ndim, const gint64 * dims,
    const gint64 * strides)
{
  dnnl_dims_t d, s;

  for (gint i = 0; i < ndim; i++) {
    d[i] = dims[i];
    s[i] = strides[i];
  }
  return dnnl_memory_desc_init_by_strides (md, ndim, d, dnnl_f32, s)
      == dnnl_success;
}

void
t2i_dnnl_md_plain (dnnl_memory_desc_t * md, gint ndim, const gint64 * dims)
{
  gint64 s[DNNL_MAX_NDIMS];
  gint64 acc = 1;

  for (gint i = ndim - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= MAX (dims[i], 1);
  }
  if (!t2i_dnnl_md_strided (md, ndim, dims, s))
    g_critical ("t2i: bad oneDNN memory descriptor");
}

void
t2i_dnnl_md_any (dnnl_memory_desc_t * md, gint ndim, const gint64 * dims)
{
  dnnl_dims_t d;

  for (gint i = 0; i < ndim; i++)
    d[i] = dims[i];
  if (dnnl_memory_desc_init_by_tag (md, ndim, d, dnnl_f32,
          dnnl_format_tag_any) != dnnl_success)
    g_critical ("t2i: bad oneDNN memory descriptor");
}

void
t2i_dnnl_md_any_bf16 (dnnl_memory_desc_t * md, gboolean bf16)
{
  dnnl_dims_t d;

  g_return_if_fail (md->format_kind == dnnl_format_kind_any);
  if (!bf16)
    return;
  memcpy (d, md->dims, sizeof (d));
  if (dnnl_memory_desc_init_by_tag (md, md->ndims, d, dnnl_bf16,
          dnnl_format_tag_any) != dnnl_success)
    g_critical ("t2i: bad oneDNN memory descriptor");
}

dnnl_primitive_attr_t
t2i_dnnl_attr_new (void)
{
  dnnl_primitive_attr_t attr = NULL;

  if (!t2i_dnnl_check (dnnl_primitive_attr_create (&attr), "attr_create"))
    return NULL;
  dnnl_primitive_attr_set_scratchpad_mode (attr, dnnl_scratchpad_mode_user);
  return attr;
}

/* ---- cached primitive entries ---- */

typedef struct
{
  dnnl_primitive_t prim;
  dnnl_memory_t scratch_mem;    /* NULL when none is needed */
  gsize scratch_bytes;
} Sub;

typedef struct
{
  int arg;
  gboolean output;
  dnnl_memory_t user_mem;
  dnnl_memory_t prim_mem;       /* NULL when the layouts agree */
  gsize prim_bytes;
  Sub reorder;
} Arg;

struct _T2iDnnlPrim
{
  gint ref_count;
  GMutex lock;
  Sub main;
  char *impl;
  gint n_args;
  Arg args[T2I_DNNL_MAX_ARGS];
  gsize scratch_bytes;          /* max over main and reorders */
};

static void
sub_clear (Sub * s)
{
  if (s->scratch_mem)
    dnnl_memory_destroy (s->scratch_mem);
  if (s->prim)
    dnnl_primitive_destroy (s->prim);
  memset (s, 0, sizeof (*s));
}

/* creates the primitive of @pd (destroyed here) with its scratchpad memory */
static gboolean
sub_init (Sub * s, dnnl_primitive_desc_t pd)
{
  const dnnl_memory_desc_t *smd;

  memset (s, 0, sizeof (*s));
  smd = dnnl_primitive_desc_query_md (pd, dnnl_query_scratchpad_md, 0);
  if (smd && smd->ndims > 0)
    s->scratch_bytes = dnnl_memory_desc_get_size (smd);
  if (s->scratch_bytes > 0
      && dnnl_memory_create (&s->scratch_mem, smd, t2i_dnnl_engine (),
          DNNL_MEMORY_NONE) != dnnl_success) {
    dnnl_primitive_desc_destroy (pd);
    return FALSE;
  }
  if (dnnl_primitive_create (&s->prim, pd) != dnnl_success) {
    dnnl_primitive_desc_destroy (pd);
    sub_clear (s);
    return FALSE;
  }
  dnnl_primitive_desc_destroy (pd);
  return TRUE;
}

static gboolean
reorder_init (Sub * s, const dnnl_memory_desc_t * from,
    const dnnl_memory_desc_t * to)
{
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_attr_t attr = t2i_dnnl_attr_new ();
  dnnl_status_t st;

  st = dnnl_reorder_primitive_desc_create (&pd, from, t2i_dnnl_engine (), to,
      t2i_dnnl_engine (), attr);
  dnnl_primitive_attr_destroy (attr);
  if (st != dnnl_success)
    return FALSE;
  return sub_init (s, pd);
}

T2iDnnlPrim *
t2i_dnnl_prim_new (dnnl_primitive_desc_t pd, gint n_args,
    const T2iDnnlArgSpec * args)
{
  T2iDnnlPrim *p;
  const char *impl = NULL;

  g_return_val_if_fail (n_args <= T2I_DNNL_MAX_ARGS, NULL);
  if (!pd)
    return NULL;

  p = g_new0 (T2iDnnlPrim, 1);
  p->ref_count = 1;
  g_mutex_init (&p->lock);
  p->n_args = n_args;
  if (dnnl_primitive_desc_query (pd, dnnl_query_impl_info_str, 0,
          (void *) &impl) == dnnl_success && impl)
    p->impl = g_strdup (impl);

  for (gint i = 0; i < n_args; i++) {
    Arg *a = &p->args[i];
    const dnnl_memory_desc_t *want;

    a->arg = args[i].arg;
    a->output = args[i].output;
    want = dnnl_primitive_desc_query_md (pd, dnnl_query_exec_arg_md, a->arg);
    if (!want || want->ndims == 0)
      goto fail;
    if (dnnl_memory_create (&a->user_mem, &args[i].user_md,
            t2i_dnnl_engine (), DNNL_MEMORY_NONE) != dnnl_success)
      goto fail;
    if (dnnl_memory_desc_equal (want, &args[i].user_md))
      continue;
    a->prim_bytes = dnnl_memory_desc_get_size (want);
    if (dnnl_memory_create (&a->prim_mem, want, t2i_dnnl_engine (),
            DNNL_MEMORY_NONE) != dnnl_success)
      goto fail;
    if (!(a->output ? reorder_init (&a->reorder, want, &args[i].user_md)
            : reorder_init (&a->reorder, &args[i].user_md, want)))
      goto fail;
    p->scratch_bytes = MAX (p->scratch_bytes, a->reorder.scratch_bytes);
  }

  if (!sub_init (&p->main, pd)) {
    pd = NULL;
    goto fail;
  }
  p->scratch_bytes = MAX (p->scratch_bytes, p->main.scratch_bytes);
  return p;

fail:
  if (pd)
    dnnl_primitive_desc_destroy (pd);
  t2i_dnnl_prim_unref (p);
  return NULL;
}

T2iDnnlPrim *
t2i_dnnl_prim_ref (T2iDnnlPrim * p)
{
  g_atomic_int_inc (&p->ref_count);
  return p;
}

void
t2i_dnnl_prim_unref (T2iDnnlPrim * p)
{
  if (!p || !g_atomic_int_dec_and_test (&p->ref_count))
    return;
  for (gint i = 0; i < p->n_args; i++) {
    Arg *a = &p->args[i];
    sub_clear (&a->reorder);
    if (a->prim_mem)
      dnnl_memory_destroy (a->prim_mem);
    if (a->user_mem)
      dnnl_memory_destroy (a->user_mem);
  }
  sub_clear (&p->main);
  g_mutex_clear (&p->lock);
  g_free (p->impl);
  g_free (p);
}

const char *
t2i_dnnl_prim_impl (T2iDnnlPrim * p)
{
  return p->impl ? p->impl : "?";
}

static gboolean
sub_run (Sub * s, dnnl_stream_t stream, dnnl_exec_arg_t * ea, int n,
    gpointer scratch, const char *what)
{
  if (s->scratch_mem) {
    dnnl_memory_set_data_handle (s->scratch_mem, scratch);
    ea[n].arg = DNNL_ARG_SCRATCHPAD;
    ea[n].memory = s->scratch_mem;
    n++;
  }
  return t2i_dnnl_check (dnnl_primitive_execute (s->prim, stream, n, ea), what);
}

gboolean
t2i_dnnl_prim_execute (T2iDnnlPrim * p, gpointer const *handles)
{
  dnnl_stream_t stream = t2i_dnnl_stream ();
  gpointer blocks[T2I_DNNL_MAX_ARGS + 1] = { NULL };
  gpointer scratch = NULL;
  dnnl_exec_arg_t ea[T2I_DNNL_MAX_ARGS + 1];
  gboolean ok = TRUE;
  gint n = 0;

  gpointer prim_data[T2I_DNNL_MAX_ARGS] = { NULL };

  /* allocated before the lock: an allocation may unwind
   * (t2i_alloc_guard()), which must not leave the primitive locked */
  if (p->scratch_bytes)
    scratch = t2i_alloc (p->scratch_bytes, &blocks[T2I_DNNL_MAX_ARGS]);
  for (gint i = 0; i < p->n_args; i++)
    if (p->args[i].prim_mem)
      prim_data[i] = t2i_alloc (p->args[i].prim_bytes, &blocks[i]);

  g_mutex_lock (&p->lock);
  for (gint i = 0; i < p->n_args && ok; i++) {
    Arg *a = &p->args[i];
    dnnl_memory_set_data_handle (a->user_mem, handles[i]);
    if (!a->prim_mem)
      continue;
    dnnl_memory_set_data_handle (a->prim_mem, prim_data[i]);
    if (!a->output) {
      dnnl_exec_arg_t ra[3] = { {DNNL_ARG_FROM, a->user_mem},
      {DNNL_ARG_TO, a->prim_mem}
      };
      ok = sub_run (&a->reorder, stream, ra, 2, scratch, "reorder");
    }
  }

  for (gint i = 0; i < p->n_args; i++) {
    ea[n].arg = p->args[i].arg;
    ea[n].memory = p->args[i].prim_mem ? p->args[i].prim_mem
        : p->args[i].user_mem;
    n++;
  }
  if (ok)
    ok = sub_run (&p->main, stream, ea, n, scratch, p->impl);

  for (gint i = 0; i < p->n_args && ok; i++) {
    Arg *a = &p->args[i];
    if (a->prim_mem && a->output) {
      dnnl_exec_arg_t ra[3] = { {DNNL_ARG_FROM, a->prim_mem},
      {DNNL_ARG_TO, a->user_mem}
      };
      ok = sub_run (&a->reorder, stream, ra, 2, scratch, "reorder");
    }
  }
  if (ok)
    ok = t2i_dnnl_check (dnnl_stream_wait (stream), "stream_wait");

  for (guint i = 0; i < G_N_ELEMENTS (blocks); i++)
    if (blocks[i])
      t2i_free (blocks[i]);
  g_mutex_unlock (&p->lock);
  return ok;
}

/* ---- the cache ---- */

typedef struct
{
  T2iDnnlKey key;
  T2iDnnlPrim *prim;            /* NULL: oneDNN refused this configuration */
  GList link;                   /* in lru, data = the entry */
} Entry;

static GMutex cache_lock;
static GHashTable *cache;       /* T2iDnnlKey* -> Entry* */
static GQueue lru = G_QUEUE_INIT;       /* most recent first */
static T2iDnnlCacheStats cstats;
static gint capacity = -1;

void
t2i_dnnl_key_push (T2iDnnlKey * key, gint64 value)
{
  g_return_if_fail (key->n < T2I_DNNL_KEY_LEN);
  key->v[key->n++] = value;
}

static guint
key_hash (gconstpointer p)
{
  const T2iDnnlKey *k = p;
  guint64 h = 1469598103934665603ull;

  for (gint i = 0; i < k->n; i++) {
    h ^= (guint64) k->v[i];
    h *= 1099511628211ull;
    h ^= h >> 29;
  }
  return (guint) (h ^ (h >> 32));
}

static gboolean
key_equal (gconstpointer a, gconstpointer b)
{
  const T2iDnnlKey *x = a, *y = b;

  return x->n == y->n && memcmp (x->v, y->v, sizeof (gint64) * x->n) == 0;
}

static void
entry_free (gpointer p)
{
  Entry *e = p;

  t2i_dnnl_prim_unref (e->prim);
  g_free (e);
}

static guint
capacity_locked (void)
{
  if (capacity < 0) {
    const char *env = g_getenv ("T2I_DNNL_CACHE_CAPACITY");
    capacity = env ? (gint) CLAMP (g_ascii_strtoll (env, NULL, 10), 0,
        G_MAXINT) : 512;
  }
  return (guint) capacity;
}

static void
evict_locked (guint cap)
{
  while (lru.length > cap) {
    GList *l = lru.tail;
    Entry *e = l->data;
    g_queue_unlink (&lru, l);
    g_hash_table_remove (cache, &e->key);
    cstats.evictions++;
  }
  cstats.entries = lru.length;
}

T2iDnnlPrim *
t2i_dnnl_cache_get (const T2iDnnlKey * key, T2iDnnlBuildFn build,
    gconstpointer user)
{
  T2iDnnlPrim *res;
  Entry *e;
  guint cap;

  g_mutex_lock (&cache_lock);
  if (!cache)
    cache = g_hash_table_new_full (key_hash, key_equal, NULL, entry_free);
  cap = capacity_locked ();
  e = g_hash_table_lookup (cache, key);
  if (e) {
    cstats.hits++;
    g_queue_unlink (&lru, &e->link);
    g_queue_push_head_link (&lru, &e->link);
    res = e->prim ? t2i_dnnl_prim_ref (e->prim) : NULL;
    g_mutex_unlock (&cache_lock);
    return res;
  }
  cstats.misses++;
  res = build (user);
  if (cap > 0) {
    e = g_new0 (Entry, 1);
    e->key = *key;
    e->prim = res ? t2i_dnnl_prim_ref (res) : NULL;
    e->link.data = e;
    g_hash_table_insert (cache, &e->key, e);
    g_queue_push_head_link (&lru, &e->link);
    evict_locked (cap);
  }
  g_mutex_unlock (&cache_lock);
  return res;
}

void
t2i_dnnl_cache_get_stats (T2iDnnlCacheStats * stats)
{
  g_mutex_lock (&cache_lock);
  *stats = cstats;
  g_mutex_unlock (&cache_lock);
}

void
t2i_dnnl_cache_set_capacity (guint cap)
{
  g_mutex_lock (&cache_lock);
  capacity = (gint) MIN (cap, (guint) G_MAXINT);
  if (cache)
    evict_locked (cap);
  g_mutex_unlock (&cache_lock);
}

guint
t2i_dnnl_cache_capacity (void)
{
  guint c;

  g_mutex_lock (&cache_lock);
  c = capacity_locked ();
  g_mutex_unlock (&cache_lock);
  return c;
}

void
t2i_dnnl_cache_clear (void)
{
  g_mutex_lock (&cache_lock);
  if (cache)
    evict_locked (0);
  g_mutex_unlock (&cache_lock);
}
