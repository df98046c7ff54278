/* t2i — the procedural "shapes" dataset.
 *
 * An infinite, deterministic source of image-caption pairs with exact
 * ground truth: one or two coloured shapes on a plain or textured
 * background, captioned from templates.
 *
 * Item i of a stream is a pure function of (seed, split, i): it is the same
 * whatever order items are drawn in, on every machine.  Everything random in
 * an item (attributes, jitter, background texture, caption wording) derives
 * from one 64-bit key, SplitMix64(seed, split, index).
 *
 * Geometry: image coordinates run from 0 to 1, x to the right and y down.
 * The image is a 3x3 grid of cells; position id p is cell (row p / 3,
 * column p % 3), row 0 at the top.  An object's bounding box (side
 * 2 * radius on its larger axis) lies inside its cell, so the objects of an
 * item never overlap and the cell holding an object's pixel centroid is its
 * position.
 *
 * Splits: in %T2I_SHAPES_SPLIT_BY_COMBINATION mode (the default) a fixed set
 * of 20 (colour, shape) pairs (t2i_shapes_pair_is_heldout(), two shapes per
 * colour and two colours per shape) is reserved for the test split: test
 * items are made only of those pairs, train items never contain one, so
 * test captions describe combinations never seen in training.  In
 * %T2I_SHAPES_SPLIT_RANDOM mode train and test are independent streams of
 * the same distribution.  %T2I_SHAPES_SPLIT_ALL draws from every pair.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/tensor.h>

G_BEGIN_DECLS

#define T2I_SHAPES_ERROR (t2i_shapes_error_quark ())
GQuark t2i_shapes_error_quark (void);

/**
 * T2iShapesError:
 * @T2I_SHAPES_ERROR_INVALID: a configuration value is out of range
 */
typedef enum {
  T2I_SHAPES_ERROR_INVALID,
} T2iShapesError;

/** T2I_SHAPES_MAX_OBJECTS: objects per item, at most */
#define T2I_SHAPES_MAX_OBJECTS 2
/** T2I_SHAPES_MIN_RESOLUTION: smallest image side t2i_shapes_render() takes */
#define T2I_SHAPES_MIN_RESOLUTION 8
/** T2I_SHAPES_MAX_RESOLUTION: largest image side t2i_shapes_render() takes */
#define T2I_SHAPES_MAX_RESOLUTION 512

/**
 * T2iShapesShape:
 *
 * Shape ids.  Every shape is centred on its bounding box, whose larger side
 * is 2 * radius.
 */
typedef enum {
  T2I_SHAPES_CIRCLE = 0,
  T2I_SHAPES_SQUARE,
  T2I_SHAPES_TRIANGLE,          /* pointing up */
  T2I_SHAPES_DIAMOND,
  T2I_SHAPES_STAR,              /* five points, one up */
  T2I_SHAPES_HEXAGON,
  T2I_SHAPES_CROSS,             /* a plus sign */
  T2I_SHAPES_HEART,
  T2I_SHAPES_ELLIPSE,           /* horizontal, aspect 0.55 */
  T2I_SHAPES_RING,              /* hole of 0.5 radius */
  T2I_SHAPES_N_SHAPES
} T2iShapesShape;

/**
 * T2iShapesColor:
 *
 * Colour ids; t2i_shapes_color_rgb() gives the fixed sRGB values.
 */
typedef enum {
  T2I_SHAPES_RED = 0,
  T2I_SHAPES_GREEN,
  T2I_SHAPES_BLUE,
  T2I_SHAPES_YELLOW,
  T2I_SHAPES_ORANGE,
  T2I_SHAPES_PURPLE,
  T2I_SHAPES_PINK,
  T2I_SHAPES_CYAN,
  T2I_SHAPES_BROWN,
  T2I_SHAPES_WHITE,
  T2I_SHAPES_N_COLORS
} T2iShapesColor;

/**
 * T2iShapesSize:
 *
 * Size classes: radius 0.085, 0.12 and 0.155 of the image side
 * (t2i_shapes_size_radius()).
 */
typedef enum {
  T2I_SHAPES_SMALL = 0,
  T2I_SHAPES_MEDIUM,
  T2I_SHAPES_LARGE,
  T2I_SHAPES_N_SIZES
} T2iShapesSize;

/** T2I_SHAPES_N_POSITIONS: cells of the 3x3 position grid */
#define T2I_SHAPES_N_POSITIONS 9

/**
 * T2iShapesRelation:
 *
 * How objects[0] of a two-object item stands to objects[1]: LEFT_OF means
 * objects[0]'s column is left of objects[1]'s (rows are free), ABOVE that
 * its row is higher, and so on.
 */
