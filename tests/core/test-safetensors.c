/* Tests for the safetensors reader and writer.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/safetensors.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/file.h>
#include <unistd.h>

static char *tmpdir;

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmpdir, name, NULL);
}

/* Writes @len bytes to a fresh @path, without the fsync of
 * g_file_set_contents() and without truncating the old file (which ext4
 * flushes on close): the fuzz loop writes thousands of files. */
static void
put_file (const char *path, const void *data, gsize len)
{
  FILE *f;

  g_unlink (path);
  f = fopen (path, "wb");

  g_assert_nonnull (f);
  g_assert_cmpuint (fwrite (data, 1, len, f), ==, len);
  g_assert_cmpint (fclose (f), ==, 0);
}

/* Number of entries in @dir. */
static guint
count_dir_entries (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  g_assert_nonnull (d);
  while (g_dir_read_name (d))
    n++;
  g_dir_close (d);
  return n;
}

static void
assert_same_tensor (T2iTensor * a, T2iTensor * b)
{
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_cmpint (a->dtype, ==, b->dtype);
  g_assert_true (t2i_tensor_same_shape (a, b));
  g_assert_cmpmem (a->data, (gsize) a->numel * t2i_dtype_size (a->dtype), b->data,
      (gsize) b->numel * t2i_dtype_size (b->dtype));
}

static void
test_round_trip (void)
{
  char *path = tmp_path ("rt.safetensors");
  T2iTensor *t[6];
  const char *names[6] = { "z.f32", "a.f64", "ids", "pixels", "scalar",
    "weird \"name\"\\ with\nnewline and caf\xc3\xa9"
  };
  GHashTable *meta = g_hash_table_new (g_str_hash, g_str_equal);
  GError *error = NULL;
  T2iSafetensors *st;

  t[0] = t2i_tensor_new (T2I_F32, T2I_SHAPE (2, 3, 1, 2, 2));
  for (gint i = 0; i < 24; i++)
    t2i_tensor_f32 (t[0])[i] = (float) i * 0.5f - 3.0f;
  t[1] = t2i_tensor_new (T2I_F64, T2I_SHAPE (3));
  t2i_tensor_f64 (t[1])[0] = G_PI;
  t2i_tensor_f64 (t[1])[1] = -1e300;
  t2i_tensor_f64 (t[1])[2] = 5e-324;
  t[2] = t2i_tensor_new (T2I_I32, T2I_SHAPE (4));
  for (gint i = 0; i < 4; i++)
    t2i_tensor_i32 (t[2])[i] = (i - 2) * 1000000000;
  t[3] = t2i_tensor_new (T2I_U8, T2I_SHAPE (3, 3));
  for (gint i = 0; i < 9; i++)
    t2i_tensor_u8 (t[3])[i] = (guint8) (i * 31);
  t[4] = t2i_tensor_scalar (T2I_F32, 1.25);
  t[5] = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (0, 4));
  g_hash_table_insert (meta, (gpointer) "step", (gpointer) "123");
  g_hash_table_insert (meta, (gpointer) "rng", (gpointer) "seed=1 \"q\" caf\xc3\xa9\t");

  g_assert_true (t2i_safetensors_save (path, names, t, 6, meta, &error));
  g_assert_no_error (error);

  /* layout: header length is a multiple of 8, data follows it exactly */
  {
    gchar *contents;
    gsize len;
    guint64 n;
    gsize data = 24 * 4 + 3 * 8 + 4 * 4 + 9 + 4;

    g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
    memcpy (&n, contents, 8);
    n = GUINT64_FROM_LE (n);
    g_assert_cmpuint (n % 8, ==, 0);
    g_assert_cmpuint (len, ==, 8 + n + data);
    g_assert_true (contents[8] == '{');
    g_free (contents);
  }

  st = t2i_safetensors_load (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (st);
  g_assert_cmpuint (t2i_safetensors_n_tensors (st), ==, 6);
  for (gint i = 0; i < 6; i++) {
    T2iTensor *r = t2i_safetensors_get (st, names[i]);

    g_assert_cmpstr (t2i_safetensors_names (st)[i], ==, names[i]);
    g_assert_true (t2i_safetensors_has (st, names[i]));
    assert_same_tensor (r, t[i]);
    t2i_tensor_unref (r);
  }
  g_assert_null (t2i_safetensors_names (st)[6]);
  g_assert_null (t2i_safetensors_get (st, "missing"));
  g_assert_null (t2i_safetensors_read (st, "missing", &error));
  g_assert_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "step"), ==, "123");
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "rng"), ==,
      "seed=1 \"q\" caf\xc3\xa9\t");
  g_assert_null (t2i_safetensors_get_metadata (st, "nope"));
  g_assert_cmpuint (g_hash_table_size (t2i_safetensors_get_metadata_table (st)), ==, 2);
  {
    T2iDType dt;
    gint ndim;
    gint64 shape[T2I_MAX_DIMS];
    const char *fdt;

    g_assert_true (t2i_safetensors_get_info (st, "z.f32", &dt, &ndim, shape, &fdt));
    g_assert_cmpint (dt, ==, T2I_F32);
    g_assert_cmpint (ndim, ==, 5);
    g_assert_cmpint (shape[4], ==, 2);
    g_assert_cmpstr (fdt, ==, "F32");
    g_assert_false (t2i_safetensors_get_info (st, "x", NULL, NULL, NULL, NULL));
  }
  t2i_safetensors_free (st);

  /* overwrite in place, no metadata, no tensors */
  g_assert_true (t2i_safetensors_save (path, NULL, NULL, 0, NULL, &error));
  g_assert_no_error (error);
  st = t2i_safetensors_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (t2i_safetensors_n_tensors (st), ==, 0);
  t2i_safetensors_free (st);

  g_assert_cmpuint (count_dir_entries (tmpdir), ==, 1);
  g_unlink (path);
  for (gint i = 0; i < 6; i++)
    t2i_tensor_unref (t[i]);
  g_hash_table_unref (meta);
  g_free (path);
}

