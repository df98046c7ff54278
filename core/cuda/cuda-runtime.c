/* The CUDA device as the rest of t2i sees it: which runtime runs the CUDA
 * table (a GPU, the host emulator, or none), streams, device memory (a
 * caching allocator per stream), and moving tensors between devices.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i-config.h"
#include "cuda-private.h"

#include <string.h>

GQuark t2i_device_error_quark (void);

#if !T2I_HAVE_CUDA
const T2iCudaRuntime *
t2i_cuda_runtime_gpu (const char **why)
{
  *why = "t2i was built without CUDA (nvcc was not found at build time)";
  return NULL;
}
#endif

/* ---- which runtime ---- */

static const T2iCudaRuntime *runtime;
static const char *runtime_why;
static gint emulation = -1;     /* -1: from $T2I_CUDA_EMULATE */
static gsize chosen;

static void
choose_runtime (void)
{
  if (g_once_init_enter (&chosen)) {
    if (emulation < 0) {
      const char *e = g_getenv ("T2I_CUDA_EMULATE");
      emulation = g_strcmp0 (e, "1") == 0 || g_strcmp0 (e, "strict") == 0;
    }
    if (emulation) {
      runtime = t2i_cuda_runtime_emu ();
    } else {
      runtime = t2i_cuda_runtime_gpu (&runtime_why);
      if (!runtime && !runtime_why)
        runtime_why = "no CUDA device present";
    }
    g_once_init_leave (&chosen, 1);
  }
}

const T2iCudaRuntime *
t2i_cuda_rt (void)
{
  choose_runtime ();
  return runtime;
}

gboolean
t2i_cuda_set_emulation (gboolean emulate)
{
  if (__atomic_load_n (&chosen, __ATOMIC_ACQUIRE))
    return (runtime == t2i_cuda_runtime_emu ()) == (emulate != FALSE);
  emulation = emulate != FALSE;
  choose_runtime ();
  return TRUE;
}

const char *
t2i_cuda_unavailable_reason (void)
{
  choose_runtime ();
  return runtime ? NULL : runtime_why;
}

gboolean
t2i_cuda_is_available (void)
{
  return t2i_cuda_rt () != NULL;
}

const char *
t2i_cuda_runtime_name (void)
{
  const T2iCudaRuntime *rt = t2i_cuda_rt ();
  return rt ? rt->name : NULL;
}

const char *
t2i_cuda_device_name (void)
{
  const T2iCudaRuntime *rt = t2i_cuda_rt ();
  return rt ? rt->device_name () : NULL;
}

gboolean
t2i_cuda_check (const char *what, int ok)
{
  if (G_LIKELY (ok))
    return TRUE;
  g_critical ("CUDA: %s failed: %s", what, t2i_cuda_rt ()->error ());
  return FALSE;
}

/* ---- streams ----
 * A stream is refcounted: the code that made it holds one reference, and
 * so does every device block last used on it and every thread whose
 * current stream it is.  Freeing it closes it (waits for it, gives its
 * cached memory back, destroys the CUDA stream); tensors that outlive it
 * free their blocks directly, and threads that still have it current use
 * the default stream. */

struct _T2iCudaStream
{
  gint ref_count;
  gint closed;
  void *handle;
  GHashTable *free_lists;       /* rounded size -> GSList of Block* */
};

static T2iCudaStream default_stream = { 1, 0, NULL, NULL };
static GMutex mem_lock;

static T2iCudaStream *
stream_ref (T2iCudaStream * s)
{
  if (s != &default_stream)
    g_atomic_int_inc (&s->ref_count);
  return s;
}

static void
stream_unref (gpointer p)
{
  T2iCudaStream *s = p;
  if (s && s != &default_stream && g_atomic_int_dec_and_test (&s->ref_count)) {
    if (s->free_lists)
      g_hash_table_unref (s->free_lists);
    g_free (s);
  }
}

static GPrivate current_stream = G_PRIVATE_INIT (stream_unref);

static T2iCudaStream *
stream_current (void)
{
  T2iCudaStream *s = g_private_get (&current_stream);
  return s && !g_atomic_int_get (&s->closed) ? s : &default_stream;
}

void *
t2i_cuda_stream (void)
{
  return stream_current ()->handle;
}

T2iCudaStream *
t2i_cuda_stream_new (GError ** error)
{
  const T2iCudaRuntime *rt = t2i_cuda_rt ();
  if (!rt) {
    g_set_error (error, t2i_device_error_quark (), 0, "CUDA: %s",
        t2i_cuda_unavailable_reason ());
    return NULL;
  }
  void *h = rt->stream_new ();
  if (!h) {
    g_set_error (error, t2i_device_error_quark (), 0, "CUDA: no stream: %s",
        rt->error ());
    return NULL;
  }
  T2iCudaStream *s = g_new0 (T2iCudaStream, 1);
  s->ref_count = 1;
  s->handle = h;
  return s;
}

