/* Moving tensors between the CPU and a CUDA device.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "t2i-config.h"
#include "tensor-private.h"
#include "../backend/backend.h"

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

static const char *const device_names[T2I_N_DEVICES] = { "cpu", "cuda" };

const char *
t2i_device_name (T2iDevice device)
{
  return (guint) device < T2I_N_DEVICES ? device_names[device] : "?";
}

gboolean
t2i_device_from_name (const char *name, T2iDevice * out)
{
  for (guint i = 0; i < T2I_N_DEVICES; i++)
    if (g_strcmp0 (name, device_names[i]) == 0) {
      *out = (T2iDevice) i;
      return TRUE;
    }
  return FALSE;
}

const char *
t2i_cuda_runtime_name (void)
{
  return t2i_cuda_is_available ()? "cuda" : NULL;
}

gboolean
t2i_cuda_set_emulation (gboolean emulate)
{
  return !emulate;
}

gboolean
t2i_cuda_synchronize (GError ** error)
{
  return TRUE;
}

gboolean
t2i_tensor_copy_into (T2iTensor * dst, const T2iTensor * src, GError ** error)
{
  g_return_val_if_fail (dst->nbytes == src->nbytes, FALSE);
  if (dst->device == src->device)
    return T2I_BACKEND (dst)->copy (dst, src);
  g_set_error (error, t2i_device_error_quark (), 0, "CUDA: %s",
      t2i_cuda_unavailable_reason ()? t2i_cuda_unavailable_reason ()
      : "copies between devices need the CUDA runtime");
  return FALSE;
}

#if T2I_HAVE_CUDA
gboolean
t2i_cuda_alloc (Storage * s)
{
  const char *why = NULL;
  s->data = t2i_cuda_malloc (s->nbytes, &why);
  if (!s->data)
    g_critical ("CUDA: %s", why);
  return s->data != NULL;
}

gboolean
t2i_cuda_release (Storage * s)
{
  t2i_cuda_free (s->data);
  return TRUE;
}
#endif

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

