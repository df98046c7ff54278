/* Test-only elements and helpers shared by the element tests.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>
#include <t2i/t2i.h>

G_BEGIN_DECLS

/* Registers, in the test process:
 * - t2itesttoy: a T2iTransform, y = fc2(tanh(fc1(x))) with parameters
 *   fc1.weight [hidden, in], fc1.bias, fc2.weight [out, hidden], fc2.bias
 *   (properties input, output, hidden, out-features);
 * - t2itestmse: a T2iLoss, mean((input - target)^2) (properties input,
 *   target, nan-at-step: the record step whose loss is NaN, -1 = none);
 * - t2itestexpr: a T2iLoss, mean(tanh(x @ w + b)^2) of entries x, w, b. */
void test_elements_register (void);

/* Runs @description to EOS or error.  Returns TRUE at EOS; on error
 * *error_message (nullable) gets the error's text.  Element messages
 * named @collect (nullable) are appended to @messages (GstStructure
 * copies, nullable). */
gboolean test_run_pipeline (const char *description, char **error_message,
    const char *collect, GPtrArray * messages);

/* writes tensors (NULL-terminated names / tensors) to @path */
void test_save (const char *path, const char *const *names,
    T2iTensor ** tensors);
/* a temporary directory, removed with test_rmdir() */
char *test_tmpdir (void);
void test_rmdir (const char *dir);
/* whole file contents, for byte comparisons */
GBytes *test_read_file (const char *path);

/* ---- goldens written by tests/gen-*-golden.py ---- */

/* $T2I_SOURCE_DIR/tests/golden/@dir/@name */
char *test_golden (const char *dir, const char *name);
/* opens @path (fails the test if it cannot) */
T2iSafetensors *test_load (const char *path);
/* the normwise relative error max |a - b| / max |b| of @a against @b;
 * fails the test above @tol or on a non-finite value of @a */
double test_compare_tensors (T2iTensor * a, T2iTensor * b, const char *what,
    double tol);
/* the same for tensor @got_name of @got and @gold_name of @gold */
void test_compare (T2iSafetensors * got, const char *got_name,
    T2iSafetensors * gold, const char *gold_name, double tol);
/* runs @desc to EOS, failing the test with its error */
void test_run_ok (const char *desc);
/* runs @desc, which must fail with a message containing @needle */
void test_run_fails (const char *desc, const char *needle);
/**
 * test_loss_cases:
 * @dir: the golden directory (tests/golden/@dir)
 * @entries: the entries of losses-in.safetensors, %NULL-terminated
 * @tol: the tolerance
 *
 * For each line "<case> <t2iloss properties>" of losses-cases.txt: runs
 * t2itensorsrc (losses-in, every entry a gradient leaf) ! t2iloss
 * <properties> ! t2itensorsink grads-of=the loss, and compares the loss
 * and its gradient with respect to each entry with losses-out's
 * <case>/loss and <case>/grad/<entry> (zero for entries the loss does not
 * read).
 *
 * Returns: the number of cases
 */
guint test_loss_cases (const char *dir, const char *const *entries,
    double tol);

G_END_DECLS
