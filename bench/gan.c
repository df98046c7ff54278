/* DCGAN-style conditional G and D (see gan.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gan.h"

static void
unref_all (T2iTensor ** ts, gint n)
{
  for (gint i = 0; i < n; i++)
    t2i_tensor_unref (ts[i]);
}

void
gan_g_init (GanG * g, gint res, T2iRng * rng)
{
  static const gint64 ch64[] = { 512, 256, 128, 64 }, ch32[] = { 512, 256, 128 };
  const gint64 *ch = res == 64 ? ch64 : ch32;
  gint n = res == 64 ? 4 : 3;
  char name[32];

  g->params = t2i_param_group_new ("G");
  g->n_up = n + 1;
  t2i_nn_linear_init (&g->proj, g->params, "proj", GAN_NCOND, GAN_NPROJ, TRUE, rng);
  t2i_nn_conv_transpose2d_init (&g->up[0], g->params, "up0",
      GAN_NZ + GAN_NPROJ, ch[0], 4, 1, 0, FALSE, rng);
  for (gint i = 0; i < n; i++) {
    g_snprintf (name, sizeof name, "bn%d", i);
    t2i_nn_batch_norm_init (&g->bn[i], g->params, name, ch[i]);
    g_snprintf (name, sizeof name, "up%d", i + 1);
    t2i_nn_conv_transpose2d_init (&g->up[i + 1], g->params, name, ch[i],
        i + 1 < n ? ch[i + 1] : 3, 4, 2, 1, FALSE, rng);
  }
}

void
gan_d_init (GanD * d, gint res, T2iRng * rng)
{
  static const gint64 ch64[] = { 64, 128, 256, 512 }, ch32[] = { 128, 256, 512 };
  const gint64 *ch = res == 64 ? ch64 : ch32;
  gint n = res == 64 ? 4 : 3;
  char name[32];

  d->params = t2i_param_group_new ("D");
  for (gint i = 0; i < 4; i++)
    d->down[i].weight = NULL;
  t2i_nn_conv2d_init (&d->down[0], d->params, "down0", 3, ch[0], 4, 2, 1, FALSE, rng);
  for (gint i = 1; i < n; i++) {
    g_snprintf (name, sizeof name, "down%d", i);
    t2i_nn_conv2d_init (&d->down[i], d->params, name, ch[i - 1], ch[i], 4, 2, 1,
        FALSE, rng);
    g_snprintf (name, sizeof name, "bn%d", i - 1);
    t2i_nn_batch_norm_init (&d->bn[i - 1], d->params, name, ch[i]);
  }
  t2i_nn_linear_init (&d->proj, d->params, "proj", GAN_NCOND, GAN_NPROJ, TRUE, rng);
  t2i_nn_conv2d_init (&d->out, d->params, "out", 512 + GAN_NPROJ, 1, 4, 1, 0,
      TRUE, rng);
}

void
gan_g_clear (GanG * g)
{
  t2i_param_group_unref (g->params);
}

void
gan_d_clear (GanD * d)
{
  t2i_param_group_unref (d->params);
}

T2iTensor *
gan_g_forward (GanG * g, T2iTensor * z, T2iTensor * c, gboolean training)
{
  gint64 b = z->shape[0];
  T2iTensor *p = t2i_nn_linear (&g->proj, c);
  T2iTensor *pa = t2i_leaky_relu (p, 0.2);
  T2iTensor *cat_in[2] = { z, pa };
  T2iTensor *zc = t2i_concat (cat_in, 2, 1);
  T2iTensor *x = t2i_reshape (zc, T2I_SHAPE (b, GAN_NZ + GAN_NPROJ, 1, 1));
  T2iTensor *tmp[3] = { p, pa, zc };
  unref_all (tmp, 3);
  for (gint i = 0; i < g->n_up; i++) {
    T2iTensor *y = t2i_nn_conv2d (&g->up[i], x);
    t2i_tensor_unref (x);
    if (i + 1 < g->n_up) {
      T2iTensor *n = t2i_nn_batch_norm (&g->bn[i], y, training);
      x = t2i_relu (n);
      t2i_tensor_unref (n);
    } else {
      x = t2i_tanh (y);
    }
    t2i_tensor_unref (y);
  }
  return x;
}

T2iTensor *
gan_d_forward (GanD * d, T2iTensor * img, T2iTensor * c)
{
  gint64 b = img->shape[0];
  T2iTensor *x = t2i_tensor_ref (img);
  for (gint i = 0; i < 4 && d->down[i].weight; i++) {
    T2iTensor *y = t2i_nn_conv2d (&d->down[i], x);
    t2i_tensor_unref (x);
    if (i > 0) {
      T2iTensor *n = t2i_nn_batch_norm (&d->bn[i - 1], y, TRUE);
      t2i_tensor_unref (y);
      y = n;
    }
    x = t2i_leaky_relu (y, 0.2);
    t2i_tensor_unref (y);
  }
  T2iTensor *p = t2i_nn_linear (&d->proj, c);
  T2iTensor *pa = t2i_leaky_relu (p, 0.2);
  T2iTensor *p4 = t2i_reshape (pa, T2I_SHAPE (b, GAN_NPROJ, 1, 1));
  T2iTensor *pe = t2i_expand (p4, T2I_SHAPE (b, GAN_NPROJ, 4, 4));
  T2iTensor *cat_in[2] = { x, pe };
  T2iTensor *h = t2i_concat (cat_in, 2, 1);
  T2iTensor *o = t2i_nn_conv2d (&d->out, h);
  T2iTensor *logits = t2i_reshape (o, T2I_SHAPE (b));
  T2iTensor *tmp[7] = { x, p, pa, p4, pe, h, o };
  unref_all (tmp, 7);
  return logits;
}

double
gan_g_flops (gint res)
{
  /* ConvT counted as 2*Cin*Hin*Win*Cout*k^2 (the work GEMM+col2im does) */
  double f = 2.0 * GAN_NCOND * GAN_NPROJ + 2.0 * (GAN_NZ + GAN_NPROJ) * 512 * 16;
  gint64 ch64[] = { 512, 256, 128, 64, 3 }, ch32[] = { 512, 256, 128, 3 };
  gint64 *ch = res == 64 ? ch64 : ch32;
  gint n = res == 64 ? 4 : 3;
  gint64 hw = 4;
  for (gint i = 0; i < n; i++, hw *= 2)
    f += 2.0 * ch[i] * hw * hw * ch[i + 1] * 16;
  return f;
}

double
gan_d_flops (gint res)
{
  gint64 ch64[] = { 3, 64, 128, 256, 512 }, ch32[] = { 3, 128, 256, 512 };
  gint64 *ch = res == 64 ? ch64 : ch32;
  gint n = res == 64 ? 4 : 3;
  double f = 2.0 * GAN_NCOND * GAN_NPROJ + 2.0 * (512 + GAN_NPROJ) * 16;
  gint64 hw = res / 2;
  for (gint i = 0; i < n; i++, hw /= 2)
    f += 2.0 * ch[i + 1] * hw * hw * ch[i] * 16;
  return f;
}
