/* The data-parallel communicator (t2i/dist.h): MPI_COMM_WORLD when built
 * with MPI and started by a launcher, a world of one process otherwise.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "t2i-config.h"
#include "t2i/dist.h"
#include "dist-private.h"

#include <stdlib.h>
#include <string.h>

#if T2I_HAVE_MPI
#include <mpi.h>
#endif

G_DEFINE_QUARK (t2i-dist-error-quark, t2i_dist_error)

/* what the launcher says about this process */
typedef struct
{
  const char *size_var;         /* the variable that gave the size */
  gint size, rank, local_size;
} Launch;

static struct
{
  gsize once;
  gboolean ok;
  GError *error;
  gint rank, size, local_size;
  gboolean mpi_started;         /* we called MPI_Init_thread */
  gboolean finalized;
  GRecMutex lock;               /* serialises the collectives */
  float *pack;                  /* the fused buffer, reused between calls */
  gsize pack_len;
} world = {.size = 1,.local_size = 1 };

gboolean
t2i_dist_have_mpi (void)
{
  return T2I_HAVE_MPI;
}

gboolean
t2i_dist_have_nccl (void)
{
  return T2I_HAVE_NCCL;
}

/* the first of @names that is set, as an int >= 0; -1 when none is */
static gint
env_int (const char *const *names, const char **which)
{
  for (guint i = 0; names[i]; i++) {
    const char *v = g_getenv (names[i]);
    guint64 u;
    if (v && g_ascii_string_to_unsigned (v, 10, 0, G_MAXINT, &u, NULL)) {
      if (which)
        *which = names[i];
      return (gint) u;
    }
  }
  return -1;
}

static void
read_launch (Launch * l)
{
  static const char *const sizes[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
    NULL
  };
  static const char *const ranks[] = { "OMPI_COMM_WORLD_RANK", "PMI_RANK",
    NULL
  };
  static const char *const locals[] = { "OMPI_COMM_WORLD_LOCAL_SIZE",
    "MPI_LOCALNRANKS", NULL
  };
  l->size_var = NULL;
  l->size = env_int (sizes, &l->size_var);
  l->rank = env_int (ranks, NULL);
  l->local_size = env_int (locals, NULL);
  if (l->size < 1)
    l->size = 1;
  if (l->rank < 0)
    l->rank = 0;
  if (l->local_size < 1)
    l->local_size = 1;
}

#if T2I_HAVE_MPI
static gboolean
mpi_ok (int rc, const char *what, GError ** error)
{
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;

  if (rc == MPI_SUCCESS)
    return TRUE;
  if (MPI_Error_string (rc, msg, &len) != MPI_SUCCESS)
    g_strlcpy (msg, "unknown MPI error", sizeof msg);
  g_set_error (error, T2I_DIST_ERROR, T2I_DIST_ERROR_FAILED,
      "rank %d of %d: %s failed: %s (another rank may have stopped)",
      world.rank, world.size, what, msg);
  return FALSE;
}

