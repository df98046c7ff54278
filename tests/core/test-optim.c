/* Tests for parameter groups, initialisers, optimizers, gradient clipping
 * and EMA.  Optimizer numbers come from tests/golden/optim.json, written by
 * tests/gen-optim-golden.py with PyTorch.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/optim.h>

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

/* relative tolerance against PyTorch, with a floor for values near zero */
#define RTOL 1e-6
#define ATOL 1e-7

static JsonParser *golden_parser;
static JsonObject *golden;
static char *tmpdir;

static JsonObject *
load_golden (void)
{
  if (golden == NULL) {
    const char *src = g_getenv ("T2I_SOURCE_DIR");
    char *path = g_build_filename (src ? src : ".", "tests", "golden", "optim.json", NULL);
    GError *error = NULL;

    golden_parser = json_parser_new ();
    json_parser_load_from_file (golden_parser, path, &error);
    g_assert_no_error (error);
    golden = json_node_get_object (json_parser_get_root (golden_parser));
    g_free (path);
  }
  return golden;
}

static T2iTensor *
tensor_from_json (JsonNode * values, JsonArray * shape)
{
  JsonArray *a = json_node_get_array (values);
  gint64 dims[T2I_MAX_DIMS];
  gint ndim = (gint) json_array_get_length (shape);
  T2iTensor *t;

  for (gint i = 0; i < ndim; i++)
    dims[i] = json_array_get_int_element (shape, (guint) i);
  t = t2i_tensor_new (T2I_F32, ndim, dims);
  g_assert_cmpint (t->numel, ==, json_array_get_length (a));
  for (gint64 i = 0; i < t->numel; i++)
    t2i_tensor_f32 (t)[i] = (float) json_array_get_double_element (a, (guint) i);
  return t;
}

/* Compares @t with a JSON list; returns the largest relative error. */
static double
assert_close (const char *what, T2iTensor * t, JsonArray * expected)
{
  double worst = 0;

  g_assert_cmpint (t->numel, ==, json_array_get_length (expected));
  for (gint64 i = 0; i < t->numel; i++) {
    double e = json_array_get_double_element (expected, (guint) i);
    double a = t2i_tensor_f32 (t)[i];
    double err = fabs (a - e);

    if (err > RTOL * fabs (e) + ATOL)
      g_error ("%s[%" G_GINT64_FORMAT "]: got %.9g, expected %.9g", what, i, a, e);
    worst = MAX (worst, err / MAX (fabs (e), 1e-3));
  }
  return worst;
}

static void
config_from_json (JsonObject * c, const char *kind, T2iOptimizerConfig * config)
{
  T2iOptimizerKind k;

  g_assert_true (t2i_optimizer_kind_from_string (kind, &k));
  t2i_optimizer_config_init (config, k);
  config->lr = json_object_get_double_member (c, "lr");
  config->momentum = json_object_get_double_member (c, "momentum");
  config->dampening = json_object_get_double_member (c, "dampening");
  config->nesterov = json_object_get_boolean_member (c, "nesterov");
  config->beta1 = json_object_get_double_member (c, "beta1");
  config->beta2 = json_object_get_double_member (c, "beta2");
  config->eps = json_object_get_double_member (c, "eps");
  config->weight_decay = json_object_get_double_member (c, "weight_decay");
}

static const char *const pnames[] = { "w", "b" };

/* A group "G" with the case's initial "w" and "b". */
static T2iParamGroup *
group_from_case (JsonObject * cs)
{
  T2iParamGroup *g = t2i_param_group_new ("G");
  JsonObject *shapes = json_object_get_object_member (cs, "shapes");
  JsonObject *init = json_object_get_object_member (cs, "init");

  for (guint i = 0; i < 2; i++) {
    T2iTensor *t = tensor_from_json (json_object_get_member (init, pnames[i]),
        json_object_get_array_member (shapes, pnames[i]));

    g_assert_nonnull (t2i_param_group_add (g, pnames[i], t, TRUE));
    t2i_tensor_unref (t);
  }
  return g;
}

static void
set_grads (T2iParamGroup * g, JsonObject * cs, guint step)
{
  JsonArray *grads = json_object_get_array_member (cs, "grads");
  JsonObject *gs = json_array_get_object_element (grads, step);
  JsonObject *shapes = json_object_get_object_member (cs, "shapes");

  t2i_param_group_zero_grad (g);
  for (guint i = 0; i < 2; i++) {
    JsonNode *node = json_object_get_member (gs, pnames[i]);
    T2iParam *p = t2i_param_group_lookup (g, pnames[i]);

    if (!JSON_NODE_HOLDS_NULL (node))
      p->value->grad = tensor_from_json (node,
          json_object_get_array_member (shapes, pnames[i]));
  }
}

