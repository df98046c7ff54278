/* Tests for the procedural shapes dataset (core/data/shapes.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/shapes.h>

#include <math.h>
#include <string.h>

static void
test_determinism (void)
{
  T2iShapesConfig cfg, other;
  T2iShapesItem a, b;
  gint R = 48, i, n_diff_items = 0, n_diff_pixels = 0;
  gsize bytes = 3 * (gsize) R * R * sizeof (float);
  float *ia = g_malloc (bytes), *ib = g_malloc (bytes);

  t2i_shapes_config_init (&cfg);
  cfg.seed = 1234;
  other = cfg;
  other.seed = 1235;

  for (i = 0; i < 200; i++) {
    t2i_shapes_sample (&cfg, (guint64) i * 7919, &a);
    t2i_shapes_sample (&cfg, (guint64) i * 7919, &b);
    g_assert_cmpmem (&a, sizeof (a), &b, sizeof (b));
    t2i_shapes_render (&cfg, &a, R, ia);
    t2i_shapes_render (&cfg, &b, R, ib);
    g_assert_cmpmem (ia, bytes, ib, bytes);

    t2i_shapes_sample (&other, (guint64) i * 7919, &b);
    if (memcmp (&a, &b, sizeof (a)) != 0)
      n_diff_items++;
    t2i_shapes_render (&other, &b, R, ib);
    if (memcmp (ia, ib, bytes) != 0)
      n_diff_pixels++;
  }
  g_assert_cmpint (n_diff_items, ==, 200);
  g_assert_cmpint (n_diff_pixels, >=, 199);

  /* item i does not depend on what was drawn before */
  {
    T2iShapesItem fwd[50], rev;

    t2i_shapes_sample_batch (&cfg, 1000, 50, fwd);
    for (i = 49; i >= 0; i--) {
      t2i_shapes_sample (&cfg, 1000 + (guint64) i, &rev);
      g_assert_cmpmem (&fwd[i], sizeof (rev), &rev, sizeof (rev));
    }
  }

  /* the caption style and antialiasing do not change the item */
  other = cfg;
  other.captions = T2I_SHAPES_CAPTIONS_CANONICAL;
  other.antialias = 1;
  t2i_shapes_sample (&cfg, 77, &a);
  t2i_shapes_sample (&other, 77, &b);
  g_assert_cmpmem (&a, sizeof (a), &b, sizeof (b));

  /* captions are deterministic per variant */
  {
    char *c1 = t2i_shapes_caption (&cfg, &a, 3);
    char *c2 = t2i_shapes_caption (&cfg, &a, 3);

    g_assert_cmpstr (c1, ==, c2);
    g_free (c1);
    g_free (c2);
  }

  g_free (ia);
  g_free (ib);
}

/* Measures one object within its cell from an image and its bare
 * background. */
typedef struct
{
  gint n_pixels;                /* pixels touched */
  double cx, cy;                /* coverage-weighted centroid, pixels */
  gint x0, x1, y0, y1;          /* bounding box of touched pixels */
  double rgb[3];                /* mean colour of fully covered pixels */
  gint n_full;
  gint n_partial;               /* pixels with 0.05 < coverage < 0.95 */
} Measure;

static void
measure_cell (const float *img, const float *bg, gint R, gint cell, Measure * m)
{
  gsize plane = (gsize) R * R;
  double maxd = 0.0, wsum = 0.0;
  gint x, y, c;

  memset (m, 0, sizeof (*m));
  m->x0 = m->y0 = G_MAXINT;
  m->x1 = m->y1 = -1;
  for (y = 0; y < R; y++)
    for (x = 0; x < R; x++) {
      gsize o = (gsize) y * R + x;
      double d = 0.0;

      if ((gint) ((x + 0.5) * 3 / R) != cell % 3
          || (gint) ((y + 0.5) * 3 / R) != cell / 3)
        continue;
      for (c = 0; c < 3; c++)
        d += (img[c * plane + o] - bg[c * plane + o])
            * (img[c * plane + o] - bg[c * plane + o]);
      maxd = MAX (maxd, sqrt (d));
    }
  if (maxd == 0.0)
    return;
  for (y = 0; y < R; y++)
    for (x = 0; x < R; x++) {
      gsize o = (gsize) y * R + x;
      double d = 0.0, cov;

      if ((gint) ((x + 0.5) * 3 / R) != cell % 3
          || (gint) ((y + 0.5) * 3 / R) != cell / 3)
        continue;
      for (c = 0; c < 3; c++)
        d += (img[c * plane + o] - bg[c * plane + o])
            * (img[c * plane + o] - bg[c * plane + o]);
      cov = sqrt (d) / maxd;
      if (d == 0.0)
        continue;
      m->n_pixels++;
      m->cx += cov * (x + 0.5);
      m->cy += cov * (y + 0.5);
      wsum += cov;
      if (cov > 0.05) {
        m->x0 = MIN (m->x0, x);
        m->x1 = MAX (m->x1, x);
        m->y0 = MIN (m->y0, y);
        m->y1 = MAX (m->y1, y);
      }
      if (cov > 0.05 && cov < 0.95)
        m->n_partial++;
      if (cov > 0.999) {
        for (c = 0; c < 3; c++)
          m->rgb[c] += img[c * plane + o];
        m->n_full++;
      }
    }
  m->cx /= wsum;
  m->cy /= wsum;
  for (c = 0; c < 3 && m->n_full; c++)
    m->rgb[c] /= m->n_full;
}

