/* t2i — data-parallel communication between the processes of one job.
 *
 * `mpirun -np K t2i-launch train.t2i` starts K processes (ranks) running
 * the same pipeline; each trains on its own shard of the data and they
 * average gradients before every optimizer step (docs/distributed.md).
 * This is the small communicator the elements use for it: the world's
 * rank and size, sums over every rank of a float/double buffer, a
 * broadcast from rank 0, a gather to rank 0 and a barrier.  No MPI type
 * appears here; t2i is built against Open MPI when it is present (meson
 * option `mpi`) and the calls go to MPI_COMM_WORLD.
 *
 * t2i_dist_init() reads the launcher's environment: under mpirun
 * (OMPI_COMM_WORLD_SIZE, or PMI_SIZE for MPICH/Slurm launchers) it calls
 * MPI_Init_thread; otherwise the process is rank 0 of 1 and no MPI
 * function is ever called, so ordinary runs and tests pay nothing.  A
 * process started by a launcher with K > 1 in a build without MPI fails
 * init with one line, rather than training K independent models.
 *
 * Collective calls (everything below but rank/size/abort) must be made by
 * every rank in the same order; they may come from any thread (the calls
 * are serialised), but one pipeline makes them from one streaming thread.
 * A failed collective (a rank died) is reported as a #GError; the
 * launcher then aborts the whole job (t2i_dist_abort()).
 *
 * On CUDA tensors t2i_dist_allreduce_mean_tensors() uses NCCL (built when
 * the CUDA toolkit has NCCL; the communicator is bootstrapped over MPI).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>
#include <t2i/tensor.h>

G_BEGIN_DECLS

#define T2I_DIST_ERROR (t2i_dist_error_quark ())
GQuark t2i_dist_error_quark (void);

typedef enum {
  T2I_DIST_ERROR_UNSUPPORTED,   /* K > 1 without MPI, NCCL missing, ... */
  T2I_DIST_ERROR_FAILED,        /* an MPI or NCCL call failed */
  T2I_DIST_ERROR_MISMATCH,      /* the ranks disagree (sizes, state) */
} T2iDistError;

/* whether this build can run data-parallel on CPU (MPI) / CUDA (NCCL) */
gboolean t2i_dist_have_mpi (void);
gboolean t2i_dist_have_nccl (void);

/**
 * t2i_dist_init:
 * @error: return location for a #GError
 *
 * Joins the job the launcher started (once per process; later calls
 * return the first result).  The threads of each rank are OpenMP's
 * business: t2i-launch sets OMP_NUM_THREADS to the rank's share of the
 * cores when the launcher did not bind it (docs/distributed.md).
 *
 * Returns: %FALSE with @error when the environment names K > 1 ranks and
 *   this build or MPI cannot provide them
 */
gboolean t2i_dist_init (GError ** error);
/* 0 and 1 before a successful t2i_dist_init() */
gint t2i_dist_rank (void);
gint t2i_dist_size (void);
/* ranks on this host (OMPI_COMM_WORLD_LOCAL_SIZE), 1 when unknown */
gint t2i_dist_local_size (void);

/* in-place sums over every rank */
gboolean t2i_dist_allreduce_f32 (float *buf, gsize n, GError ** error);
gboolean t2i_dist_allreduce_f64 (double *buf, gsize n, GError ** error);
/* rank 0's @nbytes at @buf on every rank */
gboolean t2i_dist_broadcast (gpointer buf, gsize nbytes, GError ** error);

/**
 * t2i_dist_gather:
 * @mine: this rank's bytes (any size, up to 2 GiB)
 * @error: return location for a #GError
 *
 * Returns: (transfer full): on rank 0 one #GBytes per rank, in rank order;
 *   on the others an empty array; %NULL with @error on failure
 */
GPtrArray *t2i_dist_gather (GBytes * mine, GError ** error);
gboolean t2i_dist_barrier (GError ** error);

/**
 * t2i_dist_allreduce_mean_tensors:
 * @tensors: f32 tensors, all on the CPU or all on one CUDA device
 * @n: how many
 * @error: return location for a #GError
 *
 * Replaces each tensor's contents by its mean over the ranks, with one
 * fused collective for all @n (MPI_Allreduce on the CPU, ncclAllReduce on
 * CUDA): the gradients of one parameter group in one call.
 */
gboolean t2i_dist_allreduce_mean_tensors (T2iTensor ** tensors, guint n,
    GError ** error);

/* Ends the whole job at once (MPI_Abort), e.g. when this rank failed and
 * the others wait for it in a collective.  Returns only when K == 1. */
void t2i_dist_abort (gint exit_code);
/* MPI_Finalize (also registered with atexit() by t2i_dist_init()) */
void t2i_dist_finalize (void);

G_END_DECLS
