/* ICSD-GAN's training step for bench/run (bench-t2i's icsd16-train-step,
 * torch_bench.py's the same): Algorithm 1 on one batch, the three
 * discriminators stepped on their losses (eq. 3, 5, 7), then the
 * generator and CA on eq. 4 and 9 (adversarial and similarity terms of
 * the three stages, DAMSM through the frozen image encoder, KL, two CSD
 * terms), Adam (0.5, 0.999), lr 2e-4.  The frozen text encoder's output
 * is fixed input (random word and sentence features).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/t2i.h>

#define ICSD_BENCH_BASE 16      /* stages at 16, 32, 64 px */
#define ICSD_BENCH_NGF 32
#define ICSD_BENCH_NDF 32
#define ICSD_BENCH_Z 100
#define ICSD_BENCH_C 100
#define ICSD_BENCH_WORDS 18
#define ICSD_BENCH_TEXT 256

typedef struct _IcsdBench IcsdBench;

IcsdBench *icsd_bench_new (gint batch);
void icsd_bench_step (IcsdBench * b);
void icsd_bench_free (IcsdBench * b);
/* FLOPs of one image through G, the three Ds, the image encoder */
double icsd_bench_g_flops (void);
double icsd_bench_d_flops (void);
double icsd_bench_e_flops (void);
