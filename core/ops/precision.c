/* The compute precision of matmuls and convolutions: per thread, like grad
 * mode (t2i/ops.h).  bf16 needs the CPU's bf16 dot products
 * (AVX512-BF16 or AMX, as oneDNN detects them): without them oneDNN would
 * emulate bf16 slower than f32, so it is refused rather than run slowly.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/ops.h"

#include <oneapi/dnnl/dnnl.h>
#include <string.h>

G_DEFINE_QUARK (t2i-precision-error-quark, t2i_precision_error);

/* NULL: f32 (the default of every thread) */
static GPrivate precision_key;

static const char *const names[] = {
  [T2I_PRECISION_F32] = "f32",
  [T2I_PRECISION_BF16] = "bf16",
};

T2iPrecision
t2i_get_precision (void)
{
  return (T2iPrecision) GPOINTER_TO_INT (g_private_get (&precision_key));
}

T2iPrecision
t2i_set_precision (T2iPrecision precision)
{
  T2iPrecision prev = t2i_get_precision ();
  g_return_val_if_fail (precision == T2I_PRECISION_F32
      || precision == T2I_PRECISION_BF16, prev);
  g_private_set (&precision_key, GINT_TO_POINTER (precision));
  return prev;
}

const char *
t2i_precision_name (T2iPrecision precision)
{
  g_return_val_if_fail (precision < G_N_ELEMENTS (names), NULL);
  return names[precision];
}

gboolean
t2i_precision_from_name (const char *name, T2iPrecision * out)
{
  for (guint i = 0; name && i < G_N_ELEMENTS (names); i++)
    if (strcmp (name, names[i]) == 0) {
      *out = (T2iPrecision) i;
      return TRUE;
    }
  return FALSE;
}

gboolean
t2i_precision_check (T2iPrecision precision, GError ** error)
{
  const dnnl_cpu_isa_t bf16 = dnnl_cpu_isa_avx512_core_bf16;
  const gboolean refused = g_getenv ("T2I_NO_BF16") != NULL;

  if (precision != T2I_PRECISION_BF16
      || (!refused && (dnnl_get_effective_cpu_isa () & bf16) == bf16))
    return TRUE;
  g_set_error (error, T2I_PRECISION_ERROR, 0, "precision bf16 needs a CPU "
      "with bf16 dot products (AVX512-BF16 or AMX), which this one lacks%s; "
      "use f32", refused ? " ($T2I_NO_BF16 is set)" : "");
  return FALSE;
}
