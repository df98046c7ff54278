/* Data-parallel training (docs/distributed.md): t2i-launch under
 * `mpirun -np 2` on this machine (loopback) trains the same parameters as
 * one process with the doubled batch, every rank holds them, resume works
 * with the same number of ranks, a failing rank ends the job, and metrics
 * accumulate over the ranks.
 *
 * Arguments (from meson): mpirun ("" when not found), t2i-launch, the
 * build's b_sanitize.  CI runs as root: mpirun then needs
 * --allow-run-as-root, and on 2 cores --oversubscribe.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>

static const char *mpirun, *launch, *sanitize;
static char *dir;

/* small enough for seconds on 2 shared cores; no layer that mixes the
 * items of a batch (mbstd-channels=0), so the doubled batch is exact */
#define TRAIN "t2idatasetsrc dataset=shapes resolution=16 batch-size=%d " \
  "max-steps=%d seed=1 phases=D,G ! t2iimageencoder name=E arch=cnn " \
  "widths=8,8 embed-dim=8 input=image output=f trainable=false ! " \
  "t2iperturb mode=fixed xi=1 input=f output=h ! t2inoise output=z dim=8 " \
  "! t2igenerator name=G cond=h noise=z resolution=16 channels=8 w-dim=8 " \
  "cond-hidden=8 mapping-layers=1 ! t2idiscriminator name=D real=image " \
  "fake=fake cond=h channels=8 mbstd-channels=0 ! t2iloss " \
  "kind=gan-logistic-d update=D phases=D ! t2iloss kind=gan-logistic-g " \
  "update=G phases=G ! t2itrainer lr=0.002 betas=0,0.99 ema=G " \
  "checkpoint=%s resume=%s"

/* whether this build and machine can run the ranks; skips otherwise */
static gboolean
can_run (void)
{
  if (!t2i_dist_have_mpi ()) {
    g_test_skip ("t2i was built without MPI: install Open MPI "
        "(apt-get install openmpi-bin libopenmpi-dev, or scripts/bootstrap) "
        "and reconfigure (meson setup --reconfigure -Dmpi=enabled)");
    return FALSE;
  }
  if (!mpirun || !*mpirun) {
    g_test_skip ("mpirun was not found (apt-get install openmpi-bin)");
    return FALSE;
  }
  return TRUE;
}

/* Runs t2i-launch on @desc with @ranks processes (under mpirun when > 1,
 * output lines tagged [1,RANK]); returns its exit status, @log gets
 * stdout and stderr. */
static gint
run_json (gint ranks, const char *desc, const char *json, char **log)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_auto (GStrv) env = g_get_environ ();
  g_autofree char *np = g_strdup_printf ("%d", ranks);
  g_autofree char *out = NULL, *err = NULL;
  GError *error = NULL;
  gint status = 0;

  /* a hang (a rank waiting for another forever) fails instead of
   * blocking the test suite */
  g_ptr_array_add (argv, "timeout");
  g_ptr_array_add (argv, "240");
  if (ranks > 1) {
    g_ptr_array_add (argv, (char *) mpirun);
    g_ptr_array_add (argv, "--allow-run-as-root");
    g_ptr_array_add (argv, "--oversubscribe");
    g_ptr_array_add (argv, "--tag-output");
    /* containers may forbid the cross-process memory copy (CMA) */
    g_ptr_array_add (argv, "--mca");
    g_ptr_array_add (argv, "btl_vader_single_copy_mechanism");
    g_ptr_array_add (argv, "none");
    g_ptr_array_add (argv, "-np");
    g_ptr_array_add (argv, np);
  }
  g_ptr_array_add (argv, (char *) launch);
  if (json) {
    g_ptr_array_add (argv, "--json");
    g_ptr_array_add (argv, (char *) json);
  }
  g_ptr_array_add (argv, "--");
  g_ptr_array_add (argv, (char *) desc);
  g_ptr_array_add (argv, NULL);
  env = g_environ_setenv (env, "GST_DEBUG", "t2itrainer:4", TRUE);
  env = g_environ_setenv (env, "GST_DEBUG_NO_COLOR", "1", TRUE);
  env = g_environ_setenv (env, "OMP_NUM_THREADS", "1", TRUE);

  if (!g_spawn_sync (dir, (char **) argv->pdata, env, G_SPAWN_SEARCH_PATH,
          NULL, NULL, &out, &err, &status, &error))
    g_error ("cannot run %s: %s", launch, error->message);
  *log = g_strconcat (out, err, NULL);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static gint
run (gint ranks, const char *desc, char **log)
{
  return run_json (ranks, desc, NULL, log);
}

