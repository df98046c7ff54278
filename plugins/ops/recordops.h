/* The operations of t2iop: one file per operation, one line per
 * operation in T2I_RECORD_OPS below.
 *
 * To add an operation `foo`: write plugins/ops/foo.c with its options
 * (#T2iOption) and
 *
 *   const T2iRecordOp t2i_record_op_foo = {
 *     "foo", "what it does", options, negotiate, apply,
 *   };
 *
 * add `X (foo)` to T2I_RECORD_OPS (sorted) and the file to plugins/
 * meson.build.  negotiate() checks the input caps and describes the
 * outputs; apply() reads the record's entries and adds or replaces its
 * outputs (differentiable where it makes sense, so gradients flow
 * through).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/t2i.h>

G_BEGIN_DECLS

typedef struct {
  const char *name;
  const char *description;
  const T2iOption *options;
  gboolean (*negotiate) (const GstStructure * config,
      const GstStructure * in, GstStructure * out, GError ** error);
  gboolean (*apply) (const GstStructure * config, GstBuffer * record,
      GError ** error);
} T2iRecordOp;

#define T2I_RECORD_OPS(X) \
  X (concat) \
  X (cosine) \
  X (detach) \
  X (interpolate) \
  X (load) \
  X (rename) \
  X (resize) \
  X (roll) \
  X (slice)

#define T2I_RECORD_OP_DECLARE(c) extern const T2iRecordOp t2i_record_op_##c;
T2I_RECORD_OPS (T2I_RECORD_OP_DECLARE)
#undef T2I_RECORD_OP_DECLARE

/* ---- shared by the operations (common.c) ---- */

/* the entry input= reads and the one output= names (input= when unset) */
const char *t2i_record_op_output (const GstStructure * config);
/* checks input= is a tensor (f32/f64 when @floating) with at least
 * @min_ndim dims; @shape (T2I_MAX_DIMS slots) and @ndim get its shape */
gboolean t2i_record_op_require_input (const GstStructure * config,
    const GstStructure * in, gboolean floating, gint min_ndim,
    const char **dtype, gint * ndim, gint64 * shape, GError ** error);
/* the borrowed tensor input= names, or %NULL with @error */
T2iTensor *t2i_record_op_get_input (const GstStructure * config,
    GstBuffer * record, GError ** error);
/* axis= in [-ndim, ndim) as an index in [0, ndim), or -1 with @error */
gint t2i_record_op_axis (const GstStructure * config, gint ndim,
    GError ** error);

#define T2I_RECORD_OP_INPUT(def) \
  T2I_OPTION_ENTRY ("input", def, 0, "The entry to read")
#define T2I_RECORD_OP_OUTPUT \
  T2I_OPTION_ENTRY ("output", NULL, 0, \
      "The entry to write (unset: replace input=)")
#define T2I_RECORD_OP_AXIS(def) \
  T2I_OPTION_INT ("axis", def, -5, 4, 0, \
      "The axis (negative counts from the last)")

G_END_DECLS
