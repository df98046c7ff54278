/* The CUDA runtime on the host: "device" memory is host memory, a launch
 * runs the kernel's body for every index (OpenMP across indices: a body
 * writes only what its index owns, so any schedule gives the same
 * result), GEMM is a reference loop and convolutions fall back to the
 * backend's own kernels.  It exists so that the CUDA op table and every
 * kernel body can be tested on a machine without a GPU
 * (tests/core/test-backend.c); select it with $T2I_CUDA_EMULATE=1 or
 * t2i_cuda_set_emulation().
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "runtime.h"

#include <glib.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- strict mode ($T2I_CUDA_EMULATE=strict): device memory is one
 * shared-memory arena mapped twice, at addresses tensors hold (no access:
 * host code that reads a CUDA tensor's data directly, which would crash on
 * a GPU, crashes here too, with a message saying so) and at addresses the
 * kernels use.  A launch copies its argument struct and translates every
 * 8-byte word that points into the first view into the second (only
 * pointers: no size, stride or scalar of a kernel lies in that address
 * range); copies and GEMMs translate their pointer arguments. ---- */

#define ARENA_SIZE ((size_t) 64 << 30)

static gboolean strict;
static char *hview, *kview;
static size_t arena_used, page;
static int arena_fd = -1;
static GHashTable *arena_sizes;  /* offset -> size */
static GMutex arena_lock;

static void
segv_handler (int sig, siginfo_t * si, void *ctx)
{
  char *a = si->si_addr;
  if (hview && a >= hview && a < hview + ARENA_SIZE) {
    static const char msg[] = "t2i CUDA emulator (strict): host code read "
        "or wrote CUDA memory directly; copy it with t2i_tensor_to_device()\n";
    if (write (2, msg, sizeof msg - 1) < 0) {
      /* nothing left to do */
    }
  }
  signal (sig, SIG_DFL);
  raise (sig);
}

static void
strict_init (void)
{
  page = (size_t) sysconf (_SC_PAGESIZE);
  arena_fd = memfd_create ("t2i-cuda-emulator", MFD_CLOEXEC);
  if (arena_fd < 0 || ftruncate (arena_fd, (off_t) ARENA_SIZE) != 0)
    goto fail;
  hview = mmap (NULL, ARENA_SIZE, PROT_NONE, MAP_SHARED | MAP_NORESERVE,
      arena_fd, 0);
  kview = mmap (NULL, ARENA_SIZE, PROT_READ | PROT_WRITE,
      MAP_SHARED | MAP_NORESERVE, arena_fd, 0);
  if (hview == MAP_FAILED || kview == MAP_FAILED)
    goto fail;
  arena_sizes = g_hash_table_new (g_direct_hash, g_direct_equal);
  struct sigaction sa;
  memset (&sa, 0, sizeof sa);
  sa.sa_sigaction = segv_handler;
  sa.sa_flags = SA_SIGINFO;
  sigaction (SIGSEGV, &sa, NULL);
  return;
fail:
  g_warning ("T2I_CUDA_EMULATE=strict: no shared-memory arena; "
      "emulating without the check");
  strict = FALSE;
}

/* the kernels' address of @p (itself when it is not device memory) */
static inline void *
kaddr (const void *p)
{
  const char *c = p;
  if (strict && c >= hview && c < hview + ARENA_SIZE)
    return kview + (c - hview);
  return (void *) p;
}

static void
translate_args (void *args, size_t size)
{
  uint64_t *w = args;
  for (size_t i = 0; i < size / sizeof (uint64_t); i++) {
    const char *c = (const char *) (uintptr_t) w[i];
    if (c >= hview && c < hview + ARENA_SIZE)
      w[i] = (uint64_t) (uintptr_t) (kview + (c - hview));
  }
}

static void *
arena_alloc (size_t nbytes)
{
  size_t size = (nbytes + page - 1) / page * page;
  g_mutex_lock (&arena_lock);
  if (arena_used + size > ARENA_SIZE) {
    g_mutex_unlock (&arena_lock);
    return NULL;
  }
  size_t off = arena_used;
  arena_used += size;
  g_hash_table_insert (arena_sizes, GSIZE_TO_POINTER (off),
      GSIZE_TO_POINTER (size));
  g_mutex_unlock (&arena_lock);
  return hview + off;
}

static void
arena_free (void *p)
{
  size_t off = (size_t) ((char *) p - hview);
  g_mutex_lock (&arena_lock);
  size_t size = GPOINTER_TO_SIZE (g_hash_table_lookup (arena_sizes,
          GSIZE_TO_POINTER (off)));
  g_hash_table_remove (arena_sizes, GSIZE_TO_POINTER (off));
  g_mutex_unlock (&arena_lock);
  /* the pages go back to the system; the addresses are not reused */
  if (size)
    fallocate (arena_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
        (off_t) off, (off_t) size);
}

/* ---- launch counts, for the test that every kernel ran ---- */

enum
{
#define T2I_KID(name) KID_##name,
  T2I_KERNELS (T2I_KID)
#undef T2I_KID
  KID_COUNT
};

static T2iCudaKernelCount counts[KID_COUNT] = {
#define T2I_KNAME(name) { #name, 0 },
  T2I_KERNELS (T2I_KNAME)
#undef T2I_KNAME
};