static gboolean
mpi_init (const Launch * l, GError ** error)
{
  int initialized = 0, provided = 0, rank = 0, size = 1;

  MPI_Initialized (&initialized);
  if (!initialized) {
    if (MPI_Init_thread (NULL, NULL, MPI_THREAD_SERIALIZED, &provided)
        != MPI_SUCCESS) {
      g_set_error (error, T2I_DIST_ERROR, T2I_DIST_ERROR_FAILED,
          "MPI_Init_thread failed for rank %d of %d (%s=%d): is this "
          "process started by mpirun?", l->rank, l->size, l->size_var,
          l->size);
      return FALSE;
    }
    world.mpi_started = TRUE;
    atexit (t2i_dist_finalize);
  } else {
    MPI_Query_thread (&provided);
  }
  /* the collectives come from GStreamer's streaming threads, one at a time */
  if (provided < MPI_THREAD_SERIALIZED) {
    g_set_error (error, T2I_DIST_ERROR, T2I_DIST_ERROR_UNSUPPORTED,
        "this MPI provides thread level %d but t2i calls MPI from "
        "GStreamer's streaming threads and needs MPI_THREAD_SERIALIZED",
        provided);
    return FALSE;
  }
  /* failures come back as codes, reported as one line each */
  MPI_Comm_set_errhandler (MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank (MPI_COMM_WORLD, &rank);
  MPI_Comm_size (MPI_COMM_WORLD, &size);
  if (size != l->size) {
    g_set_error (error, T2I_DIST_ERROR, T2I_DIST_ERROR_MISMATCH,
        "MPI_COMM_WORLD has %d ranks but %s=%d", size, l->size_var,
        l->size);
    return FALSE;
  }
  world.rank = rank;
  world.size = size;
  return TRUE;
}
#endif

gboolean
t2i_dist_init (GError ** error)
{
  if (g_once_init_enter (&world.once)) {
    Launch l;
    read_launch (&l);
    world.ok = TRUE;
    if (l.size > 1) {
#if T2I_HAVE_MPI
      world.ok = mpi_init (&l, &world.error);
      if (world.ok)
        world.local_size = MIN (l.local_size, world.size);
#else
      g_set_error (&world.error, T2I_DIST_ERROR, T2I_DIST_ERROR_UNSUPPORTED,
          "this process is rank %d of %d (%s=%d) but t2i was built "
          "without MPI, so the ranks would train %d separate models: "
          "install Open MPI (apt-get install openmpi-bin libopenmpi-dev, "
          "or scripts/bootstrap), rebuild (meson setup --reconfigure "
          "-Dmpi=enabled BUILD), or run one process", l.rank, l.size,
          l.size_var, l.size, l.size);
      world.ok = FALSE;
#endif
    }
    if (!world.ok) {
      world.rank = 0;
      world.size = 1;
    }
    g_once_init_leave (&world.once, 1);
  }
  if (!world.ok && error)
    *error = g_error_copy (world.error);
  return world.ok;
}

gint
t2i_dist_rank (void)
{
  return world.rank;
}

gint
t2i_dist_size (void)
{
  return world.size;
}

gint
t2i_dist_local_size (void)
{
  return world.local_size;
}

/* collectives before init, or in a world of one, are no-ops */
static gboolean
solo (void)
{
  return world.size <= 1;
}

#if T2I_HAVE_MPI
/* MPI counts are ints: long buffers go in pieces */
#define PIECE ((gsize) 1 << 30)

static gboolean
allreduce (void *buf, gsize n, MPI_Datatype type, gsize elem,
    GError ** error)
{
  gboolean ok = TRUE;
  g_rec_mutex_lock (&world.lock);
  for (gsize off = 0; ok && off < n; off += PIECE)
    ok = mpi_ok (MPI_Allreduce (MPI_IN_PLACE, (char *) buf + off * elem,
            (int) MIN (PIECE, n - off), type, MPI_SUM, MPI_COMM_WORLD),
        "MPI_Allreduce", error);
  g_rec_mutex_unlock (&world.lock);
  return ok;
}
#endif

gboolean
t2i_dist_allreduce_f32 (float *buf, gsize n, GError ** error)
{
  if (solo ())
    return TRUE;
#if T2I_HAVE_MPI
  return allreduce (buf, n, MPI_FLOAT, sizeof (float), error);
#else
  return TRUE;
#endif
}

gboolean
t2i_dist_allreduce_f64 (double *buf, gsize n, GError ** error)
{
  if (solo ())
    return TRUE;
#if T2I_HAVE_MPI
  return allreduce (buf, n, MPI_DOUBLE, sizeof (double), error);
#else
  return TRUE;
#endif
}

gboolean
t2i_dist_broadcast (gpointer buf, gsize nbytes, GError ** error)
{
  if (solo ())
    return TRUE;
#if T2I_HAVE_MPI
  gboolean ok = TRUE;
  g_rec_mutex_lock (&world.lock);
  for (gsize off = 0; ok && off < nbytes; off += PIECE)
    ok = mpi_ok (MPI_Bcast ((char *) buf + off, (int) MIN (PIECE,
                nbytes - off), MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast",
        error);
  g_rec_mutex_unlock (&world.lock);
  return ok;
#else
  return TRUE;
#endif
}

GPtrArray *
t2i_dist_gather (GBytes * mine, GError ** error)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify)
      g_bytes_unref);
  if (solo ()) {
    g_ptr_array_add (out, g_bytes_ref (mine));
    return out;
  }
