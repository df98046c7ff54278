/* The CUDA runtime on a GPU: cudart (linked statically; it loads the
 * driver on first use), one __global__ wrapper per kernel body of
 * kernels.h (a grid-stride loop over the indices), cuBLAS for GEMMs and
 * cuDNN for convolutions, both dlopen()ed on first use so that a build
 * with CUDA starts and runs its CPU work on a machine without them.
 *
 * Compiled with --fmad=false: the bodies' arithmetic is then the host
 * emulator's (test-backend checks the emulator against the CPU ops), up
 * to the device's libm (expf, erff, log1pf ... differ from glibc's by an
 * ulp or two).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "runtime.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <dlfcn.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>

static thread_local const char *last_error = "no error";

static int
ok (cudaError_t e)
{
  if (e == cudaSuccess)
    return 1;
  last_error = cudaGetErrorString (e);
  return 0;
}

static const char *
gpu_error (void)
{
  return last_error;
}

static char device_name_buf[256];

static const char *
gpu_device_name (void)
{
  return device_name_buf;
}

/* ---- memory and streams ---- */

static void *
gpu_malloc (size_t nbytes)
{
  void *p = NULL;
  if (!ok (cudaMalloc (&p, nbytes ? nbytes : 1)))
    return NULL;
  return p;
}

static void
gpu_free (void *p)
{
  cudaFree (p);
}

/* from pageable host memory cudaMemcpyAsync returns once the data is
 * staged (CUDA's API synchronisation rules; the driver may wait for the
 * stream to do so): the host buffer may be reused on return */
static int
gpu_h2d (void *dst, const void *src, size_t n, void *s)
{
  if (!n)
    return 1;
  return ok (cudaMemcpyAsync (dst, src, n, cudaMemcpyHostToDevice,
          (cudaStream_t) s));
}

static int
gpu_d2h (void *dst, const void *src, size_t n, void *s)
{
  if (!n)
    return 1;
  return ok (cudaMemcpyAsync (dst, src, n, cudaMemcpyDeviceToHost,
          (cudaStream_t) s)) && ok (cudaStreamSynchronize ((cudaStream_t) s));
}

static int
gpu_d2d (void *dst, const void *src, size_t n, void *s)
{
  if (!n)
    return 1;
  return ok (cudaMemcpyAsync (dst, src, n, cudaMemcpyDeviceToDevice,
          (cudaStream_t) s));
}

/* a blocking stream: work queued on the legacy default stream (uploads
 * made before a pipeline's stream was current) is ordered with it */
static void *
gpu_stream_new (void)
{
  cudaStream_t s = NULL;
  if (!ok (cudaStreamCreate (&s)))
    return NULL;
  return s;
}

static void
gpu_stream_free (void *s)
{
  cudaStreamDestroy ((cudaStream_t) s);
}

static int
gpu_sync (void *s)
{
  return ok (cudaStreamSynchronize ((cudaStream_t) s));
}

/* ---- kernels: a grid-stride loop over the body ---- */

static unsigned
grid_for (int64_t n)
{
  int64_t b = (n + 255) / 256;
  return (unsigned) (b < (1 << 20) ? b : (1 << 20));
}

#define T2I_GPU_KERNEL(name)                                                \
__global__ static void                                                      \
g_##name (T2iK_##name a, int64_t n)                                         \
{                                                                           \
  for (int64_t i = blockIdx.x * (int64_t) blockDim.x + threadIdx.x; i < n;  \
      i += (int64_t) gridDim.x * blockDim.x)                                \
    t2i_k_##name (i, &a);                                                   \
}                                                                           \
static int                                                                  \
gpu_##name (void *s, int64_t n, const T2iK_##name * a)                      \
{                                                                           \
  if (n <= 0)                                                               \
    return 1;                                                               \
  g_##name <<< grid_for (n), 256, 0, (cudaStream_t) s >>> (*a, n);          \
  return ok (cudaGetLastError ());                                          \
}
T2I_KERNELS (T2I_GPU_KERNEL)
#undef T2I_GPU_KERNEL

/* ---- cuBLAS, loaded on first use ---- */

static struct
{
  std::once_flag once;
  int loaded;
  decltype (&cublasCreate_v2) create;
  decltype (&cublasSetStream_v2) set_stream;
  decltype (&cublasSgemmStridedBatched) sgemm;
  decltype (&cublasDgemmStridedBatched) dgemm;
} blas;