static void
test_golden_optimizers (void)
{
  JsonArray *cases = json_object_get_array_member (load_golden (), "cases");

  g_assert_cmpuint (json_array_get_length (cases), >=, 6);
  for (guint c = 0; c < json_array_get_length (cases); c++) {
    JsonObject *cs = json_array_get_object_element (cases, c);
    const char *name = json_object_get_string_member (cs, "name");
    JsonArray *expected = json_object_get_array_member (cs, "expected");
    T2iOptimizerConfig config;
    T2iParamGroup *g = group_from_case (cs);
    T2iOptimizer *opt;
    double worst = 0;

    config_from_json (json_object_get_object_member (cs, "config"),
        json_object_get_string_member (cs, "kind"), &config);
    opt = t2i_optimizer_new (g, &config);
    for (guint s = 0; s < json_array_get_length (expected); s++) {
      JsonObject *es = json_array_get_object_element (expected, s);

      set_grads (g, cs, s);
      t2i_optimizer_step (opt);
      for (guint i = 0; i < 2; i++) {
        char *what = g_strdup_printf ("%s step %u %s", name, s + 1, pnames[i]);

        worst = MAX (worst, assert_close (what,
                t2i_param_group_lookup (g, pnames[i])->value,
                json_object_get_array_member (es, pnames[i])));
        g_free (what);
      }
    }
    g_assert_cmpuint (t2i_optimizer_get_step (opt), ==, json_array_get_length (expected));
    g_test_message ("%s: worst relative error %.3g", name, worst);
    t2i_optimizer_free (opt);
    t2i_param_group_unref (g);
  }
}

/* Stopping after @stop steps, checkpointing and resuming in fresh objects
 * ends bit-identical to an uninterrupted run. */
static void
check_resume (JsonObject * cs, guint stop)
{
  JsonArray *expected = json_object_get_array_member (cs, "expected");
  guint steps = json_array_get_length (expected);
  T2iOptimizerConfig config;
  T2iParamGroup *ref = group_from_case (cs), *g1 = group_from_case (cs), *g2;
  T2iOptimizer *oref, *o1, *o2;
  char *path = g_build_filename (tmpdir, "resume.safetensors", NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  GPtrArray *tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) t2i_tensor_unref);
  GHashTable *meta = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GError *error = NULL;
  T2iSafetensors *st;

  config_from_json (json_object_get_object_member (cs, "config"),
      json_object_get_string_member (cs, "kind"), &config);
  oref = t2i_optimizer_new (ref, &config);
  o1 = t2i_optimizer_new (g1, &config);
  for (guint s = 0; s < steps; s++) {
    set_grads (ref, cs, s);
    t2i_optimizer_step (oref);
  }
  for (guint s = 0; s < stop; s++) {
    set_grads (g1, cs, s);
    t2i_optimizer_step (o1);
  }
  t2i_param_group_collect (g1, NULL, names, tensors);
  t2i_optimizer_state_tensors (o1, names, tensors);
  t2i_optimizer_state_metadata (o1, meta);
  g_assert_true (t2i_safetensors_save (path, (const char *const *) names->pdata,
          (T2iTensor **) tensors->pdata, names->len, meta, &error));
  g_assert_no_error (error);
  t2i_optimizer_free (o1);
  t2i_param_group_unref (g1);

  g2 = group_from_case (cs);
  o2 = t2i_optimizer_new (g2, &config);
  st = t2i_safetensors_load (path, &error);
  g_assert_no_error (error);
  g_assert_true (t2i_param_group_load (g2, st, NULL, TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (t2i_optimizer_load_state (o2, st, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (t2i_optimizer_get_step (o2), ==, stop);
  t2i_safetensors_free (st);
  for (guint s = stop; s < steps; s++) {
    set_grads (g2, cs, s);
    t2i_optimizer_step (o2);
  }
  for (guint i = 0; i < 2; i++) {
    T2iTensor *a = t2i_param_group_lookup (ref, pnames[i])->value;
    T2iTensor *b = t2i_param_group_lookup (g2, pnames[i])->value;

    g_assert_cmpmem (a->data, a->nbytes, b->data, b->nbytes);
  }

  g_unlink (path);
  g_free (path);
  g_ptr_array_unref (names);
  g_ptr_array_unref (tensors);
  g_hash_table_unref (meta);
  t2i_optimizer_free (oref);
  t2i_optimizer_free (o2);
  t2i_param_group_unref (ref);
  t2i_param_group_unref (g2);
}

static void
test_resume (void)
{
  JsonArray *cases = json_object_get_array_member (load_golden (), "cases");

  for (guint c = 0; c < json_array_get_length (cases); c++)
    for (guint stop = 0; stop <= 4; stop++)
      check_resume (json_array_get_object_element (cases, c), stop);
}

static void
test_state_errors (void)
{
  JsonObject *cs = json_array_get_object_element (json_object_get_array_member
      (load_golden (), "cases"), 4);
  T2iParamGroup *g = group_from_case (cs);
  T2iOptimizerConfig adam, sgd;
  T2iOptimizer *opt, *other;
  char *path = g_build_filename (tmpdir, "state.safetensors", NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  GPtrArray *tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) t2i_tensor_unref);
  GHashTable *meta = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GError *error = NULL;
  T2iSafetensors *st;

  t2i_optimizer_config_init (&adam, T2I_OPTIMIZER_ADAM);
  t2i_optimizer_config_init (&sgd, T2I_OPTIMIZER_SGD);
  opt = t2i_optimizer_new (g, &adam);
  set_grads (g, cs, 0);
  t2i_optimizer_step (opt);
  t2i_optimizer_state_tensors (opt, names, tensors);
  g_assert_cmpuint (names->len, ==, 4);
  g_assert_cmpstr (names->pdata[0], ==, "optim/G/w/exp_avg");
  g_assert_cmpstr (names->pdata[1], ==, "optim/G/w/exp_avg_sq");
  t2i_optimizer_state_metadata (opt, meta);
  g_assert_cmpstr (g_hash_table_lookup (meta, "optim/G/step"), ==, "1");
  g_assert_cmpstr (g_hash_table_lookup (meta, "optim/G/kind"), ==, "adam");
  g_assert_true (t2i_safetensors_save (path, (const char *const *) names->pdata,
          (T2iTensor **) tensors->pdata, names->len, meta, &error));
  g_assert_no_error (error);
  st = t2i_safetensors_load (path, &error);
  g_assert_no_error (error);

  /* another optimizer kind refuses the state */
  other = t2i_optimizer_new (g, &sgd);
  g_assert_false (t2i_optimizer_load_state (other, st, &error));
  g_assert_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_UNSUPPORTED);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  t2i_optimizer_free (other);
  t2i_safetensors_free (st);

  /* a file without state for the group */
  t2i_param_group_save (g, path, NULL, NULL, &error);
  g_assert_no_error (error);
  st = t2i_safetensors_load (path, &error);
  g_assert_false (t2i_optimizer_load_state (opt, st, &error));
  g_assert_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_NOT_FOUND);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_assert_cmpuint (t2i_optimizer_get_step (opt), ==, 1);
  t2i_safetensors_free (st);

  /* a state tensor of the wrong shape */
  {
    T2iTensor *bad = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (7));
    g_ptr_array_add (names, g_strdup ("optim/G/b/exp_avg"));
    g_ptr_array_add (tensors, bad);
    /* drop the correct b/exp_avg (index 2) so the name is unique */
    g_ptr_array_remove_index (names, 2);
    g_ptr_array_remove_index (tensors, 2);
    g_assert_true (t2i_safetensors_save (path, (const char *const *) names->pdata,
            (T2iTensor **) tensors->pdata, names->len, meta, &error));
    st = t2i_safetensors_load (path, &error);
    g_assert_false (t2i_optimizer_load_state (opt, st, &error));
    g_assert_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_FORMAT);
    g_test_message ("%s", error->message);
    g_clear_error (&error);
    t2i_safetensors_free (st);
  }

  g_unlink (path);
  g_free (path);
  g_ptr_array_unref (names);
  g_ptr_array_unref (tensors);
  g_hash_table_unref (meta);
  t2i_optimizer_free (opt);
  t2i_param_group_unref (g);
}

