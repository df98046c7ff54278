/* Storage shared by a tensor and its aliases; private to core/tensor.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "t2i/tensor.h"

typedef struct
{
  gint ref_count;
  T2iDevice device;
  gpointer block;               /* CPU: allocator block */
  gpointer data;
  gsize nbytes;
} Storage;

/* a tensor header over @s (takes the storage's reference) */
T2iTensor *t2i_tensor_new_with_storage (T2iDType dtype, gint ndim,
    const gint64 * shape, Storage * s);
/* TRUE when nothing else can see @t's data: one reference to the tensor,
 * one to its storage, no graph (safe to update in place) */
gboolean t2i_tensor_is_exclusive (T2iTensor * t);

/* t2i_alloc() without the failure: NULL when the block is refused, the
 * reason kept (per thread) for t2i_alloc_fail() */
gpointer t2i_alloc_try (gsize nbytes, gpointer * block);
/* unwinds to the thread's t2i_alloc_guard() (or aborts) with the reason of
 * the last refusal; @what names what was being allocated */
G_GNUC_NORETURN void t2i_alloc_fail (const char *what);
