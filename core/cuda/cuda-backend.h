/* The CUDA backend's C interface, used by core/ when built with CUDA.
 * Everything here is safe to call when no device exists: allocation and
 * kernels then fail with a message.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* number of usable devices; 0 with @why set when there is none */
int t2i_cuda_device_count (const char **why);
void *t2i_cuda_malloc (size_t nbytes, const char **why);
void t2i_cuda_free (void *p);
int t2i_cuda_memcpy_h2d (void *dst, const void *src, size_t nbytes, const char **why);
int t2i_cuda_memcpy_d2h (void *dst, const void *src, size_t nbytes, const char **why);
/* elementwise on device arrays of n floats */
int t2i_cuda_add_f32 (const float *a, const float *b, float *out, size_t n, const char **why);
int t2i_cuda_mul_f32 (const float *a, const float *b, float *out, size_t n, const char **why);
int t2i_cuda_relu_f32 (const float *a, float *out, size_t n, const char **why);
/* row-major C[m,n] = A[m,k] B[k,n] with cuBLAS */
int t2i_cuda_sgemm (int m, int n, int k, const float *a, const float *b, float *c,
    const char **why);

#ifdef __cplusplus
}
#endif
