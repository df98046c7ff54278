/* Test-only elements and helpers shared by the element tests.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* ---- t2itesttoy: linear -> tanh -> linear ---- */

typedef struct
{
  T2iTransform parent;
  gchar *input, *output;
  gint hidden, out_features;
} TestToy;
typedef struct
{
  T2iTransformClass parent_class;
} TestToyClass;

static GType test_toy_get_type (void);
G_DEFINE_TYPE (TestToy, test_toy, T2I_TYPE_TRANSFORM);

enum
{
  TOY_PROP_0,
  TOY_PROP_INPUT,
  TOY_PROP_OUTPUT,
  TOY_PROP_HIDDEN,
  TOY_PROP_OUT,
};

static gboolean
toy_negotiate (T2iTransform * t, const GstStructure * in, GstStructure * out,
    GError ** error)
{
  TestToy *self = (TestToy *) t;
  gint nd;
  gint64 shape[T2I_MAX_DIMS];
  if (!t2i_caps_require (in, self->input, "f32", 2, NULL, error))
    return FALSE;
  t2i_caps_get_entry (in, self->input, NULL, &nd, shape);
  gint64 oshape[2] = { shape[0], self->out_features };
  t2i_caps_set_entry (out, self->output, "f32", 2, oshape);
  return TRUE;
}

static void
toy_add (T2iTransform * t, const char *name, gint ndim, const gint64 * shape,
    double bound)
{
  T2iTensor *v = t2i_tensor_new (T2I_F32, ndim, shape);
  t2i_init_uniform (v, t2i_transform_get_init_rng (t), -bound, bound);
  t2i_transform_add_param (t, name, v);
  t2i_tensor_unref (v);
}

static gboolean
toy_build (T2iTransform * t, const GstStructure * in, GError ** error)
{
  TestToy *self = (TestToy *) t;
  gint nd;
  gint64 shape[T2I_MAX_DIMS];
  t2i_caps_get_entry (in, self->input, NULL, &nd, shape);
  gint64 h = self->hidden, o = self->out_features, i = shape[1];
  toy_add (t, "fc1.weight", 2, (gint64[]) { h, i }, 1.0 / sqrt ((double) i));
  toy_add (t, "fc1.bias", 1, (gint64[]) { h }, 1.0 / sqrt ((double) i));
  toy_add (t, "fc2.weight", 2, (gint64[]) { o, h }, 1.0 / sqrt ((double) h));
  toy_add (t, "fc2.bias", 1, (gint64[]) { o }, 1.0 / sqrt ((double) h));
  return TRUE;
}

static T2iTensor *
toy_param (T2iTransform * t, const char *name)
{
  return t2i_param_group_lookup (t2i_transform_get_params (t), name)->value;
}

static gboolean
toy_process (T2iTransform * t, GstBuffer * rec, GError ** error)
{
  TestToy *self = (TestToy *) t;
  T2iTensor *x = t2i_record_get_tensor (rec, self->input);
  g_autoptr (T2iTensor) h = t2i_linear (x, toy_param (t, "fc1.weight"),
      toy_param (t, "fc1.bias"));
  g_autoptr (T2iTensor) a = t2i_tanh (h);
  g_autoptr (T2iTensor) y = t2i_linear (a, toy_param (t, "fc2.weight"),
      toy_param (t, "fc2.bias"));
  return t2i_record_set_tensor (rec, self->output, y, error);
}

static void
toy_set_property (GObject * obj, guint id, const GValue * v, GParamSpec * ps)
{
  TestToy *self = (TestToy *) obj;
  switch (id) {
    case TOY_PROP_INPUT:
      g_free (self->input);
      self->input = g_value_dup_string (v);
      break;
    case TOY_PROP_OUTPUT:
      g_free (self->output);
      self->output = g_value_dup_string (v);
      break;
    case TOY_PROP_HIDDEN:
      self->hidden = g_value_get_int (v);
      break;
    case TOY_PROP_OUT:
      self->out_features = g_value_get_int (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, ps);
  }
}