/* A file written by Python (tests/gen-safetensors-fixture.py). */
static void
test_python_written (void)
{
  const char *src = g_getenv ("T2I_SOURCE_DIR");
  char *path = g_build_filename (src ? src : ".", "tests", "golden",
      "python-written.safetensors", NULL);
  GError *error = NULL;
  T2iSafetensors *st = t2i_safetensors_load (path, &error);
  T2iTensor *t;
  static const char *order[] = { "f16", "bf16", "f32", "f64", "i64", "i32", "u8",
    "bool", "i16", "e4m3", "e5m2", "scalar", "empty"
  };

  g_assert_no_error (error);
  g_assert_cmpuint (t2i_safetensors_n_tensors (st), ==, G_N_ELEMENTS (order));
  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    g_assert_cmpstr (t2i_safetensors_names (st)[i], ==, order[i]);
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "format"), ==, "pt");
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "note"), ==,
      "quote \" and caf\xc3\xa9");

  t = t2i_safetensors_get (st, "f16");
  g_assert_cmpint (t->dtype, ==, T2I_F32);
  g_assert_cmpint (t->ndim, ==, 2);
  {
    const float e[6] = { 1.0f, -2.0f, 0.5f, 65504.0f, 5.9604644775390625e-08f, INFINITY };
    g_assert_cmpmem (t->data, sizeof e, e, sizeof e);
  }
  t2i_tensor_unref (t);
  t = t2i_safetensors_get (st, "bf16");
  {
    const float e[4] = { 1.0f, -2.5f, 3.140625f, 65536.0f };
    g_assert_cmpmem (t->data, sizeof e, e, sizeof e);
  }
  t2i_tensor_unref (t);
  t = t2i_safetensors_get (st, "f32");
  {
    const float e[4] = { 0.25f, -1.5f, 3.0e38f, -0.0f };
    g_assert_cmpmem (t->data, sizeof e, e, sizeof e);
  }
  t2i_tensor_unref (t);
  t = t2i_safetensors_get (st, "f64");
  g_assert_cmpint (t->dtype, ==, T2I_F64);
  {
    const double e[3] = { G_PI, -1e-300, 2.0 };
    g_assert_cmpmem (t->data, sizeof e, e, sizeof e);
  }
  t2i_tensor_unref (t);
  t = t2i_safetensors_get (st, "i64");
  g_assert_cmpint (t->dtype, ==, T2I_I32);
  {
    const gint32 e[3] = { -7, 0, G_MAXINT32 };
    g_assert_cmpmem (t->data, sizeof e, e, sizeof e);
  }
  t2i_tensor_unref (t);
  t = t2i_safetensors_get (st, "i32");
  {
    const gint32 e[2] = { G_MININT32, 123 };
    g_assert_cmpmem (t->data, sizeof e, e, sizeof e);
  }
  t2i_tensor_unref (t);
  t = t2i_safetensors_get (st, "u8");
  g_assert_cmpint (t->dtype, ==, T2I_U8);
  {
    const guint8 e[5] = { 0, 1, 127, 128, 255 };
    g_assert_cmpmem (t->data, sizeof e, e, sizeof e);
  }
  t2i_tensor_unref (t);
  t = t2i_safetensors_get (st, "bool");
  g_assert_cmpint (t->dtype, ==, T2I_U8);
  g_assert_cmpuint (t2i_tensor_u8 (t)[0], ==, 1);
  g_assert_cmpuint (t2i_tensor_u8 (t)[1], ==, 0);
  t2i_tensor_unref (t);
  t = t2i_safetensors_get (st, "i16");
  g_assert_cmpint (t2i_tensor_i32 (t)[0], ==, -300);
  g_assert_cmpint (t2i_tensor_i32 (t)[1], ==, 300);
  t2i_tensor_unref (t);
  t = t2i_safetensors_get (st, "e4m3");
  {
    const float e[4] = { 1.0f, -1.0f, 1.0f / 512, 448.0f };
    g_assert_cmpmem (t->data, sizeof e, e, sizeof e);
  }
  t2i_tensor_unref (t);
  t = t2i_safetensors_get (st, "e5m2");
  {
    const float e[3] = { 1.0f, -2.0f, INFINITY };
    g_assert_cmpmem (t->data, sizeof e, e, sizeof e);
  }
  t2i_tensor_unref (t);
  t = t2i_safetensors_get (st, "scalar");
  g_assert_cmpint (t->ndim, ==, 0);
  g_assert_cmpint (t->numel, ==, 1);
  g_assert_cmpfloat (t2i_tensor_f32 (t)[0], ==, 42.5f);
  t2i_tensor_unref (t);
  t = t2i_safetensors_get (st, "empty");
  g_assert_cmpint (t->ndim, ==, 2);
  g_assert_cmpint (t->numel, ==, 0);
  t2i_tensor_unref (t);

  t2i_safetensors_free (st);
  g_free (path);
}

