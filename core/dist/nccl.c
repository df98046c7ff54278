/* NCCL's all-reduce for gradients on CUDA (t2i_dist_allreduce_mean_tensors).
 *
 * The communicator is made on first use: rank 0 draws an ncclUniqueId and
 * broadcasts it over MPI, every rank joins with ncclCommInitRank on its
 * current CUDA device (one GPU per rank: give each rank its own with
 * CUDA_VISIBLE_DEVICES, docs/distributed.md).  The tensors are packed into
 * one device buffer (device-to-device copies), reduced in place with
 * ncclAvg on the default stream, and unpacked.  libnccl is loaded with
 * dlopen() on first use, like cuBLAS, so processes that never reduce on a
 * GPU neither load nor need it.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dist-private.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <nccl.h>
#include <string.h>

typedef ncclResult_t (*GetUniqueIdFn) (ncclUniqueId *);
typedef ncclResult_t (*CommInitRankFn) (ncclComm_t *, int, ncclUniqueId,
    int);
typedef ncclResult_t (*AllReduceFn) (const void *, void *, size_t,
    ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
typedef ncclResult_t (*CommDestroyFn) (ncclComm_t);
typedef const char *(*GetErrorStringFn) (ncclResult_t);

static struct
{
  GMutex lock;
  gboolean loaded;
  GetUniqueIdFn get_unique_id;
  CommInitRankFn comm_init_rank;
  AllReduceFn all_reduce;
  CommDestroyFn comm_destroy;
  GetErrorStringFn error_string;
  ncclComm_t comm;
  float *pack;                  /* device buffer, kept between calls */
  gsize pack_len;
} nccl;

static gboolean
load (GError ** error)
{
  static const char *const names[] = { "libnccl.so.2", "libnccl.so", NULL };
  if (nccl.loaded)
    return TRUE;
  for (guint i = 0; names[i] && !nccl.loaded; i++) {
    void *h = dlopen (names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h)
      continue;
    nccl.get_unique_id = (GetUniqueIdFn) dlsym (h, "ncclGetUniqueId");
    nccl.comm_init_rank = (CommInitRankFn) dlsym (h, "ncclCommInitRank");
    nccl.all_reduce = (AllReduceFn) dlsym (h, "ncclAllReduce");
    nccl.comm_destroy = (CommDestroyFn) dlsym (h, "ncclCommDestroy");
    nccl.error_string = (GetErrorStringFn) dlsym (h, "ncclGetErrorString");
    nccl.loaded = nccl.get_unique_id && nccl.comm_init_rank
        && nccl.all_reduce && nccl.comm_destroy && nccl.error_string;
  }
  if (!nccl.loaded)
    g_set_error (error, T2I_DIST_ERROR, T2I_DIST_ERROR_UNSUPPORTED,
        "gradients on CUDA need NCCL but libnccl.so.2 cannot be loaded "
        "(install NCCL or put its directory on LD_LIBRARY_PATH)");
  return nccl.loaded;
}

static gboolean
nccl_ok (ncclResult_t rc, const char *what, GError ** error)
{
  if (rc == ncclSuccess)
    return TRUE;
  g_set_error (error, T2I_DIST_ERROR, T2I_DIST_ERROR_FAILED,
      "rank %d of %d: %s failed: %s", t2i_dist_rank (), t2i_dist_size (),
      what, nccl.error_string (rc));
  return FALSE;
}

static gboolean
cuda_ok (cudaError_t rc, const char *what, GError ** error)
{
  if (rc == cudaSuccess)
    return TRUE;
  g_set_error (error, T2I_DIST_ERROR, T2I_DIST_ERROR_FAILED,
      "rank %d of %d: %s failed: %s", t2i_dist_rank (), t2i_dist_size (),
      what, cudaGetErrorString (rc));
  return FALSE;
}

static gboolean
ensure_comm (GError ** error)
{
  ncclUniqueId id;

  if (nccl.comm)
    return TRUE;
  if (!load (error))
    return FALSE;
  memset (&id, 0, sizeof id);
  if (t2i_dist_rank () == 0
      && !nccl_ok (nccl.get_unique_id (&id), "ncclGetUniqueId", error))
    return FALSE;
  /* every rank takes part in the broadcast, even when rank 0 failed above:
   * its error then reaches the launcher, which ends the job */
  if (!t2i_dist_broadcast (&id, sizeof id, error))
    return FALSE;
  return nccl_ok (nccl.comm_init_rank (&nccl.comm, t2i_dist_size (), id,
          t2i_dist_rank ()), "ncclCommInitRank", error);
}

gboolean
t2i_nccl_allreduce_mean (T2iTensor ** tensors, guint n, gsize total,
    GError ** error)
{
  gboolean ok;

  g_mutex_lock (&nccl.lock);
  ok = ensure_comm (error);
  if (ok && nccl.pack_len < total) {
    if (nccl.pack)
      cudaFree (nccl.pack);
    nccl.pack = NULL;
    nccl.pack_len = 0;
    ok = cuda_ok (cudaMalloc ((void **) &nccl.pack, total * sizeof (float)),
        "cudaMalloc of the fused gradient buffer", error);
    if (ok)
      nccl.pack_len = total;
  }
  gsize off = 0;
  for (guint i = 0; ok && i < n; i++) {
    ok = cuda_ok (cudaMemcpyAsync (nccl.pack + off, tensors[i]->data,
            tensors[i]->nbytes, cudaMemcpyDeviceToDevice, 0), "cudaMemcpy",
        error);
    off += (gsize) tensors[i]->numel;
  }
  if (ok)
    ok = nccl_ok (nccl.all_reduce (nccl.pack, nccl.pack, total, ncclFloat,
            ncclAvg, nccl.comm, 0), "ncclAllReduce", error);
  off = 0;
  for (guint i = 0; ok && i < n; i++) {
    ok = cuda_ok (cudaMemcpyAsync (tensors[i]->data, nccl.pack + off,
            tensors[i]->nbytes, cudaMemcpyDeviceToDevice, 0), "cudaMemcpy",
        error);
    off += (gsize) tensors[i]->numel;
  }
  if (ok)
    ok = cuda_ok (cudaStreamSynchronize (0), "cudaStreamSynchronize", error);
  g_mutex_unlock (&nccl.lock);
  return ok;
}

void
t2i_nccl_shutdown (void)
{
  g_mutex_lock (&nccl.lock);
  if (nccl.comm)
    nccl.comm_destroy (nccl.comm);
  nccl.comm = NULL;
  if (nccl.pack)
    cudaFree (nccl.pack);
  nccl.pack = NULL;
  nccl.pack_len = 0;
  g_mutex_unlock (&nccl.lock);
}