static void
load_cublas (void)
{
  static const char *names[] = { "libcublas.so", "libcublas.so.13",
    "libcublas.so.12", NULL
  };
  for (int i = 0; names[i] && !blas.loaded; i++) {
    void *h = dlopen (names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h)
      continue;
    blas.create = (decltype (blas.create)) dlsym (h, "cublasCreate_v2");
    blas.set_stream = (decltype (blas.set_stream)) dlsym (h,
        "cublasSetStream_v2");
    blas.sgemm = (decltype (blas.sgemm)) dlsym (h,
        "cublasSgemmStridedBatched");
    blas.dgemm = (decltype (blas.dgemm)) dlsym (h,
        "cublasDgemmStridedBatched");
    blas.loaded = blas.create && blas.set_stream && blas.sgemm && blas.dgemm;
  }
}

static thread_local cublasHandle_t blas_handle;

/* row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T */
static int
gpu_gemm (void *s, int f64, int ta, int tb, int64_t M, int64_t N, int64_t K,
    const void *A, int64_t lda, int64_t sa, const void *B, int64_t ldb,
    int64_t sb, double beta, void *C, int64_t ldc, int64_t sc, int64_t batch)
{
  std::call_once (blas.once, load_cublas);
  if (!blas.loaded) {
    last_error = "cannot load libcublas";
    return 0;
  }
  if (!blas_handle && blas.create (&blas_handle) != CUBLAS_STATUS_SUCCESS) {
    last_error = "cublasCreate failed";
    blas_handle = NULL;
    return 0;
  }
  blas.set_stream (blas_handle, (cudaStream_t) s);
  const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasStatus_t st;
  if (f64) {
    const double one = 1.0, b = beta;
    st = blas.dgemm (blas_handle, opb, opa, (int) N, (int) M, (int) K, &one,
        (const double *) B, (int) ldb, sb, (const double *) A, (int) lda, sa,
        &b, (double *) C, (int) ldc, sc, (int) batch);
  } else {
    const float one = 1.0f, b = (float) beta;
    st = blas.sgemm (blas_handle, opb, opa, (int) N, (int) M, (int) K, &one,
        (const float *) B, (int) ldb, sb, (const float *) A, (int) lda, sa,
        &b, (float *) C, (int) ldc, sc, (int) batch);
  }
  if (st != CUBLAS_STATUS_SUCCESS) {
    last_error = "cuBLAS GEMM failed";
    return 0;
  }
  return 1;
}

/* ---- cuDNN, loaded on first use (its legacy convolution API) ---- */

#define DNN_FNS(X)                                                          \
  X (cudnnCreate)                                                           \
  X (cudnnSetStream)                                                        \
  X (cudnnCreateTensorDescriptor)                                           \
  X (cudnnSetTensor4dDescriptor)                                            \
  X (cudnnDestroyTensorDescriptor)                                          \
  X (cudnnCreateFilterDescriptor)                                           \
  X (cudnnSetFilter4dDescriptor)                                            \
  X (cudnnDestroyFilterDescriptor)                                          \
  X (cudnnCreateConvolutionDescriptor)                                      \
  X (cudnnSetConvolution2dDescriptor)                                       \
  X (cudnnSetConvolutionGroupCount)                                         \
  X (cudnnSetConvolutionMathType)                                           \
  X (cudnnDestroyConvolutionDescriptor)                                     \
  X (cudnnGetConvolutionForwardAlgorithm_v7)                                \
  X (cudnnGetConvolutionBackwardDataAlgorithm_v7)                           \
  X (cudnnGetConvolutionBackwardFilterAlgorithm_v7)                         \
  X (cudnnGetConvolutionForwardWorkspaceSize)                               \
  X (cudnnGetConvolutionBackwardDataWorkspaceSize)                          \
  X (cudnnGetConvolutionBackwardFilterWorkspaceSize)                        \
  X (cudnnConvolutionForward)                                               \
  X (cudnnConvolutionBackwardData)                                          \
  X (cudnnConvolutionBackwardFilter)

static struct
{
  std::once_flag once;
  int loaded;
#define DNN_FIELD(f) decltype (&::f) p_##f;
  DNN_FNS (DNN_FIELD)
#undef DNN_FIELD
} dnn;

static void
load_cudnn (void)
{
  if (getenv ("T2I_NO_CUDNN"))
    return;
  static const char *names[] = { "libcudnn.so.9", "libcudnn.so", NULL };
  for (int i = 0; names[i] && !dnn.loaded; i++) {
    void *h = dlopen (names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h)
      continue;
    dnn.loaded = 1;
#define DNN_SYM(f) \
    dnn.p_##f = (decltype (dnn.p_##f)) dlsym (h, #f); \
    dnn.loaded = dnn.loaded && dnn.p_##f;
    DNN_FNS (DNN_SYM)
#undef DNN_SYM
  }
}