/* Writes 8-byte length + @header + @data_len bytes of data to @path. */
static void
write_raw (const char *path, const char *header, guint64 header_len_field, gsize data_len)
{
  gsize hl = strlen (header);
  gsize total = 8 + hl + data_len;
  guint8 *buf = g_malloc0 (total);
  guint64 le = GUINT64_TO_LE (header_len_field);

  memcpy (buf, &le, 8);
  memcpy (buf + 8, header, hl);
  for (gsize i = 0; i < data_len; i++)
    buf[8 + hl + i] = (guint8) i;
  put_file (path, (const char *) buf, total);
  g_free (buf);
}

static void
expect_error (const char *path, gint code, const char *fragment)
{
  GError *error = NULL;
  T2iSafetensors *st = t2i_safetensors_load (path, &error);

  g_assert_null (st);
  g_assert_nonnull (error);
  g_assert_true (error->domain == T2I_SAFETENSORS_ERROR);
  if (error->code != code || !strstr (error->message, path)
      || (fragment && !strstr (error->message, fragment)))
    g_error ("unexpected error %d (wanted %d, \"%s\"): %s", error->code, code,
        fragment ? fragment : "", error->message);
  g_test_message ("%s", error->message);
  g_error_free (error);
}

#define F "\"dtype\":\"F32\""