void
t2i_cuda_stream_set_current (T2iCudaStream * s)
{
  if (g_private_get (&current_stream) == s)
    return;
  g_private_replace (&current_stream, s ? stream_ref (s) : NULL);
}

typedef struct
{
  gsize size;                   /* rounded */
  gpointer ptr;
  T2iCudaStream *stream;        /* where it was last used (a reference) */
} Block;

static void free_cached (T2iCudaStream * s);

void
t2i_cuda_stream_free (T2iCudaStream * s)
{
  if (!s)
    return;
  const T2iCudaRuntime *rt = t2i_cuda_rt ();
  g_mutex_lock (&mem_lock);
  g_atomic_int_set (&s->closed, 1);
  g_mutex_unlock (&mem_lock);
  rt->sync (s->handle);
  free_cached (s);
  rt->stream_free (s->handle);
  s->handle = NULL;
  stream_unref (s);
}

gboolean
t2i_cuda_synchronize (GError ** error)
{
  const T2iCudaRuntime *rt = t2i_cuda_rt ();
  if (!rt)
    return TRUE;
  if (!rt->sync (t2i_cuda_stream ())) {
    g_set_error (error, t2i_device_error_quark (), 0, "CUDA: %s",
        rt->error ());
    return FALSE;
  }
  return TRUE;
}

/* ---- device memory: a cache of blocks per stream, so that a training
 * step asks the driver for no memory after its first iteration (a block
 * is reused only on the stream that freed it: stream order makes that
 * safe without a synchronisation) ---- */

#if defined(__SANITIZE_ADDRESS__)
#define CACHE_DEFAULT FALSE
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CACHE_DEFAULT FALSE
#endif
#endif
#ifndef CACHE_DEFAULT
#define CACHE_DEFAULT TRUE
#endif

static gint cache_enabled = -1;

static gboolean
use_cache (void)
{
  if (cache_enabled < 0)
    cache_enabled = CACHE_DEFAULT && g_getenv ("T2I_NO_ALLOC_CACHE") == NULL;
  return cache_enabled;
}

static gsize
round_size (gsize n)
{
  if (n <= 512)
    return 512;
  if (n <= (1u << 20)) {
    gsize r = 512;
    while (r < n)
      r <<= 1;
    return r;
  }
  return (n + ((gsize) 1 << 20) - 1) & ~(((gsize) 1 << 20) - 1);
}

/* gives a block back to the runtime */
static void
block_release (Block * b)
{
  t2i_cuda_rt ()->free (b->ptr);
  stream_unref (b->stream);
  g_free (b);
}

gpointer
t2i_cuda_mem_alloc (gsize nbytes, gpointer * block)
{
  const T2iCudaRuntime *rt = t2i_cuda_rt ();
  gsize size = round_size (nbytes);
  Block *b = NULL;

  g_mutex_lock (&mem_lock);
  T2iCudaStream *s = stream_ref (stream_current ());
  if (use_cache () && s->free_lists) {
    GSList *l = g_hash_table_lookup (s->free_lists, GSIZE_TO_POINTER (size));
    if (l) {
      b = l->data;
      g_hash_table_insert (s->free_lists, GSIZE_TO_POINTER (size),
          g_slist_delete_link (l, l));
    }
  }
  g_mutex_unlock (&mem_lock);
  if (b) {
    /* the block holds its own reference to @s already */
    stream_unref (s);
    *block = b;
    return b->ptr;
  }
  void *p = rt->malloc (size);
  if (!p) {
    /* give the cache back and try once more */
    free_cached (s);
    p = rt->malloc (size);
  }
  if (!p) {
    g_critical ("CUDA: cannot allocate %" G_GSIZE_FORMAT " bytes: %s",
        nbytes, rt->error ());
    stream_unref (s);
    return NULL;
  }
  b = g_new0 (Block, 1);
  b->size = size;
  b->ptr = p;
  b->stream = s;
  *block = b;
  return b->ptr;
}

void
t2i_cuda_mem_free (gpointer block)
{
  Block *b = block;
  if (!b)
    return;
  g_mutex_lock (&mem_lock);
  T2iCudaStream *s = b->stream;
  if (!use_cache () || g_atomic_int_get (&s->closed)) {
    g_mutex_unlock (&mem_lock);
    block_release (b);
    return;
  }
  if (!s->free_lists)
    s->free_lists = g_hash_table_new (g_direct_hash, g_direct_equal);
  GSList *l = g_hash_table_lookup (s->free_lists, GSIZE_TO_POINTER (b->size));
  g_hash_table_insert (s->free_lists, GSIZE_TO_POINTER (b->size),
      g_slist_prepend (l, b));
  g_mutex_unlock (&mem_lock);
}