/* Frozen parameters and missing grads are left alone; lr can change. */
static void
test_skip_and_config (void)
{
  T2iParamGroup *g = t2i_param_group_new ("D");
  T2iTensor *a = t2i_tensor_full (T2I_F32, T2I_SHAPE (4), 1.0);
  T2iTensor *b = t2i_tensor_full (T2I_F32, T2I_SHAPE (4), 1.0);
  T2iTensor *c = t2i_tensor_full (T2I_F32, T2I_SHAPE (4), 1.0);
  T2iOptimizerConfig config;
  T2iOptimizer *opt;
  T2iOptimizerKind kind;

  t2i_param_group_add (g, "a", a, TRUE);
  t2i_param_group_add (g, "frozen", b, FALSE);
  t2i_param_group_add (g, "nograd", c, TRUE);
  g_assert_true (a->requires_grad);
  g_assert_false (b->requires_grad);
  t2i_optimizer_config_init (&config, T2I_OPTIMIZER_SGD);
  config.lr = 0.5;
  opt = t2i_optimizer_new (g, &config);
  a->grad = t2i_tensor_full (T2I_F32, T2I_SHAPE (4), 1.0);
  b->grad = t2i_tensor_full (T2I_F32, T2I_SHAPE (4), 1.0);
  t2i_optimizer_step (opt);
  g_assert_cmpfloat (t2i_tensor_f32 (a)[0], ==, 0.5f);
  g_assert_cmpfloat (t2i_tensor_f32 (b)[0], ==, 1.0f);
  g_assert_cmpfloat (t2i_tensor_f32 (c)[0], ==, 1.0f);
  t2i_optimizer_set_lr (opt, 0.25);
  g_assert_cmpfloat (t2i_optimizer_get_lr (opt), ==, 0.25);
  g_assert_cmpfloat (t2i_optimizer_get_config (opt)->lr, ==, 0.25);
  t2i_optimizer_step (opt);
  g_assert_cmpfloat (t2i_tensor_f32 (a)[0], ==, 0.25f);
  t2i_optimizer_zero_grad (opt);
  g_assert_null (a->grad);
  g_assert_null (b->grad);
  g_assert_true (t2i_optimizer_get_group (opt) == g);

  /* unfreezing makes it trainable */
  t2i_param_group_set_trainable (g, TRUE);
  g_assert_true (b->requires_grad);
  g_assert_cmpint (t2i_param_group_numel (g, TRUE), ==, 12);
  t2i_param_group_set_trainable (g, FALSE);
  g_assert_cmpint (t2i_param_group_numel (g, TRUE), ==, 0);
  g_assert_cmpint (t2i_param_group_numel (g, FALSE), ==, 12);

  g_assert_true (t2i_optimizer_kind_from_string ("AdamW", &kind));
  g_assert_cmpint (kind, ==, T2I_OPTIMIZER_ADAMW);
  g_assert_false (t2i_optimizer_kind_from_string ("lion", &kind));
  g_assert_cmpstr (t2i_optimizer_kind_to_string (T2I_OPTIMIZER_SGD), ==, "sgd");
  t2i_optimizer_config_init (&config, T2I_OPTIMIZER_ADAMW);
  g_assert_cmpfloat (config.weight_decay, ==, 1e-2);
  g_assert_cmpfloat (config.beta2, ==, 0.999);
  /* StyleGAN2 D with R1 every 16 steps: lr 0.0025, betas (0, 0.99) */
  config.lr = 0.0025;
  config.beta1 = 0.0;
  config.beta2 = 0.99;
  t2i_optimizer_config_lazy_regularization (&config, 16);
  g_assert_cmpfloat (fabs (config.lr - 0.0025 * 16 / 17), <, 1e-15);
  g_assert_cmpfloat (config.beta1, ==, 0.0);
  g_assert_cmpfloat (fabs (config.beta2 - pow (0.99, 16.0 / 17)), <, 1e-15);
  t2i_optimizer_config_lazy_regularization (&config, 1);
  g_assert_cmpfloat (fabs (config.lr - 0.0025 * 16 / 17), <, 1e-15);

  t2i_optimizer_free (opt);
  t2i_param_group_unref (g);
  t2i_tensor_unref (a);
  t2i_tensor_unref (b);
  t2i_tensor_unref (c);
}

