/* The allocator's limit and t2i_alloc_guard(): a tensor the machine cannot
 * give unwinds to the guard as one GError line, and the allocator works
 * on afterwards (docs/reliability.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <t2i/t2i.h>

#include <string.h>

static gboolean
make_tensor (gpointer data, GError ** error)
{
  const gint64 *shape = data;
  T2iTensor *t = t2i_tensor_new (T2I_F32, 2, shape);
  /* reached only when the allocation was given */
  memset (t->data, 1, t->nbytes);
  t2i_tensor_unref (t);
  return TRUE;
}

static void
expect_refused (const gint64 * shape, const char *message)
{
  GError *err = NULL;
  g_assert_false (t2i_alloc_guard (make_tensor, (gpointer) shape, &err));
  g_assert_error (err, T2I_ALLOC_ERROR, T2I_ALLOC_ERROR_NO_MEMORY);
  g_test_message ("%s", err->message);
  g_assert_null (strchr (err->message, '\n'));
  if (!g_str_has_prefix (err->message, message))
    g_error ("\"%s\" does not start with \"%s\"", err->message, message);
  g_error_free (err);
}

static void
test_limit (void)
{
  T2iAllocStats before, after;

  t2i_alloc_set_limit (64 << 20);
  g_assert_cmpuint (t2i_alloc_get_limit (), ==, 64 << 20);
  t2i_alloc_get_stats (&before);

  /* one tensor past the limit */
  gint64 big[] = { 1024, 32768 };
  expect_refused (big, "out of memory: a tensor f32 [1024,32768] needs "
      "128 MiB, more than the limit of 64 MiB (T2I_MEMORY_LIMIT");

  /* past the limit with what is in use */
  T2iTensor *held = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (1024, 10240));
  gint64 more[] = { 1024, 8192 };
  expect_refused (more, "out of memory: a tensor f32 [1024,8192] needs "
      "32 MiB with 40");
  t2i_tensor_unref (held);

  /* a size that overflows */
  gint64 absurd[] = { G_GINT64_CONSTANT (1) << 40, G_GINT64_CONSTANT (1) << 40 };
  expect_refused (absurd, "out of memory: a tensor f32 "
      "[1099511627776,1099511627776] is larger than this machine can "
      "address");

  /* the allocator works on, and a refusal took nothing */
  GError *err = NULL;
  gint64 fits[] = { 1024, 1024 };
  g_assert_true (t2i_alloc_guard (make_tensor, fits, &err));
  g_assert_no_error (err);
  t2i_alloc_get_stats (&after);
  g_assert_cmpuint (after.bytes_in_use, ==, before.bytes_in_use);

  t2i_alloc_set_limit (0);
  g_assert_cmpuint (t2i_alloc_get_limit (), >, 64 << 20);
}

/* the machine's own limit: memory + swap */
static void
test_machine (void)
{
  gint64 huge[] = { 65536, 1048576 * 16 };
  if (g_getenv ("T2I_MEMORY_LIMIT"))
    t2i_alloc_set_limit (0);
  g_assert_cmpuint (t2i_alloc_get_limit (), <, (gsize) 4 << 40);
  expect_refused (huge, "out of memory: a tensor f32 [65536,16777216] "
      "needs 4 TiB, more than the ");
}

static gboolean
inner (gpointer data, GError ** error)
{
  gint64 big[] = { 1024, 32768 };
  GError *err = NULL;
  /* the inner guard catches its own failure */
  g_assert_false (t2i_alloc_guard (make_tensor, big, &err));
  g_error_free (err);
  *(gboolean *) data = TRUE;
  return TRUE;
}

static void
test_nested (void)
{
  gboolean reached = FALSE;
  GError *err = NULL;

  t2i_alloc_set_limit (64 << 20);
  g_assert_true (t2i_alloc_guard (inner, &reached, &err));
  g_assert_no_error (err);
  g_assert_true (reached);
  t2i_alloc_set_limit (0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/alloc/limit", test_limit);
  g_test_add_func ("/alloc/machine", test_machine);
  g_test_add_func ("/alloc/nested", test_nested);
  return g_test_run ();
}