typedef enum {
  T2I_SHAPES_LEFT_OF = 0,
  T2I_SHAPES_RIGHT_OF,
  T2I_SHAPES_ABOVE,
  T2I_SHAPES_BELOW,
  T2I_SHAPES_N_RELATIONS
} T2iShapesRelation;

/**
 * T2iShapesTexture:
 *
 * Background textures.  All are low-contrast modulations (about +-0.05 of
 * full scale) of a dark, low-saturation background colour, so every shape
 * colour stays identifiable.
 */
typedef enum {
  T2I_SHAPES_TEXTURE_PLAIN = 0,
  T2I_SHAPES_TEXTURE_STRIPES,
  T2I_SHAPES_TEXTURE_CHECKER,
  T2I_SHAPES_TEXTURE_NOISE,
  T2I_SHAPES_N_TEXTURES
} T2iShapesTexture;

/** T2I_SHAPES_N_BACKGROUNDS: background colours */
#define T2I_SHAPES_N_BACKGROUNDS 4

/**
 * T2iShapesSplit:
 * @T2I_SHAPES_SPLIT_ALL: no split: every (colour, shape) pair
 * @T2I_SHAPES_SPLIT_TRAIN: the training split
 * @T2I_SHAPES_SPLIT_TEST: the test split
 */
typedef enum {
  T2I_SHAPES_SPLIT_ALL = 0,
  T2I_SHAPES_SPLIT_TRAIN,
  T2I_SHAPES_SPLIT_TEST,
} T2iShapesSplit;

/**
 * T2iShapesSplitMode:
 * @T2I_SHAPES_SPLIT_BY_COMBINATION: class-disjoint: the test split holds
 *   exactly the held-out (colour, shape) pairs
 * @T2I_SHAPES_SPLIT_RANDOM: train and test are independent streams of the
 *   same distribution
 */
typedef enum {
  T2I_SHAPES_SPLIT_BY_COMBINATION = 0,
  T2I_SHAPES_SPLIT_RANDOM,
} T2iShapesSplitMode;

/**
 * T2iShapesCaptions:
 * @T2I_SHAPES_CAPTIONS_CANONICAL: one fixed template naming every
 *   attribute with canonical words; the variant is ignored
 * @T2I_SHAPES_CAPTIONS_TEMPLATES: varied templates, canonical words
 * @T2I_SHAPES_CAPTIONS_VARIED: varied templates and synonyms ("big",
 *   "oval", "in the middle", ...)
 */
typedef enum {
  T2I_SHAPES_CAPTIONS_CANONICAL = 0,
  T2I_SHAPES_CAPTIONS_TEMPLATES,
  T2I_SHAPES_CAPTIONS_VARIED,
} T2iShapesCaptions;

/**
 * T2iShapesMention:
 *
 * Flags telling which optional attributes a caption states.  Colour and
 * shape are always stated for every object.
 */
typedef enum {
  T2I_SHAPES_MENTION_SIZE = 1 << 0,
  T2I_SHAPES_MENTION_POSITION = 1 << 1,
  T2I_SHAPES_MENTION_RELATION = 1 << 2,
} T2iShapesMention;

/**
 * T2iShapesConfig:
 * @resolution: default image side for t2i_shapes_render_batch() callers
 *   (8..512); t2i_shapes_render() takes its own
 * @seed: the dataset seed
 * @split: which split to draw from
 * @split_mode: how train and test differ
 * @min_objects: 1 or 2
 * @max_objects: 1 or 2 (>= @min_objects); with 1..2 half the items have two
 * @textured: draw stripe, checker and noise backgrounds besides plain ones
 * @captions: caption variety
 * @antialias: supersampling factor per axis for shape edges (1..8; 4 gives
 *   16 samples per edge pixel)
 *
 * Set defaults with t2i_shapes_config_init() and change fields after.
 */
typedef struct {
  gint resolution;
  guint64 seed;
  T2iShapesSplit split;
  T2iShapesSplitMode split_mode;
  gint min_objects;
  gint max_objects;
  gboolean textured;
  T2iShapesCaptions captions;
  gint antialias;
} T2iShapesConfig;

/**
 * T2iShapesObject:
 * @shape: a #T2iShapesShape
 * @color: a #T2iShapesColor
 * @size: a #T2iShapesSize
 * @pos: position cell, 0..8 row-major
 * @cx: bounding-box centre, x, in image units (0..1)
 * @cy: bounding-box centre, y, in image units (0..1, down)
 * @radius: half the larger side of the bounding box, in image units
 */
typedef struct {
  gint shape;
  gint color;
  gint size;
  gint pos;
  float cx;
  float cy;
  float radius;
} T2iShapesObject;

