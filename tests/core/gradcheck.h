/* Gradient checks for ops: analytic gradients (autograd, f64) against
 * central finite differences, second-order checks for ops that must support
 * double backward (R1), and f32-vs-f64 agreement of forward values.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/tensor.h>

G_BEGIN_DECLS

/* builds the output from @inputs (borrowed); returns a new reference */
typedef T2iTensor *(*T2iCheckFn) (T2iTensor ** inputs, gpointer user);

/* A random f64 tensor in [lo, hi) from a fixed-seed generator. */
T2iTensor *gc_rand (gint ndim, const gint64 * shape, double lo, double hi);
/* Same as gc_rand but values kept at least @gap away from each other and
 * from 0, for ops with kinks (relu, max, abs). */
T2iTensor *gc_rand_spread (gint ndim, const gint64 * shape, double scale);
void gc_seed (guint64 seed);

/* Checks d(sum(fn(x) * r))/dx_i for every input i with requires_grad set
 * (f64 inputs) against central differences with step @eps; fails the
 * current GTest with a message naming @what, the input and the worst
 * element when |analytic - numeric| > atol + rtol * |numeric|. */
void gc_check_grad (const char *what, T2iCheckFn fn, T2iTensor ** inputs,
    gint n, gpointer user);
/* Second order: checks the gradient of sum(grad_x(L) * r2) (computed with
 * create_graph) the same way, for ops used under an R1 penalty. */
void gc_check_gradgrad (const char *what, T2iCheckFn fn, T2iTensor ** inputs,
    gint n, gpointer user);
/* Runs @fn on f32 copies of @inputs and compares with the f64 result:
 * max |f32 - f64| <= tol * max(1, max |f64|). */
void gc_check_f32 (const char *what, T2iCheckFn fn, T2iTensor ** inputs,
    gint n, gpointer user, double tol);

/* tolerances (defaults eps 1e-6, atol 1e-6, rtol 1e-4) */
void gc_set_tolerances (double eps, double atol, double rtol);

G_END_DECLS
