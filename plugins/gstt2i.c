/* The t2i GStreamer plugin: registers every element listed in
 * gstt2ielements.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "t2i-config.h"
#include "gstt2ielements.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ok = FALSE;
#define T2I_REGISTER(name) ok |= GST_ELEMENT_REGISTER (name, plugin);
  T2I_ELEMENTS (T2I_REGISTER)
#undef T2I_REGISTER
  return ok;
}

#define PACKAGE "t2i"
GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, t2i,
    "Text-to-image generation and training: encoders, generators, losses, "
    "trainer and metrics as elements",
    plugin_init, T2I_VERSION, "LGPL", "t2i", "https://github.com/t2i/t2i")
