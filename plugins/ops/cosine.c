/* op=cosine: the scaled cosine similarities of one entry's rows with
 * another's, e.g. the logits of a prototype classifier.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recordops.h"

#define COS_EPS 1e-8

static const T2iOption options[] = {
  T2I_RECORD_OP_INPUT (NULL),
  T2I_OPTION_ENTRY ("with", NULL, 0,
      "The rows to compare with, f32 [K, D] (e.g. prototypes)"),
  T2I_OPTION_ENTRY ("output", NULL, 0, "The entry to write, [N, K]"),
  T2I_OPTION_DOUBLE ("scale", 1.0, -1e6, 1e6, 0,
      "Multiplies the cosines (a logit scale)"),
  {NULL}
};

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 a[T2I_MAX_DIMS], b[T2I_MAX_DIMS];
  gint na;
  const char *dtype;
  if (!t2i_record_op_require_input (config, in, TRUE, 2, &dtype, &na, a,
          error))
    return FALSE;
  const char *with = t2i_config_string (config, "with");
  if (!t2i_config_has_string (config, "with")
      || !t2i_config_has_string (config, "output")) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "with= and output= name the rows to compare with and the entry "
        "to write");
    return FALSE;
  }
  if (!t2i_caps_require (in, with, NULL, 2, NULL, error)) {
    g_prefix_error (error, "with=%s: ", with);
    return FALSE;
  }
  t2i_caps_get_entry (in, with, NULL, NULL, b);
  if (na != 2 || a[1] != b[1]) {
    g_autofree char *sa = t2i_shape_to_string (na, a);
    g_autofree char *sb = t2i_shape_to_string (2, b);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s %s and with=%s %s need rows of one size [N, D], [K, D]",
        t2i_config_string (config, "input"), sa, with, sb);
    return FALSE;
  }
  gint64 s[2] = { a[0], b[0] };
  t2i_caps_set_entry (out, t2i_config_string (config, "output"), dtype, 2, s);
  return TRUE;
}

static gboolean
apply (const GstStructure * config, GstBuffer * record, GError ** error)
{
  T2iTensor *x = t2i_record_op_get_input (config, record, error);
  if (!x)
    return FALSE;
  const char *with = t2i_config_string (config, "with");
  T2iTensor *w = t2i_record_get_tensor (record, with);
  if (!w || w->ndim != 2 || x->ndim != 2 || w->shape[1] != x->shape[1]
      || w->dtype != x->dtype) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "with=%s must be [K, %" G_GINT64_FORMAT "] of input=%s's dtype",
        with, x->shape[1], t2i_config_string (config, "input"));
    return FALSE;
  }
  g_autoptr (T2iTensor) c = t2i_cosine_similarity_matrix (x, w, COS_EPS);
  g_autoptr (T2iTensor) y = t2i_mul_scalar (c, t2i_config_double (config,
          "scale"));
  return t2i_record_set_tensor (record, t2i_config_string (config, "output"),
      y, error);
}

const T2iRecordOp t2i_record_op_cosine = {
  "cosine", "scale times the cosine of each row of input= [N, D] with each "
      "row of with= [K, D]: [N, K] (a prototype classifier's logits)",
  options, negotiate, apply,
};
