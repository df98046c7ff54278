/* t2i — tensors, the caching allocator and define-by-run autograd.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

#define T2I_MAX_DIMS 5
#define T2I_NODE_MAX_INPUTS 6

typedef enum {
  T2I_F32 = 0,
  T2I_F64,
  T2I_I32,
  T2I_U8,
} T2iDType;

typedef enum {
  T2I_DEVICE_CPU = 0,
  T2I_DEVICE_CUDA,
} T2iDevice;

typedef struct _T2iTensor T2iTensor;
typedef struct _T2iNode T2iNode;

/**
 * T2iTensor:
 *
 * A refcounted, contiguous, row-major tensor of up to %T2I_MAX_DIMS
 * dimensions.  Fields are public for reading; change them only through the
 * functions below.  @data points to @numel elements of @dtype on @device.
 *
 * Autograd: a tensor produced by an op while grad mode is on and one of its
 * inputs requires a gradient holds @node (its producer).  Leaves created by
 * the user set @requires_grad with t2i_tensor_set_requires_grad(); their
 * accumulated gradient is @grad after t2i_backward().
 */
struct _T2iTensor {
  gint ref_count;
  T2iDType dtype;
  T2iDevice device;
  gint ndim;
  gint64 shape[T2I_MAX_DIMS];
  gint64 numel;
  gpointer data;
  gsize nbytes;
  gboolean requires_grad;
  T2iTensor *grad;
  T2iNode *node;
  gpointer storage;             /* allocator block, private */
};

/**
 * T2iBackwardFn:
 * @node: the node being differentiated
 * @grad_out: gradient of the loss with respect to the node's output
 * @grad_in: (out): one slot per input; set slot i (a new reference) when
 *   node->needs_grad[i] is TRUE, leave the others NULL
 *
 * Backward functions are written with the public ops of ops.h, so the engine
 * can run them with grad mode on (create_graph: gradients of gradients, as
 * the R1 penalty needs) or off (the ordinary, cheaper case).
 */
typedef void (*T2iBackwardFn) (T2iNode *node, T2iTensor *grad_out,
    T2iTensor **grad_in);

/**
 * T2iNode:
 *
 * One recorded op.  Holds references to its inputs and to any tensors it
 * saved for backward; small scalar arguments go in @f / @i.
 */
struct _T2iNode {
  gint ref_count;
  const char *name;             /* op name, static string */
  T2iBackwardFn backward;
  gint n_inputs;
  T2iTensor *inputs[T2I_NODE_MAX_INPUTS];
  gboolean needs_grad[T2I_NODE_MAX_INPUTS];
  T2iTensor *saved[4];          /* extra tensors kept for backward (refs) */
  double f[8];                  /* scalar arguments */
  gint64 i[16];                 /* integer arguments */
  gpointer user;                /* op-private data freed with @free_user */
  GDestroyNotify free_user;
  /* output description, used by the engine to shape zero gradients */
  T2iDType out_dtype;
  gint out_ndim;
  gint64 out_shape[T2I_MAX_DIMS];
};

/* ---- dtype helpers ---- */
gsize t2i_dtype_size (T2iDType dtype);
const char *t2i_dtype_name (T2iDType dtype);        /* "f32", "f64", "i32", "u8" */
gboolean t2i_dtype_from_name (const char *name, T2iDType * out);

/* ---- creation and lifetime ---- */
T2iTensor *t2i_tensor_new (T2iDType dtype, gint ndim, const gint64 * shape);  /* uninitialised */
T2iTensor *t2i_tensor_zeros (T2iDType dtype, gint ndim, const gint64 * shape);
T2iTensor *t2i_tensor_full (T2iDType dtype, gint ndim, const gint64 * shape, double value);
T2iTensor *t2i_tensor_new_like (const T2iTensor * t);       /* same dtype/shape, uninitialised */
T2iTensor *t2i_tensor_zeros_like (const T2iTensor * t);
T2iTensor *t2i_tensor_from_data (T2iDType dtype, gint ndim, const gint64 * shape,
    gconstpointer data);                                     /* copies */
T2iTensor *t2i_tensor_scalar (T2iDType dtype, double value); /* 0-d */
T2iTensor *t2i_tensor_copy (const T2iTensor * t);            /* deep copy, no graph */
T2iTensor *t2i_tensor_to_dtype (const T2iTensor * t, T2iDType dtype); /* copy, no graph */
/* the same on a device (t2i_tensor_new() etc. create CPU tensors; the
 * _like functions create on the device of their model) */
T2iTensor *t2i_tensor_new_on (T2iDevice device, T2iDType dtype, gint ndim,
    const gint64 * shape);                                   /* uninitialised */
T2iTensor *t2i_tensor_zeros_on (T2iDevice device, T2iDType dtype, gint ndim,
    const gint64 * shape);
