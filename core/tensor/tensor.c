/* T2iTensor: creation, lifetime, element access.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/tensor.h"

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
      t2i_device_free (s);
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
  switch (dtype) {
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
  return t;
}

T2iTensor *
t2i_tensor_new_like (const T2iTensor * t)
{
  return t2i_tensor_new (t->dtype, t->ndim, t->shape);
}

T2iTensor *
t2i_tensor_zeros_like (const T2iTensor * t)
{
  return t2i_tensor_zeros (t->dtype, t->ndim, t->shape);
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
  return t2i_tensor_from_data (t->dtype, t->ndim, t->shape, t->data);
}

T2iTensor *
t2i_tensor_to_dtype (const T2iTensor * t, T2iDType dtype)
{
  if (dtype == t->dtype)
    return t2i_tensor_copy (t);
  T2iTensor *r = t2i_tensor_new (dtype, t->ndim, t->shape);
  if (t->dtype == T2I_F64 && dtype == T2I_F32) {
    const double *s = t->data;
    float *d = r->data;
    for (gint64 i = 0; i < t->numel; i++)
      d[i] = (float) s[i];
  } else if (t->dtype == T2I_F32 && dtype == T2I_F64) {
    const float *s = t->data;
    double *d = r->data;
    for (gint64 i = 0; i < t->numel; i++)
      d[i] = s[i];
  } else {
    for (gint64 i = 0; i < t->numel; i++)
      t2i_tensor_set (r, i, t2i_tensor_get (t, i));
  }
  return r;
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

T2iTensor *
t2i_detach (T2iTensor * t)
{
  return t2i_tensor_alias (t, t->ndim, t->shape);
}

double
t2i_tensor_get (const T2iTensor * t, gint64 i)
{
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
