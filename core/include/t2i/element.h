/* Base classes for t2i elements (public API for element authors).
 *
 * T2iTransform: a record-in/record-out element.  It reads entries from the
 * record and adds its outputs.  It owns a parameter group (property
 * `group`, default the element's name; `trainable=false` freezes it; the
 * parameters load from `weights=FILE.safetensors` by the prefix
 * "<group>."), registers the group in the pipeline's session, and runs its
 * process() with autograd on only when the pipeline trains.
 *
 * Shared groups: elements given the same `group=` share one parameter
 * group (the first to build creates and registers it, the others add
 * their parameters to it, under local names that must not collide), so
 * one loss with update=GROUP trains them all, and a checkpoint holds them
 * under one prefix.  trainable= and weights= apply to each element's own
 * parameters only.
 *
 * T2iLoss: a T2iTransform that computes one scalar and adds it as
 * `loss/<output>`; `update=GROUP` names the parameter group the trainer
 * steps with it, carried in the caps field `loss/<output>.update`.  It
 * runs only on the records its schedule picks: `phases=` (the record's
 * phase, with alternating GAN updates), `every=`, `start=` and `until=`
 * (the record's step); on the others the entry is absent, so the trainer
 * does not step the group for it.
 *
 * A subclass implements:
 * - negotiate(): check the inputs it needs in the sink caps structure (use
 *   t2i_caps_require(), so errors name the entry and what upstream offers)
 *   and describe its outputs in @out (t2i_caps_set_entry()).  Pure: it may
 *   be called more than once.
 * - build(): create parameters once the input shapes are known
 *   (t2i_transform_add_param()); optional.
 * - process(): compute.  Read inputs with t2i_record_get_tensor(), add
 *   outputs with t2i_record_set_tensor().
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>
#include <gst/base/gstpushsrc.h>
#include <t2i/arch.h>
#include <t2i/params.h>
#include <t2i/record.h>
#include <t2i/rng.h>
#include <t2i/safetensors.h>
#include <t2i/session.h>

G_BEGIN_DECLS

#define T2I_TYPE_TRANSFORM (t2i_transform_get_type ())
G_DECLARE_DERIVABLE_TYPE (T2iTransform, t2i_transform, T2I, TRANSFORM,
    GstBaseTransform)

struct _T2iTransformClass
{
  GstBaseTransformClass parent_class;

  gboolean (*negotiate) (T2iTransform * self, const GstStructure * in,
      GstStructure * out, GError ** error);
  gboolean (*build) (T2iTransform * self, const GstStructure * in,
      GError ** error);
  gboolean (*process) (T2iTransform * self, GstBuffer * record,
      GError ** error);
  /* optional: loads weights=FILE into the parameters build() created
   * (after build(), before the group is registered) instead of the
   * default, which reads "<group>.<local name>" for each of them */
  gboolean (*load_weights) (T2iTransform * self, T2iSafetensors * st,
      GError ** error);

  gpointer padding[7];
};

/* the element's parameter group (created at the first caps) */
T2iParamGroup *t2i_transform_get_params (T2iTransform * self);
const char *t2i_transform_get_group_name (T2iTransform * self);
gboolean t2i_transform_is_trainable (T2iTransform * self);
/* adds a parameter named "<group>.<local_name>"; takes a reference */
T2iParam *t2i_transform_add_param (T2iTransform * self, const char *local_name,
    T2iTensor * value);
/* per-element RNG for initialisers: seeded from the session seed and the
 * group name, so the same pipeline initialises the same weights */
T2iRng *t2i_transform_get_init_rng (T2iTransform * self);
T2iSession *t2i_transform_get_session (T2iTransform * self);
gboolean t2i_transform_is_training (T2iTransform * self);

/**
 * t2i_transform_load_params:
 * @self: the element
 * @st: an open file
 * @prefix: (nullable): the file's names are "<prefix><local name>"
 *   (%NULL: "<group>.")
 * @strict: parameters missing from the file are errors
 * @error: return location for a #GError
 *
 * Loads the parameters this element added (a group may be shared with
 * elements that come later: tensors of the file under @prefix that are
 * not this element's are left alone), checking all of them before
 * copying any.
 */
gboolean t2i_transform_load_params (T2iTransform * self, T2iSafetensors * st,
    const char *prefix, gboolean strict, GError ** error);

/* ---- network base ----
 * T2iNetwork: a T2iTransform that runs an architecture of the registry
 * (t2i/arch.h).  A subclass calls t2i_network_class_set_role() in its
 * class_init; the class then has arch= (the architectures of that role)
 * and every option of each of them as properties, and an option the
 * chosen architecture does not read is refused with one line naming it.
 * weights=FILE alone rebuilds a model the file describes (checkpoints and
 * exported models store each group's architecture and model options);
 * a property that disagrees with the file fails with one line naming both
 * values.  share=NAME runs the network of element NAME (same object). */
#define T2I_TYPE_NETWORK (t2i_network_get_type ())
G_DECLARE_DERIVABLE_TYPE (T2iNetwork, t2i_network, T2I, NETWORK,
    T2iTransform)

struct _T2iNetworkClass
{
  T2iTransformClass parent_class;

  /* set by t2i_network_class_set_role() */
  const char *role;
  const char *default_arch;

  gpointer padding[8];
};

void t2i_network_class_set_role (T2iNetworkClass * klass, const char *role,
    const char *default_arch);
/* the architecture and resolved options (NULL before the element reached
 * READY); the built network (NULL before its caps arrived), to call it
 * from another element */
const T2iArch *t2i_network_get_arch (T2iNetwork * self);
const GstStructure *t2i_network_get_config (T2iNetwork * self);
gpointer t2i_network_get_net (T2iNetwork * self);

/* ---- source base ----
 * T2iSource: a GstPushSrc that finds (or creates) the pipeline's session in
 * NULL->READY and answers its neighbours' context queries, so a source
 * only implements create()/start().  The session is NULL before READY. */
#define T2I_TYPE_SOURCE (t2i_source_get_type ())
G_DECLARE_DERIVABLE_TYPE (T2iSource, t2i_source, T2I, SOURCE, GstPushSrc)

struct _T2iSourceClass
{
  GstPushSrcClass parent_class;

  gpointer padding[8];
};

/* (transfer none) (nullable) */
T2iSession *t2i_source_get_session (T2iSource * self);

/* ---- loss base ---- */
#define T2I_TYPE_LOSS (t2i_loss_get_type ())
G_DECLARE_DERIVABLE_TYPE (T2iLoss, t2i_loss, T2I, LOSS, T2iTransform)

struct _T2iLossClass
{
  T2iTransformClass parent_class;

  /* check inputs (as negotiate() above, without outputs) */
  gboolean (*check) (T2iLoss * self, const GstStructure * in, GError ** error);
  /* returns the (unweighted) scalar loss, a new reference */
  T2iTensor *(*compute) (T2iLoss * self, GstBuffer * record, GError ** error);

  gpointer padding[8];
};

/* "loss/<output>" */
const char *t2i_loss_get_entry_name (T2iLoss * self);
const char *t2i_loss_get_update (T2iLoss * self);
/* every= (a lazy regulariser scales by it) */
guint t2i_loss_get_every (T2iLoss * self);

G_END_DECLS
