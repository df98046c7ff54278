/* Device names (the CUDA device itself is core/cuda/cuda-runtime.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "tensor-private.h"
#include "../backend/backend.h"

GQuark t2i_device_error_quark (void);
G_DEFINE_QUARK (t2i-device-error-quark, t2i_device_error)

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

