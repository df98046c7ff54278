/* Moving tensors between the CPU and a CUDA device.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "t2i-config.h"
#include "tensor-private.h"

#if T2I_HAVE_CUDA
#include "../cuda/cuda-backend.h"
#endif

GQuark t2i_device_error_quark (void);
G_DEFINE_QUARK (t2i-device-error-quark, t2i_device_error)

const char *
t2i_cuda_unavailable_reason (void)
{
#if T2I_HAVE_CUDA
  static const char *why;
  static gsize once;
  if (g_once_init_enter (&once)) {
    why = NULL;
    if (t2i_cuda_device_count (&why) > 0)
      why = NULL;
    else if (!why)
      why = "no CUDA device present";
    g_once_init_leave (&once, 1);
  }
  return why;
#else
  return "t2i was built without CUDA (nvcc was not found at build time)";
#endif
}

gboolean
t2i_cuda_is_available (void)
{
  return t2i_cuda_unavailable_reason () == NULL;
}

void
t2i_device_free (Storage * s)
{
#if T2I_HAVE_CUDA
  t2i_cuda_free (s->data);
#endif
}

T2iTensor *
t2i_tensor_to_device (T2iTensor * t, T2iDevice device, GError ** error)
{
  if (t->device == device)
    return t2i_tensor_ref (t);
  if (!t2i_cuda_is_available ()) {
    g_set_error (error, t2i_device_error_quark (), 0, "CUDA: %s",
        t2i_cuda_unavailable_reason ());
    return NULL;
  }
#if T2I_HAVE_CUDA
  const char *why = NULL;
  if (device == T2I_DEVICE_CUDA) {
    Storage *s = g_new0 (Storage, 1);
    s->ref_count = 1;
    s->device = T2I_DEVICE_CUDA;
    s->nbytes = t->nbytes;
    s->data = t2i_cuda_malloc (t->nbytes, &why);
    if (!s->data || !t2i_cuda_memcpy_h2d (s->data, t->data, t->nbytes, &why)) {
      g_set_error (error, t2i_device_error_quark (), 0, "CUDA: %s", why);
      if (s->data)
        t2i_cuda_free (s->data);
      g_free (s);
      return NULL;
    }
    return t2i_tensor_new_with_storage (t->dtype, t->ndim, t->shape, s);
  }
  T2iTensor *r = t2i_tensor_new (t->dtype, t->ndim, t->shape);
  if (!t2i_cuda_memcpy_d2h (r->data, t->data, t->nbytes, &why)) {
    g_set_error (error, t2i_device_error_quark (), 0, "CUDA: %s", why);
    t2i_tensor_unref (r);
    return NULL;
  }
  return r;
#else
  return NULL;
#endif
}

/* ---- CUDA op implementations (forward only) ---- */

#if T2I_HAVE_CUDA
static gboolean
cuda_args_ok (const char *op, T2iTensor * a, T2iTensor * b)
{
  if (a->device != T2I_DEVICE_CUDA || (b && b->device != T2I_DEVICE_CUDA)) {
    g_critical ("t2i_%s: all inputs must be on the same device", op);
    return FALSE;
  }
  if (a->dtype != T2I_F32 || (b && b->dtype != T2I_F32)) {
    g_critical ("t2i_%s: CUDA tensors must be f32", op);
    return FALSE;
  }
  if (a->requires_grad || (b && b->requires_grad)) {
    g_critical ("t2i_%s: autograd is not available on CUDA yet", op);
    return FALSE;
  }
  return TRUE;
}

static T2iTensor *
cuda_new (gint ndim, const gint64 * shape)
{
  const char *why = NULL;
  Storage *s = g_new0 (Storage, 1);
  s->ref_count = 1;
  s->device = T2I_DEVICE_CUDA;
  s->nbytes = (gsize) t2i_shape_numel (ndim, shape) * sizeof (float);
  s->data = t2i_cuda_malloc (s->nbytes, &why);
  if (!s->data) {
    g_critical ("CUDA: %s", why);
    g_free (s);
    return NULL;
  }
  return t2i_tensor_new_with_storage (T2I_F32, ndim, shape, s);
}

typedef int (*CudaBinary) (const float *, const float *, float *, size_t,
    const char **);

static T2iTensor *
cuda_binary (const char *op, CudaBinary fn, T2iTensor * a, T2iTensor * b)
{
  const char *why = NULL;
  if (!cuda_args_ok (op, a, b))
    return NULL;
  if (!t2i_tensor_same_shape (a, b)) {
    g_critical ("t2i_%s: CUDA inputs must have the same shape", op);
    return NULL;
  }
  T2iTensor *out = cuda_new (a->ndim, a->shape);
  if (out && !fn (a->data, b->data, out->data, a->numel, &why)) {
    g_critical ("t2i_%s on CUDA: %s", op, why);
    g_clear_pointer (&out, t2i_tensor_unref);
  }
  return out;
}

T2iTensor *
t2i_cuda_op_add (T2iTensor * a, T2iTensor * b)
{
  return cuda_binary ("add", t2i_cuda_add_f32, a, b);
}

T2iTensor *
t2i_cuda_op_mul (T2iTensor * a, T2iTensor * b)
{
  return cuda_binary ("mul", t2i_cuda_mul_f32, a, b);
}

T2iTensor *
t2i_cuda_op_relu (T2iTensor * a)
{
  const char *why = NULL;
  if (!cuda_args_ok ("relu", a, NULL))
    return NULL;
  T2iTensor *out = cuda_new (a->ndim, a->shape);
  if (out && !t2i_cuda_relu_f32 (a->data, out->data, a->numel, &why)) {
    g_critical ("t2i_relu on CUDA: %s", why);
    g_clear_pointer (&out, t2i_tensor_unref);
  }
  return out;
}

T2iTensor *
t2i_cuda_op_matmul (T2iTensor * a, T2iTensor * b)
{
  const char *why = NULL;
  if (!cuda_args_ok ("matmul", a, b))
    return NULL;
  if (a->ndim != 2 || b->ndim != 2 || a->shape[1] != b->shape[0]) {
    g_critical ("t2i_matmul: CUDA supports 2-D [M,K] @ [K,N] only");
    return NULL;
  }
  T2iTensor *out = cuda_new (T2I_SHAPE (a->shape[0], b->shape[1]));
  if (out && !t2i_cuda_sgemm ((int) a->shape[0], (int) b->shape[1],
          (int) a->shape[1], a->data, b->data, out->data, &why)) {
    g_critical ("t2i_matmul on CUDA: %s", why);
    g_clear_pointer (&out, t2i_tensor_unref);
  }
  return out;
}
#else
static T2iTensor *
no_cuda (const char *op)
{
  g_critical ("t2i_%s: %s", op, t2i_cuda_unavailable_reason ());
  return NULL;
}

T2iTensor *
t2i_cuda_op_add (T2iTensor * a, T2iTensor * b)
{
  return no_cuda ("add");
}

T2iTensor *
t2i_cuda_op_mul (T2iTensor * a, T2iTensor * b)
{
  return no_cuda ("mul");
}

T2iTensor *
t2i_cuda_op_relu (T2iTensor * a)
{
  return no_cuda ("relu");
}

T2iTensor *
t2i_cuda_op_matmul (T2iTensor * a, T2iTensor * b)
{
  return no_cuda ("matmul");
}
#endif