static void
test_golden_clip (void)
{
  JsonArray *clips = json_object_get_array_member (load_golden (), "clip");
  JsonArray *wshape = json_array_new (), *bshape = json_array_new ();

  json_array_add_int_element (wshape, 3);
  json_array_add_int_element (wshape, 4);
  json_array_add_int_element (bshape, 5);
  for (guint c = 0; c < json_array_get_length (clips); c++) {
    JsonObject *cl = json_array_get_object_element (clips, c);
    JsonObject *grads = json_object_get_object_member (cl, "grads");
    JsonObject *clipped = json_object_get_object_member (cl, "clipped");
    T2iTensor *ps[2];
    double norm, expected_norm = json_object_get_double_member (cl, "norm");

    for (guint i = 0; i < 2; i++) {
      JsonNode *gn = json_object_get_member (grads, pnames[i]);

      ps[i] = i == 0 ? t2i_tensor_zeros (T2I_F32, T2I_SHAPE (3, 4))
          : t2i_tensor_zeros (T2I_F32, T2I_SHAPE (5));
      if (!JSON_NODE_HOLDS_NULL (gn))
        ps[i]->grad = tensor_from_json (gn, i == 0 ? wshape : bshape);
    }
    g_assert_cmpfloat (fabs (t2i_grad_norm (ps, 2) - expected_norm), <=,
        RTOL * expected_norm);
    norm = t2i_clip_grad_norm (ps, 2, json_object_get_double_member (cl, "max_norm"));
    g_assert_cmpfloat (fabs (norm - expected_norm), <=, RTOL * expected_norm);
    for (guint i = 0; i < 2; i++) {
      JsonNode *en = json_object_get_member (clipped, pnames[i]);

      if (JSON_NODE_HOLDS_NULL (en))
        g_assert_null (ps[i]->grad);
      else
        assert_close ("clipped grad", ps[i]->grad, json_node_get_array (en));
      t2i_tensor_unref (ps[i]);
    }
  }
  json_array_unref (wshape);
  json_array_unref (bshape);

  /* through groups: frozen parameters do not count */
  {
    T2iParamGroup *g = t2i_param_group_new ("G");
    T2iTensor *a = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (2));
    T2iTensor *b = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (2));
    T2iParamGroup *groups[1] = { g };

    a->grad = t2i_tensor_full (T2I_F32, T2I_SHAPE (2), 3.0);
    b->grad = t2i_tensor_full (T2I_F32, T2I_SHAPE (2), 100.0);
    t2i_param_group_add (g, "a", a, TRUE);
    t2i_param_group_add (g, "b", b, FALSE);
    g_assert_cmpfloat (fabs (t2i_param_groups_clip_grad_norm (groups, 1, 1.0)
            - sqrt (18.0)), <, 1e-9);
    g_assert_cmpfloat (fabs (t2i_tensor_f32 (a->grad)[0] - 3.0 / (sqrt (18.0) + 1e-6)),
        <, 1e-6);
    g_assert_cmpfloat (t2i_tensor_f32 (b->grad)[0], ==, 100.0f);
    t2i_param_group_unref (g);
    t2i_tensor_unref (a);
    t2i_tensor_unref (b);
  }
}

static void
set_values (T2iTensor * t, JsonArray * values)
{
  for (gint64 i = 0; i < t->numel; i++)
    t2i_tensor_f32 (t)[i] = (float) json_array_get_double_element (values, (guint) i);
}

