/* CUDA backend: device memory, a few elementwise kernels and cuBLAS GEMM.
 * Kept simple: one default stream, synchronous error checks.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

/* cuBLAS is loaded on first use: linking it costs every process about a
 * second of start-up, even on machines without a GPU. */
typedef cublasStatus_t (*CreateFn) (cublasHandle_t *);
typedef cublasStatus_t (*SgemmFn) (cublasHandle_t, cublasOperation_t,
    cublasOperation_t, int, int, int, const float *, const float *, int,
    const float *, int, const float *, float *, int);
static CreateFn p_create;
static SgemmFn p_sgemm;

static int
load_cublas (const char **why)
{
  static const char *names[] = { "libcublas.so", "libcublas.so.13",
    "libcublas.so.12", NULL };
  if (p_create)
    return 1;
  for (int i = 0; names[i] && !p_create; i++) {
    void *h = dlopen (names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h)
      continue;
    p_create = (CreateFn) dlsym (h, "cublasCreate_v2");
    p_sgemm = (SgemmFn) dlsym (h, "cublasSgemm_v2");
    if (!p_create || !p_sgemm)
      p_create = NULL;
  }
  if (!p_create && why)
    *why = "cannot load libcublas";
  return p_create != NULL;
}

static int
ok (cudaError_t e, const char **why)
{
  if (e == cudaSuccess)
    return 1;
  if (why)
    *why = cudaGetErrorString (e);
  return 0;
}

extern "C" int
t2i_cuda_device_count (const char **why)
{
  int n = 0;
  cudaError_t e = cudaGetDeviceCount (&n);
  if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice) {
    if (why)
      *why = "no CUDA device or driver on this machine";
    return 0;
  }
  if (!ok (e, why))
    return 0;
  if (n == 0 && why)
    *why = "no CUDA device present";
  return n;
}

extern "C" void *
t2i_cuda_malloc (size_t nbytes, const char **why)
{
  void *p = NULL;
  if (!ok (cudaMalloc (&p, nbytes ? nbytes : 1), why))
    return NULL;
  return p;
}

extern "C" void
t2i_cuda_free (void *p)
{
  cudaFree (p);
}

extern "C" int
t2i_cuda_memcpy_h2d (void *dst, const void *src, size_t nbytes, const char **why)
{
  return ok (cudaMemcpy (dst, src, nbytes, cudaMemcpyHostToDevice), why);
}

extern "C" int
t2i_cuda_memcpy_d2h (void *dst, const void *src, size_t nbytes, const char **why)
{
  return ok (cudaMemcpy (dst, src, nbytes, cudaMemcpyDeviceToHost), why);
}

__global__ static void
add_kernel (const float *a, const float *b, float *o, size_t n)
{
  size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x;
  if (i < n)
    o[i] = a[i] + b[i];
}

__global__ static void
mul_kernel (const float *a, const float *b, float *o, size_t n)
{
  size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x;
  if (i < n)
    o[i] = a[i] * b[i];
}

__global__ static void
relu_kernel (const float *a, float *o, size_t n)
{
  size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x;
  if (i < n)
    o[i] = a[i] > 0.f ? a[i] : 0.f;
}

static unsigned
blocks (size_t n)
{
  return (unsigned) ((n + 255) / 256);
}

extern "C" int
t2i_cuda_add_f32 (const float *a, const float *b, float *out, size_t n, const char **why)
{
  if (n)
    add_kernel <<< blocks (n), 256 >>> (a, b, out, n);
  return ok (cudaGetLastError (), why) && ok (cudaDeviceSynchronize (), why);
}

extern "C" int
t2i_cuda_mul_f32 (const float *a, const float *b, float *out, size_t n, const char **why)
{
  if (n)
    mul_kernel <<< blocks (n), 256 >>> (a, b, out, n);
  return ok (cudaGetLastError (), why) && ok (cudaDeviceSynchronize (), why);
}

extern "C" int
t2i_cuda_relu_f32 (const float *a, float *out, size_t n, const char **why)
{
  if (n)
    relu_kernel <<< blocks (n), 256 >>> (a, out, n);
  return ok (cudaGetLastError (), why) && ok (cudaDeviceSynchronize (), why);
}

extern "C" int
t2i_cuda_sgemm (int m, int n, int k, const float *a, const float *b, float *c,
    const char **why)
{
  static cublasHandle_t handle;
  if (!load_cublas (why))
    return 0;
  if (!handle && p_create (&handle) != CUBLAS_STATUS_SUCCESS) {
    if (why)
      *why = "cublasCreate failed";
    return 0;
  }
  const float one = 1.f, zero = 0.f;
  /* row-major C = A B is column-major C^T = B^T A^T */
  if (p_sgemm (handle, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, b, n, a, k,
          &zero, c, n) != CUBLAS_STATUS_SUCCESS) {
    if (why)
      *why = "cublasSgemm failed";
    return 0;
  }
  return ok (cudaDeviceSynchronize (), why);
}
