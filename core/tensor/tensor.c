/* T2iTensor: creation, lifetime, element access.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/tensor.h"
#include "../backend/backend.h"

#include <math.h>
#include <string.h>
#include <omp.h>

/* Storage is shared between a tensor and its aliases/detached copies. */
#include "tensor-private.h"

static T2iTensor *tensor_header (T2iDType dtype, gint ndim, const gint64 * shape);

/* "f32 [65536,1048576]" */
G_GNUC_NORETURN static void
fail_tensor (T2iDType dtype, gint ndim, const gint64 * shape)
{
  char what[160];
  gsize len = (gsize) g_snprintf (what, sizeof what, "a tensor %s [",
      t2i_dtype_name (dtype));
  for (gint i = 0; i < ndim && len < sizeof what; i++)
    len += (gsize) g_snprintf (what + len, sizeof what - len,
        "%s%" G_GINT64_FORMAT, i ? "," : "", shape[i]);
  g_strlcat (what, "]", sizeof what);
  t2i_alloc_fail (what);
}

static Storage *
storage_new (gsize nbytes, T2iDType dtype, gint ndim, const gint64 * shape)
{
  gpointer block;
  gpointer data = t2i_alloc_try (nbytes ? nbytes : 1, &block);
  if (!data)
    fail_tensor (dtype, ndim, shape);
  Storage *s = g_new0 (Storage, 1);
  s->ref_count = 1;
  s->nbytes = nbytes;
  s->device = T2I_DEVICE_CPU;
  s->data = data;
  s->block = block;
  return s;
}

static void
storage_unref (Storage * s)
{
  if (s && g_atomic_int_dec_and_test (&s->ref_count)) {
    if (s->device == T2I_DEVICE_CPU)
      t2i_free (s->block);
    else
      t2i_backends[s->device]->release (s);
    g_free (s);
  }
}

T2iTensor *
t2i_tensor_new_with_storage (T2iDType dtype, gint ndim, const gint64 * shape,
    Storage * s)
{
  T2iTensor *t = tensor_header (dtype, ndim, shape);
  t->storage = s;
  t->data = s->data;
  t->device = s->device;
  return t;
}

gsize
t2i_dtype_size (T2iDType dtype)
{
  switch (dtype) {
    case T2I_F32:
    case T2I_I32:
      return 4;
    case T2I_F64:
      return 8;
    case T2I_U8:
      return 1;
  }
  g_return_val_if_reached (0);
}

static const char *const dtype_names[] = { "f32", "f64", "i32", "u8" };

const char *
t2i_dtype_name (T2iDType dtype)
{
  g_return_val_if_fail ((guint) dtype < G_N_ELEMENTS (dtype_names), "?");
  return dtype_names[dtype];
}

gboolean
t2i_dtype_from_name (const char *name, T2iDType * out)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtype_names); i++)
    if (g_strcmp0 (name, dtype_names[i]) == 0) {
      *out = (T2iDType) i;
      return TRUE;
    }
  return FALSE;
}

/* G_MAXINT64 when the product does not fit */
gint64
t2i_shape_numel (gint ndim, const gint64 * shape)
{
  gint64 n = 1;
  for (gint i = 0; i < ndim; i++)
    if (__builtin_mul_overflow (n, shape[i], &n))
      return G_MAXINT64;
  return n;
}

static T2iTensor *
tensor_header (T2iDType dtype, gint ndim, const gint64 * shape)
{
  g_return_val_if_fail (ndim >= 0 && ndim <= T2I_MAX_DIMS, NULL);
  T2iTensor *t = g_new0 (T2iTensor, 1);
  t->ref_count = 1;
  t->dtype = dtype;
  t->device = T2I_DEVICE_CPU;
  t->ndim = ndim;
  for (gint i = 0; i < ndim; i++) {
    g_return_val_if_fail (shape[i] >= 0, NULL);
    t->shape[i] = shape[i];
  }
  t->numel = t2i_shape_numel (ndim, shape);
  t->nbytes = (gsize) t->numel * t2i_dtype_size (dtype);
  return t;
}