static void
test_golden_ema (void)
{
  JsonArray *emas = json_object_get_array_member (load_golden (), "ema");

  for (guint c = 0; c < json_array_get_length (emas); c++) {
    JsonObject *e = json_array_get_object_element (emas, c);
    JsonArray *values = json_object_get_array_member (e, "values");
    JsonArray *expected = json_object_get_array_member (e, "expected");
    T2iParamGroup *g = t2i_param_group_new ("G");
    T2iTensor *w = t2i_tensor_new (T2I_F32, T2I_SHAPE (3, 4));
    T2iEma *ema;
    T2iParam *sw;

    set_values (w, json_array_get_array_element (values, 0));
    t2i_param_group_add (g, "w", w, TRUE);
    ema = t2i_ema_new (g, NULL, json_object_get_double_member (e, "decay"));
    g_assert_cmpstr (t2i_param_group_get_name (t2i_ema_get_group (ema)), ==, "G_ema");
    sw = t2i_param_group_lookup (t2i_ema_get_group (ema), "w");
    g_assert_cmpstr (sw->name, ==, "G_ema.w");
    g_assert_false (sw->trainable);
    for (guint s = 0; s < json_array_get_length (expected); s++) {
      set_values (w, json_array_get_array_element (values, s + 1));
      t2i_ema_update (ema);
      assert_close ("ema", sw->value, json_array_get_array_element (expected, s));
    }
    g_assert_cmpuint (t2i_ema_get_updates (ema), ==, json_array_get_length (expected));
    t2i_ema_free (ema);
    t2i_param_group_unref (g);
    t2i_tensor_unref (w);
  }
}

static void
test_ema_behaviour (void)
{
  T2iParamGroup *g = t2i_param_group_new ("G");
  T2iTensor *w = t2i_tensor_full (T2I_F32, T2I_SHAPE (3), 0.0);
  T2iTensor *buf = t2i_tensor_full (T2I_F32, T2I_SHAPE (2), 5.0);
  T2iTensor *late = t2i_tensor_full (T2I_F32, T2I_SHAPE (2), 8.0);
  T2iEma *ema;
  T2iParamGroup *sg;

  t2i_param_group_add (g, "w", w, TRUE);
  t2i_param_group_add (g, "running_mean", buf, FALSE);
  ema = t2i_ema_new (g, "avg", 0.5);
  sg = t2i_ema_get_group (ema);
  g_assert_cmpstr (t2i_param_group_get_name (sg), ==, "avg");

  t2i_init_constant (w, 1.0);
  t2i_init_constant (buf, 6.0);
  t2i_ema_update (ema);
  /* averaged, copied */
  g_assert_cmpfloat (t2i_tensor_f32 (t2i_param_group_lookup (sg, "w")->value)[0], ==, 0.5f);
  g_assert_cmpfloat (t2i_tensor_f32 (t2i_param_group_lookup (sg, "running_mean")->value)[1],
      ==, 6.0f);

  /* parameters added later get a shadow on the next update */
  t2i_param_group_add (g, "late", late, TRUE);
  t2i_ema_update_with_decay (ema, 0.0);
  g_assert_cmpfloat (t2i_tensor_f32 (t2i_param_group_lookup (sg, "late")->value)[0], ==, 8.0f);
  g_assert_cmpfloat (t2i_tensor_f32 (t2i_param_group_lookup (sg, "w")->value)[0], ==, 1.0f);

  /* swap twice is the identity; copy_to writes the average */
  t2i_init_constant (t2i_param_group_lookup (sg, "w")->value, 0.25);
  t2i_ema_swap (ema);
  g_assert_cmpfloat (t2i_tensor_f32 (w)[2], ==, 0.25f);
  g_assert_cmpfloat (t2i_tensor_f32 (t2i_param_group_lookup (sg, "w")->value)[2], ==, 1.0f);
  t2i_ema_swap (ema);
  g_assert_cmpfloat (t2i_tensor_f32 (w)[2], ==, 1.0f);
  t2i_ema_copy_to (ema);
  g_assert_cmpfloat (t2i_tensor_f32 (w)[2], ==, 0.25f);

  /* warm-up: decay min(d, (1+n)/(10+n)) */
  t2i_ema_set_decay (ema, 0.99);
  g_assert_cmpfloat (t2i_ema_get_decay (ema), ==, 0.99);
  t2i_ema_set_warmup (ema, TRUE);
  t2i_ema_set_updates (ema, 0);
  t2i_init_constant (t2i_param_group_lookup (sg, "w")->value, 0.0);
  t2i_init_constant (w, 1.0);
  t2i_ema_update (ema);
  g_assert_cmpfloat (fabs (t2i_tensor_f32 (t2i_param_group_lookup (sg, "w")->value)[0]
          - 0.9), <, 1e-6);

  /* StyleGAN2-ADA: ema_kimg 10, rampup 0.05, batch 32 */
  g_assert_cmpfloat (fabs (t2i_ema_stylegan_beta (10, 0.05, 100000, 32)
          - pow (0.5, 32.0 / 5000.0)), <, 1e-15);
  g_assert_cmpfloat (fabs (t2i_ema_stylegan_beta (10, 0.05, 10000000, 32)
          - pow (0.5, 32.0 / 10000.0)), <, 1e-15);
  g_assert_cmpfloat (fabs (t2i_ema_stylegan_beta (10, 0, 0, 32)
          - pow (0.5, 32.0 / 10000.0)), <, 1e-15);
  g_assert_cmpfloat (t2i_ema_stylegan_beta (10, 0.05, 0, 32), ==, 0.0);

  t2i_ema_free (ema);
  t2i_param_group_unref (g);
  t2i_tensor_unref (w);
  t2i_tensor_unref (buf);
  t2i_tensor_unref (late);
}