T2iTensor *t2i_tensor_full_on (T2iDevice device, T2iDType dtype, gint ndim,
    const gint64 * shape, double value);
T2iTensor *t2i_tensor_ref (T2iTensor * t);
void t2i_tensor_unref (T2iTensor * t);

/* convenience for shapes written inline: T2I_SHAPE(2, 3) */
#define T2I_SHAPE(...) (sizeof ((gint64[]) { __VA_ARGS__ }) / sizeof (gint64)), ((gint64[]) { __VA_ARGS__ })

/* ---- element access (CPU) ---- */
static inline float *t2i_tensor_f32 (T2iTensor * t) { return (float *) t->data; }
static inline double *t2i_tensor_f64 (T2iTensor * t) { return (double *) t->data; }
static inline gint32 *t2i_tensor_i32 (T2iTensor * t) { return (gint32 *) t->data; }
static inline guint8 *t2i_tensor_u8 (T2iTensor * t) { return (guint8 *) t->data; }
double t2i_tensor_get (const T2iTensor * t, gint64 flat_index);  /* any dtype, as double */
void t2i_tensor_set (T2iTensor * t, gint64 flat_index, double value);
double t2i_tensor_item (const T2iTensor * t);                     /* numel must be 1 */
gboolean t2i_tensor_same_shape (const T2iTensor * a, const T2iTensor * b);
char *t2i_shape_to_string (gint ndim, const gint64 * shape);      /* "[2,3,4]" */
gint64 t2i_shape_numel (gint ndim, const gint64 * shape);

/* ---- autograd ---- */
void t2i_tensor_set_requires_grad (T2iTensor * t, gboolean requires_grad);
gboolean t2i_grad_enabled (void);
/* returns the previous state; grad mode is per thread, on by default */
gboolean t2i_set_grad_enabled (gboolean enabled);
T2iTensor *t2i_detach (T2iTensor * t);          /* shares data, drops the graph */
/* a tensor sharing @t's data with another shape of the same numel; no graph */
T2iTensor *t2i_tensor_alias (T2iTensor * t, gint ndim, const gint64 * shape);
void t2i_tensor_zero_grad (T2iTensor * t);

/**
 * t2i_backward:
 * @loss: a tensor with one element
 * @params: (nullable): the leaves to differentiate, %NULL-terminated; %NULL
 *   means every leaf that requires grad
 *
 * Accumulates d(loss)/d(leaf) into leaf->grad (detached) for each leaf in
 * @params.  Paths of the graph that reach none of @params are pruned.
 */
void t2i_backward (T2iTensor * loss, T2iTensor ** params);

/**
 * t2i_grad:
 * Like torch.autograd.grad: returns (new references, %NULL-terminated array
 * of @n) the gradients of @out with respect to @inputs without touching any
 * ->grad field.  @grad_out may be %NULL for a one-element @out.
 */
T2iTensor **t2i_grad (T2iTensor * out, T2iTensor * grad_out, T2iTensor ** inputs,
    gint n, gboolean create_graph);

/* For op implementers (ops/ files). */
T2iNode *t2i_node_new (const char *name, T2iBackwardFn backward, gint n_inputs,
    T2iTensor ** inputs);
/* If any input requires grad and grad mode is on, attaches @node to @out and
 * marks @out as requiring grad; otherwise frees @node.  Returns @out. */
T2iTensor *t2i_node_attach (T2iNode * node, T2iTensor * out);
gboolean t2i_any_requires_grad (gint n, T2iTensor ** inputs);
void t2i_node_save (T2iNode * node, gint slot, T2iTensor * t);
void t2i_node_unref (T2iNode * node);

/* ---- devices (core/tensor/device.c, docs/cuda.md) ----
 * A tensor lives on one device; every op runs on the device of its
 * inputs (all inputs on one device) through that device's op table
 * (core/backend/backend.h) and returns tensors there.  CUDA tensors hold a
 * device pointer in @data: the element accessors (t2i_tensor_get, _set,
 * _item) copy the element they touch, anything else reads a CUDA tensor
 * after t2i_tensor_to_device (t, T2I_DEVICE_CPU, ...).
 *
 * The CUDA backend is compiled when nvcc is found; the driver, cuBLAS and
 * cuDNN are loaded on first use.  Without a device these calls fail with
 * a message.  With $T2I_CUDA_EMULATE=1 (or t2i_cuda_set_emulation()) the
 * CUDA table runs on the host instead: device memory is host memory and
 * every kernel body runs in a loop on the CPU (slow; for tests). */
const char *t2i_device_name (T2iDevice device);         /* "cpu", "cuda" */
gboolean t2i_device_from_name (const char *name, T2iDevice * out);
gboolean t2i_cuda_is_available (void);
/* why CUDA cannot be used ("built without CUDA", "no CUDA device present") */
const char *t2i_cuda_unavailable_reason (void);
/* "cuda" (a GPU), "emulator" (host emulation) or NULL (unavailable) */
const char *t2i_cuda_runtime_name (void);
/* the device: "NVIDIA H200 (sm_90)", "host emulator", or NULL */
const char *t2i_cuda_device_name (void);
/* before the first CUDA call: run the CUDA table on the host emulator
 * (TRUE) or on a GPU (FALSE, the default unless $T2I_CUDA_EMULATE=1).
 * Returns FALSE when the runtime was already chosen otherwise. */