static void
toy_get_property (GObject * obj, guint id, GValue * v, GParamSpec * ps)
{
  TestToy *self = (TestToy *) obj;
  switch (id) {
    case TOY_PROP_INPUT:
      g_value_set_string (v, self->input);
      break;
    case TOY_PROP_OUTPUT:
      g_value_set_string (v, self->output);
      break;
    case TOY_PROP_HIDDEN:
      g_value_set_int (v, self->hidden);
      break;
    case TOY_PROP_OUT:
      g_value_set_int (v, self->out_features);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, ps);
  }
}

static void
toy_finalize (GObject * obj)
{
  TestToy *self = (TestToy *) obj;
  g_free (self->input);
  g_free (self->output);
  G_OBJECT_CLASS (test_toy_parent_class)->finalize (obj);
}

static void
test_toy_class_init (TestToyClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  T2iTransformClass *tc = T2I_TRANSFORM_CLASS (klass);
  oc->set_property = toy_set_property;
  oc->get_property = toy_get_property;
  oc->finalize = toy_finalize;
  tc->negotiate = toy_negotiate;
  tc->build = toy_build;
  tc->process = toy_process;
  g_object_class_install_property (oc, TOY_PROP_INPUT,
      g_param_spec_string ("input", "Input", "Input entry", "x",
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (oc, TOY_PROP_OUTPUT,
      g_param_spec_string ("output", "Output", "Output entry", "y",
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (oc, TOY_PROP_HIDDEN,
      g_param_spec_int ("hidden", "Hidden", "Hidden width", 1, 1 << 20, 8,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (oc, TOY_PROP_OUT,
      g_param_spec_int ("out-features", "Out", "Output width", 1, 1 << 20, 4,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  gst_element_class_set_static_metadata (GST_ELEMENT_CLASS (klass),
      "toy", "Filter/Test", "test-only two-layer model", "t2i tests");
}

static void
test_toy_init (TestToy * self)
{
  self->input = g_strdup ("x");
  self->output = g_strdup ("y");
  self->hidden = 8;
  self->out_features = 4;
}

/* ---- t2itestmse ---- */

typedef struct
{
  T2iLoss parent;
  gchar *input, *target;
  gint64 nan_at_step;
} TestMse;
typedef struct
{
  T2iLossClass parent_class;
} TestMseClass;

static GType test_mse_get_type (void);
G_DEFINE_TYPE (TestMse, test_mse, T2I_TYPE_LOSS);

enum
{
  MSE_PROP_0,
  MSE_PROP_INPUT,
  MSE_PROP_TARGET,
  MSE_PROP_NAN_AT,
};

static gboolean
mse_check (T2iLoss * l, const GstStructure * in, GError ** error)
{
  TestMse *self = (TestMse *) l;
  return t2i_caps_require (in, self->input, NULL, 0, NULL, error)
      && t2i_caps_require (in, self->target, NULL, 0, NULL, error);
}

static T2iTensor *
mse_compute (T2iLoss * l, GstBuffer * rec, GError ** error)
{
  TestMse *self = (TestMse *) l;
  if (t2i_record_get_meta (rec)->step == self->nan_at_step)
    return t2i_tensor_scalar (T2I_F32, NAN);
  return t2i_mse_loss (t2i_record_get_tensor (rec, self->input),
      t2i_record_get_tensor (rec, self->target));
}

static void
mse_set_property (GObject * obj, guint id, const GValue * v, GParamSpec * ps)
{
  TestMse *self = (TestMse *) obj;
  switch (id) {
    case MSE_PROP_INPUT:
      g_free (self->input);
      self->input = g_value_dup_string (v);
      break;
    case MSE_PROP_TARGET:
      g_free (self->target);
      self->target = g_value_dup_string (v);
      break;
    case MSE_PROP_NAN_AT:
      self->nan_at_step = g_value_get_int64 (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, ps);
  }
}

static void
mse_get_property (GObject * obj, guint id, GValue * v, GParamSpec * ps)
{
  TestMse *self = (TestMse *) obj;
  switch (id) {
    case MSE_PROP_INPUT:
      g_value_set_string (v, self->input);
      break;
    case MSE_PROP_TARGET:
      g_value_set_string (v, self->target);
      break;
    case MSE_PROP_NAN_AT:
      g_value_set_int64 (v, self->nan_at_step);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, ps);
  }
}

static void
mse_finalize (GObject * obj)
{
  TestMse *self = (TestMse *) obj;
  g_free (self->input);
  g_free (self->target);
  G_OBJECT_CLASS (test_mse_parent_class)->finalize (obj);
}

static void
test_mse_class_init (TestMseClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  T2iLossClass *lc = T2I_LOSS_CLASS (klass);
  oc->set_property = mse_set_property;
  oc->get_property = mse_get_property;
  oc->finalize = mse_finalize;
  lc->check = mse_check;
  lc->compute = mse_compute;
  g_object_class_install_property (oc, MSE_PROP_INPUT,
      g_param_spec_string ("input", "Input", "Prediction entry", "y",
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (oc, MSE_PROP_TARGET,
      g_param_spec_string ("target", "Target", "Target entry", "t",
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (oc, MSE_PROP_NAN_AT,
      g_param_spec_int64 ("nan-at-step", "NaN at step",
          "Record step whose loss is NaN (-1 = none)", -1, G_MAXINT64, -1,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  gst_element_class_set_static_metadata (GST_ELEMENT_CLASS (klass),
      "mse", "Filter/Loss/Test", "test-only MSE loss", "t2i tests");
}

static void
test_mse_init (TestMse * self)
{
  self->input = g_strdup ("y");
  self->target = g_strdup ("t");
  self->nan_at_step = -1;
}

/* ---- t2itestexpr: mean(tanh(x @ w + b)^2) ---- */

typedef struct
{
  T2iLoss parent;
} TestExpr;
typedef struct
{
  T2iLossClass parent_class;
} TestExprClass;

static GType test_expr_get_type (void);
G_DEFINE_TYPE (TestExpr, test_expr, T2I_TYPE_LOSS);

static gboolean
expr_check (T2iLoss * l, const GstStructure * in, GError ** error)
{
  return t2i_caps_require (in, "x", NULL, 2, NULL, error)
      && t2i_caps_require (in, "w", NULL, 2, NULL, error)
      && t2i_caps_require (in, "b", NULL, 1, NULL, error);
}

static T2iTensor *
expr_compute (T2iLoss * l, GstBuffer * rec, GError ** error)
{
  g_autoptr (T2iTensor) xw = t2i_matmul (t2i_record_get_tensor (rec, "x"),
      t2i_record_get_tensor (rec, "w"));
  g_autoptr (T2iTensor) z = t2i_add (xw, t2i_record_get_tensor (rec, "b"));
  g_autoptr (T2iTensor) a = t2i_tanh (z);
  g_autoptr (T2iTensor) s = t2i_square (a);
  return t2i_mean (s, T2I_ALL_AXES, FALSE);
}

static void
test_expr_class_init (TestExprClass * klass)
{
  T2iLossClass *lc = T2I_LOSS_CLASS (klass);
  lc->check = expr_check;
  lc->compute = expr_compute;
  gst_element_class_set_static_metadata (GST_ELEMENT_CLASS (klass),
      "expr", "Filter/Loss/Test", "test-only composed expression",
      "t2i tests");
}

static void
test_expr_init (TestExpr * self)
{
}

void
test_elements_register (void)
{
  gst_element_register (NULL, "t2itesttoy", GST_RANK_NONE,
      test_toy_get_type ());
  gst_element_register (NULL, "t2itestmse", GST_RANK_NONE,
      test_mse_get_type ());
  gst_element_register (NULL, "t2itestexpr", GST_RANK_NONE,
      test_expr_get_type ());
}

/* ---- helpers ---- */

gboolean
test_run_pipeline (const char *description, char **error_message,
    const char *collect, GPtrArray * messages)
{
  GError *err = NULL;
  GstElement *pipe = gst_parse_launch (description, &err);
  gboolean eos = FALSE;

  if (pipe)
    gst_object_ref_sink (pipe);

  if (error_message)
    *error_message = NULL;
  if (!pipe || err) {
    if (error_message)
      *error_message = g_strdup (err ? err->message : "parse failed");
    g_clear_error (&err);
    if (pipe)
      gst_object_unref (pipe);
    return FALSE;
  }
  GstBus *bus = gst_element_get_bus (pipe);
  GstStateChangeReturn r = gst_element_set_state (pipe, GST_STATE_PLAYING);
  for (;;) {
    GstMessage *m = gst_bus_timed_pop_filtered (bus,
        r == GST_STATE_CHANGE_FAILURE ? 0 : GST_CLOCK_TIME_NONE,
        GST_MESSAGE_ERROR | GST_MESSAGE_EOS | GST_MESSAGE_ELEMENT);
    if (!m) {
      if (error_message && !*error_message)
        *error_message = g_strdup ("state change failed without an error");
      break;
    }
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT) {
      const GstStructure *s = gst_message_get_structure (m);
      if (collect && messages && gst_structure_has_name (s, collect))
        g_ptr_array_add (messages, gst_structure_copy (s));
      gst_message_unref (m);
      continue;
    }
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
      GError *e = NULL;
      gst_message_parse_error (m, &e, NULL);
      if (error_message)
        *error_message = g_strdup (e->message);
      g_error_free (e);
    } else {
      eos = TRUE;
    }
    gst_message_unref (m);
    break;
  }
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipe);
  return eos;
}

void
test_save (const char *path, const char *const *names, T2iTensor ** tensors)
{
  GError *err = NULL;
  guint n = g_strv_length ((gchar **) names);
  g_assert_true (t2i_safetensors_save (path, names, tensors, n, NULL, &err));
  g_assert_no_error (err);
}

char *
test_tmpdir (void)
{
  GError *err = NULL;
  char *dir = g_dir_make_tmp ("t2i-elements-XXXXXX", &err);
  g_assert_no_error (err);
  return dir;
}

void
test_rmdir (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d))) {
    g_autofree char *p = g_build_filename (dir, name, NULL);
    if (g_file_test (p, G_FILE_TEST_IS_DIR))
      test_rmdir (p);
    else
      g_unlink (p);
  }
  if (d)
    g_dir_close (d);
  g_rmdir (dir);
}

GBytes *
test_read_file (const char *path)
{
  gchar *data = NULL;
  gsize len = 0;
  GError *err = NULL;
  g_assert_true (g_file_get_contents (path, &data, &len, &err));
  g_assert_no_error (err);
  return g_bytes_new_take (data, len);
}

/* ---- goldens ---- */

char *
test_golden (const char *dir, const char *name)
{
  const char *src = g_getenv ("T2I_SOURCE_DIR");
  g_assert_nonnull (src);
  return g_build_filename (src, "tests", "golden", dir, name, NULL);
}

T2iSafetensors *
test_load (const char *path)
{
  GError *err = NULL;
  T2iSafetensors *st = t2i_safetensors_load (path, &err);
  g_assert_no_error (err);
  return st;
}

double
test_compare_tensors (T2iTensor * a, T2iTensor * b, const char *what,
    double tol)
{
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  if (a->numel != b->numel)
    g_error ("%s: %" G_GINT64_FORMAT " values, PyTorch %" G_GINT64_FORMAT,
        what, a->numel, b->numel);
  double diff = 0, scale = 0;
  for (gint64 i = 0; i < a->numel; i++) {
    double x = t2i_tensor_get (a, i), y = t2i_tensor_get (b, i);
    if (!isfinite (x))
      g_error ("%s[%" G_GINT64_FORMAT "] is %g", what, i, x);
    if (!isfinite (y))
      g_error ("%s[%" G_GINT64_FORMAT "]: the golden holds %g", what, i, y);
    diff = MAX (diff, fabs (x - y));
    scale = MAX (scale, fabs (y));
  }
  double err = diff / MAX (scale, 1e-30);
  g_test_message ("%s: normwise relative error %.3g (max |torch| %.3g)", what,
      err, scale);
  if (err > tol)
    g_error ("%s: t2i differs from PyTorch by %.3g (relative to %.3g)", what,
        diff, scale);
  return err;
}

void
test_compare (T2iSafetensors * got, const char *got_name,
    T2iSafetensors * gold, const char *gold_name, double tol)
{
  g_autoptr (T2iTensor) a = t2i_safetensors_get (got, got_name);
  g_autoptr (T2iTensor) b = t2i_safetensors_get (gold, gold_name);
  if (!a)
    g_error ("the pipeline wrote no '%s'", got_name);
  if (!b)
    g_error ("the golden has no '%s'", gold_name);
  test_compare_tensors (a, b, gold_name, tol);
}

void
test_run_ok (const char *desc)
{
  g_autofree char *err = NULL;
  if (!test_run_pipeline (desc, &err, NULL, NULL))
    g_error ("pipeline failed: %s\n  %s", err ? err : "(no message)", desc);
}

void
test_run_fails (const char *desc, const char *needle)
{
  g_autofree char *err = NULL;
  g_assert_false (test_run_pipeline (desc, &err, NULL, NULL));
  g_assert_nonnull (err);
  g_test_message ("error: %s", err);
  if (!strstr (err, needle))
    g_error ("expected an error about '%s', got: %s", needle, err);
}

guint
test_loss_cases (const char *dir, const char *const *entries, double tol)
{
  g_autofree char *in = test_golden (dir, "losses-in.safetensors");
  g_autofree char *out_path = test_golden (dir, "losses-out.safetensors");
  g_autofree char *cases_path = test_golden (dir, "losses-cases.txt");
  g_autoptr (T2iSafetensors) gold = test_load (out_path);
  g_autofree char *cases = NULL;
  g_autofree char *tmp = test_tmpdir ();
  g_autofree char *leaves = g_strjoinv (",", (gchar **) entries);
  guint n_cases = 0;

  g_assert_true (g_file_get_contents (cases_path, &cases, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (cases, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    char *sp = strchr (lines[i], ' ');
    if (!sp)
      continue;
    *sp = 0;
    const char *name = lines[i], *props = sp + 1;
    g_autofree char *out = g_build_filename (tmp, "out.safetensors", NULL);
    g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
        "requires-grad=%s ! t2iloss %s output=x update=none ! t2itensorsink "
        "location=%s grads-of=loss/x", in, leaves, props, out);
    test_run_ok (desc);
    g_autoptr (T2iSafetensors) got = test_load (out);
    g_autofree char *gl = g_strdup_printf ("%s/loss", name);
    test_compare (got, "loss/x", gold, gl, tol);
    for (guint k = 0; entries[k]; k++) {
      g_autofree char *gn = g_strdup_printf ("grad/%s", entries[k]);
      g_autofree char *gg = g_strdup_printf ("%s/grad/%s", name, entries[k]);
      g_autoptr (T2iTensor) a = t2i_safetensors_get (got, gn);
      g_autoptr (T2iTensor) b = t2i_safetensors_get (gold, gg);
      g_assert_nonnull (b);
      if (!a) {
        /* entries the loss does not read get no gradient */
        for (gint64 j = 0; j < b->numel; j++)
          g_assert_cmpfloat (t2i_tensor_get (b, j), ==, 0.0);
        continue;
      }
      test_compare_tensors (a, b, gg, tol);
    }
    n_cases++;
  }
  test_rmdir (tmp);
  return n_cases;
}
