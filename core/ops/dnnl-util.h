/* oneDNN helpers shared by the CPU ops: the engine, one stream per thread,
 * error checking, and a cache of ready-to-run primitives keyed by shape and
 * parameters (LRU, capped), so that a training step that repeats the same
 * shapes creates no primitive, no memory object and no scratchpad.
 *
 * A cached entry (T2iDnnlPrim) wraps the primitive together with the
 * reorders between the callers' plain row-major buffers and the layouts the
 * primitive chose (format_tag any), and with its memory objects.  Executing
 * it takes the callers' plain pointers; temporaries (reordered copies,
 * scratchpad) come from the caching allocator t2i_alloc().
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>
#include <oneapi/dnnl/dnnl.h>

G_BEGIN_DECLS

#define T2I_DNNL_MAX_ARGS 6
#define T2I_DNNL_KEY_LEN 32

/* the process-wide CPU engine (created on first use) */
dnnl_engine_t t2i_dnnl_engine (void);
/* an in-order stream for the calling thread (created on first use) */
dnnl_stream_t t2i_dnnl_stream (void);

/* TRUE on dnnl_success; otherwise logs a critical naming @what and the
 * status and returns FALSE */
gboolean t2i_dnnl_check (dnnl_status_t status, const char *what);
const char *t2i_dnnl_status_name (dnnl_status_t status);

/* a dense f32 row-major descriptor of @ndim dims */
void t2i_dnnl_md_plain (dnnl_memory_desc_t * md, gint ndim, const gint64 * dims);
/* an f32 descriptor with the given element strides; FALSE (quietly) when
 * oneDNN does not accept them (it wants non-overlapping dims) */
gboolean t2i_dnnl_md_strided (dnnl_memory_desc_t * md, gint ndim,
    const gint64 * dims, const gint64 * strides);
/* an f32 descriptor that lets the primitive choose the layout */
void t2i_dnnl_md_any (dnnl_memory_desc_t * md, gint ndim, const gint64 * dims);

/* makes "any" descriptor @md bf16 when @bf16 (the compute side of a
 * precision-bf16 primitive: its reorder from the caller's f32 rounds) */
void t2i_dnnl_md_any_bf16 (dnnl_memory_desc_t * md, gboolean bf16);

/* a primitive attribute with user-managed scratchpad (caller destroys) */
dnnl_primitive_attr_t t2i_dnnl_attr_new (void);

/**
 * T2iDnnlArgSpec:
 * @arg: the DNNL_ARG_* of the argument
 * @output: whether the primitive writes it
 * @user_md: the layout of the caller's buffer (usually plain)
 */
typedef struct
{
  int arg;
  gboolean output;
  dnnl_memory_desc_t user_md;
} T2iDnnlArgSpec;

typedef struct _T2iDnnlPrim T2iDnnlPrim;

/**
 * t2i_dnnl_prim_new:
 * @pd: (transfer full): the primitive descriptor, created with an attribute
 *   from t2i_dnnl_attr_new(); destroyed by this call
 * @n_args: number of @args
 * @args: the caller-facing arguments, in the order their handles will be
 *   passed to t2i_dnnl_prim_execute()
 *
 * Creates the primitive, the reorders for every argument whose chosen
 * layout differs from its @user_md, and the memory objects.
 *
 * Returns: (transfer full) (nullable): the entry, %NULL when oneDNN refuses
 */
T2iDnnlPrim *t2i_dnnl_prim_new (dnnl_primitive_desc_t pd, gint n_args,
    const T2iDnnlArgSpec * args);
T2iDnnlPrim *t2i_dnnl_prim_ref (T2iDnnlPrim * prim);
void t2i_dnnl_prim_unref (T2iDnnlPrim * prim);
/* the implementation oneDNN chose ("jit:avx512_core", "gemm:jit", ...) */
const char *t2i_dnnl_prim_impl (T2iDnnlPrim * prim);

/**
 * t2i_dnnl_prim_execute:
 * @handles: one data pointer per argument given to t2i_dnnl_prim_new(),
 *   same order, each to a buffer laid out as that argument's @user_md
 *
 * Runs input reorders, the primitive and output reorders on the calling
 * thread's stream and waits.  Safe to call from several threads (an entry
 * runs one call at a time).  Returns FALSE (after a critical) on failure.
 */
gboolean t2i_dnnl_prim_execute (T2iDnnlPrim * prim, gpointer const *handles);

/* ---- primitive cache ---- */

/**
 * T2iDnnlKey:
 *
 * What identifies a primitive: an op tag and the shapes and parameters,
 * packed as integers.  Zero-initialise, then fill with t2i_dnnl_key_push().
 */
typedef struct
{
  gint n;
  gint64 v[T2I_DNNL_KEY_LEN];
} T2iDnnlKey;

void t2i_dnnl_key_push (T2iDnnlKey * key, gint64 value);

/* builds the entry for @key (NULL when unsupported) */
typedef T2iDnnlPrim *(*T2iDnnlBuildFn) (gconstpointer user);

/**
 * t2i_dnnl_cache_get:
 *
 * Returns (transfer full, nullable) the entry for @key, building it with
 * @build(@user) on a miss.  A %NULL result (oneDNN refused the
 * configuration) is remembered too, so callers fall back to their own loops
 * without asking oneDNN again.  The cache keeps at most
 * t2i_dnnl_cache_capacity() entries and evicts the least recently used.
 */
T2iDnnlPrim *t2i_dnnl_cache_get (const T2iDnnlKey * key, T2iDnnlBuildFn build,
    gconstpointer user);

typedef struct
{
  guint64 hits;
  guint64 misses;               /* = number of builds */
  guint64 evictions;
  guint entries;
} T2iDnnlCacheStats;

void t2i_dnnl_cache_get_stats (T2iDnnlCacheStats * stats);
/* default 512, or $T2I_DNNL_CACHE_CAPACITY; 0 disables caching */
void t2i_dnnl_cache_set_capacity (guint capacity);
guint t2i_dnnl_cache_capacity (void);
void t2i_dnnl_cache_clear (void);

G_END_DECLS
