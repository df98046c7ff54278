/* Caching allocator: training steps ask for the same sizes every step, so
 * blocks are kept in per-size free lists and handed out again instead of
 * going back to the system (first touch of fresh pages costs ~10 us per
 * 4 KiB page on our machines).  Under AddressSanitizer the cache is off so
 * use-after-free is still caught.
 *
 * Out of memory (docs/reliability.md): a block the machine cannot give is
 * refused before it is asked for, so that the kernel's OOM killer never
 * has to pick a process: when the blocks in use and the new one would
 * pass the limit (T2I_MEMORY_LIMIT, or physical memory + swap), when a
 * large block is more than the machine has available now, or when the
 * system refuses it.  The failure unwinds (longjmp) to the innermost
 * t2i_alloc_guard() of the thread, which returns it as a GError; the
 * element base classes run their subclasses' work under one, so an
 * element fails with one line.  Without a guard the process aborts with
 * the same message.  Why unwinding and not NULL: every op writes into the
 * tensors it creates, and making each of them check would change every
 * op for a failure that ends the pipeline anyway; what the unwound code
 * had allocated is not freed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/tensor.h"
#include "tensor-private.h"

#include <omp.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>

#if defined(__SANITIZE_ADDRESS__)
#define T2I_CACHE_DEFAULT FALSE
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T2I_CACHE_DEFAULT FALSE
#endif
#endif
#ifndef T2I_CACHE_DEFAULT
#define T2I_CACHE_DEFAULT TRUE
#endif

#define ALIGNMENT 64
#define HUGE_THRESHOLD (2u << 20)
#define CACHE_LIMIT ((gsize) 8 << 30)
/* fresh blocks from this size on are checked against what the machine
 * has available (reading /proc/meminfo costs a few microseconds) */
#define CHECK_AVAILABLE_FROM ((gsize) 64 << 20)

typedef struct
{
  gsize size;                   /* rounded size */
  gpointer ptr;
} Block;

static GMutex lock;
static GHashTable *free_lists;  /* size -> GSList of Block* */
static T2iAllocStats stats;
static gint cache_enabled = -1;

/* the limit: explicit (T2I_MEMORY_LIMIT, t2i_alloc_set_limit()) or 0 for
 * the machine's memory + swap; under @lock */
static gsize explicit_limit;
static gboolean limit_ready;
static gsize machine_bytes;

/* why the last allocation of this thread failed */
typedef enum
{
  FAIL_LIMIT,                   /* in use + size > explicit limit */
  FAIL_MACHINE,                 /* in use + size > memory + swap */
  FAIL_AVAILABLE,               /* size > available now */
  FAIL_SYSTEM,                  /* posix_memalign refused */
  FAIL_OVERFLOW,                /* the size does not fit a gsize */
} FailKind;

typedef struct
{
  FailKind kind;
  gsize size, in_use, limit;
  char message[512];
} Failure;

typedef struct _Trap Trap;
struct _Trap
{
  jmp_buf env;
  Trap *prev;
};

static _Thread_local Failure failure;
static _Thread_local Trap *trap;

G_DEFINE_QUARK (t2i-alloc-error-quark, t2i_alloc_error)

static gsize
round_size (gsize n)
{
  if (n < 64)
    return 64;
  if (n <= 65536) {
    gsize r = 64;
    while (r < n)
      r <<= 1;
    return r;
  }
  return (n + 4095) & ~(gsize) 4095;
}

static gboolean
use_cache (void)
{
  if (cache_enabled < 0)
    cache_enabled = T2I_CACHE_DEFAULT && g_getenv ("T2I_NO_ALLOC_CACHE") == NULL;
  return cache_enabled;
}

/* "8G", "512M", "1.5 GiB", "1000000": bytes, or 0 when not a size */
static gsize
parse_size (const char *text)
{
  char *end = NULL;
  double v = g_ascii_strtod (text, &end);
  double unit = 1;

  if (end == text || !(v > 0))
    return 0;
  while (*end == ' ')
    end++;
  switch (g_ascii_toupper (*end)) {
    case 'K':
      unit = 1024.0;
      break;
    case 'M':
      unit = 1024.0 * 1024;
      break;
    case 'G':
      unit = 1024.0 * 1024 * 1024;
      break;
    case 'T':
      unit = 1024.0 * 1024 * 1024 * 1024;
      break;
    case 'B':
    case 0:
      break;
    default:
      return 0;
  }
  if (unit > 1) {
    end++;
    if (g_ascii_tolower (*end) == 'i')
      end++;
  }
  if (g_ascii_toupper (*end) == 'B')
    end++;
  if (*end || v * unit >= (double) G_MAXSIZE)
    return 0;
  return (gsize) (v * unit);
}

