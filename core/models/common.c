/* What the architectures share: parameter naming and loading, bicubic
 * resizing (see t2i/models.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "models-private.h"
#include "t2i/clip.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

G_DEFINE_QUARK (t2i-model-error-quark, t2i_model_error)

char *
t2i_model_join (const char *prefix, const char *name)
{
  return prefix && *prefix ? g_strconcat (prefix, ".", name, NULL)
      : g_strdup (name);
}

char *
t2i_model_joinf (const char *prefix, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *name = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  return t2i_model_join (prefix, name);
}

T2iTensor *
t2i_model_add (T2iParamGroup * group, const char *prefix, const char *name,
    T2iTensor * t, gboolean trainable)
{
  g_autofree char *full = t2i_model_join (prefix, name);
  t2i_param_group_add (group, full, t, trainable);
  t2i_tensor_unref (t);         /* the group holds it */
  return t;
}

gsize
t2i_model_prefix_len (const char *prefix)
{
  return prefix && *prefix ? strlen (prefix) + 1 : 0;
}

void
t2i_model_set_trainable (T2iParamGroup * group, guint start, guint end,
    gboolean trainable)
{
  for (guint i = start; i < end; i++)
    t2i_param_group_set_param_trainable (t2i_param_group_get (group, i),
        trainable);
}

/* a comma-separated list that stops naming after a few entries */
typedef struct
{
  GString *s;
  guint count;
} NameList;

#define NAME_LIST_SHOWN 8

static void
name_list_add (NameList * l, const char *item)
{
  if (l->count < NAME_LIST_SHOWN) {
    if (!l->s)
      l->s = g_string_new (NULL);
    else
      g_string_append (l->s, ", ");
    g_string_append (l->s, item);
  }
  l->count++;
}

static void
name_list_finish (NameList * l, const char *label, GString * msg)
{
  if (l->count == 0)
    return;
  g_string_append_printf (msg, "; %s: %s", label, l->s->str);
  if (l->count > NAME_LIST_SHOWN)
    g_string_append_printf (msg, " and %u more", l->count - NAME_LIST_SHOWN);
  g_string_free (l->s, TRUE);
  l->s = NULL;
}

gboolean
t2i_model_load_ranges (T2iParamGroup * group, gsize skip,
    const guint * ranges, guint n_ranges, T2iSafetensors * st,
    const char *file_prefix, const char *what, GError ** error)
{
  NameList missing = { NULL, 0 }, mismatched = { NULL, 0 };
  const char *fp = file_prefix ? file_prefix : "";

  /* 1. check everything */
  for (guint r = 0; r < n_ranges; r++) {
    for (guint i = ranges[2 * r]; i < ranges[2 * r + 1]; i++) {
      T2iParam *p = t2i_param_group_get (group, i);
      g_autofree char *key = g_strconcat (fp, p->local_name + skip, NULL);
      gint ndim;
      gint64 shape[T2I_MAX_DIMS];

      if (!t2i_safetensors_get_info (st, key, NULL, &ndim, shape, NULL)) {
        name_list_add (&missing, key);
        continue;
      }
      if (ndim != p->value->ndim
          || memcmp (shape, p->value->shape, sizeof (gint64) * ndim) != 0) {
        g_autofree char *fs = t2i_shape_to_string (ndim, shape);
        g_autofree char *ms = t2i_shape_to_string (p->value->ndim,
            p->value->shape);
        g_autofree char *item = g_strdup_printf ("%s (file %s, model %s)",
            key, fs, ms);
        name_list_add (&mismatched, item);
      }
    }
  }
  if (missing.count || mismatched.count) {
    GString *msg = g_string_new (NULL);
    g_string_append_printf (msg, "%s: cannot load %s (prefix \"%s\")",
        t2i_safetensors_get_path (st), what, fp);
    name_list_finish (&missing, "missing", msg);
    name_list_finish (&mismatched, "wrong shape", msg);
    g_set_error_literal (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_MISMATCH,
        msg->str);
    g_string_free (msg, TRUE);
    return FALSE;
  }

  /* 2. read and convert everything, then copy (nothing changes on error) */
  GPtrArray *staged = g_ptr_array_new_with_free_func ((GDestroyNotify)
      t2i_tensor_unref);
  gboolean ok = TRUE;
  for (guint r = 0; r < n_ranges && ok; r++) {
    for (guint i = ranges[2 * r]; i < ranges[2 * r + 1]; i++) {
      T2iParam *p = t2i_param_group_get (group, i);
      g_autofree char *key = g_strconcat (fp, p->local_name + skip, NULL);
      T2iTensor *t = t2i_safetensors_read (st, key, error);

      if (!t) {
        ok = FALSE;
        break;
      }
      if (t->dtype != p->value->dtype) {
        T2iTensor *c = t2i_tensor_to_dtype (t, p->value->dtype);
        t2i_tensor_unref (t);
        t = c;
      }
      g_ptr_array_add (staged, t);
    }
  }
  if (ok) {
    guint k = 0;
    for (guint r = 0; r < n_ranges; r++)
      for (guint i = ranges[2 * r]; i < ranges[2 * r + 1]; i++) {
        T2iParam *p = t2i_param_group_get (group, i);
        T2iTensor *t = g_ptr_array_index (staged, k++);
        t2i_tensor_copy_into (p->value, t, NULL);
      }
  }
  g_ptr_array_unref (staged);
  return ok;
}

T2iTensor *
t2i_model_channel_const (T2iDType dtype, gint c, const double *values)
{
  T2iTensor *t = t2i_tensor_new (dtype, T2I_SHAPE (1, c, 1, 1));
  for (gint i = 0; i < c; i++)
    t2i_tensor_set (t, i, values[i]);
  return t;
}

