/* Small helpers shared by the t2i elements' property code.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>

/* replaces the string in *slot with a copy of @v's */
static inline void
t2i_replace_string (gchar ** slot, const GValue * v)
{
  g_free (*slot);
  *slot = g_value_dup_string (v);
}

/* a string property that is set and not empty */
static inline gboolean
t2i_str_is_set (const char *s)
{
  return s && *s;
}