/* under @lock */
static void
ensure_limit (void)
{
  struct sysinfo si;

  if (limit_ready)
    return;
  limit_ready = TRUE;
  if (sysinfo (&si) == 0)
    machine_bytes = ((gsize) si.totalram + (gsize) si.totalswap) * si.mem_unit;
  if (!machine_bytes)
    machine_bytes = G_MAXSIZE;
  const char *env = g_getenv ("T2I_MEMORY_LIMIT");
  if (env && *env && !explicit_limit) {
    explicit_limit = parse_size (env);
    if (!explicit_limit)
      g_warning ("T2I_MEMORY_LIMIT=%s is not a size (write it like 8G or "
          "512M); the limit is the machine's memory and swap", env);
  }
}

gsize
t2i_alloc_get_limit (void)
{
  g_mutex_lock (&lock);
  ensure_limit ();
  gsize l = explicit_limit ? explicit_limit : machine_bytes;
  g_mutex_unlock (&lock);
  return l;
}

void
t2i_alloc_set_limit (gsize bytes)
{
  g_mutex_lock (&lock);
  ensure_limit ();
  explicit_limit = bytes;
  g_mutex_unlock (&lock);
}

/* MemAvailable + SwapFree in bytes, or G_MAXSIZE when unknown */
static gsize
machine_available (void)
{
  FILE *f = fopen ("/proc/meminfo", "re");
  char line[128];
  guint64 avail = 0, swap = 0;
  gboolean found = FALSE;

  if (!f)
    return G_MAXSIZE;
  while (fgets (line, sizeof line, f)) {
    unsigned long long kb;
    if (sscanf (line, "MemAvailable: %llu kB", &kb) == 1) {
      avail = kb;
      found = TRUE;
    } else if (sscanf (line, "SwapFree: %llu kB", &kb) == 1) {
      swap = kb;
    }
  }
  fclose (f);
  return found ? (gsize) ((avail + swap) * 1024) : G_MAXSIZE;
}

static void
free_list (gpointer key, gpointer value, gpointer user)
{
  for (GSList * l = value; l; l = l->next) {
    Block *b = l->data;
    free (b->ptr);
    g_free (b);
  }
  g_slist_free (value);
}

/* under @lock: gives the cached blocks back; returns how many bytes */
static gsize
trim_locked (void)
{
  gsize n = stats.bytes_cached;
  if (free_lists) {
    g_hash_table_foreach (free_lists, free_list, NULL);
    g_hash_table_destroy (free_lists);
    free_lists = NULL;
  }
  stats.bytes_cached = 0;
  return n;
}

/* under @lock, which it releases: records why and returns NULL */
static gpointer
refuse (FailKind kind, gsize size, gsize limit)
{
  failure.kind = kind;
  failure.size = size;
  failure.in_use = stats.bytes_in_use;
  failure.limit = limit;
  g_mutex_unlock (&lock);
  return NULL;
}

gpointer
t2i_alloc_try (gsize nbytes, gpointer * block_out)
{
  Block *b = NULL;
  gpointer ptr;

  g_mutex_lock (&lock);
  if (nbytes > G_MAXSIZE / 2)
    return refuse (FAIL_OVERFLOW, nbytes, 0);
  gsize size = round_size (nbytes);

  if (use_cache () && free_lists) {
    GSList *l = g_hash_table_lookup (free_lists, GSIZE_TO_POINTER (size));
    if (l) {
      b = l->data;
      l = g_slist_delete_link (l, l);
      g_hash_table_insert (free_lists, GSIZE_TO_POINTER (size), l);
      stats.bytes_cached -= size;
    }
  }
  if (!b) {
    ensure_limit ();
    gsize limit = explicit_limit ? explicit_limit : machine_bytes;
    /* cached blocks are memory too: give them back before refusing */
    if (stats.bytes_in_use + stats.bytes_cached + size > limit
        || size > limit)
      trim_locked ();
    if (size > limit || stats.bytes_in_use + size > limit)
      return refuse (explicit_limit ? FAIL_LIMIT : FAIL_MACHINE, size, limit);
    if (!explicit_limit && size >= CHECK_AVAILABLE_FROM) {
      gsize avail = machine_available ();
      if (size > avail)
        avail += trim_locked ();
      if (size > avail)
        return refuse (FAIL_AVAILABLE, size, avail);
    }
    if (posix_memalign (&ptr, ALIGNMENT, size) != 0) {
      trim_locked ();
      if (posix_memalign (&ptr, ALIGNMENT, size) != 0)
        return refuse (FAIL_SYSTEM, size, 0);
    }
    b = g_new (Block, 1);
    b->size = size;
    b->ptr = ptr;
#ifdef MADV_HUGEPAGE
    if (size >= HUGE_THRESHOLD)
      madvise ((gpointer) (((guintptr) b->ptr + 4095) & ~(guintptr) 4095),
          size > 4096 ? size - 4096 : 0, MADV_HUGEPAGE);
#endif
    stats.system_allocs++;
  }
  stats.bytes_in_use += size;
  if (stats.bytes_in_use > stats.peak_bytes)
    stats.peak_bytes = stats.bytes_in_use;
  g_mutex_unlock (&lock);

  *block_out = b;
  return b->ptr;
}

