/* t2i — parameter initialisers (torch.nn.init and StyleGAN's equalised lr).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/params.h"
#include "../backend/backend.h"

#include <math.h>

double
t2i_init_calculate_gain (T2iNonlinearity nonlinearity, double param)
{
  switch (nonlinearity) {
    case T2I_NONLINEARITY_LINEAR:
    case T2I_NONLINEARITY_SIGMOID:
      return 1.0;
    case T2I_NONLINEARITY_TANH:
      return 5.0 / 3.0;
    case T2I_NONLINEARITY_RELU:
      return G_SQRT2;
    case T2I_NONLINEARITY_LEAKY_RELU:
      return sqrt (2.0 / (1.0 + param * param));
    case T2I_NONLINEARITY_SELU:
      return 3.0 / 4.0;
  }
  g_return_val_if_reached (1.0);
}

void
t2i_init_compute_fans (const T2iTensor * t, gint64 * fan_in, gint64 * fan_out)
{
  g_return_if_fail (t != NULL);
  g_return_if_fail (t->ndim >= 2);
  gint64 receptive = 1;

  for (gint i = 2; i < t->ndim; i++)
    receptive *= t->shape[i];
  if (fan_in)
    *fan_in = t->shape[1] * receptive;
  if (fan_out)
    *fan_out = t->shape[0] * receptive;
}

void
t2i_init_constant (T2iTensor * t, double value)
{
  g_return_if_fail (t != NULL);
  if (t->device != T2I_DEVICE_CPU) {
    T2I_BACKEND (t)->fill (t, value);
    return;
  }
  switch (t->dtype) {
    case T2I_F32:{
      float *d = t->data, v = (float) value;
      for (gint64 i = 0; i < t->numel; i++)
        d[i] = v;
      break;
    }
    case T2I_F64:{
      double *d = t->data;
      for (gint64 i = 0; i < t->numel; i++)
        d[i] = value;
      break;
    }
    default:
      for (gint64 i = 0; i < t->numel; i++)
        t2i_tensor_set (t, i, value);
  }
}

void
t2i_init_zeros (T2iTensor * t)
{
  t2i_init_constant (t, 0.0);
}

void
t2i_init_ones (T2iTensor * t)
{
  t2i_init_constant (t, 1.0);
}

void
t2i_init_normal (T2iTensor * t, T2iRng * rng, double mean, double std)
{
  g_return_if_fail (t != NULL && rng != NULL);
  t2i_rng_fill_normal (rng, t, mean, std);
}

void
t2i_init_uniform (T2iTensor * t, T2iRng * rng, double a, double b)
{
  g_return_if_fail (t != NULL && rng != NULL);
  t2i_rng_fill_uniform (rng, t, a, b);
}

static double
kaiming_std (const T2iTensor * t, double a, T2iFanMode mode, T2iNonlinearity nonlinearity)
{
  gint64 fan_in = 0, fan_out = 0;

  t2i_init_compute_fans (t, &fan_in, &fan_out);
  gint64 fan = mode == T2I_FAN_IN ? fan_in : fan_out;
  return t2i_init_calculate_gain (nonlinearity, a) / sqrt ((double) MAX (fan, 1));
}

void
t2i_init_kaiming_normal (T2iTensor * t, T2iRng * rng, double a, T2iFanMode mode,
    T2iNonlinearity nonlinearity)
{
  g_return_if_fail (t != NULL && rng != NULL && t->ndim >= 2);
  t2i_rng_fill_normal (rng, t, 0.0, kaiming_std (t, a, mode, nonlinearity));
}

void
t2i_init_kaiming_uniform (T2iTensor * t, T2iRng * rng, double a, T2iFanMode mode,
    T2iNonlinearity nonlinearity)
{
  g_return_if_fail (t != NULL && rng != NULL && t->ndim >= 2);
  double bound = sqrt (3.0) * kaiming_std (t, a, mode, nonlinearity);

  t2i_rng_fill_uniform (rng, t, -bound, bound);
}

static double
xavier_std (const T2iTensor * t, double gain)
{
  gint64 fan_in = 0, fan_out = 0;

  t2i_init_compute_fans (t, &fan_in, &fan_out);
  return gain * sqrt (2.0 / (double) MAX (fan_in + fan_out, 1));
}

void
t2i_init_xavier_uniform (T2iTensor * t, T2iRng * rng, double gain)
{
  g_return_if_fail (t != NULL && rng != NULL && t->ndim >= 2);
  double bound = sqrt (3.0) * xavier_std (t, gain);

  t2i_rng_fill_uniform (rng, t, -bound, bound);
}

void
t2i_init_xavier_normal (T2iTensor * t, T2iRng * rng, double gain)
{
  g_return_if_fail (t != NULL && rng != NULL && t->ndim >= 2);
  t2i_rng_fill_normal (rng, t, 0.0, xavier_std (t, gain));
}

double
t2i_equalized_lr_gain (const T2iTensor * t, double lr_mul)
{
  g_return_val_if_fail (t != NULL && t->ndim >= 2, 1.0);
  gint64 fan_in = 0;

  t2i_init_compute_fans (t, &fan_in, NULL);
  return lr_mul / sqrt ((double) MAX (fan_in, 1));
}

double
t2i_init_equalized_lr (T2iTensor * t, T2iRng * rng, double lr_mul)
{
  g_return_val_if_fail (t != NULL && rng != NULL && t->ndim >= 2, 1.0);
  g_return_val_if_fail (lr_mul > 0.0, 1.0);
  t2i_rng_fill_normal (rng, t, 0.0, 1.0 / lr_mul);
  return t2i_equalized_lr_gain (t, lr_mul);
}