T2iTensor *
t2i_tensor_new (T2iDType dtype, gint ndim, const gint64 * shape)
{
  gsize nbytes;

  g_return_val_if_fail (ndim >= 0 && ndim <= T2I_MAX_DIMS, NULL);
  gint64 numel = t2i_shape_numel (ndim, shape);
  if (numel == G_MAXINT64 || __builtin_mul_overflow ((gsize) MAX (numel, 0),
          t2i_dtype_size (dtype), &nbytes))
    nbytes = G_MAXSIZE;
  /* first the data, which may unwind (t2i_alloc_guard()), then the header */
  Storage *s = storage_new (nbytes, dtype, ndim, shape);
  T2iTensor *t = tensor_header (dtype, ndim, shape);
  if (!t) {
    storage_unref (s);
    return NULL;
  }
  t->storage = s;
  t->data = s->data;
  return t;
}

T2iTensor *
t2i_tensor_new_on (T2iDevice device, T2iDType dtype, gint ndim,
    const gint64 * shape)
{
  if (device == T2I_DEVICE_CPU)
    return t2i_tensor_new (dtype, ndim, shape);
  g_return_val_if_fail ((guint) device < T2I_N_DEVICES, NULL);
  T2iTensor *t = tensor_header (dtype, ndim, shape);
  g_return_val_if_fail (t != NULL, NULL);
  Storage *s = g_new0 (Storage, 1);
  s->ref_count = 1;
  s->device = device;
  s->nbytes = t->nbytes;
  if (!t2i_backends[device]->alloc (s)) {
    g_free (s);
    g_free (t);
    return NULL;
  }
  t->storage = s;
  t->data = s->data;
  t->device = device;
  return t;
}

T2iTensor *
t2i_tensor_zeros (T2iDType dtype, gint ndim, const gint64 * shape)
{
  T2iTensor *t = t2i_tensor_new (dtype, ndim, shape);
  memset (t->data, 0, t->nbytes);
  return t;
}

T2iTensor *
t2i_tensor_full (T2iDType dtype, gint ndim, const gint64 * shape, double value)
{
  T2iTensor *t = t2i_tensor_new (dtype, ndim, shape);
  t2i_cpu_fill (t, value);
  return t;
}

T2iTensor *
t2i_tensor_zeros_on (T2iDevice device, T2iDType dtype, gint ndim,
    const gint64 * shape)
{
  if (device == T2I_DEVICE_CPU)
    return t2i_tensor_zeros (dtype, ndim, shape);
  return t2i_tensor_full_on (device, dtype, ndim, shape, 0.0);
}

T2iTensor *
t2i_tensor_full_on (T2iDevice device, T2iDType dtype, gint ndim,
    const gint64 * shape, double value)
{
  T2iTensor *t = t2i_tensor_new_on (device, dtype, ndim, shape);
  if (t && !T2I_BACKEND (t)->fill (t, value))
    g_clear_pointer (&t, t2i_tensor_unref);
  return t;
}

T2iTensor *
t2i_tensor_new_like (const T2iTensor * t)
{
  return t2i_tensor_new_on (t->device, t->dtype, t->ndim, t->shape);
}

T2iTensor *
t2i_tensor_zeros_like (const T2iTensor * t)
{
  return t2i_tensor_zeros_on (t->device, t->dtype, t->ndim, t->shape);
}

T2iTensor *
t2i_tensor_from_data (T2iDType dtype, gint ndim, const gint64 * shape,
    gconstpointer data)
{
  T2iTensor *t = t2i_tensor_new (dtype, ndim, shape);
  if (t->nbytes)
    memcpy (t->data, data, t->nbytes);
  return t;
}

T2iTensor *
t2i_tensor_scalar (T2iDType dtype, double value)
{
  return t2i_tensor_full (dtype, 0, NULL, value);
}

T2iTensor *
t2i_tensor_copy (const T2iTensor * t)
{
  if (t->device == T2I_DEVICE_CPU)
    return t2i_tensor_from_data (t->dtype, t->ndim, t->shape, t->data);
  T2iTensor *r = t2i_tensor_new_like (t);
  if (r && !T2I_BACKEND (t)->copy (r, t))
    g_clear_pointer (&r, t2i_tensor_unref);
  return r;
}