typedef std::array<int64_t, 18> ConvKey;

struct ConvPlan
{
  int algo;                     /* -1: cuDNN has none: our kernels */
  size_t workspace;
};

static std::mutex plans_lock;
static std::map<ConvKey, ConvPlan> plans;
static thread_local cudnnHandle_t dnn_handle;
static thread_local void *workspace;
static thread_local size_t workspace_size;

struct Descs
{
  cudnnTensorDescriptor_t x = NULL, y = NULL;
  cudnnFilterDescriptor_t w = NULL;
  cudnnConvolutionDescriptor_t c = NULL;
  ~Descs ()
  {
    if (x)
      dnn.p_cudnnDestroyTensorDescriptor (x);
    if (y)
      dnn.p_cudnnDestroyTensorDescriptor (y);
    if (w)
      dnn.p_cudnnDestroyFilterDescriptor (w);
    if (c)
      dnn.p_cudnnDestroyConvolutionDescriptor (c);
  }
};

static bool
make_descs (Descs & d, const T2iKConvGeom * g, int f64)
{
  const cudnnDataType_t dt = f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  return dnn.p_cudnnCreateTensorDescriptor (&d.x) == CUDNN_STATUS_SUCCESS
      && dnn.p_cudnnCreateTensorDescriptor (&d.y) == CUDNN_STATUS_SUCCESS
      && dnn.p_cudnnCreateFilterDescriptor (&d.w) == CUDNN_STATUS_SUCCESS
      && dnn.p_cudnnCreateConvolutionDescriptor (&d.c) == CUDNN_STATUS_SUCCESS
      && dnn.p_cudnnSetTensor4dDescriptor (d.x, CUDNN_TENSOR_NCHW, dt,
      (int) g->n, (int) g->ci, (int) g->h, (int) g->w) == CUDNN_STATUS_SUCCESS
      && dnn.p_cudnnSetTensor4dDescriptor (d.y, CUDNN_TENSOR_NCHW, dt,
      (int) g->n, (int) g->co, (int) g->ho, (int) g->wo)
      == CUDNN_STATUS_SUCCESS
      && dnn.p_cudnnSetFilter4dDescriptor (d.w, dt, CUDNN_TENSOR_NCHW,
      (int) g->co, (int) (g->ci / g->g), (int) g->kh, (int) g->kw)
      == CUDNN_STATUS_SUCCESS
      && dnn.p_cudnnSetConvolution2dDescriptor (d.c, (int) g->ph, (int) g->pw,
      (int) g->sh, (int) g->sw, (int) g->dh, (int) g->dw,
      CUDNN_CROSS_CORRELATION, dt) == CUDNN_STATUS_SUCCESS
      && dnn.p_cudnnSetConvolutionGroupCount (d.c, (int) g->g)
      == CUDNN_STATUS_SUCCESS
      /* no TF32: the same f32 arithmetic as the CPU, within rounding */
      && dnn.p_cudnnSetConvolutionMathType (d.c, CUDNN_FMA_MATH)
      == CUDNN_STATUS_SUCCESS;
}

/* the fastest algorithm cuDNN's heuristics give for this case */
static ConvPlan
plan_for (int kind, const T2iKConvGeom * g, int f64, Descs & d)
{
  ConvKey key = { kind, f64, g->n, g->ci, g->h, g->w, g->co, g->kh, g->kw,
    g->sh, g->sw, g->ph, g->pw, g->dh, g->dw, g->g, g->ho, g->wo
  };
  {
    std::lock_guard < std::mutex > lock (plans_lock);
    auto it = plans.find (key);
    if (it != plans.end ())
      return it->second;
  }
  ConvPlan p = { -1, 0 };
  int n = 0;
  if (kind == 0) {
    cudnnConvolutionFwdAlgoPerf_t perf[8];
    if (dnn.p_cudnnGetConvolutionForwardAlgorithm_v7 (dnn_handle, d.x, d.w,
            d.c, d.y, 8, &n, perf) == CUDNN_STATUS_SUCCESS)
      for (int i = 0; i < n && p.algo < 0; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS
            && dnn.p_cudnnGetConvolutionForwardWorkspaceSize (dnn_handle, d.x,
                d.w, d.c, d.y, perf[i].algo, &p.workspace)
            == CUDNN_STATUS_SUCCESS)
          p.algo = perf[i].algo;
  } else if (kind == 1) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[8];
    if (dnn.p_cudnnGetConvolutionBackwardDataAlgorithm_v7 (dnn_handle, d.w,
            d.y, d.c, d.x, 8, &n, perf) == CUDNN_STATUS_SUCCESS)
      for (int i = 0; i < n && p.algo < 0; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS
            && dnn.p_cudnnGetConvolutionBackwardDataWorkspaceSize (dnn_handle,
                d.w, d.y, d.c, d.x, perf[i].algo, &p.workspace)
            == CUDNN_STATUS_SUCCESS)
          p.algo = perf[i].algo;
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[8];
    if (dnn.p_cudnnGetConvolutionBackwardFilterAlgorithm_v7 (dnn_handle, d.x,
            d.y, d.c, d.w, 8, &n, perf) == CUDNN_STATUS_SUCCESS)
      for (int i = 0; i < n && p.algo < 0; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS
            && dnn.p_cudnnGetConvolutionBackwardFilterWorkspaceSize (dnn_handle,
                d.x, d.y, d.c, d.w, perf[i].algo, &p.workspace)
            == CUDNN_STATUS_SUCCESS)
          p.algo = perf[i].algo;
  }
  std::lock_guard < std::mutex > lock (plans_lock);
  plans[key] = p;
  return p;
}