#if T2I_HAVE_MPI
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (mine, &len);
  gint64 n = (gint64) len, *sizes = g_new0 (gint64, world.size);
  int *counts = g_new0 (int, world.size), *displs = g_new0 (int, world.size);
  guint8 *all = NULL;
  gboolean ok;

  g_rec_mutex_lock (&world.lock);
  ok = mpi_ok (MPI_Gather (&n, 1, MPI_INT64_T, sizes, 1, MPI_INT64_T, 0,
          MPI_COMM_WORLD), "MPI_Gather", error);
  if (ok && world.rank == 0) {
    gint64 total = 0;
    for (gint r = 0; r < world.size; r++) {
      counts[r] = (int) sizes[r];
      displs[r] = (int) total;
      total += sizes[r];
    }
    /* every rank learns whether rank 0 can take it before sending */
    n = total > G_MAXINT ? -1 : total;
  }
  if (ok)
    ok = mpi_ok (MPI_Bcast (&n, 1, MPI_INT64_T, 0, MPI_COMM_WORLD),
        "MPI_Bcast", error);
  if (ok && n < 0) {
    g_set_error (error, T2I_DIST_ERROR, T2I_DIST_ERROR_UNSUPPORTED,
        "the ranks' data to gather exceeds 2 GiB");
    ok = FALSE;
  }
  if (ok) {
    if (world.rank == 0)
      all = g_malloc (MAX (n, 1));
    ok = mpi_ok (MPI_Gatherv (data, (int) len, MPI_BYTE, all, counts, displs,
            MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Gatherv", error);
  }
  g_rec_mutex_unlock (&world.lock);
  if (ok && world.rank == 0)
    for (gint r = 0; r < world.size; r++)
      g_ptr_array_add (out, g_bytes_new (all + displs[r], (gsize) counts[r]));
  g_free (all);
  g_free (sizes);
  g_free (counts);
  g_free (displs);
  if (!ok)
    g_clear_pointer (&out, g_ptr_array_unref);
  return out;
#else
  return out;
#endif
}

gboolean
t2i_dist_barrier (GError ** error)
{
  if (solo ())
    return TRUE;
#if T2I_HAVE_MPI
  g_rec_mutex_lock (&world.lock);
  gboolean ok = mpi_ok (MPI_Barrier (MPI_COMM_WORLD), "MPI_Barrier", error);
  g_rec_mutex_unlock (&world.lock);
  return ok;
#else
  return TRUE;
#endif
}

gboolean
t2i_dist_allreduce_mean_tensors (T2iTensor ** tensors, guint n,
    GError ** error)
{
  gsize total = 0;
  T2iDevice device = n ? tensors[0]->device : T2I_DEVICE_CPU;

  for (guint i = 0; i < n; i++) {
    if (tensors[i]->dtype != T2I_F32 || tensors[i]->device != device) {
      g_set_error (error, T2I_DIST_ERROR, T2I_DIST_ERROR_UNSUPPORTED,
          "t2i_dist_allreduce_mean_tensors: tensor %u is %s on %s; all "
          "must be f32 on one device", i, t2i_dtype_name (tensors[i]->dtype),
          tensors[i]->device == T2I_DEVICE_CUDA ? "CUDA" : "the CPU");
      return FALSE;
    }
    total += (gsize) tensors[i]->numel;
  }
  if (solo () || total == 0)
    return TRUE;
  if (device == T2I_DEVICE_CUDA)
    return t2i_nccl_allreduce_mean (tensors, n, total, error);

  /* one fused buffer, kept between calls: fresh pages cost more than the
   * copies (first touch, ../shared/reference/cpu-performance.md) */
  g_rec_mutex_lock (&world.lock);
  if (world.pack_len < total) {
    g_free (world.pack);
    world.pack = g_new (float, total);
    world.pack_len = total;
  }
  float *pack = world.pack;
  gsize off = 0;
  for (guint i = 0; i < n; i++) {
    memcpy (pack + off, tensors[i]->data, tensors[i]->nbytes);
    off += (gsize) tensors[i]->numel;
  }
  gboolean ok = t2i_dist_allreduce_f32 (pack, total, error);
  /* a division, not a multiplication by 1/K: exact for powers of two and
   * correctly rounded otherwise */
  const float k = (float) world.size;
  off = 0;
  for (guint i = 0; ok && i < n; i++) {
    float *d = tensors[i]->data;
    for (gint64 j = 0; j < tensors[i]->numel; j++)
      d[j] = pack[off + (gsize) j] / k;
    off += (gsize) tensors[i]->numel;
  }
  g_rec_mutex_unlock (&world.lock);
  return ok;
}

void
t2i_dist_abort (gint exit_code)
{
#if T2I_HAVE_MPI
  if (world.mpi_started && !world.finalized && world.size > 1)
    MPI_Abort (MPI_COMM_WORLD, exit_code);
#endif
}

void
t2i_dist_finalize (void)
{
#if T2I_HAVE_MPI
  int finalized = 0;
  if (!world.mpi_started || world.finalized)
    return;
  world.finalized = TRUE;
  t2i_nccl_shutdown ();
  MPI_Finalized (&finalized);
  if (!finalized)
    MPI_Finalize ();
#endif
  g_clear_pointer (&world.pack, g_free);
  world.pack_len = 0;
}