/**
 * T2iShapesItem:
 * @index: the item's index in its stream
 * @key: the 64-bit hash every other field derives from
 * @n_objects: 1 or 2
 * @objects: the objects, drawn in order; unused slots are zeroed
 * @relation: a #T2iShapesRelation for two objects, -1 for one
 * @background: background colour id, 0..%T2I_SHAPES_N_BACKGROUNDS-1
 * @texture: a #T2iShapesTexture
 * @texture_orient: stripe direction 0..3 (horizontal, vertical, two
 *   diagonals)
 * @texture_period: stripe or checker period in image units
 * @caption_variant: the variant of this item's own caption, for
 *   t2i_shapes_caption()
 *
 * One dataset item, fully described.  Plain data: copy it freely.  Setting
 * @n_objects to 0 on a copy renders the bare background.
 */
typedef struct {
  guint64 index;
  guint64 key;
  gint n_objects;
  T2iShapesObject objects[T2I_SHAPES_MAX_OBJECTS];
  gint relation;
  gint background;
  gint texture;
  gint texture_orient;
  float texture_period;
  guint caption_variant;
} T2iShapesItem;

/**
 * T2iShapesAttr:
 *
 * Ground-truth integer arrays of a batch, named like the record entries
 * that carry them (t2i_shapes_attr_name()).  COLOR, SHAPE, SIZE and POS are
 * i32[N, %T2I_SHAPES_MAX_OBJECTS] with -1 for absent objects; RELATION
 * (-1 for one object) and COUNT are i32[N].
 */
typedef enum {
  T2I_SHAPES_ATTR_COUNT = 0,
  T2I_SHAPES_ATTR_COLOR,
  T2I_SHAPES_ATTR_SHAPE,
  T2I_SHAPES_ATTR_SIZE,
  T2I_SHAPES_ATTR_POS,
  T2I_SHAPES_ATTR_RELATION,
  T2I_SHAPES_N_ATTRS
} T2iShapesAttr;

/* ---- configuration and sampling ---- */

void t2i_shapes_config_init (T2iShapesConfig * cfg);
gboolean t2i_shapes_config_validate (const T2iShapesConfig * cfg, GError ** error);
void t2i_shapes_sample (const T2iShapesConfig * cfg, guint64 index,
    T2iShapesItem * item);
void t2i_shapes_sample_batch (const T2iShapesConfig * cfg, guint64 first_index,
    gsize n, T2iShapesItem * items);

/* ---- rendering ---- */

void t2i_shapes_render (const T2iShapesConfig * cfg, const T2iShapesItem * item,
    gint resolution, float *chw);
T2iTensor *t2i_shapes_render_batch (const T2iShapesConfig * cfg,
    const T2iShapesItem * items, gsize n, gint resolution);

/* ---- captions ---- */

char *t2i_shapes_caption (const T2iShapesConfig * cfg,
    const T2iShapesItem * item, guint variant);
char *t2i_shapes_caption_full (const T2iShapesConfig * cfg,
    const T2iShapesItem * item, guint variant, guint * mentions);

/* ---- ground truth as arrays ---- */

const char *t2i_shapes_attr_name (T2iShapesAttr attr);
gint t2i_shapes_attr_width (T2iShapesAttr attr);
void t2i_shapes_attr_fill (const T2iShapesItem * items, gsize n,
    T2iShapesAttr attr, gint32 * out);
T2iTensor *t2i_shapes_attr_tensor (const T2iShapesItem * items, gsize n,
    T2iShapesAttr attr);

/* ---- splits ---- */

gboolean t2i_shapes_pair_is_heldout (gint color, gint shape);

/* ---- name and value tables ---- */

gint t2i_shapes_num_shapes (void);
gint t2i_shapes_num_colors (void);
gint t2i_shapes_num_sizes (void);
gint t2i_shapes_num_positions (void);
gint t2i_shapes_num_relations (void);
const char *t2i_shapes_shape_name (gint shape);
const char *t2i_shapes_color_name (gint color);
const char *t2i_shapes_size_name (gint size);
const char *t2i_shapes_position_name (gint pos);
const char *t2i_shapes_relation_name (gint relation);
const char *t2i_shapes_texture_name (gint texture);
const char *const *t2i_shapes_shape_words (gint shape);
const char *const *t2i_shapes_color_words (gint color);
const char *const *t2i_shapes_size_words (gint size);
void t2i_shapes_color_rgb (gint color, guint8 rgb[3]);
void t2i_shapes_background_rgb (gint background, guint8 rgb[3]);
float t2i_shapes_size_radius (gint size);

G_END_DECLS