const T2iCudaKernelCount *
t2i_cuda_emu_counts (int *n_out)
{
  *n_out = KID_COUNT;
  return counts;
}

/* ---- launchers: the body over every index ---- */

#define T2I_EMU_LAUNCHER(name)                                              \
static int                                                                  \
emu_##name (void *stream, int64_t n, const T2iK_##name * a)                 \
{                                                                           \
  (void) stream;                                                            \
  __atomic_fetch_add (&counts[KID_##name].launches, 1, __ATOMIC_RELAXED);  \
  T2iK_##name k = *a;                                                       \
  if (strict)                                                               \
    translate_args (&k, sizeof k);                                          \
  _Pragma ("omp parallel for if (n >= 16384)")                              \
  for (int64_t i = 0; i < n; i++)                                           \
    t2i_k_##name (i, &k);                                                   \
  return 1;                                                                 \
}
T2I_KERNELS (T2I_EMU_LAUNCHER)
#undef T2I_EMU_LAUNCHER

/* ---- memory ---- */

static const char *
emu_error (void)
{
  return "emulator: out of memory";
}

static const char *
emu_device_name (void)
{
  return "host emulator";
}

static void *
emu_malloc (size_t nbytes)
{
  if (strict)
    return arena_alloc (nbytes ? nbytes : 1);
  void *p = NULL;
  if (posix_memalign (&p, 64, nbytes ? nbytes : 1) != 0)
    return NULL;
  return p;
}

static void
emu_free (void *p)
{
  if (strict)
    arena_free (p);
  else
    free (p);
}

static int
emu_copy (void *dst, const void *src, size_t nbytes, void *stream)
{
  if (nbytes)
    memmove (kaddr (dst), kaddr (src), nbytes);
  return 1;
}

static void *
emu_stream_new (void)
{
  return g_malloc (1);
}

static void
emu_stream_free (void *stream)
{
  g_free (stream);
}

static int
emu_sync (void *stream)
{
  return 1;
}

/* ---- libraries ---- */

#define DEF_GEMM(NAME, T)                                                   \
static void                                                                 \
NAME (int ta, int tb, int64_t M, int64_t N, int64_t K, const T * A,         \
    int64_t lda, const T * B, int64_t ldb, double beta, T * C, int64_t ldc) \
{                                                                           \
  _Pragma ("omp parallel for if (M * N * K >= (1 << 18))")                  \
  for (int64_t i = 0; i < M; i++)                                           \
    for (int64_t j = 0; j < N; j++) {                                       \
      double acc = 0;                                                       \
      for (int64_t k = 0; k < K; k++)                                       \
        acc += (double) (ta ? A[k * lda + i] : A[i * lda + k])              \
            * (double) (tb ? B[j * ldb + k] : B[k * ldb + j]);              \
      T *c = C + i * ldc + j;                                               \
      *c = beta != 0 ? (T) (acc + beta * (double) *c) : (T) acc;            \
    }                                                                       \
}

DEF_GEMM (gemm_f32, float)
DEF_GEMM (gemm_f64, double)

static int
emu_gemm (void *stream, int f64, int ta, int tb, int64_t M, int64_t N,
    int64_t K, const void *A, int64_t lda, int64_t sa, const void *B,
    int64_t ldb, int64_t sb, double beta, void *C, int64_t ldc, int64_t sc,
    int64_t batch)
{
  A = kaddr (A);
  B = kaddr (B);
  C = kaddr (C);
  for (int64_t b = 0; b < batch; b++) {
    if (f64)
      gemm_f64 (ta, tb, M, N, K, (const double *) A + b * sa, lda,
          (const double *) B + b * sb, ldb, beta, (double *) C + b * sc, ldc);
    else
      gemm_f32 (ta, tb, M, N, K, (const float *) A + b * sa, lda,
          (const float *) B + b * sb, ldb, beta, (float *) C + b * sc, ldc);
  }
  return 1;
}

static int
emu_conv (void *stream, int kind, int f64, const T2iKConvGeom * g,
    const void *in0, const void *in1, void *out)
{
  return -1;                    /* the backend's direct kernels */
}

static const T2iCudaRuntime emu = {
  .name = "emulator",
  .error = emu_error,
  .device_name = emu_device_name,
  .malloc = emu_malloc,
  .free = emu_free,
  .h2d = emu_copy,
  .d2h = emu_copy,
  .d2d = emu_copy,
  .stream_new = emu_stream_new,
  .stream_free = emu_stream_free,
  .sync = emu_sync,
  .gemm = emu_gemm,
  .conv = emu_conv,
#define T2I_EMU_FIELD(name) .k_##name = emu_##name,
  T2I_KERNELS (T2I_EMU_FIELD)
#undef T2I_EMU_FIELD
};

const T2iCudaRuntime *
t2i_cuda_runtime_emu (void)
{
  static gsize once;
  if (g_once_init_enter (&once)) {
    strict = g_strcmp0 (g_getenv ("T2I_CUDA_EMULATE"), "strict") == 0;
    if (strict)
      strict_init ();
    g_once_init_leave (&once, 1);
  }
  return &emu;
}