static void
test_corrupt (void)
{
  char *path = tmp_path ("bad.safetensors");
  static const struct {
    const char *header;
    gsize data;
    gint code;
    const char *fragment;
  } cases[] = {
    {"not json at all", 0, T2I_SAFETENSORS_ERROR_FORMAT, "not valid JSON"},
    {"[1, 2, 3]", 0, T2I_SAFETENSORS_ERROR_FORMAT, "not a JSON object"},
    {"", 0, T2I_SAFETENSORS_ERROR_FORMAT, NULL},
    {"{\"a\":{" F ",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"b\":{" F ",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
        T2I_SAFETENSORS_ERROR_FORMAT, "overlap"},
    {"{\"a\":{" F ",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"b\":{" F ",\"shape\":[2],\"data_offsets\":[12,20]}}", 20,
        T2I_SAFETENSORS_ERROR_FORMAT, "gap"},
    {"{\"a\":{" F ",\"shape\":[2],\"data_offsets\":[0,8]}}", 12,
        T2I_SAFETENSORS_ERROR_FORMAT, "after the last tensor"},
    {"{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
        T2I_SAFETENSORS_ERROR_UNSUPPORTED, "F33"},
    {"{\"a\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
        T2I_SAFETENSORS_ERROR_FORMAT, "dtype"},
    {"{\"a\":{" F ",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
        T2I_SAFETENSORS_ERROR_FORMAT, "needs 12 bytes"},
    {"{\"a\":{" F ",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
        T2I_SAFETENSORS_ERROR_FORMAT, "past the end"},
    {"{\"a\":{" F ",\"shape\":[0],\"data_offsets\":[8,0]}}", 8,
        T2I_SAFETENSORS_ERROR_FORMAT, "end before"},
    {"{\"a\":{" F ",\"shape\":[1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
        T2I_SAFETENSORS_ERROR_UNSUPPORTED, "rank 6"},
    {"{\"a\":{" F ",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
        T2I_SAFETENSORS_ERROR_FORMAT, "shape"},
    {"{\"a\":{" F ",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
        T2I_SAFETENSORS_ERROR_FORMAT, "shape"},
    {"{\"a\":{" F ",\"shape\":[4611686018427387904,4611686018427387904],"
          "\"data_offsets\":[0,8]}}", 8, T2I_SAFETENSORS_ERROR_FORMAT, "overflows"},
    {"{\"a\":{" F ",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", 8,
        T2I_SAFETENSORS_ERROR_FORMAT, "overflows"},
    {"{\"a\":{" F ",\"shape\":[18446744073709551615],\"data_offsets\":[0,8]}}", 8,
        T2I_SAFETENSORS_ERROR_FORMAT, "shape"},
    {"{\"a\":{" F ",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8,
        T2I_SAFETENSORS_ERROR_FORMAT, "data_offsets"},
    {"{\"a\":{" F ",\"shape\":[2]}}", 8, T2I_SAFETENSORS_ERROR_FORMAT, "data_offsets"},
    {"{\"a\":{" F ",\"data_offsets\":[0,8]}}", 8, T2I_SAFETENSORS_ERROR_FORMAT, "shape"},
    {"{\"a\":{" F ",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"a\":{" F ",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
        T2I_SAFETENSORS_ERROR_FORMAT, "duplicate"},
    {"{\"a\":{" F ",\"shape\":[2],\"data_offsets\":[0,8],\"dtype\":\"F32\"}}", 8,
        T2I_SAFETENSORS_ERROR_FORMAT, "duplicate"},
    {"{\"a\":[]}", 0, T2I_SAFETENSORS_ERROR_FORMAT, "not an object"},
    {"{\"__metadata__\":{\"k\":1}}", 0, T2I_SAFETENSORS_ERROR_FORMAT, "not a string"},
    {"{\"__metadata__\":[]}", 0, T2I_SAFETENSORS_ERROR_FORMAT, "__metadata__"},
    {"{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}} \xff", 8,
        T2I_SAFETENSORS_ERROR_FORMAT, "JSON"},
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    char *escaped = g_strescape (cases[i].header, NULL);

    g_test_message ("case %u: %s", i, escaped);
    g_free (escaped);
    write_raw (path, cases[i].header, strlen (cases[i].header), cases[i].data);
    expect_error (path, cases[i].code, cases[i].fragment);
  }

  /* deep nesting is refused before parsing */
  {
    GString *deep = g_string_new ("{\"__metadata__\":");
    for (gint i = 0; i < 100000; i++)
      g_string_append_c (deep, '[');
    write_raw (path, deep->str, deep->len, 0);
    expect_error (path, T2I_SAFETENSORS_ERROR_FORMAT, "nested");
    g_string_free (deep, TRUE);
  }

  /* header lengths: past the end, above the limit, short files */
  write_raw (path, "{}", 3, 0);
  expect_error (path, T2I_SAFETENSORS_ERROR_FORMAT, "past the end of the file");
  write_raw (path, "{}", G_MAXUINT64, 0);
  expect_error (path, T2I_SAFETENSORS_ERROR_FORMAT, "limit");
  write_raw (path, "{}", T2I_SAFETENSORS_MAX_HEADER + 1, 0);
  expect_error (path, T2I_SAFETENSORS_ERROR_FORMAT, "limit");
  put_file (path, "abc", 3);
  expect_error (path, T2I_SAFETENSORS_ERROR_FORMAT, "too short");
  put_file (path, "", 0);
  expect_error (path, T2I_SAFETENSORS_ERROR_FORMAT, "too short");
  /* a valid empty file, and one with trailing header spaces */
  write_raw (path, "{}      ", 8, 0);
  {
    GError *error = NULL;
    T2iSafetensors *st = t2i_safetensors_load (path, &error);

    g_assert_no_error (error);
    t2i_safetensors_free (st);
  }

  /* truncating a valid file anywhere is an error */
  {
    char *good = tmp_path ("good.safetensors");
    T2iTensor *t = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (4, 4));
    const char *name = "w";
    gchar *contents;
    gsize len;

    g_assert_true (t2i_safetensors_save (good, &name, &t, 1, NULL, NULL));
    g_assert_true (g_file_get_contents (good, &contents, &len, NULL));
    for (gsize cut = 0; cut < len; cut++) {
      GError *error = NULL;
      T2iSafetensors *st;

      put_file (path, contents, cut);
      st = t2i_safetensors_load (path, &error);
      g_assert_null (st);
      g_assert_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_FORMAT);
      g_error_free (error);
    }
    g_free (contents);
    t2i_tensor_unref (t);
    g_unlink (good);
    g_free (good);
  }

  /* missing file, directory */
  {
    char *missing = tmp_path ("does-not-exist");
    GError *error = NULL;

    g_assert_null (t2i_safetensors_load (missing, &error));
    g_assert_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_IO);
    g_assert_nonnull (strstr (error->message, "does-not-exist"));
    g_clear_error (&error);
    g_assert_null (t2i_safetensors_load (tmpdir, &error));
    g_assert_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_IO);
    g_clear_error (&error);
    g_free (missing);
  }

  /* I64 values outside the i32 range: the file is valid, the read fails */
  {
    const char *h = "{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}";
    GError *error = NULL;
    T2iSafetensors *st;

    write_raw (path, h, strlen (h), 8);     /* bytes 0..7: 0x0706050403020100 */
    st = t2i_safetensors_load (path, &error);
    g_assert_no_error (error);
    g_assert_null (t2i_safetensors_get (st, "a"));
    g_assert_null (t2i_safetensors_read (st, "a", &error));
    g_assert_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_UNSUPPORTED);
    g_assert_nonnull (strstr (error->message, "i32 range"));
    g_clear_error (&error);
    t2i_safetensors_free (st);
  }

  g_unlink (path);
  g_free (path);
}

