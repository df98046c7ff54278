/* Inside core/dist: the NCCL side of the communicator (nccl.c), present
 * when the CUDA toolkit has NCCL.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "t2i-config.h"
#include "t2i/dist.h"

#if T2I_HAVE_NCCL
/* the mean over the ranks of CUDA f32 tensors (@total elements in all),
 * one ncclAllReduce on a fused device buffer */
gboolean t2i_nccl_allreduce_mean (T2iTensor ** tensors, guint n, gsize total,
    GError ** error);
/* destroys the NCCL communicator (before MPI_Finalize) */
void t2i_nccl_shutdown (void);
#else
static inline gboolean
t2i_nccl_allreduce_mean (T2iTensor ** tensors, guint n, gsize total,
    GError ** error)
{
  g_set_error (error, T2I_DIST_ERROR, T2I_DIST_ERROR_UNSUPPORTED,
      "gradients on CUDA need NCCL, and this t2i was built without it "
      "(it needs nccl.h in the CUDA toolkit at build time and MPI)");
  return FALSE;
}

static inline void
t2i_nccl_shutdown (void)
{
}
#endif