T2iTensor *
t2i_tensor_to_dtype (const T2iTensor * t, T2iDType dtype)
{
  if (dtype == t->dtype)
    return t2i_tensor_copy (t);
  T2iTensor *r = t2i_tensor_new_on (t->device, dtype, t->ndim, t->shape);
  if (r && !T2I_BACKEND (t)->convert (r, t))
    g_clear_pointer (&r, t2i_tensor_unref);
  return r;
}

/* ---- the CPU table's tensor entries ---- */

gboolean
t2i_cpu_alloc (Storage * s)
{
  s->data = t2i_alloc (s->nbytes ? s->nbytes : 1, &s->block);
  return TRUE;
}

gboolean
t2i_cpu_release (Storage * s)
{
  t2i_free (s->block);
  return TRUE;
}

gboolean
t2i_cpu_fill (T2iTensor * t, double value)
{
  switch (t->dtype) {
    case T2I_F32:{
      float *d = t->data, v = (float) value;
      for (gint64 i = 0; i < t->numel; i++)
        d[i] = v;
      break;
    }
    case T2I_F64:{
      double *d = t->data;
      for (gint64 i = 0; i < t->numel; i++)
        d[i] = value;
      break;
    }
    default:
      for (gint64 i = 0; i < t->numel; i++)
        t2i_tensor_set (t, i, value);
  }
  return TRUE;
}

gboolean
t2i_cpu_copy (T2iTensor * dst, const T2iTensor * src)
{
  if (src->nbytes)
    memcpy (dst->data, src->data, src->nbytes);
  return TRUE;
}

gboolean
t2i_cpu_convert (T2iTensor * r, const T2iTensor * t)
{
  if (t->dtype == T2I_F64 && r->dtype == T2I_F32) {
    const double *s = t->data;
    float *d = r->data;
    for (gint64 i = 0; i < t->numel; i++)
      d[i] = (float) s[i];
  } else if (t->dtype == T2I_F32 && r->dtype == T2I_F64) {
    const float *s = t->data;
    double *d = r->data;
    for (gint64 i = 0; i < t->numel; i++)
      d[i] = s[i];
  } else {
    for (gint64 i = 0; i < t->numel; i++)
      t2i_tensor_set (r, i, t2i_tensor_get (t, i));
  }
  return TRUE;
}

gboolean
t2i_cpu_read (const T2iTensor * t, gsize offset, gsize nbytes, gpointer host)
{
  memcpy (host, (const char *) t->data + offset, nbytes);
  return TRUE;
}

gboolean
t2i_cpu_write (T2iTensor * t, gsize offset, gsize nbytes, gconstpointer host)
{
  memcpy ((char *) t->data + offset, host, nbytes);
  return TRUE;
}

gboolean
t2i_cpu_accumulate (T2iTensor * dst, const T2iTensor * src)
{
  if (dst->dtype == T2I_F32) {
    float *d = dst->data;
    const float *s = src->data;
#pragma omp parallel for simd if (dst->numel > 65536)
    for (gint64 i = 0; i < dst->numel; i++)
      d[i] += s[i];
  } else {
    double *d = dst->data;
    const double *s = src->data;
    for (gint64 i = 0; i < dst->numel; i++)
      d[i] += s[i];
  }
  return TRUE;
}

T2iTensor *
t2i_tensor_ref (T2iTensor * t)
{
  g_return_val_if_fail (t != NULL, NULL);
  g_atomic_int_inc (&t->ref_count);
  return t;
}

void
t2i_tensor_unref (T2iTensor * t)
{
  if (!t)
    return;
  if (!g_atomic_int_dec_and_test (&t->ref_count))
    return;
  if (t->grad)
    t2i_tensor_unref (t->grad);
  if (t->node)
    t2i_node_unref (t->node);
  storage_unref (t->storage);
  g_free (t);
}

gboolean
t2i_tensor_is_exclusive (T2iTensor * t)
{
  Storage *s = t->storage;
  return g_atomic_int_get (&t->ref_count) == 1 && !t->node
      && (!s || g_atomic_int_get (&s->ref_count) == 1);
}

T2iTensor *
t2i_tensor_alias (T2iTensor * t, gint ndim, const gint64 * shape)
{
  T2iTensor *a = tensor_header (t->dtype, ndim, shape);
  g_return_val_if_fail (a && a->numel == t->numel, NULL);
  Storage *s = t->storage;
  g_atomic_int_inc (&s->ref_count);
  a->storage = s;
  a->data = t->data;
  a->device = t->device;
  return a;
}

