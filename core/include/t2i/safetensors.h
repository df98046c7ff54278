/* t2i — reading and writing safetensors files.
 *
 * The Hugging Face format: an 8-byte little-endian header length N, N bytes
 * of JSON
 *
 *   {"__metadata__": {"key": "value", ...},
 *    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
 *
 * then the little-endian tensor data, offsets relative to the start of the
 * data section.  Files are validated completely on load (they may come from
 * anywhere): every problem is reported as one #GError line that names the
 * file, and no input makes the reader crash.
 *
 * On load, F32, F64, I32 and U8 tensors keep their dtype; F16, BF16 and the
 * 8-bit float formats (F8_E4M3, F8_E5M2) become f32; BOOL becomes u8; I8,
 * I16, U16, and I64/U32/U64 values that fit, become i32.  The writer keeps
 * the caller's dtypes (F32, F64, I32, U8).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/tensor.h>

G_BEGIN_DECLS

#define T2I_SAFETENSORS_ERROR (t2i_safetensors_error_quark ())
GQuark t2i_safetensors_error_quark (void);

/**
 * T2iSafetensorsError:
 * @T2I_SAFETENSORS_ERROR_IO: the file could not be read or written
 * @T2I_SAFETENSORS_ERROR_FORMAT: the file is not a valid safetensors file
 * @T2I_SAFETENSORS_ERROR_UNSUPPORTED: valid, but uses something t2i cannot
 *   represent (rank above %T2I_MAX_DIMS, an unknown dtype, an integer out of
 *   the i32 range)
 * @T2I_SAFETENSORS_ERROR_NOT_FOUND: no tensor of that name
 * @T2I_SAFETENSORS_ERROR_INVALID: bad arguments to the writer
 */
typedef enum {
  T2I_SAFETENSORS_ERROR_IO,
  T2I_SAFETENSORS_ERROR_FORMAT,
  T2I_SAFETENSORS_ERROR_UNSUPPORTED,
  T2I_SAFETENSORS_ERROR_NOT_FOUND,
  T2I_SAFETENSORS_ERROR_INVALID,
} T2iSafetensorsError;

/* the largest header the reader accepts, as the reference implementation */
#define T2I_SAFETENSORS_MAX_HEADER 100000000

typedef struct _T2iSafetensors T2iSafetensors;

/**
 * t2i_safetensors_load:
 * @path: the file
 * @error: return location for a #GError
 *
 * Maps @path and validates its header (bounds, JSON, dtypes, shapes,
 * offsets covering the data section exactly once, unique names).  Tensor
 * data is read (and converted) by t2i_safetensors_get().  The file stays
 * memory-mapped until t2i_safetensors_free(): replacing it meanwhile (as
 * t2i_safetensors_save() does, by rename) is safe, truncating it in place
 * is not.
 *
 * Returns: (transfer full) (nullable): the file, or %NULL with @error set
 */
T2iSafetensors *t2i_safetensors_load (const char *path, GError ** error);
void t2i_safetensors_free (T2iSafetensors * st);
const char *t2i_safetensors_get_path (T2iSafetensors * st);

guint t2i_safetensors_n_tensors (T2iSafetensors * st);
/* names in the order of the file's header, %NULL-terminated, owned by @st */
const char *const *t2i_safetensors_names (T2iSafetensors * st);
gboolean t2i_safetensors_has (T2iSafetensors * st, const char *name);

/**
 * t2i_safetensors_get_info:
 * @st: the file
 * @name: a tensor name
 * @dtype: (out) (optional): the t2i dtype t2i_safetensors_get() returns
 * @ndim: (out) (optional): the rank
 * @shape: (out caller-allocates) (optional): %T2I_MAX_DIMS entries
 * @file_dtype: (out) (optional) (transfer none): the dtype as written in the
 *   file ("F16", ...)
 *
 * Returns: %FALSE when there is no tensor @name
 */
gboolean t2i_safetensors_get_info (T2iSafetensors * st, const char *name,
    T2iDType * dtype, gint * ndim, gint64 * shape, const char **file_dtype);

/**
 * t2i_safetensors_get:
 * @st: the file
 * @name: a tensor name
 *
 * Returns: (transfer full) (nullable): a new CPU tensor holding a copy of the
 *   data (converted as described above), or %NULL if there is no such tensor
 *   or its values cannot be represented (use t2i_safetensors_read() to learn
 *   why)
 */
T2iTensor *t2i_safetensors_get (T2iSafetensors * st, const char *name);
/* like t2i_safetensors_get(), with a #GError saying why it failed */
T2iTensor *t2i_safetensors_read (T2iSafetensors * st, const char *name, GError ** error);

/* a "__metadata__" value, or %NULL */
const char *t2i_safetensors_get_metadata (T2iSafetensors * st, const char *key);
/* (transfer none): key -> value, both strings, owned by @st */
GHashTable *t2i_safetensors_get_metadata_table (T2iSafetensors * st);

/**
 * t2i_safetensors_save:
 * @path: the destination
 * @names: @n distinct, non-empty tensor names (not "__metadata__")
 * @tensors: @n tensors (f32, f64, i32 or u8; CUDA tensors are copied to the
 *   host first)
 * @n: how many
 * @metadata: (nullable): string -> string, written sorted by key
 * @error: return location for a #GError
 *
 * Writes the tensors in the caller's order to a temporary file next to
 * @path, fsyncs it and renames it over @path, so a crash or kill leaves
 * either the old file or the new one, never a torn one.  The header is
 * padded with spaces to a multiple of 8 bytes, as the reference writer does.
 *
 * Returns: %TRUE on success
 */
gboolean t2i_safetensors_save (const char *path, const char *const *names,
    T2iTensor ** tensors, guint n, GHashTable * metadata, GError ** error);

/**
 * t2i_safetensors_remove_stale:
 * @path: the destination of t2i_safetensors_save()
 * @removed: (out) (optional) (transfer full): the paths removed,
 *   %NULL-terminated (g_strfreev())
 * @error: return location for a #GError
 *
 * Removes the temporary files ("<path>.tmp-XXXXXX") that saves of @path
 * interrupted by a kill or a crash left behind.  A save holds a lock on
 * its temporary until it is done, so one still being written, by this
 * process or another, is left alone; so is anything else in the folder.
 *
 * Returns: how many were removed, or -1 with @error set
 */
gint t2i_safetensors_remove_stale (const char *path, gchar *** removed,
    GError ** error);

/**
 * t2i_safetensors_abort_saves:
 *
 * Removes the temporary files of the saves this process has in progress,
 * and makes later saves fail: for a process about to exit without waiting
 * for the threads that save (t2i-launch's second Ctrl-C).  The files
 * being replaced are untouched.
 */
void t2i_safetensors_abort_saves (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iSafetensors, t2i_safetensors_free)

G_END_DECLS