static void
free_cached (T2iCudaStream * s)
{
  GHashTableIter it;
  gpointer key, value;
  GSList *all = NULL;

  g_mutex_lock (&mem_lock);
  if (s->free_lists) {
    g_hash_table_iter_init (&it, s->free_lists);
    while (g_hash_table_iter_next (&it, &key, &value)) {
      all = g_slist_concat (all, value);
      g_hash_table_iter_remove (&it);
    }
  }
  g_mutex_unlock (&mem_lock);
  /* outside the lock: a block's release may drop the last reference to
   * its stream */
  g_slist_free_full (all, (GDestroyNotify) block_release);
}

/* ---- the table's storage entries ---- */

gboolean
t2i_cuda_alloc (Storage * s)
{
  if (!t2i_cuda_rt ()) {
    g_critical ("CUDA: %s", t2i_cuda_unavailable_reason ());
    return FALSE;
  }
  s->data = t2i_cuda_mem_alloc (s->nbytes, &s->block);
  return s->data != NULL;
}

gboolean
t2i_cuda_release (Storage * s)
{
  t2i_cuda_mem_free (s->block);
  return TRUE;
}

gboolean
t2i_cuda_read (const T2iTensor * t, gsize offset, gsize nbytes, gpointer host)
{
  return t2i_cuda_check ("read", t2i_cuda_rt ()->d2h (host,
          (const char *) t->data + offset, nbytes, t2i_cuda_stream ()));
}

gboolean
t2i_cuda_write (T2iTensor * t, gsize offset, gsize nbytes, gconstpointer host)
{
  return t2i_cuda_check ("write", t2i_cuda_rt ()->h2d ((char *) t->data
          + offset, host, nbytes, t2i_cuda_stream ()));
}

gboolean
t2i_cuda_download (const T2iTensor * t, gpointer host)
{
  return t2i_cuda_read (t, 0, t->nbytes, host);
}

gboolean
t2i_cuda_copy (T2iTensor * dst, const T2iTensor * src)
{
  return t2i_cuda_check ("copy", t2i_cuda_rt ()->d2d (dst->data, src->data,
          src->nbytes, t2i_cuda_stream ()));
}

/* ---- between devices ---- */

gboolean
t2i_tensor_copy_into (T2iTensor * dst, const T2iTensor * src, GError ** error)
{
  g_return_val_if_fail (dst != NULL && src != NULL, FALSE);
  if (dst->nbytes != src->nbytes || dst->dtype != src->dtype) {
    g_set_error (error, t2i_device_error_quark (), 0,
        "copy: %s tensor of %" G_GSIZE_FORMAT " bytes into a %s tensor of %"
        G_GSIZE_FORMAT, t2i_dtype_name (src->dtype), src->nbytes,
        t2i_dtype_name (dst->dtype), dst->nbytes);
    return FALSE;
  }
  if (dst->device == src->device)
    return T2I_BACKEND (dst)->copy (dst, src);
  const T2iCudaRuntime *rt = t2i_cuda_rt ();
  if (!rt) {
    g_set_error (error, t2i_device_error_quark (), 0, "CUDA: %s",
        t2i_cuda_unavailable_reason ());
    return FALSE;
  }
  int ok = dst->device == T2I_DEVICE_CUDA
      ? rt->h2d (dst->data, src->data, src->nbytes, t2i_cuda_stream ())
      : rt->d2h (dst->data, src->data, src->nbytes, t2i_cuda_stream ());
  if (!ok) {
    g_set_error (error, t2i_device_error_quark (), 0, "CUDA: %s",
        rt->error ());
    return FALSE;
  }
  return TRUE;
}

T2iTensor *
t2i_tensor_to_device (T2iTensor * t, T2iDevice device, GError ** error)
{
  g_return_val_if_fail (t != NULL, NULL);
  if (t->device == device)
    return t2i_tensor_ref (t);
  if (!t2i_cuda_rt ()) {
    g_set_error (error, t2i_device_error_quark (), 0, "CUDA: %s",
        t2i_cuda_unavailable_reason ());
    return NULL;
  }
  T2iTensor *r = t2i_tensor_new_on (device, t->dtype, t->ndim, t->shape);
  if (!r) {
    g_set_error (error, t2i_device_error_quark (), 0,
        "CUDA: cannot allocate %" G_GSIZE_FORMAT " bytes", t->nbytes);
    return NULL;
  }
  if (!t2i_tensor_copy_into (r, t, error))
    g_clear_pointer (&r, t2i_tensor_unref);
  return r;
}
