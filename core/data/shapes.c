/* t2i — the procedural "shapes" dataset: sampling, rendering, captions.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/shapes.h>

#include <math.h>
#include <string.h>

G_DEFINE_QUARK (t2i-shapes-error-quark, t2i_shapes_error);

/* ------------------------------------------------------------------------ */
/* Tables                                                                    */
/* ------------------------------------------------------------------------ */

static const char *const shape_words[T2I_SHAPES_N_SHAPES][3] = {
  {"circle", "disk", NULL},
  {"square", NULL},
  {"triangle", NULL},
  {"diamond", "rhombus", NULL},
  {"star", NULL},
  {"hexagon", NULL},
  {"cross", "plus sign", NULL},
  {"heart", NULL},
  {"ellipse", "oval", NULL},
  {"ring", "donut", NULL},
};

static const char *const color_words[T2I_SHAPES_N_COLORS][3] = {
  {"red", "scarlet", NULL},
  {"green", NULL},
  {"blue", NULL},
  {"yellow", NULL},
  {"orange", NULL},
  {"purple", "violet", NULL},
  {"pink", NULL},
  {"cyan", "turquoise", NULL},
  {"brown", NULL},
  {"white", NULL},
};

static const guint8 color_rgb[T2I_SHAPES_N_COLORS][3] = {
  {230, 40, 40},
  {40, 180, 60},
  {50, 90, 235},
  {245, 225, 50},
  {250, 140, 20},
  {150, 60, 200},
  {255, 140, 200},
  {50, 220, 230},
  {140, 85, 40},
  {245, 245, 245},
};

/* dark, low-saturation backgrounds: black, dark gray, slate, umber */
static const guint8 background_rgb[T2I_SHAPES_N_BACKGROUNDS][3] = {
  {18, 18, 18},
  {54, 54, 54},
  {34, 40, 54},
  {52, 44, 36},
};

static const char *const size_words[T2I_SHAPES_N_SIZES][4] = {
  {"small", "little", "tiny", NULL},
  {"medium", "medium-sized", "mid-sized", NULL},
  {"large", "big", "huge", NULL},
};

static const float size_radius[T2I_SHAPES_N_SIZES] = { 0.085f, 0.12f, 0.155f };

static const char *const position_names[T2I_SHAPES_N_POSITIONS] = {
  "top left", "top", "top right", "left", "center", "right",
  "bottom left", "bottom", "bottom right",
};

static const char *const position_phrases[T2I_SHAPES_N_POSITIONS][4] = {
  {"in the top left", "in the upper left corner", "at the top left", NULL},
  {"at the top", "near the top", "in the top middle", NULL},
  {"in the top right", "in the upper right corner", "at the top right", NULL},
  {"on the left", "on the left side", "at the left", NULL},
  {"in the center", "in the middle", "at the center", NULL},
  {"on the right", "on the right side", "at the right", NULL},
  {"in the bottom left", "in the lower left corner", "at the bottom left",
      NULL},
  {"at the bottom", "near the bottom", "in the bottom middle", NULL},
  {"in the bottom right", "in the lower right corner", "at the bottom right",
      NULL},
};

static const char *const relation_names[T2I_SHAPES_N_RELATIONS] = {
  "left of", "right of", "above", "below",
};

static const char *const relation_phrases[T2I_SHAPES_N_RELATIONS][4] = {
  {"to the left of", "left of", "on the left of", NULL},
  {"to the right of", "right of", "on the right of", NULL},
  {"above", "over", NULL},
  {"below", "under", "beneath", NULL},
};

static const char *const texture_names[T2I_SHAPES_N_TEXTURES] = {
  "plain", "stripes", "checker", "noise",
};

static const char *const attr_names[T2I_SHAPES_N_ATTRS] = {
  "attr/count", "attr/color", "attr/shape", "attr/size", "attr/pos",
  "attr/relation",
};

/* Margin kept between an object's bounding box and its cell's border, in
 * image units, so antialiased edges stay inside the cell at 64 px. */
#define CELL_MARGIN 0.008f
#define TEXTURE_AMPLITUDE 0.05f
#define NOISE_CELLS 8

/* ------------------------------------------------------------------------ */
/* Counter-based randomness                                                  */
/* ------------------------------------------------------------------------ */

