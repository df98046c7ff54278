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

G_END_DECLS