static void
run_ok (gint ranks, const char *desc)
{
  g_autofree char *log = NULL;
  gint status = run (ranks, desc, &log);
  if (status != 0)
    g_error ("%d rank(s) of `%s` exited with %d:\n%s", ranks, desc, status,
        log);
}

static char *
train (gint batch, gint steps, const char *ck, gboolean resume)
{
  return g_strdup_printf (TRAIN, batch, steps, ck, resume ? "true" : "false");
}

/* every f32 tensor of @a matches @b within @tol (normwise relative); the
 * step and the RNG state are the same */
static void
compare_checkpoints (const char *a, const char *b, double tol)
{
  g_autoptr (T2iSafetensors) x = test_load (a);
  g_autoptr (T2iSafetensors) y = test_load (b);
  guint n = t2i_safetensors_n_tensors (x);
  const char *const *names = t2i_safetensors_names (x);

  g_assert_cmpuint (n, >, 20);
  for (guint i = 0; i < n; i++) {
    g_autoptr (T2iTensor) ta = t2i_safetensors_get (x, names[i]);
    g_autoptr (T2iTensor) tb = t2i_safetensors_get (y, names[i]);
    g_assert_nonnull (tb);
    if (ta->dtype != T2I_F32)
      continue;
    if (tol == 0)
      g_assert_cmpmem (ta->data, ta->nbytes, tb->data, tb->nbytes);
    else
      test_compare_tensors (tb, ta, names[i], tol);
  }
  for (const char *const *k = (const char *[]) { "step", "rng/offset",
          "rng/seed", "epoch", NULL }; *k; k++)
    g_assert_cmpstr (t2i_safetensors_get_metadata (x, *k), ==,
        t2i_safetensors_get_metadata (y, *k));
}

/* the hash each rank logged of its own parameters at the end */
static char *
logged_hash (const char *log, gint rank)
{
  g_autofree char *tag = g_strdup_printf ("[1,%d]<stderr>:", rank);
  g_auto (GStrv) lines = g_strsplit (log, "\n", -1);
  char *hash = NULL;
  for (guint i = 0; lines[i]; i++) {
    const char *h = strstr (lines[i], "parameters agree with rank 0 (hash ");
    if (h && g_str_has_prefix (lines[i], tag)) {
      g_free (hash);
      hash = g_strndup (h + strlen ("parameters agree with rank 0 (hash "),
          16);
    }
  }
  return hash;
}

/* 2 ranks x batch 2 == 1 process x batch 4: parameters, moving average,
 * step and RNG; every rank holds the same parameters */
static void
test_doubled_batch (void)
{
  if (!can_run ())
    return;
  g_autofree char *one = g_build_filename (dir, "one.safetensors", NULL);
  g_autofree char *two = g_build_filename (dir, "two.safetensors", NULL);
  g_autofree char *d1 = train (4, 4, one, FALSE);
  g_autofree char *d2 = train (2, 4, two, FALSE);
  g_autofree char *log = NULL;

  run_ok (1, d1);
  gint status = run (2, d2, &log);
  if (status != 0)
    g_error ("2 ranks exited with %d:\n%s", status, log);
  compare_checkpoints (one, two, 1e-4);

  /* each rank hashed its own parameters: the same bits */
  g_autofree char *h0 = logged_hash (log, 0);
  g_autofree char *h1 = logged_hash (log, 1);
  if (!h0 || !h1)
    g_error ("no parameter hash logged by rank 0 and 1:\n%s", log);
  g_assert_cmpstr (h0, ==, h1);
}

/* 2 steps, then resume to 4 with the same 2 ranks == 4 steps at once */
static void
test_resume (void)
{
  if (!can_run ())
    return;
  g_autofree char *full = g_build_filename (dir, "full.safetensors", NULL);
  g_autofree char *part = g_build_filename (dir, "part.safetensors", NULL);
  g_autofree char *d_full = train (2, 4, full, FALSE);
  g_autofree char *d_half = train (2, 2, part, FALSE);
  g_autofree char *d_rest = train (2, 4, part, TRUE);

  run_ok (2, d_full);
  run_ok (2, d_half);
  run_ok (2, d_rest);
  compare_checkpoints (full, part, 0);

  /* another number of ranks resumes with a warning */
  g_autofree char *d_more = train (2, 5, part, TRUE);
  g_autofree char *log = NULL;
  g_assert_cmpint (run (1, d_more, &log), ==, 0);
  if (!strstr (log, "was written by a run of 2 rank(s), this one has 1"))
    g_error ("expected the warning about 2 ranks, got:\n%s", log);
}