gboolean t2i_cuda_set_emulation (gboolean emulate);
/* waits for the work queued on the calling thread's stream */
gboolean t2i_cuda_synchronize (GError ** error);
/* CUDA streams: ops queue their kernels on the calling thread's current
 * stream (the default stream until one is set); a pipeline runs on one */
typedef struct _T2iCudaStream T2iCudaStream;
T2iCudaStream *t2i_cuda_stream_new (GError ** error);
/* waits for the stream, gives its cached memory back and closes it;
 * tensors still allocated on it stay valid */
void t2i_cuda_stream_free (T2iCudaStream * stream);
/* makes @stream (NULL: the default) current on the calling thread (the
 * thread keeps a reference; a stream freed meanwhile reads as the
 * default) */
void t2i_cuda_stream_set_current (T2iCudaStream * stream);
/* a copy of @t on @device (a new reference to @t when it is already there) */
T2iTensor *t2i_tensor_to_device (T2iTensor * t, T2iDevice device, GError ** error);
/* moves @t's data (and its gradient's) to @device in place: the same
 * tensor object, new storage.  For parameters right after they are built
 * or loaded; aliases made earlier keep the old storage. */
gboolean t2i_tensor_move_to_device (T2iTensor * t, T2iDevice device,
    GError ** error);
/* copies @src (any device) into @dst (any device; same dtype and numel) */
gboolean t2i_tensor_copy_into (T2iTensor * dst, const T2iTensor * src,
    GError ** error);

/* ---- threads ---- */
void t2i_set_num_threads (gint n);      /* 0 = number of cores */
gint t2i_get_num_threads (void);

/* ---- caching allocator ----
 * t2i_alloc() and every tensor creation refuse a block the machine cannot
 * give: when the blocks in use and the new one would pass the limit
 * (T2I_MEMORY_LIMIT=SIZE, e.g. "8G", or else physical memory + swap), when
 * a large block (64 MiB or more) is more than the machine has available
 * at that moment (MemAvailable + SwapFree; not with T2I_MEMORY_LIMIT), or
 * when the system refuses it.  The refusal unwinds to the innermost
 * t2i_alloc_guard() of the calling thread; without one the process aborts
 * with the same message.  docs/reliability.md says why. */
gpointer t2i_alloc (gsize nbytes, gpointer * block);   /* 64-byte aligned */
void t2i_free (gpointer block);

#define T2I_ALLOC_ERROR (t2i_alloc_error_quark ())
GQuark t2i_alloc_error_quark (void);
typedef enum {
  T2I_ALLOC_ERROR_NO_MEMORY,
} T2iAllocError;

typedef gboolean (*T2iGuardedFunc) (gpointer data, GError ** error);

/**
 * t2i_alloc_guard:
 * @func: the work
 * @data: its argument
 * @error: return location for a #GError
 *
 * Runs @func (@data, @error).  When an allocation in it (on this thread,
 * outside an OpenMP parallel region) is refused, the work is abandoned
 * where it stands and this returns %FALSE with a #T2I_ALLOC_ERROR whose
 * message names the tensor and the sizes ("out of memory: f32
 * [65536,1048576] needs 256 GiB, more than the 23.4 GiB of memory and swap
 * of this machine; ...").  What @func had allocated until then is not
 * freed, and locks it held stay held: guard work whose failure ends it
 * (the element base classes guard their subclasses' process(), build()
 * and create()), and take no lock around an allocation inside it.
 * Guards nest; each thread has its own.
 *
 * Returns: what @func returned, or %FALSE when it ran out of memory
 */
gboolean t2i_alloc_guard (T2iGuardedFunc func, gpointer data, GError ** error);
/* the limit in bytes: T2I_MEMORY_LIMIT, or physical memory + swap */
gsize t2i_alloc_get_limit (void);
/* sets the limit as T2I_MEMORY_LIMIT does (0: physical memory + swap) */
void t2i_alloc_set_limit (gsize bytes);
typedef struct {
  gsize bytes_in_use;
  gsize bytes_cached;
  gsize peak_bytes;
  guint64 system_allocs;        /* how often the allocator asked the system */
} T2iAllocStats;
void t2i_alloc_get_stats (T2iAllocStats * stats);
/* restarts peak_bytes from bytes_in_use, to measure one phase's peak */
void t2i_alloc_reset_peak (void);
void t2i_alloc_trim (void);             /* give cached blocks back */

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iTensor, t2i_tensor_unref)

G_END_DECLS
