/* t2i — named parameters, parameter groups and initialisers.
 *
 * An element owns its parameters in a #T2iParamGroup named after it ("G").
 * A parameter is added under a local name ("synthesis.b8.conv0.weight") and
 * gets the full name "G.synthesis.b8.conv0.weight", which is how it is
 * stored in checkpoints.  Groups can grow after creation (lazily built
 * modules); optimizers and EMAs pick new parameters up on their next step.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/rng.h>
#include <t2i/safetensors.h>
#include <t2i/tensor.h>

G_BEGIN_DECLS

/**
 * T2iParam:
 * @name: the full name, "<group>.<local name>" (just the local name in a
 *   group named "")
 * @value: the tensor (owned by the group; replace its contents, not the
 *   pointer, since modules hold it)
 * @trainable: whether optimizers update it; also its @value's requires_grad
 * @local_name: @name without the group prefix (points into @name)
 */
typedef struct {
  char *name;
  T2iTensor *value;
  gboolean trainable;
  const char *local_name;
} T2iParam;

typedef struct _T2iParamGroup T2iParamGroup;

T2iParamGroup *t2i_param_group_new (const char *name);
T2iParamGroup *t2i_param_group_ref (T2iParamGroup * group);
void t2i_param_group_unref (T2iParamGroup * group);
const char *t2i_param_group_get_name (T2iParamGroup * group);

/**
 * t2i_param_group_add:
 * @group: the group
 * @local_name: unique within the group
 * @value: (transfer none): the tensor; the group takes a reference
 * @trainable: sets @value's requires_grad too (f32/f64 tensors)
 *
 * Returns: (transfer none): the new parameter, or %NULL (with a critical
 *   warning) when @local_name is taken
 */
T2iParam *t2i_param_group_add (T2iParamGroup * group, const char *local_name,
    T2iTensor * value, gboolean trainable);

guint t2i_param_group_n_params (T2iParamGroup * group);
/* (transfer none): the @index-th parameter, in the order they were added */
T2iParam *t2i_param_group_get (T2iParamGroup * group, guint index);
/* (transfer none) (nullable): by local or full name */
T2iParam *t2i_param_group_lookup (T2iParamGroup * group, const char *name);
/* total elements, of trainable parameters only when @trainable_only */
gint64 t2i_param_group_numel (T2iParamGroup * group, gboolean trainable_only);
/* freezes or unfreezes every parameter */
void t2i_param_group_set_trainable (T2iParamGroup * group, gboolean trainable);
void t2i_param_group_set_param_trainable (T2iParam * param, gboolean trainable);
/* drops every parameter's gradient */
void t2i_param_group_zero_grad (T2iParamGroup * group);
/* moves every parameter's data to @device in place (the tensors stay the
 * same objects, so networks that hold them follow) */
gboolean t2i_param_group_to_device (T2iParamGroup * group, T2iDevice device,
    GError ** error);

/**
 * t2i_param_group_set_model:
 * @group: the group
 * @role: the role of the network built into the group ("generator")
 * @json: its description, a JSON object {"arch": NAME, options...}
 *
 * Describes a network whose parameters are in @group (t2i/arch.h);
 * checkpoints store the descriptions, so a file rebuilds its models.
 */
void t2i_param_group_set_model (T2iParamGroup * group, const char *role,
    const char *json);
/* (transfer full) (nullable): {role: description, ...}, %NULL when no
 * network is described */
char *t2i_param_group_models_json (T2iParamGroup * group);

/**
 * t2i_param_group_collect:
 * @group: the group
 * @prefix: (nullable): prepended to local names; %NULL means "<group>."
 * @names: a #GPtrArray with g_free() as free func; gets the names
 * @tensors: a #GPtrArray with t2i_tensor_unref() as free func; gets new
 *   references to the values
 *
 * Appends every parameter, for writing one checkpoint from several sources
 * with t2i_safetensors_save().
 */
void t2i_param_group_collect (T2iParamGroup * group, const char *prefix,
    GPtrArray * names, GPtrArray * tensors);

/* writes the group alone (names "<prefix><local>") with t2i_safetensors_save() */
gboolean t2i_param_group_save (T2iParamGroup * group, const char *path,
    const char *prefix, GHashTable * metadata, GError ** error);

