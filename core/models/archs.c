/* The architecture registry (see archs.h and t2i/arch.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

#include <string.h>

#define T2I_ARCH_ENTRY(c) &t2i_arch_##c,
static const T2iArch *const archs[] = {
  T2I_ARCHS (T2I_ARCH_ENTRY)
  NULL
};
#undef T2I_ARCH_ENTRY

const T2iArch *const *
t2i_archs (void)
{
  return archs;
}

const T2iArch *
t2i_arch_find (const char *role, const char *name)
{
  for (const T2iArch * const *a = archs; *a; a++)
    if (strcmp ((*a)->role, role) == 0 && g_strcmp0 ((*a)->name, name) == 0)
      return *a;
  return NULL;
}
