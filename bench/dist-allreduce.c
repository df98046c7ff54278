/* The cost of one gradient all-reduce of t2itrainer: the mean over the
 * ranks of N floats (t2i_dist_allreduce_mean_tensors: pack, MPI_Allreduce,
 * unpack), median of REPS calls after 3 warm-up calls.  Run it under
 * mpirun (bench/dist-scaling does):
 *
 *   mpirun -np 2 build/bench/bench-dist-allreduce 4792867 20
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <t2i/t2i.h>

static int
compare (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
  GError *error = NULL;
  gint64 n = argc > 1 ? g_ascii_strtoll (argv[1], NULL, 10) : 4792867;
  gint reps = argc > 2 ? atoi (argv[2]) : 20;

  if (!t2i_dist_init (&error)) {
    fprintf (stderr, "bench-dist-allreduce: %s\n", error->message);
    return 1;
  }
  if (n < 1 || reps < 1) {
    fprintf (stderr, "usage: bench-dist-allreduce [FLOATS [REPS]]\n");
    return 2;
  }
  T2iTensor *t = t2i_tensor_full (T2I_F32, T2I_SHAPE (n), 1.0);
  double *ms = g_new (double, reps);
  gboolean ok = TRUE;
  for (gint i = 0; ok && i < 3; i++)
    ok = t2i_dist_allreduce_mean_tensors (&t, 1, &error);
  for (gint i = 0; ok && i < reps; i++) {
    ok = t2i_dist_barrier (&error);
    gint64 s = g_get_monotonic_time ();
    ok = ok && t2i_dist_allreduce_mean_tensors (&t, 1, &error);
    ms[i] = (g_get_monotonic_time () - s) / 1e3;
  }
  if (!ok) {
    fprintf (stderr, "bench-dist-allreduce: %s\n", error->message);
    return 1;
  }
  qsort (ms, reps, sizeof (double), compare);
  if (t2i_dist_rank () == 0)
    printf ("all-reduce of %" G_GINT64_FORMAT " floats (%.1f MB) over %d "
        "ranks: %.2f ms median (%.2f .. %.2f), %.2f GB/s of buffer\n", n,
        n * 4e-6, t2i_dist_size (), ms[reps / 2], ms[0], ms[reps - 1],
        n * 4e-6 / ms[reps / 2]);
  g_free (ms);
  t2i_tensor_unref (t);
  return 0;
}