static void
test_param_group (void)
{
  T2iParamGroup *g = t2i_param_group_new ("G");
  T2iTensor *w = t2i_tensor_full (T2I_F32, T2I_SHAPE (2, 3), 1.0);
  T2iTensor *b = t2i_tensor_full (T2I_F32, T2I_SHAPE (3), 2.0);
  T2iTensor *ids = t2i_tensor_full (T2I_I32, T2I_SHAPE (4), 3.0);
  T2iParam *p;
  T2iParamGroup *unnamed = t2i_param_group_new ("");

  p = t2i_param_group_add (g, "synthesis.b8.conv0.weight", w, TRUE);
  g_assert_cmpstr (p->name, ==, "G.synthesis.b8.conv0.weight");
  g_assert_cmpstr (p->local_name, ==, "synthesis.b8.conv0.weight");
  g_assert_true (p->value == w);
  g_assert_true (p->trainable);
  t2i_param_group_add (g, "synthesis.b8.conv0.bias", b, TRUE);
  /* integer tensors are never trainable */
  p = t2i_param_group_add (g, "ids", ids, TRUE);
  g_assert_false (p->trainable);
  g_assert_false (ids->requires_grad);

  g_assert_cmpuint (t2i_param_group_n_params (g), ==, 3);
  g_assert_cmpstr (t2i_param_group_get (g, 1)->local_name, ==, "synthesis.b8.conv0.bias");
  g_assert_true (t2i_param_group_lookup (g, "synthesis.b8.conv0.bias")->value == b);
  g_assert_true (t2i_param_group_lookup (g, "G.synthesis.b8.conv0.bias")->value == b);
  g_assert_null (t2i_param_group_lookup (g, "nope"));
  g_assert_null (t2i_param_group_lookup (g, "G."));
  g_assert_cmpint (t2i_param_group_numel (g, FALSE), ==, 13);
  g_assert_cmpint (t2i_param_group_numel (g, TRUE), ==, 9);
  g_assert_cmpstr (t2i_param_group_get_name (g), ==, "G");

  p = t2i_param_group_add (unnamed, "x", w, FALSE);
  g_assert_cmpstr (p->name, ==, "x");
  g_assert_cmpstr (p->local_name, ==, "x");

  g_assert_true (t2i_param_group_ref (g) == g);
  t2i_param_group_unref (g);
  t2i_param_group_unref (unnamed);
  t2i_param_group_unref (g);
  /* the group held references; ours are still valid */
  g_assert_cmpfloat (t2i_tensor_f32 (w)[0], ==, 1.0f);
  t2i_tensor_unref (w);
  t2i_tensor_unref (b);
  t2i_tensor_unref (ids);
}

/* A group "G" with a [2,3] weight and [3] bias filled with @v. */
static T2iParamGroup *
small_group (const char *name, double v)
{
  T2iParamGroup *g = t2i_param_group_new (name);
  T2iTensor *w = t2i_tensor_full (T2I_F32, T2I_SHAPE (2, 3), v);
  T2iTensor *b = t2i_tensor_full (T2I_F64, T2I_SHAPE (3), v);

  t2i_param_group_add (g, "layer.weight", w, TRUE);
  t2i_param_group_add (g, "layer.bias", b, TRUE);
  t2i_tensor_unref (w);
  t2i_tensor_unref (b);
  return g;
}

static void
assert_group_value (T2iParamGroup * g, double v)
{
  for (guint i = 0; i < t2i_param_group_n_params (g); i++) {
    T2iTensor *t = t2i_param_group_get (g, i)->value;

    for (gint64 j = 0; j < t->numel; j++)
      g_assert_cmpfloat (t2i_tensor_get (t, j), ==, v);
  }
}