/* an evaluation pipeline: kind -> value of each t2i-metric in @json */
static GHashTable *
metrics_of (const char *json)
{
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (json, &text, NULL, NULL));
  GHashTable *out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    if (!*lines[i])
      continue;
    g_autoptr (JsonParser) p = json_parser_new ();
    g_assert_true (json_parser_load_from_data (p, lines[i], -1, NULL));
    JsonObject *o = json_node_get_object (json_parser_get_root (p));
    if (g_strcmp0 (json_object_get_string_member (o, "type"), "t2i-metric"))
      continue;
    double *v = g_new (double, 1);
    *v = json_object_get_double_member (o, "value");
    g_hash_table_insert (out, g_strdup (json_object_get_string_member (o,
                "kind")), v);
  }
  return out;
}

#define EVAL "t2idatasetsrc dataset=shapes resolution=16 batch-size=%d " \
  "max-steps=4 seed=3 split=test ! t2iimageencoder name=E arch=cnn " \
  "widths=8,8 embed-dim=8 input=image output=f trainable=false ! " \
  "t2iperturb mode=fixed xi=1 input=f output=h ! t2imetric kind=fid " \
  "real=f fake=h ! t2imetric kind=is logits=f splits=2 ! t2imetric " \
  "kind=r-precision image-emb=f text-emb=h candidates=4 top-k=1,2 ! " \
  "t2imetric kind=clip-score image-emb=f text-emb=h best-of=2 ! " \
  "t2imetric kind=ssim real=image fake=image ! t2imetric kind=attr-acc " \
  "fake=image ! fakesink"

/* 2 ranks x batch 2 report what 1 process x batch 4 reports, once */
static void
test_metrics (void)
{
  if (!can_run ())
    return;
  g_autofree char *j1 = g_build_filename (dir, "one.json", NULL);
  g_autofree char *j2 = g_build_filename (dir, "two.json", NULL);
  g_autofree char *d1 = g_strdup_printf (EVAL, 4);
  g_autofree char *d2 = g_strdup_printf (EVAL, 2);
  g_autofree char *log = NULL;

  if (run_json (1, d1, j1, &log) != 0)
    g_error ("%s", log);
  g_clear_pointer (&log, g_free);
  if (run_json (2, d2, j2, &log) != 0)
    g_error ("%s", log);
  g_autoptr (GHashTable) one = metrics_of (j1);
  g_autoptr (GHashTable) two = metrics_of (j2);
  g_assert_cmpuint (g_hash_table_size (one), ==, 6);
  g_assert_cmpuint (g_hash_table_size (two), ==, 6);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, one);
  while (g_hash_table_iter_next (&it, &k, &v)) {
    double a = *(double *) v, *b = g_hash_table_lookup (two, k);
    g_assert_nonnull (b);
    g_test_message ("%s: %.9g (1 process) %.9g (2 ranks)", (char *) k, a, *b);
    g_assert_cmpfloat (fabs (*b - a), <=, 1e-6 * fabs (a) + 1e-12);
  }
  /* rank 1 reports nothing */
  g_assert_null (strstr (log, "[1,1]<stderr>:metric"));
}

/* a configuration error on every rank: one line, and the job ends (no
 * rank waits for the others forever) */
static void
test_failure_ends_job (void)
{
  if (!can_run ())
    return;
  g_autofree char *log = NULL;
  gint status = run (2, "t2idatasetsrc dataset=shapes epoch-size=3 "
      "batch-size=2 max-steps=1 ! fakesink", &log);
  g_assert_cmpint (status, !=, 0);
  g_assert_cmpint (status, !=, 124);    /* timeout(1): a hang */
  if (!strstr (log, "fewer than batch-size=2 x 2 ranks"))
    g_error ("expected the batch x ranks error, got:\n%s", log);
}

/* without MPI, K > 1 in the launcher's environment is one clear line */
static void
test_without_mpi (void)
{
  if (t2i_dist_have_mpi ()) {
    g_test_skip ("this build has MPI (the line is for builds without it)");
    return;
  }
  g_auto (GStrv) env = g_get_environ ();
  env = g_environ_setenv (env, "OMPI_COMM_WORLD_SIZE", "2", TRUE);
  env = g_environ_setenv (env, "OMPI_COMM_WORLD_RANK", "0", TRUE);
  const char *argv[] = { launch, "--", "t2itextsrc text=a ! fakesink", NULL };
  g_autofree char *out = NULL, *err = NULL;
  gint status = 0;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, env, 0, NULL, NULL,
          &out, &err, &status, NULL));
  g_assert_false (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  if (!strstr (err, "built without MPI"))
    g_error ("expected the no-MPI line, got:\n%s", err);
  g_auto (GStrv) lines = g_strsplit (g_strstrip (err), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 1);
}