/* "256 GiB", "23.4 GiB", "512 MiB" */
static void
format_size (char *out, gsize n, gsize bytes)
{
  static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB",
    "PiB", "EiB"
  };
  double v = (double) bytes;
  guint u = 0;

  while (v >= 1024 && u + 1 < G_N_ELEMENTS (units)) {
    v /= 1024;
    u++;
  }
  if (u == 0 || v >= 999.5)
    g_snprintf (out, n, "%.0f %s", v, units[u]);
  else
    g_snprintf (out, n, "%.3g %s", v, units[u]);
}

void
t2i_alloc_fail (const char *what)
{
  char size[32], in_use[32], limit[32];
  const char *env = g_getenv ("T2I_MEMORY_LIMIT");
  char *m = failure.message;
  const gsize n = sizeof failure.message;

  format_size (size, sizeof size, failure.size);
  format_size (in_use, sizeof in_use, failure.in_use);
  format_size (limit, sizeof limit, failure.limit);
  switch (failure.kind) {
    case FAIL_OVERFLOW:
      g_snprintf (m, n, "out of memory: %s is larger than this machine can "
          "address", what);
      break;
    case FAIL_LIMIT:
      if (failure.size <= failure.limit)
        g_snprintf (m, n, "out of memory: %s needs %s with %s in use, past "
            "the limit of %s (T2I_MEMORY_LIMIT%s%s)", what, size, in_use,
            limit, env ? "=" : "", env ? env : "");
      else
        g_snprintf (m, n, "out of memory: %s needs %s, more than the limit "
            "of %s (T2I_MEMORY_LIMIT%s%s)", what, size, limit,
            env ? "=" : "", env ? env : "");
      break;
    case FAIL_MACHINE:
      if (failure.size > failure.limit)
        g_snprintf (m, n, "out of memory: %s needs %s, more than the %s of "
            "memory and swap of this machine", what, size, limit);
      else
        g_snprintf (m, n, "out of memory: %s needs %s with %s in use, more "
            "than the %s of memory and swap of this machine", what, size,
            in_use, limit);
      break;
    case FAIL_AVAILABLE:
      g_snprintf (m, n, "out of memory: %s needs %s but the machine has "
          "%s available (memory and swap; %s in use here)", what, size,
          limit, in_use);
      break;
    case FAIL_SYSTEM:
      g_snprintf (m, n, "out of memory: %s needs %s and the system refused "
          "it (%s in use)", what, size, in_use);
      break;
  }
  g_strlcat (m, "; make the batch, the image size or the model smaller", n);
  /* a jump out of a parallel region would leave its team waiting */
  if (trap && !omp_in_parallel ())
    longjmp (trap->env, 1);
  g_error ("t2i: %s", m);
}

gpointer
t2i_alloc (gsize nbytes, gpointer * block_out)
{
  gpointer p = t2i_alloc_try (nbytes, block_out);
  if (!p)
    t2i_alloc_fail ("a work buffer");
  return p;
}

gboolean
t2i_alloc_guard (T2iGuardedFunc func, gpointer data, GError ** error)
{
  Trap t;

  t.prev = trap;
  trap = &t;
  if (setjmp (t.env) != 0) {
    trap = t.prev;
    /* what @func may have set before it ran out is replaced */
    if (error)
      g_clear_error (error);
    g_set_error_literal (error, T2I_ALLOC_ERROR, T2I_ALLOC_ERROR_NO_MEMORY,
        failure.message);
    return FALSE;
  }
  gboolean ok = func (data, error);
  trap = t.prev;
  return ok;
}

void
t2i_free (gpointer block)
{
  Block *b = block;

  if (!b)
    return;
  g_mutex_lock (&lock);
  stats.bytes_in_use -= b->size;
  if (use_cache () && stats.bytes_cached + b->size <= CACHE_LIMIT) {
    if (!free_lists)
      free_lists = g_hash_table_new (g_direct_hash, g_direct_equal);
    GSList *l = g_hash_table_lookup (free_lists, GSIZE_TO_POINTER (b->size));
    g_hash_table_insert (free_lists, GSIZE_TO_POINTER (b->size),
        g_slist_prepend (l, b));
    stats.bytes_cached += b->size;
    b = NULL;
  }
  g_mutex_unlock (&lock);
  if (b) {
    free (b->ptr);
    g_free (b);
  }
}

void
t2i_alloc_get_stats (T2iAllocStats * out)
{
  g_mutex_lock (&lock);
  *out = stats;
  g_mutex_unlock (&lock);
}

void
t2i_alloc_reset_peak (void)
{
  g_mutex_lock (&lock);
  stats.peak_bytes = stats.bytes_in_use;
  g_mutex_unlock (&lock);
}

void
t2i_alloc_trim (void)
{
  g_mutex_lock (&lock);
  trim_locked ();
  g_mutex_unlock (&lock);
}
