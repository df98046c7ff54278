/* t2i — the architecture registry: one descriptor per network.
 *
 * A network element (t2igenerator, t2idiscriminator, t2itextencoder,
 * t2iimageencoder: subclasses of #T2iNetwork, t2i/element.h) runs the
 * architecture its `arch=` names.  Each architecture is a #T2iArch in its
 * own file under core/models/ and one line of T2I_ARCHS
 * (core/models/archs.h): its role (which element runs it), its options
 * (#T2iOption: the element's properties it reads, the model-defining ones
 * flagged #T2I_OPTION_MODEL) and four functions: check the input caps and
 * describe the outputs, build the network into the element's parameter
 * group, and run it on a record.  docs/design.md walks through adding one.
 *
 * A built network is shared by reference: `share=NAME` on a second element
 * of the same role runs the network of the element NAME (same object, same
 * parameters) with its own entries.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <t2i/options.h>
#include <t2i/params.h>
#include <t2i/rng.h>
#include <t2i/safetensors.h>

G_BEGIN_DECLS

#define T2I_ROLE_GENERATOR "generator"
#define T2I_ROLE_DISCRIMINATOR "discriminator"
#define T2I_ROLE_TEXT_ENCODER "text-encoder"
#define T2I_ROLE_IMAGE_ENCODER "image-encoder"
#define T2I_ROLE_L2V "l2v"
#define T2I_ROLE_VQDIFFUSION "vqdiffusion"
#define T2I_ROLE_VQGAN "vqgan"
#define T2I_ROLE_CONDAUG "condaug"

/**
 * T2iArchContext:
 * @element: the element running the network (a #T2iTransform)
 * @config: that element's resolved options
 * @params: build: the group to create the parameters in (add them with
 *   t2i_param_group_add() or a model constructor taking a group)
 * @init_rng: build: draws the initial values (seeded from the session seed
 *   and the group name)
 * @weights: (nullable): build, load: the weights file, open
 * @prefix: (nullable): load: the prefix of the network's tensors in
 *   @weights ("G.", "ema/G.", "")
 * @training: forward: the pipeline trains (autograd is on)
 * @trainable: build: the element's trainable=; forward: the network's
 *   parameters are being trained
 * @rng: forward: the session RNG (noise drawn in stream order)
 *
 * What an architecture's functions may use.
 */
typedef struct {
  gpointer element;
  const GstStructure *config;
  T2iParamGroup *params;
  T2iRng *init_rng;
  T2iSafetensors *weights;
  const char *prefix;
  gboolean training;
  gboolean trainable;
  T2iRng *rng;
} T2iArchContext;

/**
 * T2iArch:
 * @name: the value of arch= ("stylegan2")
 * @role: which element runs it (#T2I_ROLE_GENERATOR, ...)
 * @description: one line for gst-inspect and the docs
 * @options: its options, %NULL-name terminated
 * @stem: the local name of one tensor every network of this architecture
 *   has ("mapping.fc0.weight"): finds the network's prefix in a weights
 *   file that does not describe itself
 * @read_file: (nullable): the model options a weights file that does not
 *   describe itself implies (CLIP: the sizes its tensor shapes give, as
 *   OpenAI's build_model() does); they are checked against the user's
 * @configure: (nullable): completes and checks @config once the options
 *   are resolved (cross-option checks)
 * @negotiate: checks the input caps and describes the outputs in @out
 *   (t2i_caps_require(), t2i_caps_set_entry()); may be called more than
 *   once, before build
 * @build: creates the network and its parameters; may complete model
 *   options that depend on the input (a width read from an entry), which
 *   are stored with the model
 * @load: (nullable): loads @ctx->weights at @ctx->prefix into the built
 *   network (default: every parameter of the group by name)
 * @forward: runs the network on a record: reads the entries its options
 *   name, adds its outputs
 * @free: frees what @build returned
 */
typedef struct _T2iArch T2iArch;
struct _T2iArch {
  const char *name;
  const char *role;
  const char *description;
  const T2iOption *options;
  const char *stem;
  GstStructure *(*read_file) (T2iSafetensors * st, const char *prefix,
      GError ** error);
  gboolean (*configure) (GstStructure * config, const T2iArchContext * ctx,
      GError ** error);
  gboolean (*negotiate) (const GstStructure * config,
      const GstStructure * in, GstStructure * out, GError ** error);
  gpointer (*build) (GstStructure * config, const GstStructure * in,
      const T2iArchContext * ctx, GError ** error);
  gboolean (*load) (gpointer net, const T2iArchContext * ctx,
      GError ** error);
  gboolean (*forward) (gpointer net, const T2iArchContext * ctx,
      GstBuffer * record, GError ** error);
  void (*free) (gpointer net);
};

/* every registered architecture, %NULL-terminated, in table order */
const T2iArch *const *t2i_archs (void);
/* (nullable): the architecture of @role called @name */
const T2iArch *t2i_arch_find (const char *role, const char *name);

/* ---- model descriptions in files ----
 * A checkpoint or model file describes the networks of a group in its
 * __metadata__ under "model/<group>": a JSON object from role to
 * {"arch": NAME, model options...}, e.g. "model/ema/G" =
 * {"generator":{"arch":"stylegan2","resolution":32,"channels":64,...}}. */

#define T2I_MODEL_METADATA_PREFIX "model/"

/**
 * t2i_arch_read_description:
 * @st: an open file
 * @group: the group ("G", "ema/G")
 * @role: the role to read
 * @arch: (out) (transfer none) (optional): the architecture named there
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the described model options, or
 *   %NULL without @error set when @st does not describe @role for @group
 */
GstStructure *t2i_arch_read_description (T2iSafetensors * st,
    const char *group, const char *role, const T2iArch ** arch,
    GError ** error);

/* (transfer full): the groups @st describes a network of @role for,
 * sorted */
gchar **t2i_arch_described_groups (T2iSafetensors * st, const char *role);

G_END_DECLS