/**
 * t2i_param_group_load:
 * @group: the group
 * @st: an open file
 * @prefix: (nullable): the file's names are "<prefix><local name>"; %NULL
 *   means "<group>."
 * @strict: whether parameters missing from the file and file tensors under
 *   @prefix that match no parameter are errors
 * @error: return location for a #GError
 *
 * Copies the file's values into the parameters' existing tensors (converting
 * dtype if needed).  Everything is checked before anything is copied: on
 * error no parameter has changed, and the message lists the missing,
 * unexpected and mis-shaped names.  With @strict off, parameters absent from
 * the file keep their values (a shape mismatch is still an error).
 *
 * Returns: %TRUE on success
 */
gboolean t2i_param_group_load (T2iParamGroup * group, T2iSafetensors * st,
    const char *prefix, gboolean strict, GError ** error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iParamGroup, t2i_param_group_unref)

/* ---- initialisers (CPU f32/f64 tensors; all draw from @rng) ---- */

typedef enum {
  T2I_NONLINEARITY_LINEAR,      /* also conv, sigmoid: gain 1 */
  T2I_NONLINEARITY_SIGMOID,
  T2I_NONLINEARITY_TANH,        /* 5/3 */
  T2I_NONLINEARITY_RELU,        /* sqrt(2) */
  T2I_NONLINEARITY_LEAKY_RELU,  /* sqrt(2 / (1 + a^2)) */
  T2I_NONLINEARITY_SELU,        /* 3/4 */
} T2iNonlinearity;

typedef enum {
  T2I_FAN_IN,
  T2I_FAN_OUT,
} T2iFanMode;

/* as torch.nn.init.calculate_gain; @param is leaky_relu's slope */
double t2i_init_calculate_gain (T2iNonlinearity nonlinearity, double param);
/* as torch: fan_in = shape[1] * prod(shape[2:]), fan_out = shape[0] * prod(shape[2:]);
 * needs ndim >= 2 */
void t2i_init_compute_fans (const T2iTensor * t, gint64 * fan_in, gint64 * fan_out);

void t2i_init_constant (T2iTensor * t, double value);
void t2i_init_zeros (T2iTensor * t);
void t2i_init_ones (T2iTensor * t);
void t2i_init_normal (T2iTensor * t, T2iRng * rng, double mean, double std);
void t2i_init_uniform (T2iTensor * t, T2iRng * rng, double a, double b);
/* std = gain / sqrt(fan), gain from @nonlinearity with slope @a */
void t2i_init_kaiming_normal (T2iTensor * t, T2iRng * rng, double a, T2iFanMode mode,
    T2iNonlinearity nonlinearity);
/* bound = sqrt(3) * gain / sqrt(fan) */
void t2i_init_kaiming_uniform (T2iTensor * t, T2iRng * rng, double a, T2iFanMode mode,
    T2iNonlinearity nonlinearity);
/* bound = gain * sqrt(6 / (fan_in + fan_out)) */
void t2i_init_xavier_uniform (T2iTensor * t, T2iRng * rng, double gain);
/* std = gain * sqrt(2 / (fan_in + fan_out)) */
void t2i_init_xavier_normal (T2iTensor * t, T2iRng * rng, double gain);

/**
 * t2i_init_equalized_lr:
 * @t: a weight, [out, in, ...]
 * @rng: the generator
 * @lr_mul: StyleGAN's learning-rate multiplier (1 for ordinary layers, 0.01
 *   for the mapping network)
 *
 * StyleGAN's equalised learning rate: stores N(0, 1) / @lr_mul and returns
 * the runtime gain @lr_mul / sqrt(fan_in) the layer multiplies the weight by
 * (see t2i_equalized_lr_gain()).
 *
 * Returns: the runtime weight gain
 */
double t2i_init_equalized_lr (T2iTensor * t, T2iRng * rng, double lr_mul);
/* @lr_mul / sqrt(fan_in) for a weight of shape [out, in, ...] */
double t2i_equalized_lr_gain (const T2iTensor * t, double lr_mul);

G_END_DECLS