static void
test_atomic_save (void)
{
  char *path = tmp_path ("ckpt.safetensors");
  char *sub = g_build_filename (tmpdir, "no", "such", "dir", "x.safetensors", NULL);
  T2iTensor *a = t2i_tensor_full (T2I_F32, T2I_SHAPE (8), 1.0);
  T2iTensor *b = t2i_tensor_full (T2I_F32, T2I_SHAPE (8), 2.0);
  T2iTensor *pair[2] = { a, b };
  const char *names[2] = { "a", "b" };
  const char *dup[2] = { "a", "a" };
  const char *bad[2] = { "a", "__metadata__" };
  GError *error = NULL;
  T2iSafetensors *st;
  T2iTensor *r;

  g_assert_true (t2i_safetensors_save (path, names, pair, 1, NULL, &error));
  g_assert_no_error (error);

  /* invalid requests fail before touching the old file */
  g_assert_false (t2i_safetensors_save (path, dup, pair, 2, NULL, &error));
  g_assert_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (t2i_safetensors_save (path, bad, pair, 2, NULL, &error));
  g_assert_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (t2i_safetensors_save (sub, names, pair, 2, NULL, &error));
  g_assert_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_IO);
  g_clear_error (&error);

  st = t2i_safetensors_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (t2i_safetensors_n_tensors (st), ==, 1);
  t2i_safetensors_free (st);

  /* replace it; a reader holding the old file keeps seeing the old data */
  st = t2i_safetensors_load (path, &error);
  g_assert_true (t2i_safetensors_save (path, names + 1, pair + 1, 1, NULL, &error));
  g_assert_no_error (error);
  r = t2i_safetensors_get (st, "a");
  assert_same_tensor (r, a);
  t2i_tensor_unref (r);
  t2i_safetensors_free (st);
  st = t2i_safetensors_load (path, &error);
  g_assert_false (t2i_safetensors_has (st, "a"));
  r = t2i_safetensors_get (st, "b");
  assert_same_tensor (r, b);
  t2i_tensor_unref (r);
  t2i_safetensors_free (st);

  /* no temporary files are left behind */
  g_assert_cmpuint (count_dir_entries (tmpdir), ==, 1);
  g_unlink (path);
  t2i_tensor_unref (a);
  t2i_tensor_unref (b);
  g_free (sub);
  g_free (path);
}

