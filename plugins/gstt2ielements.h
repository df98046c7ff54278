/* Registration declarations of every element of the t2i plugin.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* T2I_ELEMENTS(X): X(name) for each element; keep sorted. */
#define T2I_ELEMENTS(X) \
  X (t2itestsrc)

#define T2I_DECLARE(name) GST_ELEMENT_REGISTER_DECLARE (name);
T2I_ELEMENTS (T2I_DECLARE)
#undef T2I_DECLARE

G_END_DECLS
