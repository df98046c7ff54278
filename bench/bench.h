/* What the t2i side of bench/run shares between its files: bench-t2i.c
 * (ops, the DCGAN, CLIP, VQ-Diffusion) and method.c (whole methods'
 * training steps, through t2i-launch and through the core API).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/t2i.h>

G_BEGIN_DECLS

/* timed samples per case (--samples) */
extern gint bench_n_samples;

/* CLOCK_MONOTONIC, seconds */
double bench_now (void);

/* sorts @s (seconds per call, @n of them) and prints the case line
 * "case NAME MEDIAN_MS MIN_MS MAX_MS GFLOP" (GFLOP per call) */
void bench_print_case (const char *name, double *s, gint n, double gflop);

/* the values of @group's trainable parameters, %NULL-terminated; free
 * the array with g_free() */
T2iTensor **bench_trainable (T2iParamGroup * group);

/* whether the command line's @names (prefixes; none: every case) pick
 * the case @name */
gboolean bench_wanted (gchar ** names, const char *name);

/* whether this machine computes in @precision; otherwise prints that the
 * case @name is skipped, and why */
gboolean bench_precision (T2iPrecision precision, const char *name);

/* method.c: the whole-method cases @names pick (lafite-*, distgan-*) */
void bench_methods (gchar ** names, gint threads);

G_END_DECLS