/* Random damage to a valid file must give an error or a valid result, never
 * a crash (run it under ASan/UBSan).  T2I_FUZZ_ITERATIONS overrides the
 * default 2000 rounds for longer runs. */
static void
test_fuzz (void)
{
  char *good = tmp_path ("fuzz-src.safetensors");
  char *path = tmp_path ("fuzz.safetensors");
  T2iTensor *t[3];
  const char *names[3] = { "layer.weight", "layer.bias", "ids" };
  GHashTable *meta = g_hash_table_new (g_str_hash, g_str_equal);
  gchar *contents;
  gsize len;
  GRand *rand = g_rand_new_with_seed (12345);
  guint loaded = 0;
  const char *env = g_getenv ("T2I_FUZZ_ITERATIONS");
  gint iterations = env ? atoi (env) : 2000;

  t[0] = t2i_tensor_full (T2I_F32, T2I_SHAPE (3, 4), 0.5);
  t[1] = t2i_tensor_full (T2I_F64, T2I_SHAPE (3), -1.0);
  t[2] = t2i_tensor_full (T2I_I32, T2I_SHAPE (2, 1, 2), 7);
  g_hash_table_insert (meta, (gpointer) "k", (gpointer) "v");
  g_assert_true (t2i_safetensors_save (good, names, t, 3, meta, NULL));
  g_assert_true (g_file_get_contents (good, &contents, &len, NULL));

  for (gint iter = 0; iter < iterations; iter++) {
    guint8 *buf = g_memdup2 (contents, len);
    gsize n = len;
    gint kind = g_rand_int_range (rand, 0, 4);
    GError *error = NULL;
    T2iSafetensors *st;

    if (kind == 0) {
      n = (gsize) g_rand_int_range (rand, 0, (gint32) len);
    } else {
      gint flips = g_rand_int_range (rand, 1, 6);
      for (gint f = 0; f < flips; f++) {
        /* mostly in the length field and header, where it matters */
        gsize at = kind == 1 ? (gsize) g_rand_int_range (rand, 0, 8)
            : (gsize) g_rand_int_range (rand, 0, (gint32) len);
        if (kind == 3)
          buf[at] = (guint8) "{}[]\":,0123456789-.e \\"[g_rand_int_range (rand, 0, 22)];
        else
          buf[at] ^= (guint8) (1u << g_rand_int_range (rand, 0, 8));
      }
    }
    put_file (path, (const char *) buf, n);
    st = t2i_safetensors_load (path, &error);
    if (st) {
      g_assert_no_error (error);
      for (const char *const *nm = t2i_safetensors_names (st); *nm; nm++) {
        T2iTensor *r = t2i_safetensors_read (st, *nm, &error);

        if (r)
          t2i_tensor_unref (r);
        g_clear_error (&error);
      }
      t2i_safetensors_free (st);
      loaded++;
    } else {
      g_assert_nonnull (error);
      g_assert_true (error->domain == T2I_SAFETENSORS_ERROR);
      g_error_free (error);
    }
    g_free (buf);
  }
  g_test_message ("%u of %d damaged files still loaded", loaded, iterations);

  g_unlink (good);
  g_unlink (path);
  g_free (contents);
  g_rand_free (rand);
  g_hash_table_unref (meta);
  for (gint i = 0; i < 3; i++)
    t2i_tensor_unref (t[i]);
  g_free (good);
  g_free (path);
}

