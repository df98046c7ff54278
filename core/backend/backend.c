/* The op tables of the devices, and stubs for the entries a device lacks.
 *
 * The CPU table is complete by construction (its entries are ordinary
 * symbols: a missing one does not link).  The CUDA table takes its entries
 * through weak declarations, so an op added to T2I_BACKEND_OPS before its
 * CUDA implementation exists still builds: the entry is NULL, a stub that
 * names it takes its place here, and the test "backend" lists it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "backend.h"

/* stubs: one per entry, named after it */
static void
unimplemented (const T2iBackend * be, const char *name)
{
  g_critical ("t2i: %s has no %s implementation (see docs/design.md, "
      "\"Backends\")", name, be ? be->name : "?");
}

static const T2iBackend *stub_backend_of (T2iDevice device);

#define T2I_STUB(name, ret, args)                                           \
  static ret stub_cpu_##name args                                           \
  {                                                                         \
    unimplemented (stub_backend_of (T2I_DEVICE_CPU), #name);                \
    return (ret) 0;                                                         \
  }                                                                         \
  static ret stub_cuda_##name args                                          \
  {                                                                         \
    unimplemented (stub_backend_of (T2I_DEVICE_CUDA), #name);               \
    return (ret) 0;                                                         \
  }
T2I_BACKEND_OPS (T2I_STUB)
#undef T2I_STUB

#define T2I_ENTRY_CPU(name, ret, args) .name = t2i_cpu_##name,
#define T2I_ENTRY_CUDA(name, ret, args) .name = t2i_cuda_##name,
static T2iBackend cpu_backend = {
  .name = "cpu",
  .device = T2I_DEVICE_CPU,
  T2I_BACKEND_OPS (T2I_ENTRY_CPU)
};

static T2iBackend cuda_backend = {
  .name = "cuda",
  .device = T2I_DEVICE_CUDA,
  T2I_BACKEND_OPS (T2I_ENTRY_CUDA)
};
#undef T2I_ENTRY_CPU
#undef T2I_ENTRY_CUDA

const T2iBackend *t2i_backends[T2I_N_DEVICES] = {
  [T2I_DEVICE_CPU] = &cpu_backend,
  [T2I_DEVICE_CUDA] = &cuda_backend,
};

static const char *entry_names[] = {
#define T2I_NAME(name, ret, args) #name,
  T2I_BACKEND_OPS (T2I_NAME)
#undef T2I_NAME
  NULL
};

/* per device: which entries were missing before the stubs went in */
static gboolean missing[T2I_N_DEVICES][G_N_ELEMENTS (entry_names)];

static const T2iBackend *
stub_backend_of (T2iDevice device)
{
  return device == T2I_DEVICE_CPU ? &cpu_backend : &cuda_backend;
}

__attribute__ ((constructor))
static void
fill_stubs (void)
{
  guint i = 0;
#define T2I_FILL(name, ret, args)                                           \
  if (!cpu_backend.name) {                                                  \
    cpu_backend.name = stub_cpu_##name;                                     \
    missing[T2I_DEVICE_CPU][i] = TRUE;                                      \
  }                                                                         \
  if (!cuda_backend.name) {                                                 \
    cuda_backend.name = stub_cuda_##name;                                   \
    missing[T2I_DEVICE_CUDA][i] = TRUE;                                     \
  }                                                                         \
  i++;
  T2I_BACKEND_OPS (T2I_FILL)
#undef T2I_FILL
}

const char **
t2i_backend_missing (T2iDevice device)
{
  g_return_val_if_fail ((guint) device < T2I_N_DEVICES, NULL);
  GPtrArray *a = g_ptr_array_new ();
  for (guint i = 0; entry_names[i]; i++)
    if (missing[device][i] && !missing[T2I_DEVICE_CPU][i])
      g_ptr_array_add (a, (gpointer) entry_names[i]);
  g_ptr_array_add (a, NULL);
  return (const char **) g_ptr_array_free (a, FALSE);
}

const char *const *
t2i_backend_entry_names (void)
{
  return entry_names;
}

gboolean
t2i_backend_same_device (const char *op, gint n, T2iTensor ** ts)
{
  T2iTensor *first = NULL;
  for (gint i = 0; i < n; i++) {
    if (!ts[i])
      continue;
    if (!first) {
      first = ts[i];
    } else if (ts[i]->device != first->device) {
      g_critical ("%s: inputs on different devices (%s and %s); move them "
          "with t2i_tensor_to_device()", op,
          t2i_device_name (first->device), t2i_device_name (ts[i]->device));
      return FALSE;
    }
  }
  return TRUE;
}
