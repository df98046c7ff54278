/* Caching allocator: training steps ask for the same sizes every step, so
 * blocks are kept in per-size free lists and handed out again instead of
 * going back to the system (first touch of fresh pages costs ~10 us per
 * 4 KiB page on our machines).  Under AddressSanitizer the cache is off so
 * use-after-free is still caught.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/tensor.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

typedef struct
{
  gsize size;                   /* rounded size */
  gpointer ptr;
} Block;

static GMutex lock;
static GHashTable *free_lists;  /* size -> GSList of Block* */
static T2iAllocStats stats;
static gint cache_enabled = -1;

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

gpointer
t2i_alloc (gsize nbytes, gpointer * block_out)
{
  gsize size = round_size (nbytes);
  Block *b = NULL;

  g_mutex_lock (&lock);
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
    b = g_new (Block, 1);
    b->size = size;
    if (posix_memalign (&b->ptr, ALIGNMENT, size) != 0)
      g_error ("t2i: out of memory allocating %" G_GSIZE_FORMAT " bytes", size);
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

void
t2i_alloc_trim (void)
{
  g_mutex_lock (&lock);
  if (free_lists) {
    g_hash_table_foreach (free_lists, free_list, NULL);
    g_hash_table_destroy (free_lists);
    free_lists = NULL;
  }
  stats.bytes_cached = 0;
  g_mutex_unlock (&lock);
}
