/* libFuzzer target: a safetensors file (header, offsets, every tensor
 * read and converted), as t2i_safetensors_load() maps it from disk.  The
 * input is written to a memfd and opened through /proc/self/fd.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <t2i/safetensors.h>

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 * data, size_t size);

static int fd = -1;
static char path[64];

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fd = memfd_create ("fuzz.safetensors", MFD_CLOEXEC);
  g_assert (fd >= 0);
  g_snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  /* a tensor larger than this is refused, not allocated */
  t2i_alloc_set_limit (256 << 20);
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 * data, size_t size)
{
  GError *error = NULL;

  if (fd < 0)
    LLVMFuzzerInitialize (NULL, NULL);
  g_assert (ftruncate (fd, 0) == 0);
  g_assert (pwrite (fd, data, size, 0) == (ssize_t) size);

  T2iSafetensors *st = t2i_safetensors_load (path, &error);
  if (!st) {
    g_assert (error && error->domain == T2I_SAFETENSORS_ERROR
        && !strchr (error->message, '\n'));
    g_error_free (error);
    return 0;
  }
  const char *const *names = t2i_safetensors_names (st);
  for (guint i = 0; names[i]; i++) {
    T2iDType dtype;
    gint ndim;
    gint64 shape[T2I_MAX_DIMS];
    g_assert (t2i_safetensors_get_info (st, names[i], &dtype, &ndim, shape,
            NULL));
    T2iTensor *t = t2i_safetensors_read (st, names[i], &error);
    if (t) {
      g_assert (t->dtype == dtype && t->ndim == ndim);
      t2i_tensor_unref (t);
    } else {
      g_assert (error != NULL);
      g_clear_error (&error);
    }
  }
  GHashTable *meta = t2i_safetensors_get_metadata_table (st);
  g_assert (meta != NULL || t2i_safetensors_get_metadata (st, "x") == NULL);
  t2i_safetensors_free (st);
  return 0;
}