/* ---- NCCL: gradients on CUDA (compiled when the toolkit has NCCL) ---- */

/* under mpirun: each rank's CUDA tensors of rank + 1 become their mean;
 * exits 77 on every rank when some rank has no CUDA device */
static int
nccl_worker (void)
{
  GError *err = NULL;
  if (!t2i_dist_init (&err)) {
    g_printerr ("%s\n", err->message);
    return 1;
  }
  double have = t2i_cuda_is_available () ? 1 : 0;
  if (!t2i_dist_allreduce_f64 (&have, 1, &err)) {
    g_printerr ("%s\n", err->message);
    return 1;
  }
  if (have < t2i_dist_size ()) {
    g_printerr ("rank %d: %s\n", t2i_dist_rank (), t2i_cuda_is_available ()
        ? "another rank has no CUDA device" : t2i_cuda_unavailable_reason ());
    return 77;
  }
  const float r = (float) t2i_dist_rank () + 1;
  g_autoptr (T2iTensor) a = t2i_tensor_full (T2I_F32, T2I_SHAPE (3, 5), r);
  g_autoptr (T2iTensor) b = t2i_tensor_full (T2I_F32, T2I_SHAPE (7), -r);
  g_autoptr (T2iTensor) da = t2i_tensor_to_device (a, T2I_DEVICE_CUDA, &err);
  g_autoptr (T2iTensor) db = da ? t2i_tensor_to_device (b, T2I_DEVICE_CUDA,
      &err) : NULL;
  if (!db || !t2i_dist_allreduce_mean_tensors ((T2iTensor *[]) { da, db }, 2,
          &err)) {
    g_printerr ("rank %d: %s\n", t2i_dist_rank (), err->message);
    return 1;
  }
  g_autoptr (T2iTensor) ha = t2i_tensor_to_device (da, T2I_DEVICE_CPU, NULL);
  g_autoptr (T2iTensor) hb = t2i_tensor_to_device (db, T2I_DEVICE_CPU, NULL);
  const float mean = (t2i_dist_size () + 1) / 2.0f;
  for (gint64 i = 0; i < ha->numel; i++)
    if (t2i_tensor_f32 (ha)[i] != mean)
      return 2;
  for (gint64 i = 0; i < hb->numel; i++)
    if (t2i_tensor_f32 (hb)[i] != -mean)
      return 2;
  return 0;
}

static const char *self_path;

static void
test_nccl (void)
{
  if (!t2i_dist_have_nccl ()) {
    g_test_skip ("t2i was built without NCCL (needs the CUDA toolkit's "
        "nccl.h at build time, and MPI)");
    return;
  }
  if (!t2i_cuda_is_available ()) {
    g_autofree char *why = g_strdup_printf ("GPU test: no CUDA here (%s)",
        t2i_cuda_unavailable_reason ());
    g_test_skip (why);
    return;
  }
  if (!can_run ())
    return;
  /* one GPU per rank */
  const char *argv[] = { "timeout", "240", mpirun, "--allow-run-as-root",
    "--oversubscribe", "-np", "2", "sh", "-c",
    "CUDA_VISIBLE_DEVICES=$OMPI_COMM_WORLD_LOCAL_RANK exec \"$0\" "
        "--nccl-worker", self_path, NULL
  };
  g_autofree char *out = NULL, *err = NULL;
  gint status = 0;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL,
          G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, NULL));
  if (WIFEXITED (status) && WEXITSTATUS (status) == 77) {
    g_autofree char *why = g_strdup_printf ("GPU test: needs 2 CUDA "
        "devices, one per rank: %s", g_strstrip (err));
    g_test_skip (why);
    return;
  }
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    g_error ("NCCL all-reduce on 2 ranks failed:\n%s%s", out, err);
}

int
main (int argc, char **argv)
{
  if (argc > 1 && g_str_equal (argv[1], "--nccl-worker"))
    return nccl_worker ();
  self_path = argv[0];
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  if (argc < 4)
    g_error ("usage: test-dist MPIRUN T2I-LAUNCH B_SANITIZE");
  mpirun = argv[1];
  launch = argv[2];
  sanitize = argv[3];
  dir = test_tmpdir ();
  g_test_add_func ("/dist/doubled-batch", test_doubled_batch);
  g_test_add_func ("/dist/resume", test_resume);
  g_test_add_func ("/dist/metrics", test_metrics);
  g_test_add_func ("/dist/failure-ends-job", test_failure_ends_job);
  g_test_add_func ("/dist/without-mpi", test_without_mpi);
  g_test_add_func ("/dist/nccl", test_nccl);
  int rc = g_test_run ();
  test_rmdir (dir);
  g_free (dir);
  return rc;
}
