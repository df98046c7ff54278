/* Registration declarations of every element of the t2i plugin.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* T2I_ELEMENTS(X): X(name) for each element; keep sorted. */
#define T2I_ELEMENTS(X) \
  X (t2icondaug) \
  X (t2idatasetsrc) \
  X (t2idiscriminator) \
  X (t2ifromvideo) \
  X (t2igenerator) \
  X (t2iimageencoder) \
  X (t2il2v) \
  X (t2iloss) \
  X (t2imetric) \
  X (t2inoise) \
  X (t2iop) \
  X (t2iperturb) \
  X (t2itensorsink) \
  X (t2itensorsrc) \
  X (t2itextencoder) \
  X (t2itextsrc) \
  X (t2itovideo) \
  X (t2itrainer) \
  X (t2ivqdiffusion) \
  X (t2ivqgan) \
  

#define T2I_DECLARE(name) GST_ELEMENT_REGISTER_DECLARE (name);
T2I_ELEMENTS (T2I_DECLARE)
#undef T2I_DECLARE

G_END_DECLS