static inline guint64
mix64 (guint64 z)
{
  z += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

typedef struct
{
  guint64 state;
} Rng;

static inline guint64
rng_next (Rng * r)
{
  r->state += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
  return mix64 (r->state);
}

/* uniform in [0, n) */
static inline gint
rng_int (Rng * r, gint n)
{
  return (gint) (((rng_next (r) >> 32) * (guint64) n) >> 32);
}

/* uniform in [0, 1) */
static inline float
rng_float (Rng * r)
{
  return (float) (rng_next (r) >> 40) * (1.0f / 16777216.0f);
}

/* ------------------------------------------------------------------------ */
/* Tables: accessors                                                         */
/* ------------------------------------------------------------------------ */

/**
 * t2i_shapes_num_shapes:
 *
 * Returns: the number of shape kinds, %T2I_SHAPES_N_SHAPES
 */
gint
t2i_shapes_num_shapes (void)
{
  return T2I_SHAPES_N_SHAPES;
}

/**
 * t2i_shapes_num_colors:
 *
 * Returns: the number of shape colours, %T2I_SHAPES_N_COLORS
 */
gint
t2i_shapes_num_colors (void)
{
  return T2I_SHAPES_N_COLORS;
}

/**
 * t2i_shapes_num_sizes:
 *
 * Returns: the number of size classes, %T2I_SHAPES_N_SIZES
 */
gint
t2i_shapes_num_sizes (void)
{
  return T2I_SHAPES_N_SIZES;
}

/**
 * t2i_shapes_num_positions:
 *
 * Returns: the number of position cells, %T2I_SHAPES_N_POSITIONS
 */
gint
t2i_shapes_num_positions (void)
{
  return T2I_SHAPES_N_POSITIONS;
}

/**
 * t2i_shapes_num_relations:
 *
 * Returns: the number of relations, %T2I_SHAPES_N_RELATIONS
 */
gint
t2i_shapes_num_relations (void)
{
  return T2I_SHAPES_N_RELATIONS;
}

/**
 * t2i_shapes_shape_name:
 * @shape: a shape id
 *
 * Returns: the canonical word for @shape ("circle", ...), %NULL when out of
 *   range
 */
const char *
t2i_shapes_shape_name (gint shape)
{
  if (shape < 0 || shape >= T2I_SHAPES_N_SHAPES)
    return NULL;
  return shape_words[shape][0];
}

/**
 * t2i_shapes_color_name:
 * @color: a colour id
 *
 * Returns: the canonical word for @color ("red", ...), %NULL when out of
 *   range
 */
const char *
t2i_shapes_color_name (gint color)
{
  if (color < 0 || color >= T2I_SHAPES_N_COLORS)
    return NULL;
  return color_words[color][0];
}

/**
 * t2i_shapes_size_name:
 * @size: a size id
 *
 * Returns: "small", "medium" or "large"; %NULL when out of range
 */
const char *
t2i_shapes_size_name (gint size)
{
  if (size < 0 || size >= T2I_SHAPES_N_SIZES)
    return NULL;
  return size_words[size][0];
}

/**
 * t2i_shapes_position_name:
 * @pos: a position cell, 0..8
 *
 * Returns: "top left", "top", ..., "bottom right"; %NULL when out of range
 */
const char *
t2i_shapes_position_name (gint pos)
{
  if (pos < 0 || pos >= T2I_SHAPES_N_POSITIONS)
    return NULL;
  return position_names[pos];
}

/**
 * t2i_shapes_relation_name:
 * @relation: a relation id
 *
 * Returns: "left of", "right of", "above" or "below"; %NULL when out of
 *   range
 */
const char *
t2i_shapes_relation_name (gint relation)
{
  if (relation < 0 || relation >= T2I_SHAPES_N_RELATIONS)
    return NULL;
  return relation_names[relation];
}

/**
 * t2i_shapes_texture_name:
 * @texture: a texture id
 *
 * Returns: "plain", "stripes", "checker" or "noise"; %NULL when out of range
 */
const char *
t2i_shapes_texture_name (gint texture)
{
  if (texture < 0 || texture >= T2I_SHAPES_N_TEXTURES)
    return NULL;
  return texture_names[texture];
}

/**
 * t2i_shapes_shape_words:
 * @shape: a shape id
 *
 * Returns: (array zero-terminated=1): every word a caption may use for
 *   @shape, canonical first; %NULL when out of range
 */
const char *const *
t2i_shapes_shape_words (gint shape)
{
  if (shape < 0 || shape >= T2I_SHAPES_N_SHAPES)
    return NULL;
  return shape_words[shape];
}

/**
 * t2i_shapes_color_words:
 * @color: a colour id
 *
 * Returns: (array zero-terminated=1): every word a caption may use for
 *   @color, canonical first; %NULL when out of range
 */
const char *const *
t2i_shapes_color_words (gint color)
{
  if (color < 0 || color >= T2I_SHAPES_N_COLORS)
    return NULL;
  return color_words[color];
}

/**
 * t2i_shapes_size_words:
 * @size: a size id
 *
 * Returns: (array zero-terminated=1): every word a caption may use for
 *   @size, canonical first; %NULL when out of range
 */
const char *const *
t2i_shapes_size_words (gint size)
{
  if (size < 0 || size >= T2I_SHAPES_N_SIZES)
    return NULL;
  return size_words[size];
}

/**
 * t2i_shapes_color_rgb:
 * @color: a colour id
 * @rgb: (out caller-allocates): the colour's sRGB values, 0..255
 */
void
t2i_shapes_color_rgb (gint color, guint8 rgb[3])
{
  g_return_if_fail (color >= 0 && color < T2I_SHAPES_N_COLORS);
  memcpy (rgb, color_rgb[color], 3);
}

/**
 * t2i_shapes_background_rgb:
 * @background: a background colour id
 * @rgb: (out caller-allocates): its sRGB values, 0..255, before texture
 */
void
t2i_shapes_background_rgb (gint background, guint8 rgb[3])
{
  g_return_if_fail (background >= 0 && background < T2I_SHAPES_N_BACKGROUNDS);
  memcpy (rgb, background_rgb[background], 3);
}

/**
 * t2i_shapes_size_radius:
 * @size: a size id
 *
 * Returns: the radius (half the larger bounding-box side) of the size
 *   class, in image units; 0 when out of range
 */
float
t2i_shapes_size_radius (gint size)
{
  if (size < 0 || size >= T2I_SHAPES_N_SIZES)
    return 0.0f;
  return size_radius[size];
}

/**
 * t2i_shapes_pair_is_heldout:
 * @color: a colour id
 * @shape: a shape id
 *
 * The class-disjoint split reserves 20 of the 100 (colour, shape) pairs for
 * the test split: those with (shape - color) mod 10 equal to 3 or 7, so
 * every colour and every shape appears in exactly two held-out pairs.
 *
 * Returns: whether (@color, @shape) belongs to the test split in
 *   %T2I_SHAPES_SPLIT_BY_COMBINATION mode
 */
gboolean
t2i_shapes_pair_is_heldout (gint color, gint shape)
{
  gint d;

  if (color < 0 || color >= T2I_SHAPES_N_COLORS || shape < 0
      || shape >= T2I_SHAPES_N_SHAPES)
    return FALSE;
  d = ((shape - color) % 10 + 10) % 10;
  return d == 3 || d == 7;
}

/* ------------------------------------------------------------------------ */
/* Configuration and sampling                                                */
/* ------------------------------------------------------------------------ */

/**
 * t2i_shapes_config_init:
 * @cfg: (out caller-allocates): the configuration to fill
 *
 * Sets the defaults: 32 px, seed 0, no split (class-disjoint mode when a
 * split is chosen), one or two objects, textured backgrounds, varied
 * captions, 4x4 supersampling.
 */
void
t2i_shapes_config_init (T2iShapesConfig * cfg)
{
  g_return_if_fail (cfg != NULL);

  memset (cfg, 0, sizeof (*cfg));
  cfg->resolution = 32;
  cfg->seed = 0;
  cfg->split = T2I_SHAPES_SPLIT_ALL;
  cfg->split_mode = T2I_SHAPES_SPLIT_BY_COMBINATION;
  cfg->min_objects = 1;
  cfg->max_objects = 2;
  cfg->textured = TRUE;
  cfg->captions = T2I_SHAPES_CAPTIONS_VARIED;
  cfg->antialias = 4;
}

/**
 * t2i_shapes_config_validate:
 * @cfg: a configuration
 * @error: return location for a #T2I_SHAPES_ERROR
 *
 * Checks every field's range; the message names the field and its range.
 *
 * Returns: %TRUE when @cfg is usable
 */
gboolean
t2i_shapes_config_validate (const T2iShapesConfig * cfg, GError ** error)
{
  g_return_val_if_fail (cfg != NULL, FALSE);

  if (cfg->resolution < T2I_SHAPES_MIN_RESOLUTION
      || cfg->resolution > T2I_SHAPES_MAX_RESOLUTION) {
    g_set_error (error, T2I_SHAPES_ERROR, T2I_SHAPES_ERROR_INVALID,
        "shapes: resolution %d out of range (%d..%d)", cfg->resolution,
        T2I_SHAPES_MIN_RESOLUTION, T2I_SHAPES_MAX_RESOLUTION);
    return FALSE;
  }
  if (cfg->min_objects < 1 || cfg->max_objects > T2I_SHAPES_MAX_OBJECTS
      || cfg->min_objects > cfg->max_objects) {
    g_set_error (error, T2I_SHAPES_ERROR, T2I_SHAPES_ERROR_INVALID,
        "shapes: objects per image must satisfy 1 <= min (%d) <= max (%d) "
        "<= %d", cfg->min_objects, cfg->max_objects, T2I_SHAPES_MAX_OBJECTS);
    return FALSE;
  }
  if ((guint) cfg->split > T2I_SHAPES_SPLIT_TEST
      || (guint) cfg->split_mode > T2I_SHAPES_SPLIT_RANDOM) {
    g_set_error (error, T2I_SHAPES_ERROR, T2I_SHAPES_ERROR_INVALID,
        "shapes: unknown split %d or split mode %d", (gint) cfg->split,
        (gint) cfg->split_mode);
    return FALSE;
  }
  if ((guint) cfg->captions > T2I_SHAPES_CAPTIONS_VARIED) {
    g_set_error (error, T2I_SHAPES_ERROR, T2I_SHAPES_ERROR_INVALID,
        "shapes: unknown caption style %d", (gint) cfg->captions);
    return FALSE;
  }
  if (cfg->antialias < 1 || cfg->antialias > 8) {
    g_set_error (error, T2I_SHAPES_ERROR, T2I_SHAPES_ERROR_INVALID,
        "shapes: antialias %d out of range (1..8)", cfg->antialias);
    return FALSE;
  }
  return TRUE;
}

/* The (colour, shape) pairs a split draws from, as colour * 16 + shape. */
typedef struct
{
  gint n;
  guint8 pairs[T2I_SHAPES_N_COLORS * T2I_SHAPES_N_SHAPES];
} PairSet;

static const PairSet *
pair_set (const T2iShapesConfig * cfg)
{
  static PairSet sets[3];
  static gsize init = 0;

  if (g_once_init_enter (&init)) {
    gint c, s;

    for (c = 0; c < T2I_SHAPES_N_COLORS; c++)
      for (s = 0; s < T2I_SHAPES_N_SHAPES; s++) {
        guint8 code = (guint8) (c * 16 + s);

        sets[0].pairs[sets[0].n++] = code;
        if (t2i_shapes_pair_is_heldout (c, s))
          sets[2].pairs[sets[2].n++] = code;
        else
          sets[1].pairs[sets[1].n++] = code;
      }
    g_once_init_leave (&init, 1);
  }

  if (cfg->split_mode == T2I_SHAPES_SPLIT_RANDOM
      || cfg->split == T2I_SHAPES_SPLIT_ALL)
    return &sets[0];
  return cfg->split == T2I_SHAPES_SPLIT_TEST ? &sets[2] : &sets[1];
}

static gboolean
relation_holds (gint relation, gint pos0, gint pos1)
{
  gint r0 = pos0 / 3, c0 = pos0 % 3, r1 = pos1 / 3, c1 = pos1 % 3;

  switch (relation) {
    case T2I_SHAPES_LEFT_OF:
      return c0 < c1;
    case T2I_SHAPES_RIGHT_OF:
      return c0 > c1;
    case T2I_SHAPES_ABOVE:
      return r0 < r1;
    case T2I_SHAPES_BELOW:
      return r0 > r1;
    default:
      return FALSE;
  }
}

static void
place_object (Rng * rng, T2iShapesObject * o)
{
  float r = size_radius[o->size];
  float j = 1.0f / 6.0f - r - CELL_MARGIN;

  if (j < 0.0f)
    j = 0.0f;
  o->radius = r;
  o->cx = ((o->pos % 3) + 0.5f) / 3.0f + (2.0f * rng_float (rng) - 1.0f) * j;
  o->cy = ((o->pos / 3) + 0.5f) / 3.0f + (2.0f * rng_float (rng) - 1.0f) * j;
}

/**
 * t2i_shapes_sample:
 * @cfg: a valid configuration
 * @index: the item's index in the stream
 * @item: (out caller-allocates): the item
 *
 * Draws item @index of the stream (@cfg's seed, split and split mode).  The
 * result depends on nothing else: not on other calls, not on the caption
 * style, antialiasing or resolution.
 */
void
t2i_shapes_sample (const T2iShapesConfig * cfg, guint64 index,
    T2iShapesItem * item)
{
  const PairSet *set;
  guint64 stream;
  Rng rng;
  gint i;

  g_return_if_fail (cfg != NULL && item != NULL);
  g_return_if_fail (cfg->min_objects >= 1
      && cfg->max_objects <= T2I_SHAPES_MAX_OBJECTS
      && cfg->min_objects <= cfg->max_objects);

  memset (item, 0, sizeof (*item));
  stream = (guint64) cfg->split + 4 * (guint64) cfg->split_mode;
  item->index = index;
  item->key = mix64 (mix64 (mix64 (cfg->seed) ^ stream) ^ index);
  rng.state = item->key;

  item->n_objects = cfg->min_objects
      + rng_int (&rng, cfg->max_objects - cfg->min_objects + 1);
  set = pair_set (cfg);
  for (i = 0; i < item->n_objects; i++) {
    T2iShapesObject *o = &item->objects[i];
    guint8 code = set->pairs[rng_int (&rng, set->n)];

    o->color = code / 16;
    o->shape = code % 16;
    o->size = rng_int (&rng, T2I_SHAPES_N_SIZES);
  }

  if (item->n_objects == 1) {
    item->relation = -1;
    item->objects[0].pos = rng_int (&rng, T2I_SHAPES_N_POSITIONS);
  } else {
    gint k, n_valid = 0, pick, p0, p1;

    item->relation = rng_int (&rng, T2I_SHAPES_N_RELATIONS);
    for (k = 0; k < T2I_SHAPES_N_POSITIONS * T2I_SHAPES_N_POSITIONS; k++)
      if (relation_holds (item->relation, k / 9, k % 9))
        n_valid++;
    pick = rng_int (&rng, n_valid);
    for (k = 0; k < T2I_SHAPES_N_POSITIONS * T2I_SHAPES_N_POSITIONS; k++) {
      p0 = k / 9;
      p1 = k % 9;
      if (relation_holds (item->relation, p0, p1) && pick-- == 0) {
        item->objects[0].pos = p0;
        item->objects[1].pos = p1;
        break;
      }
    }
  }
  for (i = 0; i < item->n_objects; i++)
    place_object (&rng, &item->objects[i]);

  item->background = rng_int (&rng, T2I_SHAPES_N_BACKGROUNDS);
  item->texture = rng_int (&rng, T2I_SHAPES_N_TEXTURES);
  if (!cfg->textured)
    item->texture = T2I_SHAPES_TEXTURE_PLAIN;
  item->texture_orient = rng_int (&rng, 4);
  item->texture_period = 0.1f + 0.15f * rng_float (&rng);
  item->caption_variant = (guint) (rng_next (&rng) >> 32);
}

/**
 * t2i_shapes_sample_batch:
 * @cfg: a valid configuration
 * @first_index: index of the first item
 * @n: number of items
 * @items: (out caller-allocates) (array length=n): the items
 *
 * Draws items @first_index .. @first_index + @n - 1.
 */
void
t2i_shapes_sample_batch (const T2iShapesConfig * cfg, guint64 first_index,
    gsize n, T2iShapesItem * items)
{
  gsize i;

  for (i = 0; i < n; i++)
    t2i_shapes_sample (cfg, first_index + i, &items[i]);
}

/* ------------------------------------------------------------------------ */
/* Geometry: signed distances in shape units (bounding box within [-1,1]^2)  */
/* ------------------------------------------------------------------------ */

#define MAX_POLY 12

typedef struct
{
  gint n;
  float x[MAX_POLY];
  float y[MAX_POLY];
} Poly;

static Poly poly_triangle, poly_diamond, poly_hexagon, poly_star,
    poly_heart_body;

#define ELLIPSE_ASPECT 0.55f
#define CROSS_ARM 0.34f
#define RING_HOLE 0.5f
#define STAR_INNER 0.42f
#define SQRT1_2 0.70710678f

/* Scales and shifts @p so its bounding box is centred and its larger side
 * is 2. */
static void
poly_normalize (Poly * p)
{
  float x0 = G_MAXFLOAT, x1 = -G_MAXFLOAT, y0 = G_MAXFLOAT, y1 = -G_MAXFLOAT;
  float s, mx, my;
  gint i;

  for (i = 0; i < p->n; i++) {
    x0 = MIN (x0, p->x[i]);
    x1 = MAX (x1, p->x[i]);
    y0 = MIN (y0, p->y[i]);
    y1 = MAX (y1, p->y[i]);
  }
  s = 2.0f / MAX (x1 - x0, y1 - y0);
  mx = 0.5f * (x0 + x1);
  my = 0.5f * (y0 + y1);
  for (i = 0; i < p->n; i++) {
    p->x[i] = (p->x[i] - mx) * s;
    p->y[i] = (p->y[i] - my) * s;
  }
}

static void
geometry_init (void)
{
  static gsize init = 0;

  if (g_once_init_enter (&init)) {
    gint i;
    float h;

    static const float tri_x[3] = { 0.0f, 1.0f, -1.0f };
    static const float tri_y[3] = { -1.0f, 1.0f, 1.0f };
    static const float dia_x[4] = { 0.0f, 1.0f, 0.0f, -1.0f };
    static const float dia_y[4] = { -1.0f, 0.0f, 1.0f, 0.0f };

    poly_triangle.n = 3;
    memcpy (poly_triangle.x, tri_x, sizeof (tri_x));
    memcpy (poly_triangle.y, tri_y, sizeof (tri_y));
    poly_diamond.n = 4;
    memcpy (poly_diamond.x, dia_x, sizeof (dia_x));
    memcpy (poly_diamond.y, dia_y, sizeof (dia_y));

    poly_hexagon.n = 6;
    for (i = 0; i < 6; i++) {
      poly_hexagon.x[i] = cosf ((float) G_PI / 3.0f * i);
      poly_hexagon.y[i] = sinf ((float) G_PI / 3.0f * i);
    }
    poly_normalize (&poly_hexagon);

    poly_star.n = 10;
    for (i = 0; i < 10; i++) {
      float a = (float) G_PI * (-0.5f + 0.2f * i);
      float r = (i % 2) ? STAR_INNER : 1.0f;

      poly_star.x[i] = r * cosf (a);
      poly_star.y[i] = r * sinf (a);
    }
    poly_normalize (&poly_star);

    /* heart: a diamond of half-diagonal h centred at (0, y0) and two
     * circles on its upper edges (see sdf_heart); width 2, height 1.83 */
    h = 2.0f / (1.0f + (float) G_SQRT2);
    poly_heart_body.n = 4;
    poly_heart_body.x[0] = 0.0f;
    poly_heart_body.y[0] = -h;
    poly_heart_body.x[1] = h;
    poly_heart_body.y[1] = 0.0f;
    poly_heart_body.x[2] = 0.0f;
    poly_heart_body.y[2] = h;
    poly_heart_body.x[3] = -h;
    poly_heart_body.y[3] = 0.0f;
    g_once_init_leave (&init, 1);
  }
}

/* Exact signed distance to a simple polygon (negative inside). */
static float
sdf_poly (const Poly * p, float px, float py)
{
  float d = (px - p->x[0]) * (px - p->x[0]) + (py - p->y[0]) * (py - p->y[0]);
  float s = 1.0f;
  gint i, j;

  for (i = 0, j = p->n - 1; i < p->n; j = i, i++) {
    float ex = p->x[j] - p->x[i], ey = p->y[j] - p->y[i];
    float wx = px - p->x[i], wy = py - p->y[i];
    float t = CLAMP ((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0f, 1.0f);
    float bx = wx - ex * t, by = wy - ey * t;
    gboolean c1 = py >= p->y[i], c2 = py < p->y[j];
    gboolean c3 = ex * wy > ey * wx;

    d = MIN (d, bx * bx + by * by);
    if ((c1 && c2 && c3) || (!c1 && !c2 && !c3))
      s = -s;
  }
  return s * sqrtf (d);
}

static inline float
sdf_box (float px, float py, float hx, float hy)
{
  float qx = fabsf (px) - hx, qy = fabsf (py) - hy;
  float ox = MAX (qx, 0.0f), oy = MAX (qy, 0.0f);

  return sqrtf (ox * ox + oy * oy) + MIN (MAX (qx, qy), 0.0f);
}

static float
sdf_heart (float px, float py)
{
  /* body: the diamond poly_heart_body (half-diagonal h, centred at the
   * origin of its own frame); lobes: circles of radius h / sqrt 2 centred on
   * its two upper edges.  The frame's bounding box runs from
   * -(1/2 + 1/sqrt 2) h to h vertically: shift to centre it. */
  const float h = 2.0f / (1.0f + (float) G_SQRT2);
  const float top = (0.5f + SQRT1_2) * h;
  const float rc = h * SQRT1_2;
  float qy = py - 0.5f * (top - h), ly = qy + 0.5f * h;
  float d, dl, dr;

  d = sdf_poly (&poly_heart_body, px, qy);
  dl = sqrtf ((px + 0.5f * h) * (px + 0.5f * h) + ly * ly) - rc;
  dr = sqrtf ((px - 0.5f * h) * (px - 0.5f * h) + ly * ly) - rc;
  return MIN (d, MIN (dl, dr));
}

/* A lower bound of the distance to the shape's boundary whose sign is exact
 * (negative inside), in shape units. */
static float
shape_sdf (gint shape, float px, float py)
{
  switch (shape) {
    case T2I_SHAPES_CIRCLE:
      return sqrtf (px * px + py * py) - 1.0f;
    case T2I_SHAPES_SQUARE:
      return sdf_box (px, py, 1.0f, 1.0f);
    case T2I_SHAPES_TRIANGLE:
      return sdf_poly (&poly_triangle, px, py);
    case T2I_SHAPES_DIAMOND:
      return sdf_poly (&poly_diamond, px, py);
    case T2I_SHAPES_STAR:
      return sdf_poly (&poly_star, px, py);
    case T2I_SHAPES_HEXAGON:
      return sdf_poly (&poly_hexagon, px, py);
    case T2I_SHAPES_CROSS:
      return MIN (sdf_box (px, py, 1.0f, CROSS_ARM),
          sdf_box (px, py, CROSS_ARM, 1.0f));
    case T2I_SHAPES_HEART:
      return sdf_heart (px, py);
    case T2I_SHAPES_ELLIPSE:{
      float qy = py / ELLIPSE_ASPECT;

      /* |grad| of (|q| - 1) is at most 1 / aspect: scale for a lower bound */
      return (sqrtf (px * px + qy * qy) - 1.0f) * ELLIPSE_ASPECT;
    }
    case T2I_SHAPES_RING:
      return fabsf (sqrtf (px * px + py * py) - 0.5f * (1.0f + RING_HOLE))
          - 0.5f * (1.0f - RING_HOLE);
    default:
      return 1.0f;
  }
}

/* Even-odd point-in-polygon test. */
static gboolean
poly_inside (const Poly * p, float px, float py)
{
  gboolean in = FALSE;
  gint i, j;

  for (i = 0, j = p->n - 1; i < p->n; j = i, i++)
    if ((p->y[i] > py) != (p->y[j] > py)
        && px < (p->x[j] - p->x[i]) * (py - p->y[i]) / (p->y[j] - p->y[i])
        + p->x[i])
      in = !in;
  return in;
}

/* Whether a point (shape units) is inside: the sign of shape_sdf(), more
 * cheaply, for supersampling. */
static gboolean
shape_inside (gint shape, float px, float py)
{
  switch (shape) {
    case T2I_SHAPES_CIRCLE:
      return px * px + py * py < 1.0f;
    case T2I_SHAPES_SQUARE:
      return fabsf (px) < 1.0f && fabsf (py) < 1.0f;
    case T2I_SHAPES_TRIANGLE:
      return poly_inside (&poly_triangle, px, py);
    case T2I_SHAPES_DIAMOND:
      return fabsf (px) + fabsf (py) < 1.0f;
    case T2I_SHAPES_STAR:
      return poly_inside (&poly_star, px, py);
    case T2I_SHAPES_HEXAGON:
      return poly_inside (&poly_hexagon, px, py);
    case T2I_SHAPES_CROSS:
      px = fabsf (px);
      py = fabsf (py);
      return (px < 1.0f && py < CROSS_ARM) || (px < CROSS_ARM && py < 1.0f);
    case T2I_SHAPES_ELLIPSE:
      return px * px + (py * py) / (ELLIPSE_ASPECT * ELLIPSE_ASPECT) < 1.0f;
    case T2I_SHAPES_RING:{
      float r2 = px * px + py * py;

      return r2 < 1.0f && r2 > RING_HOLE * RING_HOLE;
    }
    default:
      return shape_sdf (shape, px, py) < 0.0f;
  }
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                 */
/* ------------------------------------------------------------------------ */

static inline float
hash_unit (guint64 key, gint a, gint b)
{
  guint64 h = mix64 (key ^ mix64 (((guint64) (guint32) a << 32) | (guint32) b));

  return (float) (h >> 40) * (1.0f / 16777216.0f);
}

static inline float
smooth (float t)
{
  return t * t * (3.0f - 2.0f * t);
}

static void
render_background (const T2iShapesItem * item, gint res, float *chw)
{
  gsize plane = (gsize) res * res;
  float base[3], amp = TEXTURE_AMPLITUDE * 2.0f;
  float lattice[(NOISE_CELLS + 1) * (NOISE_CELLS + 1)];
  /* per-column (u) and per-row (v) factors: every texture is separable */
  float cu0[T2I_SHAPES_MAX_RESOLUTION], cu1[T2I_SHAPES_MAX_RESOLUTION];
  float rv0[T2I_SHAPES_MAX_RESOLUTION], rv1[T2I_SHAPES_MAX_RESOLUTION];
  gint ciu[T2I_SHAPES_MAX_RESOLUTION], riv[T2I_SHAPES_MAX_RESOLUTION];
  float row[T2I_SHAPES_MAX_RESOLUTION];
  float period = MAX (item->texture_period, 0.01f);
  float phase = 2.0f * (float) G_PI * hash_unit (item->key, -1, -1);
  float w = 2.0f * (float) G_PI / period;
  gint x, y, c, bg = CLAMP (item->background, 0, T2I_SHAPES_N_BACKGROUNDS - 1);
  gint texture = item->texture, orient = item->texture_orient;

  for (c = 0; c < 3; c++)
    base[c] = background_rgb[bg][c] * (2.0f / 255.0f) - 1.0f;

  /* stripes along a diagonal: sin (w' (u +- v) + phase), expanded */
  if (texture == T2I_SHAPES_TEXTURE_STRIPES && orient >= 2)
    w *= SQRT1_2;
  for (x = 0; x < res; x++) {
    float u = (x + 0.5f) / res;

    if (texture == T2I_SHAPES_TEXTURE_NOISE) {
      float g = u * NOISE_CELLS;

      ciu[x] = MIN ((gint) g, NOISE_CELLS - 1);
      cu0[x] = smooth (g - ciu[x]);
    } else {
      cu0[x] = sinf (w * u + phase);
      cu1[x] = cosf (w * u + phase);
    }
  }
  for (y = 0; y < res; y++) {
    float v = (y + 0.5f) / res;

    if (texture == T2I_SHAPES_TEXTURE_NOISE) {
      float g = v * NOISE_CELLS;

      riv[y] = MIN ((gint) g, NOISE_CELLS - 1);
      rv0[y] = smooth (g - riv[y]);
    } else {
      rv0[y] = sinf (w * v);
      rv1[y] = cosf (w * v);
    }
  }
  if (texture == T2I_SHAPES_TEXTURE_NOISE)
    for (y = 0; y <= NOISE_CELLS; y++)
      for (x = 0; x <= NOISE_CELLS; x++)
        lattice[y * (NOISE_CELLS + 1) + x] =
            2.0f * hash_unit (item->key, x, y) - 1.0f;

  for (y = 0; y < res; y++) {
    /* the row's stripe value for horizontal stripes: sin (w v + phase) */
    float hv = rv0[y] * cosf (phase) + rv1[y] * sinf (phase);

    for (x = 0; x < res; x++) {
      float m;

      switch (texture) {
        case T2I_SHAPES_TEXTURE_STRIPES:
          if (orient == 0)
            m = hv;
          else if (orient == 1)
            m = cu0[x];
          else if (orient == 2)
            m = cu0[x] * rv1[y] + cu1[x] * rv0[y];
          else
            m = cu0[x] * rv1[y] - cu1[x] * rv0[y];
          break;
        case T2I_SHAPES_TEXTURE_CHECKER:
          m = CLAMP (4.0f * cu0[x] * rv0[y], -1.0f, 1.0f);
          break;
        case T2I_SHAPES_TEXTURE_NOISE:{
          const float *l = &lattice[riv[y] * (NOISE_CELLS + 1) + ciu[x]];
          float fx = cu0[x];
          float top = l[0] + (l[1] - l[0]) * fx;
          float bot = l[NOISE_CELLS + 1] + (l[NOISE_CELLS + 2] -
              l[NOISE_CELLS + 1]) * fx;

          m = top + (bot - top) * rv0[y];
          break;
        }
        default:
          m = 0.0f;
          break;
      }
      row[x] = amp * m;
    }
    for (c = 0; c < 3; c++) {
      float *dst = chw + c * plane + (gsize) y * res;

      for (x = 0; x < res; x++)
        dst[x] = base[c] + row[x];
    }
  }
}

static void
render_object (const T2iShapesObject * ob, gint res, gint aa, float *chw)
{
  gsize plane = (gsize) res * res;
  float col[3], r_px, inv_r, edge;
  gint x0, x1, y0, y1, x, y, c;

  if (ob->shape < 0 || ob->shape >= T2I_SHAPES_N_SHAPES || ob->color < 0
      || ob->color >= T2I_SHAPES_N_COLORS || !(ob->radius > 0.0f)
      || ob->radius > 2.0f || !isfinite (ob->cx) || !isfinite (ob->cy)
      || fabsf (ob->cx) > 4.0f || fabsf (ob->cy) > 4.0f)
    return;
  for (c = 0; c < 3; c++)
    col[c] = color_rgb[ob->color][c] * (2.0f / 255.0f) - 1.0f;

  r_px = ob->radius * res;
  inv_r = 1.0f / r_px;
  /* beyond this distance (pixels) from the boundary a pixel is all in or
   * all out: just over half the pixel diagonal */
  edge = 0.75f;
  x0 = MAX (0, (gint) floorf (ob->cx * res - r_px) - 1);
  x1 = MIN (res - 1, (gint) ceilf (ob->cx * res + r_px) + 1);
  y0 = MAX (0, (gint) floorf (ob->cy * res - r_px) - 1);
  y1 = MIN (res - 1, (gint) ceilf (ob->cy * res + r_px) + 1);

  for (y = y0; y <= y1; y++)
    for (x = x0; x <= x1; x++) {
      float px = (x + 0.5f - ob->cx * res) * inv_r;
      float py = (y + 0.5f - ob->cy * res) * inv_r;
      float d = shape_sdf (ob->shape, px, py) * r_px, cov;
      gsize o = (gsize) y * res + x;

      if (d >= edge)
        continue;
      if (d <= -edge || aa == 1) {
        if (d > 0.0f)
          continue;
        cov = 1.0f;
      } else {
        gint sx, sy, inside = 0;

        for (sy = 0; sy < aa; sy++)
          for (sx = 0; sx < aa; sx++) {
            float qx = (x + (sx + 0.5f) / aa - ob->cx * res) * inv_r;
            float qy = (y + (sy + 0.5f) / aa - ob->cy * res) * inv_r;

            if (shape_inside (ob->shape, qx, qy))
              inside++;
          }
        if (inside == 0)
          continue;
        cov = (float) inside / (aa * aa);
      }
      for (c = 0; c < 3; c++) {
        float *p = &chw[c * plane + o];

        *p += (col[c] - *p) * cov;
      }
    }
}

/**
 * t2i_shapes_render:
 * @cfg: (nullable): a configuration (only @antialias is read; %NULL means
 *   4x4 supersampling)
 * @item: the item
 * @resolution: image side in pixels, 8..512
 * @chw: (out caller-allocates) (array): 3 * @resolution * @resolution
 *   floats: the image, channel-major (R plane, G plane, B plane), values in
 *   [-1, 1]
 *
 * Renders @item.  The picture is resolution-independent: any @resolution
 * samples the same continuous image (background textures included).
 * Pixels near a shape's edge are supersampled @cfg->antialias times per
 * axis, so edges take intermediate values.  Objects whose fields are out of
 * range (a hand-made item) are not drawn.
 */
void
t2i_shapes_render (const T2iShapesConfig * cfg, const T2iShapesItem * item,
    gint resolution, float *chw)
{
  gint i, aa = cfg ? CLAMP (cfg->antialias, 1, 8) : 4;

  g_return_if_fail (item != NULL && chw != NULL);
  g_return_if_fail (resolution >= T2I_SHAPES_MIN_RESOLUTION
      && resolution <= T2I_SHAPES_MAX_RESOLUTION);

  geometry_init ();
  render_background (item, resolution, chw);
  for (i = 0; i < MIN (item->n_objects, T2I_SHAPES_MAX_OBJECTS); i++)
    render_object (&item->objects[i], resolution, aa, chw);
}

/**
 * t2i_shapes_render_batch:
 * @cfg: (nullable): a configuration, as for t2i_shapes_render()
 * @items: (array length=n): the items
 * @n: number of items, at least 1
 * @resolution: image side, 8..512
 *
 * Returns: (transfer full): a new f32 tensor [@n, 3, @resolution,
 *   @resolution] holding the rendered items, or %NULL on bad arguments
 */
T2iTensor *
t2i_shapes_render_batch (const T2iShapesConfig * cfg,
    const T2iShapesItem * items, gsize n, gint resolution)
{
  T2iTensor *t;
  gint64 shape[4];
  gsize i, stride;
  float *data;

  g_return_val_if_fail (items != NULL && n > 0, NULL);
  g_return_val_if_fail (resolution >= T2I_SHAPES_MIN_RESOLUTION
      && resolution <= T2I_SHAPES_MAX_RESOLUTION, NULL);

  shape[0] = (gint64) n;
  shape[1] = 3;
  shape[2] = resolution;
  shape[3] = resolution;
  t = t2i_tensor_new (T2I_F32, 4, shape);
  data = t2i_tensor_f32 (t);
  stride = (gsize) resolution *resolution * 3;
  for (i = 0; i < n; i++)
    t2i_shapes_render (cfg, &items[i], resolution, data + i * stride);
  return t;
}

/* ------------------------------------------------------------------------ */
/* Captions                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct
{
  const char *text;
  guint mentions;
} Template;

/* Placeholders: {a} an article agreeing with the next word; {S0} {C0} {N0}
 * {P0} size, colour, shape and position of object 0 (1 likewise); {R} the
 * relation of object 0 to object 1; {Q} the inverse relation. */
static const Template single_templates[] = {
  {"{a} {S0} {C0} {N0} {P0}",
      T2I_SHAPES_MENTION_SIZE | T2I_SHAPES_MENTION_POSITION},
  {"{a} {C0} {N0}", 0},
  {"{a} {S0} {C0} {N0}", T2I_SHAPES_MENTION_SIZE},
  {"{a} {C0} {N0} {P0}", T2I_SHAPES_MENTION_POSITION},
  {"there is {a} {S0} {C0} {N0} {P0}",
      T2I_SHAPES_MENTION_SIZE | T2I_SHAPES_MENTION_POSITION},
  {"{N0}, {C0}, {S0}", T2I_SHAPES_MENTION_SIZE},
  {"a picture of {a} {C0} {N0} {P0}", T2I_SHAPES_MENTION_POSITION},
  {"{a} {C0} {N0} that is {S0}", T2I_SHAPES_MENTION_SIZE},
  {"{P0} there is {a} {S0} {C0} {N0}",
      T2I_SHAPES_MENTION_SIZE | T2I_SHAPES_MENTION_POSITION},
  {"{a} {S0} {N0} colored {C0}", T2I_SHAPES_MENTION_SIZE},
  {"{C0} {N0} {P0}", T2I_SHAPES_MENTION_POSITION},
  {"an image of {a} {S0} {C0} {N0}", T2I_SHAPES_MENTION_SIZE},
};

static const Template pair_templates[] = {
  {"{a} {S0} {C0} {N0} {R} {a} {S1} {C1} {N1}",
      T2I_SHAPES_MENTION_SIZE | T2I_SHAPES_MENTION_RELATION},
  {"{a} {C0} {N0} {R} {a} {C1} {N1}", T2I_SHAPES_MENTION_RELATION},
  {"there is {a} {S0} {C0} {N0} {R} {a} {S1} {C1} {N1}",
      T2I_SHAPES_MENTION_SIZE | T2I_SHAPES_MENTION_RELATION},
  {"{a} {C1} {N1} with {a} {C0} {N0} {R} it", T2I_SHAPES_MENTION_RELATION},
  {"{a} {S0} {C0} {N0} {P0} and {a} {S1} {C1} {N1} {P1}",
      T2I_SHAPES_MENTION_SIZE | T2I_SHAPES_MENTION_POSITION},
  {"{a} {C0} {N0} and {a} {C1} {N1}", 0},
  {"two shapes: {a} {C0} {N0} {R} {a} {C1} {N1}",
      T2I_SHAPES_MENTION_RELATION},
  {"{a} {C1} {N1} {Q} {a} {C0} {N0}", T2I_SHAPES_MENTION_RELATION},
  {"{a} {C0} {N0} {P0} and {a} {C1} {N1} {P1}",
      T2I_SHAPES_MENTION_POSITION},
};

static const char *
pick_word (const char *const *words, Rng * rng, gboolean varied)
{
  gint n = 0;

  while (words[n])
    n++;
  return varied ? words[rng_int (rng, n)] : words[0];
}

static const gint inverse_relation[T2I_SHAPES_N_RELATIONS] = {
  T2I_SHAPES_RIGHT_OF, T2I_SHAPES_LEFT_OF, T2I_SHAPES_BELOW, T2I_SHAPES_ABOVE,
};

/* Writes "a" or "an" for every '\1' marker, by the next word's first
 * letter. */
static char *
fix_articles (GString * s)
{
  GString *out = g_string_sized_new (s->len + 8);
  gsize i;

  for (i = 0; i < s->len; i++) {
    if (s->str[i] == '\1') {
      const char *next = s->str + i + 1;

      while (*next == ' ')
        next++;
      g_string_append (out, strchr ("aeiou", *next) && *next ? "an" : "a");
    } else {
      g_string_append_c (out, s->str[i]);
    }
  }
  g_string_free (s, TRUE);
  return g_string_free (out, FALSE);
}

/**
 * t2i_shapes_caption_full:
 * @cfg: a configuration (only @captions is read)
 * @item: the item
 * @variant: which caption: any number; the item's own is
 *   @item->caption_variant
 * @mentions: (out) (optional): #T2iShapesMention flags of what the caption
 *   states besides colours and shapes
 *
 * Writes caption @variant of @item: a template and (in
 * %T2I_SHAPES_CAPTIONS_VARIED mode) synonyms chosen by hashing (@item->key,
 * @variant), so a variant always gives the same caption and different
 * variants usually differ.  Captions are lower-case ASCII and always name
 * the colour and shape of every object.
 *
 * Returns: (transfer full): the caption
 */
char *
t2i_shapes_caption_full (const T2iShapesConfig * cfg,
    const T2iShapesItem * item, guint variant, guint * mentions)
{
  T2iShapesCaptions style = cfg ? cfg->captions : T2I_SHAPES_CAPTIONS_VARIED;
  gboolean varied = style == T2I_SHAPES_CAPTIONS_VARIED;
  gboolean pair;
  const Template *tpl;
  GString *s;
  const char *p;
  Rng rng;

  g_return_val_if_fail (item != NULL, NULL);

  pair = item->n_objects >= 2;
  rng.state = mix64 (item->key ^ mix64 ((guint64) variant
          ^ G_GUINT64_CONSTANT (0x63617074696f6e73)));
  if (style == T2I_SHAPES_CAPTIONS_CANONICAL)
    tpl = pair ? &pair_templates[0] : &single_templates[0];
  else if (pair)
    tpl = &pair_templates[rng_int (&rng, G_N_ELEMENTS (pair_templates))];
  else
    tpl = &single_templates[rng_int (&rng, G_N_ELEMENTS (single_templates))];

  s = g_string_sized_new (64);
  for (p = tpl->text; *p; p++) {
    const T2iShapesObject *o;
    gint k;

    if (*p != '{') {
      g_string_append_c (s, *p);
      continue;
    }
    if (p[1] == 'a') {
      g_string_append_c (s, '\1');
      p += 2;
      continue;
    }
    if (p[1] == 'R' || p[1] == 'Q') {
      gint rel = CLAMP (item->relation, 0, T2I_SHAPES_N_RELATIONS - 1);

      if (p[1] == 'Q')
        rel = inverse_relation[rel];
      g_string_append (s, pick_word (relation_phrases[rel], &rng, varied));
      p += 2;
      continue;
    }
    k = p[2] - '0';
    o = &item->objects[CLAMP (k, 0, T2I_SHAPES_MAX_OBJECTS - 1)];
    switch (p[1]) {
      case 'S':
        g_string_append (s, pick_word (size_words[CLAMP (o->size, 0,
                        T2I_SHAPES_N_SIZES - 1)], &rng, varied));
        break;
      case 'C':
        g_string_append (s, pick_word (color_words[CLAMP (o->color, 0,
                        T2I_SHAPES_N_COLORS - 1)], &rng, varied));
        break;
      case 'N':
        g_string_append (s, pick_word (shape_words[CLAMP (o->shape, 0,
                        T2I_SHAPES_N_SHAPES - 1)], &rng, varied));
        break;
      default:                 /* 'P' */
        g_string_append (s, pick_word (position_phrases[CLAMP (o->pos, 0,
                        T2I_SHAPES_N_POSITIONS - 1)], &rng, varied));
        break;
    }
    p += 3;
  }

  if (mentions)
    *mentions = tpl->mentions;
  return fix_articles (s);
}

/**
 * t2i_shapes_caption:
 * @cfg: a configuration (only @captions is read)
 * @item: the item
 * @variant: which caption; the item's own is @item->caption_variant
 *
 * Like t2i_shapes_caption_full() without the mention flags.
 *
 * Returns: (transfer full): the caption
 */
char *
t2i_shapes_caption (const T2iShapesConfig * cfg, const T2iShapesItem * item,
    guint variant)
{
  return t2i_shapes_caption_full (cfg, item, variant, NULL);
}

/* ------------------------------------------------------------------------ */
/* Ground truth arrays                                                       */
/* ------------------------------------------------------------------------ */

/**
 * t2i_shapes_attr_name:
 * @attr: an attribute
 *
 * Returns: the record entry name for @attr ("attr/color", ...), %NULL when
 *   out of range
 */
const char *
t2i_shapes_attr_name (T2iShapesAttr attr)
{
  if ((guint) attr >= T2I_SHAPES_N_ATTRS)
    return NULL;
  return attr_names[attr];
}

/**
 * t2i_shapes_attr_width:
 * @attr: an attribute
 *
 * Returns: values per item: %T2I_SHAPES_MAX_OBJECTS for per-object
 *   attributes, 1 for COUNT and RELATION, 0 when out of range
 */
gint
t2i_shapes_attr_width (T2iShapesAttr attr)
{
  switch (attr) {
    case T2I_SHAPES_ATTR_COUNT:
    case T2I_SHAPES_ATTR_RELATION:
      return 1;
    case T2I_SHAPES_ATTR_COLOR:
    case T2I_SHAPES_ATTR_SHAPE:
    case T2I_SHAPES_ATTR_SIZE:
    case T2I_SHAPES_ATTR_POS:
      return T2I_SHAPES_MAX_OBJECTS;
    default:
      return 0;
  }
}

/**
 * t2i_shapes_attr_fill:
 * @items: (array length=n): the items
 * @n: number of items
 * @attr: which attribute
 * @out: (out caller-allocates): @n * t2i_shapes_attr_width(@attr) values,
 *   item-major; -1 marks an absent object
 *
 * Writes one ground-truth attribute of a batch.
 */
void
t2i_shapes_attr_fill (const T2iShapesItem * items, gsize n,
    T2iShapesAttr attr, gint32 * out)
{
  gint w = t2i_shapes_attr_width (attr);
  gsize i;
  gint k;

  g_return_if_fail (w > 0);
  for (i = 0; i < n; i++) {
    const T2iShapesItem *it = &items[i];

    if (attr == T2I_SHAPES_ATTR_COUNT) {
      out[i] = it->n_objects;
      continue;
    }
    if (attr == T2I_SHAPES_ATTR_RELATION) {
      out[i] = it->n_objects >= 2 ? it->relation : -1;
      continue;
    }
    for (k = 0; k < w; k++) {
      const T2iShapesObject *o = &it->objects[k];
      gint32 v;

      if (k >= it->n_objects) {
        out[i * w + k] = -1;
        continue;
      }
      switch (attr) {
        case T2I_SHAPES_ATTR_COLOR:
          v = o->color;
          break;
        case T2I_SHAPES_ATTR_SHAPE:
          v = o->shape;
          break;
        case T2I_SHAPES_ATTR_SIZE:
          v = o->size;
          break;
        default:
          v = o->pos;
          break;
      }
      out[i * w + k] = v;
    }
  }
}

/**
 * t2i_shapes_attr_tensor:
 * @items: (array length=n): the items
 * @n: number of items, at least 1
 * @attr: which attribute
 *
 * Returns: (transfer full): a new i32 tensor, [@n, %T2I_SHAPES_MAX_OBJECTS]
 *   for per-object attributes or [@n] for COUNT and RELATION, filled by
 *   t2i_shapes_attr_fill(); %NULL on bad arguments
 */
T2iTensor *
t2i_shapes_attr_tensor (const T2iShapesItem * items, gsize n,
    T2iShapesAttr attr)
{
  gint w = t2i_shapes_attr_width (attr);
  gint64 shape[2] = { (gint64) n, w };
  T2iTensor *t;

  g_return_val_if_fail (items != NULL && n > 0 && w > 0, NULL);
  t = t2i_tensor_new (T2I_I32, w == 1 ? 1 : 2, shape);
  t2i_shapes_attr_fill (items, n, attr, t2i_tensor_i32 (t));
  return t;
}
