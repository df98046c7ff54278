/* op=load: a tensor of a safetensors file added to every record (a
 * constant: prototype embeddings, a fixed codebook).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recordops.h"

static const T2iOption options[] = {
  T2I_OPTION_STRING ("location", NULL, 0, "The safetensors file"),
  T2I_OPTION_STRING ("tensor", NULL, 0,
      "The tensor of the file (unset: the file's only one)"),
  T2I_OPTION_ENTRY ("output", NULL, 0,
      "The entry to write (unset: the tensor's name)"),
  {NULL}
};

/* the file and the name of the tensor to read */
static T2iSafetensors *
open_file (const GstStructure * config, const char **name, GError ** error)
{
  const char *location = t2i_config_string (config, "location");
  if (!location || !*location) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "location= is not set: name the safetensors file to read");
    return NULL;
  }
  T2iSafetensors *st = t2i_safetensors_load (location, error);
  if (!st) {
    g_prefix_error (error, "location=%s: ", location);
    return NULL;
  }
  *name = t2i_config_string (config, "tensor");
  if (*name && *name && !t2i_safetensors_has (st, *name)) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "tensor=%s: location=%s has no such tensor", *name, location);
    t2i_safetensors_free (st);
    return NULL;
  }
  if (!*name || !**name) {
    if (t2i_safetensors_n_tensors (st) != 1) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
          "location=%s holds %u tensors: name one with tensor=", location,
          t2i_safetensors_n_tensors (st));
      t2i_safetensors_free (st);
      return NULL;
    }
    *name = t2i_safetensors_names (st)[0];
  }
  return st;
}

static const char *
output_of (const GstStructure * config, const char *name)
{
  return t2i_config_has_string (config, "output") ?
      t2i_config_string (config, "output") : name;
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  const char *name;
  T2iSafetensors *st = open_file (config, &name, error);
  if (!st)
    return FALSE;
  T2iDType dtype;
  gint ndim;
  gint64 shape[T2I_MAX_DIMS];
  t2i_safetensors_get_info (st, name, &dtype, &ndim, shape, NULL);
  t2i_caps_set_entry (out, output_of (config, name), t2i_dtype_name (dtype),
      ndim, shape);
  t2i_safetensors_free (st);
  return TRUE;
}

static gboolean
apply (const GstStructure * config, GstBuffer * record, GError ** error)
{
  const char *name;
  T2iSafetensors *st = open_file (config, &name, error);
  if (!st)
    return FALSE;
  g_autoptr (T2iTensor) t = t2i_safetensors_read (st, name, error);
  gboolean ok = t && t2i_record_set_tensor (record, output_of (config, name),
      t, error);
  t2i_safetensors_free (st);
  return ok;
}

const T2iRecordOp t2i_record_op_load = {
  "load", "A tensor of a safetensors file (location=, tensor=) added to "
      "every record as it is, e.g. prototype embeddings", options, negotiate,
  apply,
};