static gint
nearest_color (const double rgb[3])
{
  gint k, best = -1, c;
  double best_d = G_MAXDOUBLE;

  for (k = 0; k < t2i_shapes_num_colors (); k++) {
    guint8 p[3];
    double d = 0.0;

    t2i_shapes_color_rgb (k, p);
    for (c = 0; c < 3; c++) {
      double v = p[c] * (2.0 / 255.0) - 1.0 - rgb[c];

      d += v * v;
    }
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  return best;
}

static gint
nearest_size (double extent_px, gint R)
{
  gint k, best = 0;
  double best_d = G_MAXDOUBLE;

  for (k = 0; k < t2i_shapes_num_sizes (); k++) {
    double d = fabs (2.0 * t2i_shapes_size_radius (k) * R - extent_px);

    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  return best;
}

static void
test_pixels_match_attributes (void)
{
  T2iShapesConfig cfg;
  gint R = 64, i, k;
  gsize n = 3 * (gsize) R * R;
  float *img = g_new (float, n), *bg = g_new (float, n);
  gint counts[T2I_SHAPES_N_SHAPES] = { 0 };

  t2i_shapes_config_init (&cfg);
  cfg.seed = 42;

  for (i = 0; i < 400; i++) {
    T2iShapesItem it, bare;
    gint cell;
    Measure m[T2I_SHAPES_MAX_OBJECTS];

    t2i_shapes_sample (&cfg, (guint64) i, &it);
    bare = it;
    bare.n_objects = 0;
    t2i_shapes_render (&cfg, &it, R, img);
    t2i_shapes_render (&cfg, &bare, R, bg);

    /* nothing drawn outside the objects' cells */
    for (cell = 0; cell < T2I_SHAPES_N_POSITIONS; cell++) {
      Measure mc;
      gboolean occupied = FALSE;

      for (k = 0; k < it.n_objects; k++)
        occupied |= it.objects[k].pos == cell;
      measure_cell (img, bg, R, cell, &mc);
      if (!occupied)
        g_assert_cmpint (mc.n_pixels, ==, 0);
    }

    for (k = 0; k < it.n_objects; k++) {
      const T2iShapesObject *o = &it.objects[k];
      double extent;

      counts[o->shape]++;
      measure_cell (img, bg, R, o->pos, &m[k]);
      g_assert_cmpint (m[k].n_pixels, >, 0);
      /* position: the cell of the centroid */
      g_assert_cmpint ((gint) (m[k].cx * 3 / R) + 3 * (gint) (m[k].cy * 3 / R),
          ==, o->pos);
      /* size: the larger side of the bounding box; the touched pixels
       * (x1 - x0 + 1 of them) overshoot the true box by 0 to 2 */
      extent = MAX (m[k].x1 - m[k].x0, m[k].y1 - m[k].y0);
      if (nearest_size (extent, R) != o->size)
        g_error ("item %d object %d (%s): extent %.1f px, size %s", i, k,
            t2i_shapes_shape_name (o->shape), extent,
            t2i_shapes_size_name (o->size));
      /* colour: fully covered pixels show it exactly */
      g_assert_cmpint (m[k].n_full, >, 0);
      g_assert_cmpint (nearest_color (m[k].rgb), ==, o->color);
      /* antialiasing leaves intermediate values along the edges */
      g_assert_cmpint (m[k].n_partial, >, 0);
    }

    /* the relation holds between the measured centroids */
    if (it.n_objects == 2) {
      gint c0 = (gint) (m[0].cx * 3 / R), c1 = (gint) (m[1].cx * 3 / R);
      gint r0 = (gint) (m[0].cy * 3 / R), r1 = (gint) (m[1].cy * 3 / R);

      switch (it.relation) {
        case T2I_SHAPES_LEFT_OF:
          g_assert_cmpint (c0, <, c1);
          break;
        case T2I_SHAPES_RIGHT_OF:
          g_assert_cmpint (c0, >, c1);
          break;
        case T2I_SHAPES_ABOVE:
          g_assert_cmpint (r0, <, r1);
          break;
        case T2I_SHAPES_BELOW:
          g_assert_cmpint (r0, >, r1);
          break;
        default:
          g_assert_not_reached ();
      }
    } else {
      g_assert_cmpint (it.relation, ==, -1);
    }
  }
  for (k = 0; k < T2I_SHAPES_N_SHAPES; k++)
    g_assert_cmpint (counts[k], >, 10);

  g_free (img);
  g_free (bg);
}

static void
test_antialias (void)
{
  T2iShapesConfig cfg;
  T2iShapesItem it, bare;
  gint R = 64, i, partial_aa = 0, partial_none = 0;
  gsize n = 3 * (gsize) R * R;
  float *img = g_new (float, n), *bg = g_new (float, n);

  t2i_shapes_config_init (&cfg);
  /* plain backgrounds: the measured coverage is then exact */
  cfg.textured = FALSE;
  for (i = 0; i < 20; i++) {
    Measure m;

    t2i_shapes_sample (&cfg, (guint64) i, &it);
    bare = it;
    bare.n_objects = 0;
    t2i_shapes_render (&cfg, &bare, R, bg);

    cfg.antialias = 4;
    t2i_shapes_render (&cfg, &it, R, img);
    measure_cell (img, bg, R, it.objects[0].pos, &m);
    partial_aa += m.n_partial;

    cfg.antialias = 1;
    t2i_shapes_render (&cfg, &it, R, img);
    measure_cell (img, bg, R, it.objects[0].pos, &m);
    partial_none += m.n_partial;
  }
  g_assert_cmpint (partial_aa, >, 20 * 8);
  g_assert_cmpint (partial_none, ==, 0);

  /* every value stays in [-1, 1] */
  cfg.antialias = 4;
  for (i = 0; i < 50; i++) {
    gsize j;

    t2i_shapes_sample (&cfg, (guint64) i, &it);
    t2i_shapes_render (&cfg, &it, R, img);
    for (j = 0; j < n; j++)
      g_assert_true (img[j] >= -1.0f && img[j] <= 1.0f);
  }
  g_free (img);
  g_free (bg);
}

static void
test_splits (void)
{
  T2iShapesConfig cfg;
  T2iShapesItem it;
  gint i, k, n_heldout = 0;
  gboolean seen_test_pair[T2I_SHAPES_N_COLORS][T2I_SHAPES_N_SHAPES] = { {0} };
  gint c, s, n_seen = 0;

  for (c = 0; c < T2I_SHAPES_N_COLORS; c++)
    for (s = 0; s < T2I_SHAPES_N_SHAPES; s++)
      n_heldout += t2i_shapes_pair_is_heldout (c, s);
  g_assert_cmpint (n_heldout, ==, 20);

  t2i_shapes_config_init (&cfg);
  cfg.split = T2I_SHAPES_SPLIT_TRAIN;
  for (i = 0; i < 5000; i++) {
    t2i_shapes_sample (&cfg, (guint64) i, &it);
    for (k = 0; k < it.n_objects; k++)
      g_assert_false (t2i_shapes_pair_is_heldout (it.objects[k].color,
              it.objects[k].shape));
  }
  cfg.split = T2I_SHAPES_SPLIT_TEST;
  for (i = 0; i < 3000; i++) {
    t2i_shapes_sample (&cfg, (guint64) i, &it);
    for (k = 0; k < it.n_objects; k++) {
      g_assert_true (t2i_shapes_pair_is_heldout (it.objects[k].color,
              it.objects[k].shape));
      seen_test_pair[it.objects[k].color][it.objects[k].shape] = TRUE;
    }
  }
  for (c = 0; c < T2I_SHAPES_N_COLORS; c++)
    for (s = 0; s < T2I_SHAPES_N_SHAPES; s++)
      n_seen += seen_test_pair[c][s];
  g_assert_cmpint (n_seen, ==, 20);

  /* random mode: both splits draw every pair, from different streams */
  {
    T2iShapesConfig tr, te;
    T2iShapesItem a, b;
    gint held_train = 0, same = 0;

    t2i_shapes_config_init (&tr);
    tr.split_mode = T2I_SHAPES_SPLIT_RANDOM;
    tr.split = T2I_SHAPES_SPLIT_TRAIN;
    te = tr;
    te.split = T2I_SHAPES_SPLIT_TEST;
    for (i = 0; i < 1000; i++) {
      t2i_shapes_sample (&tr, (guint64) i, &a);
      t2i_shapes_sample (&te, (guint64) i, &b);
      held_train += t2i_shapes_pair_is_heldout (a.objects[0].color,
          a.objects[0].shape);
      same += a.key == b.key;
    }
    g_assert_cmpint (held_train, >, 100);
    g_assert_cmpint (same, ==, 0);
  }
}

static gboolean
has_word (const char *caption, const char *const *words)
{
  for (; *words; words++) {
    const char *p = caption;
    gsize len = strlen (*words);

    while ((p = strstr (p, *words))) {
      gboolean start = p == caption || p[-1] == ' ';
      gboolean end = p[len] == '\0' || p[len] == ' ' || p[len] == ',';

      if (start && end)
        return TRUE;
      p++;
    }
  }
  return FALSE;
}

static void
test_captions (void)
{
  T2iShapesConfig cfg;
  T2iShapesItem it;
  GHashTable *distinct = g_hash_table_new_full (g_str_hash, g_str_equal,
      g_free, NULL);
  gint i, k, style;

  t2i_shapes_config_init (&cfg);
  for (style = T2I_SHAPES_CAPTIONS_CANONICAL;
      style <= T2I_SHAPES_CAPTIONS_VARIED; style++) {
    cfg.captions = style;
    for (i = 0; i < 500; i++) {
      guint v;

      t2i_shapes_sample (&cfg, (guint64) i, &it);
      for (v = 0; v < 4; v++) {
        guint mentions = 0;
        guint variant = v == 0 ? it.caption_variant : v;
        char *cap = t2i_shapes_caption_full (&cfg, &it, variant, &mentions);
        const char *p;

        for (k = 0; k < it.n_objects; k++) {
          const T2iShapesObject *o = &it.objects[k];

          if (!has_word (cap, t2i_shapes_color_words (o->color))
              || !has_word (cap, t2i_shapes_shape_words (o->shape)))
            g_error ("caption \"%s\" misses the colour %s or shape %s", cap,
                t2i_shapes_color_name (o->color),
                t2i_shapes_shape_name (o->shape));
          if (mentions & T2I_SHAPES_MENTION_SIZE)
            g_assert_true (has_word (cap, t2i_shapes_size_words (o->size)));
          if (style != T2I_SHAPES_CAPTIONS_VARIED) {
            const char *canonical[2] = { NULL, NULL };

            canonical[0] = t2i_shapes_color_name (o->color);
            g_assert_true (has_word (cap, canonical));
          }
        }
        if (it.n_objects == 1)
          g_assert_false (mentions & T2I_SHAPES_MENTION_RELATION);
        /* lower-case ASCII, single spaces, articles that agree */
        for (p = cap; *p; p++) {
          g_assert_true (g_ascii_islower (*p) || *p == ' ' || *p == ','
              || *p == '-' || *p == ':');
          g_assert_false (p[0] == ' ' && p[1] == ' ');
        }
        g_assert_null (strstr (cap, " a orange"));
        g_assert_null (strstr (cap, " a oval"));
        g_assert_null (strstr (cap, " a ellipse"));
        g_assert_false (g_str_has_prefix (cap, "a orange"));
        g_assert_false (g_str_has_prefix (cap, "a oval"));
        g_assert_null (strstr (cap, " an r"));
        g_assert_null (strstr (cap, " an s"));
        g_assert_false (g_str_has_prefix (cap, "an r"));
        g_assert_false (g_str_has_prefix (cap, "an s"));
        if (style == T2I_SHAPES_CAPTIONS_VARIED)
          g_hash_table_add (distinct, g_strdup (cap));
        g_free (cap);
      }
    }
  }
  /* varied captions are varied */
  g_assert_cmpuint (g_hash_table_size (distinct), >, 1200);
  g_hash_table_unref (distinct);

  /* the canonical caption, exactly */
  cfg.captions = T2I_SHAPES_CAPTIONS_CANONICAL;
  memset (&it, 0, sizeof (it));
  it.n_objects = 1;
  it.relation = -1;
  it.objects[0].color = T2I_SHAPES_ORANGE;
  it.objects[0].shape = T2I_SHAPES_CIRCLE;
  it.objects[0].size = T2I_SHAPES_SMALL;
  it.objects[0].pos = 0;
  {
    char *cap = t2i_shapes_caption (&cfg, &it, 12345);

    g_assert_cmpstr (cap, ==, "a small orange circle in the top left");
    g_free (cap);
    it.n_objects = 2;
    it.relation = T2I_SHAPES_LEFT_OF;
    it.objects[1].color = T2I_SHAPES_GREEN;
    it.objects[1].shape = T2I_SHAPES_STAR;
    it.objects[1].size = T2I_SHAPES_LARGE;
    it.objects[1].pos = 2;
    cap = t2i_shapes_caption (&cfg, &it, 0);
    g_assert_cmpstr (cap, ==,
        "a small orange circle to the left of a large green star");
    g_free (cap);
  }
}

static void
test_attrs (void)
{
  T2iShapesConfig cfg;
  T2iShapesItem items[64];
  gint32 color[64 * 2], count[64], rel[64];
  gint i, n_two = 0;

  t2i_shapes_config_init (&cfg);
  t2i_shapes_sample_batch (&cfg, 0, 64, items);
  g_assert_cmpint (t2i_shapes_attr_width (T2I_SHAPES_ATTR_COLOR), ==, 2);
  g_assert_cmpint (t2i_shapes_attr_width (T2I_SHAPES_ATTR_COUNT), ==, 1);
  g_assert_cmpstr (t2i_shapes_attr_name (T2I_SHAPES_ATTR_POS), ==, "attr/pos");
  t2i_shapes_attr_fill (items, 64, T2I_SHAPES_ATTR_COLOR, color);
  t2i_shapes_attr_fill (items, 64, T2I_SHAPES_ATTR_COUNT, count);
  t2i_shapes_attr_fill (items, 64, T2I_SHAPES_ATTR_RELATION, rel);
  for (i = 0; i < 64; i++) {
    g_assert_cmpint (count[i], ==, items[i].n_objects);
    g_assert_cmpint (color[2 * i], ==, items[i].objects[0].color);
    if (items[i].n_objects == 1) {
      g_assert_cmpint (color[2 * i + 1], ==, -1);
      g_assert_cmpint (rel[i], ==, -1);
    } else {
      n_two++;
      g_assert_cmpint (color[2 * i + 1], ==, items[i].objects[1].color);
      g_assert_cmpint (rel[i], >=, 0);
      g_assert_cmpint (rel[i], <, T2I_SHAPES_N_RELATIONS);
    }
  }
  g_assert_cmpint (n_two, >, 10);
  g_assert_cmpint (n_two, <, 54);

  cfg.min_objects = cfg.max_objects = 1;
  t2i_shapes_sample_batch (&cfg, 0, 64, items);
  for (i = 0; i < 64; i++)
    g_assert_cmpint (items[i].n_objects, ==, 1);
  cfg.min_objects = cfg.max_objects = 2;
  t2i_shapes_sample_batch (&cfg, 0, 64, items);
  for (i = 0; i < 64; i++)
    g_assert_cmpint (items[i].n_objects, ==, 2);
}

static void
test_tensors (void)
{
  T2iShapesConfig cfg;
  T2iShapesItem items[4];
  T2iTensor *img, *pos, *cnt;
  float *one = g_new (float, 3 * 16 * 16);

  t2i_shapes_config_init (&cfg);
  t2i_shapes_sample_batch (&cfg, 5, 4, items);
  img = t2i_shapes_render_batch (&cfg, items, 4, 16);
  g_assert_cmpint (img->ndim, ==, 4);
  g_assert_cmpint (img->shape[0], ==, 4);
  g_assert_cmpint (img->shape[1], ==, 3);
  g_assert_cmpint (img->shape[2], ==, 16);
  g_assert_cmpint (img->shape[3], ==, 16);
  t2i_shapes_render (&cfg, &items[2], 16, one);
  g_assert_cmpmem (t2i_tensor_f32 (img) + 2 * 3 * 16 * 16,
      3 * 16 * 16 * sizeof (float), one, 3 * 16 * 16 * sizeof (float));

  pos = t2i_shapes_attr_tensor (items, 4, T2I_SHAPES_ATTR_POS);
  g_assert_cmpint (pos->dtype, ==, T2I_I32);
  g_assert_cmpint (pos->ndim, ==, 2);
  g_assert_cmpint (pos->shape[1], ==, 2);
  g_assert_cmpint (t2i_tensor_i32 (pos)[2], ==, items[1].objects[0].pos);
  cnt = t2i_shapes_attr_tensor (items, 4, T2I_SHAPES_ATTR_COUNT);
  g_assert_cmpint (cnt->ndim, ==, 1);
  g_assert_cmpint (t2i_tensor_i32 (cnt)[3], ==, items[3].n_objects);

  t2i_tensor_unref (img);
  t2i_tensor_unref (pos);
  t2i_tensor_unref (cnt);
  g_free (one);
}

static void
test_config (void)
{
  T2iShapesConfig cfg;
  GError *error = NULL;

  t2i_shapes_config_init (&cfg);
  g_assert_true (t2i_shapes_config_validate (&cfg, &error));
  g_assert_no_error (error);

  cfg.resolution = 4;
  g_assert_false (t2i_shapes_config_validate (&cfg, &error));
  g_assert_error (error, T2I_SHAPES_ERROR, T2I_SHAPES_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "resolution"));
  g_clear_error (&error);

  t2i_shapes_config_init (&cfg);
  cfg.min_objects = 2;
  cfg.max_objects = 1;
  g_assert_false (t2i_shapes_config_validate (&cfg, &error));
  g_clear_error (&error);

  t2i_shapes_config_init (&cfg);
  cfg.antialias = 9;
  g_assert_false (t2i_shapes_config_validate (&cfg, &error));
  g_clear_error (&error);

  g_assert_cmpint (t2i_shapes_num_shapes (), >=, 8);
  g_assert_cmpint (t2i_shapes_num_colors (), ==, 10);
  g_assert_cmpint (t2i_shapes_num_positions (), ==, 9);
  g_assert_cmpstr (t2i_shapes_position_name (4), ==, "center");
  g_assert_cmpstr (t2i_shapes_relation_name (T2I_SHAPES_ABOVE), ==, "above");
  g_assert_cmpstr (t2i_shapes_texture_name (T2I_SHAPES_TEXTURE_NOISE), ==,
      "noise");
  g_assert_null (t2i_shapes_color_name (10));
}

static void
test_speed (void)
{
  T2iShapesConfig cfg;
  T2iShapesItem items[64];
  T2iTensor *batch;
  gint64 t0, t1;
  float *img = g_new (float, 3 * 32 * 32);
  gint i;

  t2i_shapes_config_init (&cfg);
  t0 = g_get_monotonic_time ();
  for (i = 0; i < 2000; i++) {
    T2iShapesItem it;

    t2i_shapes_sample (&cfg, (guint64) i, &it);
    t2i_shapes_render (&cfg, &it, 32, img);
  }
  t1 = g_get_monotonic_time ();
  g_test_message ("32x32: %.1f us per item (sample + render)",
      (t1 - t0) / 2000.0);

  t0 = g_get_monotonic_time ();
  t2i_shapes_sample_batch (&cfg, 0, 64, items);
  batch = t2i_shapes_render_batch (&cfg, items, 64, 64);
  t1 = g_get_monotonic_time ();
  g_test_message ("64 x 64x64 batch: %.2f ms", (t1 - t0) / 1000.0);
  t2i_tensor_unref (batch);
  g_free (img);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/shapes/determinism", test_determinism);
  g_test_add_func ("/shapes/pixels-match-attributes",
      test_pixels_match_attributes);
  g_test_add_func ("/shapes/antialias", test_antialias);
  g_test_add_func ("/shapes/splits", test_splits);
  g_test_add_func ("/shapes/captions", test_captions);
  g_test_add_func ("/shapes/attrs", test_attrs);
  g_test_add_func ("/shapes/tensors", test_tensors);
  g_test_add_func ("/shapes/config", test_config);
  g_test_add_func ("/shapes/speed", test_speed);
  return g_test_run ();
}