gboolean
t2i_tensor_move_to_device (T2iTensor * t, T2iDevice device, GError ** error)
{
  g_return_val_if_fail (t != NULL, FALSE);
  if (t->grad && !t2i_tensor_move_to_device (t->grad, device, error))
    return FALSE;
  if (t->device == device)
    return TRUE;
  T2iTensor *copy = t2i_tensor_to_device (t, device, error);
  if (!copy)
    return FALSE;
  Storage *old = t->storage, *s = copy->storage;
  g_atomic_int_inc (&s->ref_count);
  t->storage = s;
  t->data = s->data;
  t->device = device;
  t2i_tensor_unref (copy);
  storage_unref (old);
  return TRUE;
}

T2iTensor *
t2i_detach (T2iTensor * t)
{
  return t2i_tensor_alias (t, t->ndim, t->shape);
}

/* one element of a tensor on another device, read through its table */
static double
device_get (const T2iTensor * t, gint64 i)
{
  union { float f; double d; gint32 i; guint8 u; } v;
  gsize es = t2i_dtype_size (t->dtype);
  if (!T2I_BACKEND (t)->read (t, (gsize) i * es, es, &v))
    return NAN;
  switch (t->dtype) {
    case T2I_F32:
      return v.f;
    case T2I_F64:
      return v.d;
    case T2I_I32:
      return v.i;
    case T2I_U8:
      return v.u;
  }
  return NAN;
}

static void
device_set (T2iTensor * t, gint64 i, double value)
{
  union { float f; double d; gint32 i; guint8 u; } v;
  gsize es = t2i_dtype_size (t->dtype);
  switch (t->dtype) {
    case T2I_F32:
      v.f = (float) value;
      break;
    case T2I_F64:
      v.d = value;
      break;
    case T2I_I32:
      v.i = (gint32) value;
      break;
    case T2I_U8:
      v.u = (guint8) CLAMP (value, 0, 255);
      break;
  }
  T2I_BACKEND (t)->write (t, (gsize) i * es, es, &v);
}

double
t2i_tensor_get (const T2iTensor * t, gint64 i)
{
  if (G_UNLIKELY (t->device != T2I_DEVICE_CPU))
    return device_get (t, i);
  switch (t->dtype) {
    case T2I_F32:
      return ((const float *) t->data)[i];
    case T2I_F64:
      return ((const double *) t->data)[i];
    case T2I_I32:
      return ((const gint32 *) t->data)[i];
    case T2I_U8:
      return ((const guint8 *) t->data)[i];
  }
  return NAN;
}

void
t2i_tensor_set (T2iTensor * t, gint64 i, double v)
{
  if (G_UNLIKELY (t->device != T2I_DEVICE_CPU)) {
    device_set (t, i, v);
    return;
  }
  switch (t->dtype) {
    case T2I_F32:
      ((float *) t->data)[i] = (float) v;
      break;
    case T2I_F64:
      ((double *) t->data)[i] = v;
      break;
    case T2I_I32:
      ((gint32 *) t->data)[i] = (gint32) v;
      break;
    case T2I_U8:
      ((guint8 *) t->data)[i] = (guint8) CLAMP (v, 0, 255);
      break;
  }
}

double
t2i_tensor_item (const T2iTensor * t)
{
  g_return_val_if_fail (t->numel == 1, NAN);
  return t2i_tensor_get (t, 0);
}

gboolean
t2i_tensor_same_shape (const T2iTensor * a, const T2iTensor * b)
{
  if (a->ndim != b->ndim)
    return FALSE;
  for (gint i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i])
      return FALSE;
  return TRUE;
}

char *
t2i_shape_to_string (gint ndim, const gint64 * shape)
{
  GString *s = g_string_new ("[");
  for (gint i = 0; i < ndim; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? "," : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

void
t2i_set_num_threads (gint n)
{
  omp_set_num_threads (n > 0 ? n : omp_get_num_procs ());
}

gint
t2i_get_num_threads (void)
{
  return omp_get_max_threads ();
}