static int
gpu_conv (void *s, int kind, int f64, const T2iKConvGeom * g, const void *in0,
    const void *in1, void *out)
{
  std::call_once (dnn.once, load_cudnn);
  if (!dnn.loaded)
    return -1;
  if (!dnn_handle && dnn.p_cudnnCreate (&dnn_handle) != CUDNN_STATUS_SUCCESS) {
    dnn_handle = NULL;
    return -1;
  }
  dnn.p_cudnnSetStream (dnn_handle, (cudaStream_t) s);
  Descs d;
  if (!make_descs (d, g, f64))
    return -1;
  ConvPlan p = plan_for (kind, g, f64, d);
  if (p.algo < 0)
    return -1;
  if (p.workspace > workspace_size) {
    if (workspace)
      cudaFree (workspace);
    workspace = NULL;
    workspace_size = 0;
    if (!ok (cudaMalloc (&workspace, p.workspace)))
      return 0;
    workspace_size = p.workspace;
  }
  const double one_d = 1.0, zero_d = 0.0;
  const float one_f = 1.0f, zero_f = 0.0f;
  const void *one = f64 ? (const void *) &one_d : (const void *) &one_f;
  const void *zero = f64 ? (const void *) &zero_d : (const void *) &zero_f;
  cudnnStatus_t st;
  if (kind == 0)
    st = dnn.p_cudnnConvolutionForward (dnn_handle, one, d.x, in0, d.w, in1,
        d.c, (cudnnConvolutionFwdAlgo_t) p.algo, workspace, p.workspace,
        zero, d.y, out);
  else if (kind == 1)
    st = dnn.p_cudnnConvolutionBackwardData (dnn_handle, one, d.w, in1, d.y,
        in0, d.c, (cudnnConvolutionBwdDataAlgo_t) p.algo, workspace,
        p.workspace, zero, d.x, out);
  else
    st = dnn.p_cudnnConvolutionBackwardFilter (dnn_handle, one, d.x, in0, d.y,
        in1, d.c, (cudnnConvolutionBwdFilterAlgo_t) p.algo, workspace,
        p.workspace, zero, d.w, out);
  if (st != CUDNN_STATUS_SUCCESS) {
    last_error = "cuDNN convolution failed";
    return 0;
  }
  return 1;
}

/* ---- the table ---- */

static const T2iCudaRuntime gpu = {
  "cuda",
  gpu_error,
  gpu_device_name,
  gpu_malloc,
  gpu_free,
  gpu_h2d,
  gpu_d2h,
  gpu_d2d,
  gpu_stream_new,
  gpu_stream_free,
  gpu_sync,
  gpu_gemm,
  gpu_conv,
#define T2I_GPU_FIELD(name) gpu_##name,
  T2I_KERNELS (T2I_GPU_FIELD)
#undef T2I_GPU_FIELD
};

extern "C" const T2iCudaRuntime *
t2i_cuda_runtime_gpu (const char **why)
{
  int n = 0;
  cudaError_t e = cudaGetDeviceCount (&n);
  if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice || n == 0) {
    *why = "no CUDA device or driver on this machine";
    return NULL;
  }
  if (e != cudaSuccess) {
    *why = cudaGetErrorString (e);
    return NULL;
  }
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties (&prop, 0) == cudaSuccess)
    snprintf (device_name_buf, sizeof device_name_buf, "%s (sm_%d%d)",
        prop.name, prop.major, prop.minor);
  return &gpu;
}
