/* The architecture registry (t2i/arch.h): T2I_ARCHS lists every
 * architecture, one line each, in the order arch= lists them (the first of
 * a role is its element's default unless the element says otherwise).
 *
 * To add an architecture `foo` for t2igenerator: write core/models/foo.c
 * with the network and `const T2iArch t2i_arch_foo = { "foo",
 * T2I_ROLE_GENERATOR, ... };`, add `X (foo)` below and the file to
 * core/models/meson.build.  docs/design.md has a worked example.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "t2i/arch.h"
#include "t2i/record.h"
#include "t2i/ops.h"
#include "models-private.h"

G_BEGIN_DECLS

#define T2I_ARCHS(X) \
  X (stylegan2_g) \
  X (stylegan2_d) \
  X (clip_text) \
  X (clip_image) \
  X (clip_vit) \
  X (clip_cnn) \
  X (vgg19) \
  X (inception_v3) \
  X (l2v_transformer) \
  X (l2v_mlp) \
  X (vqdiffusion_transformer) \
  X (vqgan_gumbel) \
  X (patchgan) \
  X (sdn) \
  X (probe) \
  X (bilstm) \
  X (damsm) \
  X (condaug_glu) \
  X (multistage) \
  X (msgan_d)

#define T2I_ARCH_DECLARE(c) extern const T2iArch t2i_arch_##c;
T2I_ARCHS (T2I_ARCH_DECLARE)
#undef T2I_ARCH_DECLARE

G_END_DECLS
