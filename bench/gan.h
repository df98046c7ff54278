/* The DCGAN-style 64x64 conditional generator and discriminator of
 * ../shared/reference/cpu-performance.md (gan_bench.py), shared by the
 * benchmark and its test.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/t2i.h>

#define GAN_NZ 100
#define GAN_NCOND 512
#define GAN_NPROJ 128

typedef struct
{
  T2iParamGroup *params;
  T2iNnLinear proj;
  T2iNnConv2d up[5];
  T2iNnBatchNorm bn[4];
  gint n_up;
} GanG;

typedef struct
{
  T2iParamGroup *params;
  T2iNnConv2d down[4];
  T2iNnBatchNorm bn[3];
  T2iNnLinear proj;
  T2iNnConv2d out;
} GanD;

void gan_g_init (GanG * g, gint res, T2iRng * rng);
void gan_d_init (GanD * d, gint res, T2iRng * rng);
void gan_g_clear (GanG * g);
void gan_d_clear (GanD * d);
T2iTensor *gan_g_forward (GanG * g, T2iTensor * z, T2iTensor * c, gboolean training);
T2iTensor *gan_d_forward (GanD * d, T2iTensor * x, T2iTensor * c);
/* FLOPs of one image through G / D (conv, deconv and linear, 2 per MAC) */
double gan_g_flops (gint res);
double gan_d_flops (gint res);