/* what a killed save leaves behind goes; everything else stays */
static void
test_remove_stale (void)
{
  g_autofree char *dir = tmp_path ("stale");
  g_autofree char *ck = g_build_filename (dir, "ck.safetensors", NULL);
  const char *stale[] = { "ck.safetensors.tmp-AbC123",
    "ck.safetensors.tmp-000000"
  };
  const char *kept[] = { "ck.safetensors", "ck.safetensors.tmp-AbC12",
    "ck.safetensors.tmp-AbC1234", "ck.safetensors.tmp-AbC12.",
    "ck.safetensors.tmp-AbC123.bak", "other.safetensors.tmp-AbC123",
    "xck.safetensors.tmp-AbC123", "ck.safetensors.tmp-held00",
    "ck.safetensors.tmp-link00", "ck.safetensors.tmp-dir000"
  };
  GError *error = NULL;
  gchar **removed = NULL;

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  /* no folder yet: nothing to do */
  g_autofree char *none = g_build_filename (dir, "no", "x.safetensors", NULL);
  g_assert_cmpint (t2i_safetensors_remove_stale (none, NULL, &error), ==, 0);
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (stale); i++) {
    g_autofree char *p = g_build_filename (dir, stale[i], NULL);
    put_file (p, "x", 1);
  }
  for (guint i = 0; i < G_N_ELEMENTS (kept) - 3; i++) {
    g_autofree char *p = g_build_filename (dir, kept[i], NULL);
    put_file (p, "x", 1);
  }
  /* a save in progress (in any process) holds a lock on its temporary */
  g_autofree char *held = g_build_filename (dir, "ck.safetensors.tmp-held00",
      NULL);
  put_file (held, "x", 1);
  int fd = open (held, O_RDONLY);
  g_assert_cmpint (flock (fd, LOCK_EX), ==, 0);
  /* a link or a folder with such a name is not what a save writes */
  g_autofree char *link = g_build_filename (dir, "ck.safetensors.tmp-link00",
      NULL);
  g_assert_cmpint (symlink ("other.safetensors.tmp-AbC123", link), ==, 0);
  g_autofree char *sub = g_build_filename (dir, "ck.safetensors.tmp-dir000",
      NULL);
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);

  g_assert_cmpint (t2i_safetensors_remove_stale (ck, &removed, &error), ==, 2);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (removed), ==, 2);
  for (guint i = 0; i < G_N_ELEMENTS (stale); i++) {
    g_autofree char *p = g_build_filename (dir, stale[i], NULL);
    g_assert_true (g_strv_contains ((const char *const *) removed, p));
    g_assert_false (g_file_test (p, G_FILE_TEST_EXISTS));
  }
  g_strfreev (removed);
  for (guint i = 0; i < G_N_ELEMENTS (kept); i++) {
    g_autofree char *p = g_build_filename (dir, kept[i], NULL);
    g_assert_true (g_file_test (p, G_FILE_TEST_EXISTS
            | G_FILE_TEST_IS_SYMLINK));
  }
  /* once its writer is gone, the lock goes with it */
  close (fd);
  g_assert_cmpint (t2i_safetensors_remove_stale (ck, NULL, &error), ==, 1);
  g_assert_false (g_file_test (held, G_FILE_TEST_EXISTS));

  g_rmdir (sub);
  for (guint i = 0; i < G_N_ELEMENTS (kept); i++) {
    g_autofree char *p = g_build_filename (dir, kept[i], NULL);
    g_unlink (p);
  }
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* after t2i_safetensors_abort_saves() nothing is written any more */
static void
test_abort_saves (void)
{
  if (g_test_subprocess ()) {
    g_autofree char *path = tmp_path ("aborted.safetensors");
    T2iTensor *a = t2i_tensor_full (T2I_F32, T2I_SHAPE (8), 1.0);
    const char *names[] = { "a" };
    GError *error = NULL;

    t2i_safetensors_abort_saves ();
    g_assert_false (t2i_safetensors_save (path, names, &a, 1, NULL, &error));
    g_assert_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_IO);
    g_assert_nonnull (strstr (error->message, "being aborted"));
    g_error_free (error);
    t2i_tensor_unref (a);
    g_assert_cmpuint (count_dir_entries (tmpdir), ==, 0);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  gint ret;

  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("t2i-safetensors-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);
  g_test_add_func ("/safetensors/round-trip", test_round_trip);
  g_test_add_func ("/safetensors/python-written", test_python_written);
  g_test_add_func ("/safetensors/corrupt", test_corrupt);
  g_test_add_func ("/safetensors/atomic-save", test_atomic_save);
  g_test_add_func ("/safetensors/fuzz", test_fuzz);
  g_test_add_func ("/safetensors/remove-stale", test_remove_stale);
  g_test_add_func ("/safetensors/abort-saves", test_abort_saves);
  ret = g_test_run ();
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return ret;
}