T2iTensor *
t2i_model_channel_affine (T2iTensor * x, const double *scale,
    const double *shift)
{
  gint c = (gint) x->shape[1];
  g_autoptr (T2iTensor) sh = t2i_model_channel_const (x->dtype, c, scale);
  g_autoptr (T2iTensor) bh = t2i_model_channel_const (x->dtype, c, shift);
  g_autoptr (T2iTensor) s = t2i_tensor_to_device (sh, x->device, NULL);
  g_autoptr (T2iTensor) b = t2i_tensor_to_device (bh, x->device, NULL);
  g_autoptr (T2iTensor) xs = t2i_mul (x, s);
  return t2i_add (xs, b);
}

/* ---- bicubic resizing ---- */

#define CUBIC_A (-0.75)

static double
cubic1 (double x)
{
  return ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1;
}

static double
cubic2 (double x)
{
  return ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A;
}

/* rows [first, first + count) of the [out, in] interpolation matrix of
 * PyTorch's bicubic (align_corners False): as [count, in] when @transposed
 * is FALSE, [in, count] otherwise */
static T2iTensor *
bicubic_matrix (gint64 in, gint64 out, gint64 first, gint64 count,
    gboolean transposed, T2iDType dtype)
{
  T2iTensor *m = transposed ? t2i_tensor_zeros (dtype, T2I_SHAPE (in, count))
      : t2i_tensor_zeros (dtype, T2I_SHAPE (count, in));
  double scale = (double) in / (double) out;
  double *w = g_new0 (double, count * in);

  for (gint64 r = 0; r < count; r++) {
    double real = scale * ((double) (first + r) + 0.5) - 0.5;
    gint64 ix = (gint64) floor (real);
    double t = real - (double) ix;
    /* as PyTorch's get_cubic_upsample_coefficients() */
    double c[4] = { cubic2 (t + 1.0), cubic1 (t), cubic1 (1.0 - t),
      cubic2 ((1.0 - t) + 1.0)
    };
    for (gint k = 0; k < 4; k++) {
      gint64 j = CLAMP (ix - 1 + k, 0, in - 1);
      w[r * in + j] += c[k];
    }
  }
  for (gint64 r = 0; r < count; r++)
    for (gint64 j = 0; j < in; j++)
      t2i_tensor_set (m, transposed ? j * count + r : r * in + j,
          w[r * in + j]);
  g_free (w);
  return m;
}

/* resize to (rh, rw), keep the crop [top, top + oh) x [left, left + ow) */
static T2iTensor *
resize_crop (T2iTensor * x, gint64 rh, gint64 rw, gint64 top, gint64 left,
    gint64 oh, gint64 ow)
{
  gint64 h = x->shape[2], w = x->shape[3];
  /* built on the host, used where @x is */
  g_autoptr (T2iTensor) ahh = bicubic_matrix (h, rh, top, oh, FALSE, x->dtype);
  g_autoptr (T2iTensor) awth = bicubic_matrix (w, rw, left, ow, TRUE,
      x->dtype);
  g_autoptr (T2iTensor) ah = t2i_tensor_to_device (ahh, x->device, NULL);
  g_autoptr (T2iTensor) awt = t2i_tensor_to_device (awth, x->device, NULL);
  g_autoptr (T2iTensor) rows = t2i_matmul (ah, x);      /* [N, C, oh, w] */
  return t2i_matmul (rows, awt);        /* [N, C, oh, ow] */
}

T2iTensor *
t2i_resize_bicubic2d (T2iTensor * x, gint out_h, gint out_w)
{
  g_return_val_if_fail (x != NULL && x->ndim == 4, NULL);
  g_return_val_if_fail (x->dtype == T2I_F32 || x->dtype == T2I_F64, NULL);
  g_return_val_if_fail (out_h > 0 && out_w > 0, NULL);
  return resize_crop (x, out_h, out_w, 0, 0, out_h, out_w);
}

/* torchvision's CenterCrop offset: int(round((size - crop) / 2.0)), with
 * Python's round half to even */
static gint64
crop_offset (gint64 size, gint64 crop)
{
  gint64 d = size - crop;
  if (d % 2 == 0)
    return d / 2;
  gint64 lo = d / 2;            /* d / 2 = lo + 0.5 */
  return lo % 2 == 0 ? lo : lo + 1;
}

T2iTensor *
t2i_clip_preprocess_images (T2iTensor * images, gint size)
{
  static const double mean[3] = { 0.48145466, 0.4578275, 0.40821073 };
  static const double std[3] = { 0.26862954, 0.26130258, 0.27577711 };
  double scale[3], shift[3];

  g_return_val_if_fail (images != NULL && images->ndim == 4
      && images->shape[1] == 3, NULL);
  g_return_val_if_fail (images->dtype == T2I_F32 || images->dtype == T2I_F64,
      NULL);
  g_return_val_if_fail (size > 0, NULL);

  /* torchvision Resize(size): the shorter side becomes size */
  gint64 h = images->shape[2], w = images->shape[3], rh, rw;
  if (w <= h) {
    rw = size;
    rh = (gint64) ((double) size * (double) h / (double) w);
  } else {
    rh = size;
    rw = (gint64) ((double) size * (double) w / (double) h);
  }
  g_autoptr (T2iTensor) r = resize_crop (images, rh, rw, crop_offset (rh,
          size), crop_offset (rw, size), size, size);

  /* ((x + 1) / 2 - mean) / std */
  for (gint c = 0; c < 3; c++) {
    scale[c] = 0.5 / std[c];
    shift[c] = (0.5 - mean[c]) / std[c];
  }
  return t2i_model_channel_affine (r, scale, shift);
}