static void
test_param_load (void)
{
  char *path = g_build_filename (tmpdir, "params.safetensors", NULL);
  T2iParamGroup *src = small_group ("G", 1.5), *dst = small_group ("G", 0.0);
  T2iParamGroup *renamed = small_group ("gen", 0.0);
  GError *error = NULL;
  T2iSafetensors *st;
  GHashTable *meta = g_hash_table_new (g_str_hash, g_str_equal);

  g_hash_table_insert (meta, (gpointer) "step", (gpointer) "10");
  g_assert_true (t2i_param_group_save (src, path, NULL, meta, &error));
  g_assert_no_error (error);
  st = t2i_safetensors_load (path, &error);
  g_assert_no_error (error);
  g_assert_true (t2i_safetensors_has (st, "G.layer.weight"));
  g_assert_true (t2i_param_group_load (dst, st, NULL, TRUE, &error));
  g_assert_no_error (error);
  assert_group_value (dst, 1.5);
  /* by explicit prefix into a differently named group */
  g_assert_true (t2i_param_group_load (renamed, st, "G.", TRUE, &error));
  g_assert_no_error (error);
  assert_group_value (renamed, 1.5);
  t2i_safetensors_free (st);

  /* strict: missing and unexpected names, nothing changes */
  {
    T2iParamGroup *more = small_group ("G", 0.0);
    T2iTensor *extra = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (1));
    T2iParamGroup *fewer = t2i_param_group_new ("G");
    T2iTensor *w = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (2, 3));

    t2i_param_group_add (more, "extra.scale", extra, TRUE);
    t2i_param_group_add (fewer, "layer.weight", w, TRUE);
    st = t2i_safetensors_load (path, &error);
    g_assert_false (t2i_param_group_load (more, st, NULL, TRUE, &error));
    g_assert_nonnull (error);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "missing: G.extra.scale"));
    g_assert_nonnull (strstr (error->message, path));
    g_clear_error (&error);
    assert_group_value (more, 0.0);
    g_assert_false (t2i_param_group_load (fewer, st, NULL, TRUE, &error));
    g_assert_nonnull (strstr (error->message, "unexpected: G.layer.bias"));
    g_test_message ("%s", error->message);
    g_clear_error (&error);
    assert_group_value (fewer, 0.0);
    /* not strict: loads what is there */
    g_assert_true (t2i_param_group_load (more, st, NULL, FALSE, &error));
    g_assert_no_error (error);
    g_assert_cmpfloat (t2i_tensor_f32 (t2i_param_group_lookup (more, "layer.weight")->value)[0],
        ==, 1.5f);
    g_assert_cmpfloat (t2i_tensor_f32 (extra)[0], ==, 0.0f);
    g_assert_true (t2i_param_group_load (fewer, st, NULL, FALSE, &error));
    g_assert_no_error (error);
    t2i_safetensors_free (st);
    t2i_param_group_unref (more);
    t2i_param_group_unref (fewer);
    t2i_tensor_unref (extra);
    t2i_tensor_unref (w);
  }

  /* a shape mismatch is an error even when not strict */
  {
    T2iParamGroup *bad = t2i_param_group_new ("G");
    T2iTensor *w = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (3, 2));
    T2iTensor *b = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (3));

    t2i_param_group_add (bad, "layer.weight", w, TRUE);
    t2i_param_group_add (bad, "layer.bias", b, TRUE);
    st = t2i_safetensors_load (path, &error);
    g_assert_false (t2i_param_group_load (bad, st, NULL, FALSE, &error));
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "G.layer.weight (file F32 [2,3], parameter f32 [3,2]"));
    g_clear_error (&error);
    /* nothing was copied, not even the bias that matched */
    g_assert_cmpfloat (t2i_tensor_f32 (b)[0], ==, 0.0f);
    t2i_safetensors_free (st);
    t2i_param_group_unref (bad);
    t2i_tensor_unref (w);
    t2i_tensor_unref (b);
  }

  /* half precision files load into f32 parameters */
  {
    const char *srcdir = g_getenv ("T2I_SOURCE_DIR");
    char *fixture = g_build_filename (srcdir ? srcdir : ".", "tests", "golden",
        "python-written.safetensors", NULL);
    T2iParamGroup *h = t2i_param_group_new ("");
    T2iTensor *f16 = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (2, 3));
    T2iTensor *bf16 = t2i_tensor_zeros (T2I_F64, T2I_SHAPE (4));

    t2i_param_group_add (h, "f16", f16, TRUE);
    t2i_param_group_add (h, "bf16", bf16, TRUE);
    st = t2i_safetensors_load (fixture, &error);
    g_assert_no_error (error);
    g_assert_true (t2i_param_group_load (h, st, NULL, FALSE, &error));
    g_assert_no_error (error);
    g_assert_cmpfloat (t2i_tensor_f32 (f16)[1], ==, -2.0f);
    g_assert_cmpfloat (t2i_tensor_f64 (bf16)[2], ==, 3.140625);
    t2i_safetensors_free (st);
    t2i_param_group_unref (h);
    t2i_tensor_unref (f16);
    t2i_tensor_unref (bf16);
    g_free (fixture);
  }

  g_unlink (path);
  g_free (path);
  g_hash_table_unref (meta);
  t2i_param_group_unref (src);
  t2i_param_group_unref (dst);
  t2i_param_group_unref (renamed);
}

static double
sample_std (T2iTensor * t, double *max_abs)
{
  double s = 0, s2 = 0;

  *max_abs = 0;
  for (gint64 i = 0; i < t->numel; i++) {
    double v = t2i_tensor_get (t, i);

    s += v;
    s2 += v * v;
    *max_abs = MAX (*max_abs, fabs (v));
  }
  s /= (double) t->numel;
  return sqrt (s2 / (double) t->numel - s * s);
}

static void
test_init (void)
{
  T2iRng rng, again;
  T2iTensor *w = t2i_tensor_new (T2I_F32, T2I_SHAPE (256, 128, 3, 3));
  T2iTensor *w2 = t2i_tensor_new (T2I_F32, T2I_SHAPE (256, 128, 3, 3));
  T2iTensor *lin = t2i_tensor_new (T2I_F64, T2I_SHAPE (512, 256));
  gint64 fan_in, fan_out;
  double std, max_abs, bound, gain;

  t2i_rng_init (&rng, 11);
  again = rng;
  t2i_init_compute_fans (w, &fan_in, &fan_out);
  g_assert_cmpint (fan_in, ==, 128 * 9);
  g_assert_cmpint (fan_out, ==, 256 * 9);

  g_assert_cmpfloat (t2i_init_calculate_gain (T2I_NONLINEARITY_RELU, 0), ==, G_SQRT2);
  g_assert_cmpfloat (fabs (t2i_init_calculate_gain (T2I_NONLINEARITY_LEAKY_RELU, 0.2)
          - sqrt (2.0 / 1.04)), <, 1e-15);
  g_assert_cmpfloat (t2i_init_calculate_gain (T2I_NONLINEARITY_TANH, 0), ==, 5.0 / 3.0);
  g_assert_cmpfloat (t2i_init_calculate_gain (T2I_NONLINEARITY_LINEAR, 0), ==, 1.0);
  g_assert_cmpfloat (t2i_init_calculate_gain (T2I_NONLINEARITY_SELU, 0), ==, 0.75);

  t2i_init_kaiming_normal (w, &rng, 0, T2I_FAN_IN, T2I_NONLINEARITY_RELU);
  std = sample_std (w, &max_abs);
  g_assert_cmpfloat (fabs (std / (G_SQRT2 / sqrt (1152.0)) - 1.0), <, 0.01);
  /* the same generator state gives the same weights */
  t2i_init_kaiming_normal (w2, &again, 0, T2I_FAN_IN, T2I_NONLINEARITY_RELU);
  g_assert_cmpmem (w->data, w->nbytes, w2->data, w2->nbytes);

  t2i_init_kaiming_uniform (w, &rng, 0.2, T2I_FAN_OUT, T2I_NONLINEARITY_LEAKY_RELU);
  bound = sqrt (3.0) * sqrt (2.0 / 1.04) / sqrt (2304.0);
  std = sample_std (w, &max_abs);
  g_assert_cmpfloat (max_abs, <, bound);
  g_assert_cmpfloat (max_abs, >, 0.99 * bound);
  g_assert_cmpfloat (fabs (std / (bound / sqrt (3.0)) - 1.0), <, 0.01);

  t2i_init_xavier_uniform (lin, &rng, 1.0);
  bound = sqrt (6.0 / (512 + 256));
  sample_std (lin, &max_abs);
  g_assert_cmpfloat (max_abs, <, bound);
  g_assert_cmpfloat (max_abs, >, 0.99 * bound);
  t2i_init_xavier_normal (lin, &rng, 2.0);
  std = sample_std (lin, &max_abs);
  g_assert_cmpfloat (fabs (std / (2.0 * sqrt (2.0 / 768)) - 1.0), <, 0.01);

  t2i_init_normal (lin, &rng, 0.0, 0.02);
  std = sample_std (lin, &max_abs);
  g_assert_cmpfloat (fabs (std / 0.02 - 1.0), <, 0.01);
  t2i_init_uniform (lin, &rng, -0.5, 0.5);
  sample_std (lin, &max_abs);
  g_assert_cmpfloat (max_abs, <=, 0.5);

  /* StyleGAN mapping layer: lr_mul 0.01 */
  gain = t2i_init_equalized_lr (lin, &rng, 0.01);
  g_assert_cmpfloat (fabs (gain - 0.01 / 16.0), <, 1e-15);
  g_assert_cmpfloat (t2i_equalized_lr_gain (lin, 0.01), ==, gain);
  std = sample_std (lin, &max_abs);
  g_assert_cmpfloat (fabs (std / 100.0 - 1.0), <, 0.01);

  t2i_init_zeros (lin);
  sample_std (lin, &max_abs);
  g_assert_cmpfloat (max_abs, ==, 0.0);
  t2i_init_ones (w);
  g_assert_cmpfloat (t2i_tensor_f32 (w)[w->numel - 1], ==, 1.0f);
  t2i_init_constant (w, -0.25);
  g_assert_cmpfloat (t2i_tensor_f32 (w)[7], ==, -0.25f);

  t2i_tensor_unref (w);
  t2i_tensor_unref (w2);
  t2i_tensor_unref (lin);
}

int
main (int argc, char **argv)
{
  gint ret;

  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("t2i-optim-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);
  g_test_add_func ("/optim/golden-optimizers", test_golden_optimizers);
  g_test_add_func ("/optim/resume", test_resume);
  g_test_add_func ("/optim/state-errors", test_state_errors);
  g_test_add_func ("/optim/skip-and-config", test_skip_and_config);
  g_test_add_func ("/optim/golden-clip", test_golden_clip);
  g_test_add_func ("/optim/golden-ema", test_golden_ema);
  g_test_add_func ("/optim/ema-behaviour", test_ema_behaviour);
  g_test_add_func ("/optim/param-group", test_param_group);
  g_test_add_func ("/optim/param-load", test_param_load);
  g_test_add_func ("/optim/init", test_init);
  ret = g_test_run ();
  g_rmdir (tmpdir);
  g_free (tmpdir);
  g_clear_object (&golden_parser);
  return ret;
}
