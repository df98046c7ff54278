/* t2i — attr-acc: attributes of shapes-dataset images recovered from
 * pixels, without a learned model.
 *
 * Everything is derived from the generator itself (t2i/shapes.h): the
 * palette and background colours give the foreground threshold and the
 * colour classes, and the shape and size classes are found by matching the
 * object's coverage map against the generator's own renderings of every
 * (shape, size) pair at the object's place (analysis by synthesis).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/metrics.h>

#include <math.h>
#include <string.h>

/* the largest side the matching works at: bigger images are averaged down
 * by powers of two while the side stays at least this */
#define MIN_WORK_SIDE 48
/* an object must cover at least this fraction of the smallest template */
#define MIN_MASS_FRACTION 0.3
/* side of the image the shape centroids are measured on, and the radius */
#define CENTROID_RES 256
#define CENTROID_RADIUS 0.4f

/* shape centroid minus bounding-box centre, in radii */
static float centroid_dx[T2I_SHAPES_N_SHAPES];
static float centroid_dy[T2I_SHAPES_N_SHAPES];
static float palette[T2I_SHAPES_N_COLORS][3];
/* foreground threshold (0..255 units): half the smallest distance between
 * a shape colour and a background colour */
static double fg_threshold;

struct _T2iShapesDetector
{
  gint res;                     /* input side */
  gint work;                    /* side the analysis runs at */
  gint pool;                    /* res / work */
  T2iShapesConfig cfg;          /* for rendering templates */
  float *img;                   /* 3 planes, work x work, 0..255 */
  float *tmpl;                  /* 3 planes, rendered template */
  float *alpha;                 /* work x work, the current object's coverage */
  gint *labels;                 /* component of each pixel, 0 = background */
  gint *queue;
  double min_count;             /* pixels an object needs */
};

/* coverage of a template pixel: how far it went from the background
 * (colour 0) towards white */
static float tmpl_b0, tmpl_w0;

static void
render_template (T2iShapesDetector * det, gint shape, gint size, float cx,
    float cy, float radius, gint res, float *chw)
{
  T2iShapesItem item;

  memset (&item, 0, sizeof (item));
  item.n_objects = 1;
  item.relation = -1;
  item.background = 0;
  item.texture = T2I_SHAPES_TEXTURE_PLAIN;
  item.texture_period = 0.1f;
  item.objects[0].shape = shape;
  item.objects[0].color = T2I_SHAPES_WHITE;
  item.objects[0].size = size;
  item.objects[0].cx = cx;
  item.objects[0].cy = cy;
  item.objects[0].radius = radius;
  t2i_shapes_render (det ? &det->cfg : NULL, &item, res, chw);
}

static inline float
tmpl_coverage (float v)
{
  return (v - tmpl_b0) / (tmpl_w0 - tmpl_b0);
}

static void
tables_init (void)
{
  static gsize init = 0;

  if (g_once_init_enter (&init)) {
    const gint n = CENTROID_RES;
    float *chw = g_new (float, 3 * n * n);
    guint8 rgb[3];
    double best = G_MAXDOUBLE;

    t2i_shapes_background_rgb (0, rgb);
    tmpl_b0 = rgb[0] * (2.0f / 255.0f) - 1.0f;
    t2i_shapes_color_rgb (T2I_SHAPES_WHITE, rgb);
    tmpl_w0 = rgb[0] * (2.0f / 255.0f) - 1.0f;

    for (gint s = 0; s < T2I_SHAPES_N_SHAPES; s++) {
      double m = 0.0, mx = 0.0, my = 0.0;

      render_template (NULL, s, T2I_SHAPES_LARGE, 0.5f, 0.5f,
          CENTROID_RADIUS, n, chw);
      for (gint y = 0; y < n; y++)
        for (gint x = 0; x < n; x++) {
          double a = tmpl_coverage (chw[y * n + x]);

          m += a;
          mx += a * (x + 0.5) / n;
          my += a * (y + 0.5) / n;
        }
      centroid_dx[s] = (float) ((mx / m - 0.5) / CENTROID_RADIUS);
      centroid_dy[s] = (float) ((my / m - 0.5) / CENTROID_RADIUS);
    }
    g_free (chw);

    for (gint c = 0; c < T2I_SHAPES_N_COLORS; c++) {
      t2i_shapes_color_rgb (c, rgb);
      for (gint k = 0; k < 3; k++)
        palette[c][k] = rgb[k];
    }
    for (gint c = 0; c < T2I_SHAPES_N_COLORS; c++)
      for (gint b = 0; b < T2I_SHAPES_N_BACKGROUNDS; b++) {
        double d = 0.0;

        t2i_shapes_background_rgb (b, rgb);
        for (gint k = 0; k < 3; k++)
          d += (palette[c][k] - rgb[k]) * (palette[c][k] - rgb[k]);
        best = MIN (best, sqrt (d));
      }
    fg_threshold = 0.5 * best;
    g_once_init_leave (&init, 1);
  }
}

/**
 * t2i_shapes_detector_new:
 * @resolution: side of the images to analyse (8..512)
 *
 * Returns: (transfer full): a detector for @resolution x @resolution
 *   images
 */
T2iShapesDetector *
t2i_shapes_detector_new (gint resolution)
{
  T2iShapesDetector *det;
  gsize n;
  double min_mass = G_MAXDOUBLE;

  g_return_val_if_fail (resolution >= T2I_SHAPES_MIN_RESOLUTION
      && resolution <= T2I_SHAPES_MAX_RESOLUTION, NULL);
  tables_init ();
  det = g_new0 (T2iShapesDetector, 1);
  det->res = resolution;
  det->work = resolution;
  det->pool = 1;
  while (det->work % 2 == 0 && det->work / 2 >= MIN_WORK_SIDE) {
    det->work /= 2;
    det->pool *= 2;
  }
  t2i_shapes_config_init (&det->cfg);
  det->cfg.resolution = det->work;
  n = (gsize) det->work * det->work;
  det->img = g_new (float, 3 * n);
  det->tmpl = g_new (float, 3 * n);
  det->alpha = g_new0 (float, n);
  det->labels = g_new (gint, n);
  det->queue = g_new (gint, n);

  /* the smallest object: every shape at the small size */
  for (gint s = 0; s < T2I_SHAPES_N_SHAPES; s++) {
    double m = 0.0;

    render_template (det, s, T2I_SHAPES_SMALL, 0.5f, 0.5f,
        t2i_shapes_size_radius (T2I_SHAPES_SMALL), det->work, det->tmpl);
    for (gsize i = 0; i < n; i++)
      m += tmpl_coverage (det->tmpl[i]);
    min_mass = MIN (min_mass, m);
  }
  det->min_count = MIN_MASS_FRACTION * min_mass;
  return det;
}

void
t2i_shapes_detector_free (T2iShapesDetector * det)
{
  if (det == NULL)
    return;
  g_free (det->img);
  g_free (det->tmpl);
  g_free (det->alpha);
  g_free (det->labels);
  g_free (det->queue);
  g_free (det);
}

gint
t2i_shapes_detector_get_resolution (T2iShapesDetector * det)
{
  g_return_val_if_fail (det != NULL, 0);
  return det->res;
}

static int
compare_float (gconstpointer a, gconstpointer b)
{
  float x = *(const float *) a, y = *(const float *) b;

  return (x > y) - (x < y);
}

typedef struct
{
  gint label;
  gint count;
  gint x0, y0, x1, y1;          /* bounding box, inclusive */
} Component;

static int
compare_components (gconstpointer a, gconstpointer b)
{
  const Component *x = a, *y = b;

  if (x->count != y->count)
    return y->count - x->count;
  return x->label - y->label;
}

/* minimum over alpha in [0, 1] of |d - alpha e|^2, and that alpha */
static inline double
line_residual (const double d[3], const double e[3], double e2, double *alpha)
{
  double a = (d[0] * e[0] + d[1] * e[1] + d[2] * e[2]) / e2, r = 0.0;

  a = CLAMP (a, 0.0, 1.0);
  for (gint k = 0; k < 3; k++)
    r += (d[k] - a * e[k]) * (d[k] - a * e[k]);
  if (alpha)
    *alpha = a;
  return r;
}

/* Are pixel (x, y) and its 8 neighbours all in component @label? */
static gboolean
is_interior (const T2iShapesDetector * det, gint x, gint y, gint label)
{
  const gint w = det->work;

  if (x < 1 || y < 1 || x >= w - 1 || y >= w - 1)
    return FALSE;
  for (gint dy = -1; dy <= 1; dy++)
    for (gint dx = -1; dx <= 1; dx++)
      if (det->labels[(y + dy) * w + x + dx] != label)
        return FALSE;
  return TRUE;
}

/* Does pixel @i (at x, y) of a component's region belong to component
 * @label, or border it (a background pixel with a neighbour in it)? */
static gboolean
in_region (const T2iShapesDetector * det, gint x, gint y, gint label)
{
  const gint w = det->work;

  if (det->labels[y * w + x] == label)
    return TRUE;
  if (det->labels[y * w + x] != 0)
    return FALSE;
  for (gint dy = -1; dy <= 1; dy++)
    for (gint dx = -1; dx <= 1; dx++) {
      gint xx = x + dx, yy = y + dy;

      if (xx >= 0 && xx < w && yy >= 0 && yy < w
          && det->labels[yy * w + xx] == label)
        return TRUE;
    }
  return FALSE;
}

static void
analyse_object (T2iShapesDetector * det, const Component * c,
    const float bg[3], T2iShapesFound * out)
{
  const gint w = det->work;
  const gint x0 = MAX (0, c->x0 - 2), x1 = MIN (w - 1, c->x1 + 2);
  const gint y0 = MAX (0, c->y0 - 2), y1 = MIN (w - 1, c->y1 + 2);
  const gsize plane = (gsize) w * w;
  double e[T2I_SHAPES_N_COLORS][3], e2[T2I_SHAPES_N_COLORS];
  double res[T2I_SHAPES_N_COLORS] = { 0 };
  double mass = 0.0, mx = 0.0, my = 0.0, best_err = G_MAXDOUBLE;
  gint color = 0;

  /* colour: the palette colour that explains the component's pixels best:
   * interior pixels (all 8 neighbours in the component) as that colour,
   * edge pixels as a mixture of background and that colour (antialiased
   * edges lie on the bg -> colour line) */
  for (gint k = 0; k < T2I_SHAPES_N_COLORS; k++) {
    e2[k] = 0.0;
    for (gint ch = 0; ch < 3; ch++) {
      e[k][ch] = palette[k][ch] - bg[ch];
      e2[k] += e[k][ch] * e[k][ch];
    }
    e2[k] = MAX (e2[k], 1.0);
  }
  for (gint y = c->y0; y <= c->y1; y++)
    for (gint x = c->x0; x <= c->x1; x++) {
      gsize i = (gsize) y * w + x;
      double d[3];

      if (det->labels[i] != c->label)
        continue;
      for (gint ch = 0; ch < 3; ch++)
        d[ch] = det->img[ch * plane + i] - bg[ch];
      if (is_interior (det, x, y, c->label)) {
        for (gint k = 0; k < T2I_SHAPES_N_COLORS; k++)
          for (gint ch = 0; ch < 3; ch++)
            res[k] += (d[ch] - e[k][ch]) * (d[ch] - e[k][ch]);
      } else {
        for (gint k = 0; k < T2I_SHAPES_N_COLORS; k++)
          res[k] += line_residual (d, e[k], e2[k], NULL);
      }
    }
  for (gint k = 1; k < T2I_SHAPES_N_COLORS; k++)
    if (res[k] < res[color])
      color = k;

  /* coverage of the component and its one-pixel border */
  for (gint y = y0; y <= y1; y++)
    for (gint x = x0; x <= x1; x++) {
      gsize i = (gsize) y * w + x;
      double d[3], a = 0.0;

      if (in_region (det, x, y, c->label)) {
        for (gint ch = 0; ch < 3; ch++)
          d[ch] = det->img[ch * plane + i] - bg[ch];
        line_residual (d, e[color], e2[color], &a);
      }
      det->alpha[i] = (float) a;
      mass += a;
      mx += a * (x + 0.5) / w;
      my += a * (y + 0.5) / w;
    }
  mass = MAX (mass, 1e-9);
  out->color = color;
  out->cx = (float) (mx / mass);
  out->cy = (float) (my / mass);
  out->mass = (float) (mass * det->pool * det->pool);
  out->pos = MIN (2, MAX (0, (gint) (out->cy * 3.0f))) * 3
      + MIN (2, MAX (0, (gint) (out->cx * 3.0f)));

  /* shape and size: the generator's rendering that matches best */
  out->shape = 0;
  out->size = 0;
  for (gint s = 0; s < T2I_SHAPES_N_SHAPES; s++)
    for (gint z = 0; z < T2I_SHAPES_N_SIZES; z++) {
      float r = t2i_shapes_size_radius (z);
      float cx = out->cx - centroid_dx[s] * r;
      float cy = out->cy - centroid_dy[s] * r;
      gint tx0 = MAX (0, MIN (x0, (gint) floorf ((cx - r) * w) - 1));
      gint tx1 = MIN (w - 1, MAX (x1, (gint) ceilf ((cx + r) * w) + 1));
      gint ty0 = MAX (0, MIN (y0, (gint) floorf ((cy - r) * w) - 1));
      gint ty1 = MIN (w - 1, MAX (y1, (gint) ceilf ((cy + r) * w) + 1));
      double err = 0.0;

      render_template (det, s, z, cx, cy, r, w, det->tmpl);
      for (gint y = ty0; y <= ty1; y++)
        for (gint x = tx0; x <= tx1; x++) {
          gsize i = (gsize) y * w + x;
          double obs = (x >= x0 && x <= x1 && y >= y0 && y <= y1) ?
              det->alpha[i] : 0.0;
          double dd = obs - tmpl_coverage (det->tmpl[i]);

          err += dd * dd;
        }
      if (err < best_err) {
        best_err = err;
        out->shape = s;
        out->size = z;
      }
    }
  out->match = (float) (best_err / mass);

  for (gint y = y0; y <= y1; y++)
    for (gint x = x0; x <= x1; x++)
      det->alpha[(gsize) y * w + x] = 0.0f;
}

/**
 * t2i_shapes_detector_detect:
 * @det: a detector
 * @chw: (array): an RGB image, 3 x resolution x resolution, in [-1, 1]
 * @out: (out caller-allocates): what was found
 *
 * The image is averaged down by powers of two while its side stays at
 * least 48 pixels.  The background is the per-channel median of the
 * border pixels; a pixel is foreground when its colour is farther from it
 * than half the smallest distance between a palette colour and a
 * background colour of the generator.  The two largest 8-connected
 * foreground components with at least 30% of the area of the smallest
 * shape are the objects; components do not cross the borders of the 3x3
 * position grid (the generator keeps every object inside its cell, so
 * adjacent objects whose antialiased edges touch stay apart; a generated
 * object straddling a border is seen as two parts).  For each:
 *
 * - colour: the palette colour c minimising the sum over its pixels of
 *   |p - c|^2 for interior pixels (whose 8 neighbours are in the object)
 *   and min_a |p - bg - a (c - bg)|^2, a in [0, 1], for edge pixels (a
 *   mixture of background and colour);
 * - coverage a of each pixel of the object and of its one-pixel border,
 *   with that colour; position: the 3x3 cell of the coverage-weighted
 *   centroid;
 * - shape and size: the (shape, size) whose rendering by the generator
 *   (t2i_shapes_render(), placed so that its centroid is the object's)
 *   differs least from the coverage map in squared error.
 */
void
t2i_shapes_detector_detect (T2iShapesDetector * det, const float *chw,
    T2iShapesDetection * out)
{
  const gint w = det ? det->work : 0, res = det ? det->res : 0;
  const gsize plane = (gsize) w * w, rplane = (gsize) res * res;
  g_autofree float *border = NULL;
  g_autofree gint *cell = NULL;
  g_autoptr (GArray) comps = NULL;
  const double t2 = fg_threshold * fg_threshold;
  gint nb = 0, label = 0;

  g_return_if_fail (det != NULL && chw != NULL && out != NULL);
  memset (out, 0, sizeof (*out));

  /* to 0..255, averaged down to the working size */
  for (gint ch = 0; ch < 3; ch++)
    for (gint y = 0; y < w; y++)
      for (gint x = 0; x < w; x++) {
        double s = 0.0;

        for (gint dy = 0; dy < det->pool; dy++)
          for (gint dx = 0; dx < det->pool; dx++) {
            float v = chw[ch * rplane + (gsize) (y * det->pool + dy) * res
                + x * det->pool + dx];

            s += CLAMP ((v + 1.0f) * 127.5f, 0.0f, 255.0f);
          }
        det->img[ch * plane + (gsize) y * w + x] =
            (float) (s / (det->pool * det->pool));
      }

  /* background: median of the border */
  border = g_new (float, 4 * w);
  for (gint ch = 0; ch < 3; ch++) {
    const float *p = det->img + ch * plane;

    nb = 0;
    for (gint x = 0; x < w; x++) {
      border[nb++] = p[x];
      border[nb++] = p[(gsize) (w - 1) * w + x];
    }
    for (gint y = 1; y < w - 1; y++) {
      border[nb++] = p[(gsize) y * w];
      border[nb++] = p[(gsize) y * w + w - 1];
    }
    qsort (border, nb, sizeof (float), compare_float);
    out->background[ch] = (nb % 2) ? border[nb / 2] :
        0.5f * (border[nb / 2 - 1] + border[nb / 2]);
  }

  /* foreground mask and 8-connected components */
  for (gsize i = 0; i < plane; i++) {
    double d = 0.0;

    for (gint ch = 0; ch < 3; ch++) {
      double v = det->img[ch * plane + i] - out->background[ch];

      d += v * v;
    }
    det->labels[i] = d > t2 ? -1 : 0;
  }
  /* objects never share a cell of the 3x3 grid: components do not cross
   * cell borders, so adjacent objects whose edges touch stay apart */
  cell = g_new (gint, w);
  for (gint x = 0; x < w; x++)
    cell[x] = MIN (2, (gint) ((x + 0.5) * 3.0 / w));
  comps = g_array_new (FALSE, FALSE, sizeof (Component));
  for (gsize i0 = 0; i0 < plane; i0++) {
    Component c;
    gint head = 0, tail = 0;

    if (det->labels[i0] != -1)
      continue;
    c.label = ++label;
    c.count = 0;
    c.x0 = c.y0 = G_MAXINT;
    c.x1 = c.y1 = -1;
    det->labels[i0] = c.label;
    det->queue[tail++] = (gint) i0;
    while (head < tail) {
      gint i = det->queue[head++], x = i % w, y = i / w;

      c.count++;
      c.x0 = MIN (c.x0, x);
      c.x1 = MAX (c.x1, x);
      c.y0 = MIN (c.y0, y);
      c.y1 = MAX (c.y1, y);
      for (gint dy = -1; dy <= 1; dy++)
        for (gint dx = -1; dx <= 1; dx++) {
          gint xx = x + dx, yy = y + dy;

          if (xx < 0 || xx >= w || yy < 0 || yy >= w
              || det->labels[yy * w + xx] != -1
              || cell[xx] != cell[x] || cell[yy] != cell[y])
            continue;
          det->labels[yy * w + xx] = c.label;
          det->queue[tail++] = yy * w + xx;
        }
    }
    g_array_append_val (comps, c);
  }
  g_array_sort (comps, compare_components);

  for (guint k = 0; k < comps->len && out->n_objects < T2I_SHAPES_MAX_OBJECTS;
      k++) {
    const Component *c = &g_array_index (comps, Component, k);

    if (c->count < det->min_count)
      break;
    analyse_object (det, c, out->background, &out->objects[out->n_objects]);
    out->n_objects++;
  }
}

/* ------------------------------------------------------------------------ */
/* Scoring against the ground truth                                          */
/* ------------------------------------------------------------------------ */

static gint
agreement (const T2iShapesFound * f, gint k, const gint32 * color,
    const gint32 * shape, const gint32 * size, const gint32 * pos)
{
  return (f->color == color[k]) + (f->shape == shape[k])
      + (f->size == size[k]) + (f->pos == pos[k]);
}

static gboolean
relation_holds (gint relation, gint p0, gint p1)
{
  switch (relation) {
    case T2I_SHAPES_LEFT_OF:
      return p0 % 3 < p1 % 3;
    case T2I_SHAPES_RIGHT_OF:
      return p0 % 3 > p1 % 3;
    case T2I_SHAPES_ABOVE:
      return p0 / 3 < p1 / 3;
    case T2I_SHAPES_BELOW:
      return p0 / 3 > p1 / 3;
    default:
      return FALSE;
  }
}

/**
 * t2i_attr_acc_add:
 * @acc: running totals
 * @det: what t2i_shapes_detector_detect() found in one image
 * @n_true: objects in the image (1 or 2)
 * @color: (array): @n_true true colours
 * @shape: (array): @n_true true shapes
 * @size: (array): @n_true true sizes
 * @pos: (array): @n_true true position cells
 * @relation: the true #T2iShapesRelation of a two-object image, or -1
 *
 * A single true object is compared with the largest found object.  For
 * two, the found objects are assigned to the true ones (at most one each)
 * so that the number of agreeing attributes is largest (ties: in order);
 * a true object left without a found one has every attribute wrong.  The
 * object count is right when as many objects were found as there are.
 */
void
t2i_attr_acc_add (T2iAttrAcc * acc, const T2iShapesDetection * det,
    gint n_true, const gint32 * color, const gint32 * shape,
    const gint32 * size, const gint32 * pos, gint relation)
{
  /* match[k]: the found object given to true object k, or -1 */
  gint match[T2I_SHAPES_MAX_OBJECTS] = { -1, -1 }, best = -1;
  const gint nd = det ? det->n_objects : 0;

  g_return_if_fail (acc != NULL && det != NULL);
  g_return_if_fail (n_true >= 0 && n_true <= T2I_SHAPES_MAX_OBJECTS);

  acc->images++;
  acc->objects += n_true;
  if (nd == n_true)
    acc->correct[T2I_SHAPES_ATTR_COUNT]++;

  /* one true object: the largest found one; two: the injective
   * assignment of found objects that agrees most */
  for (gint a = -1; a < (n_true > 1 ? nd : MIN (nd, 1)); a++)
    for (gint b = -1; b < (n_true > 1 ? nd : 0); b++) {
      gint score = 0;

      if ((a >= 0 && a == b) || (n_true < 1 && a >= 0))
        continue;
      if (a >= 0)
        score += agreement (&det->objects[a], 0, color, shape, size, pos);
      if (b >= 0)
        score += agreement (&det->objects[b], 1, color, shape, size, pos);
      if (score > best) {
        best = score;
        match[0] = a;
        match[1] = b;
      }
    }
  for (gint k = 0; k < n_true; k++) {
    const T2iShapesFound *f;

    if (match[k] < 0)
      continue;
    f = &det->objects[match[k]];
    acc->correct[T2I_SHAPES_ATTR_COLOR] += f->color == color[k];
    acc->correct[T2I_SHAPES_ATTR_SHAPE] += f->shape == shape[k];
    acc->correct[T2I_SHAPES_ATTR_SIZE] += f->size == size[k];
    acc->correct[T2I_SHAPES_ATTR_POS] += f->pos == pos[k];
  }
  if (n_true == 2) {
    acc->pairs++;
    if (match[0] >= 0 && match[1] >= 0
        && relation_holds (relation, det->objects[match[0]].pos,
            det->objects[match[1]].pos))
      acc->correct[T2I_SHAPES_ATTR_RELATION]++;
  }
}

/**
 * t2i_attr_acc_get:
 * @acc: running totals
 * @attr: which attribute
 *
 * Returns: the fraction (0..1) of images (COUNT), objects (COLOR, SHAPE,
 *   SIZE, POS) or two-object images (RELATION) that were right, or NaN
 *   when there were none
 */
double
t2i_attr_acc_get (const T2iAttrAcc * acc, T2iShapesAttr attr)
{
  gint64 den;

  g_return_val_if_fail (acc != NULL && attr >= 0 && attr < T2I_SHAPES_N_ATTRS,
      NAN);
  den = attr == T2I_SHAPES_ATTR_COUNT ? acc->images :
      attr == T2I_SHAPES_ATTR_RELATION ? acc->pairs : acc->objects;
  return den > 0 ? (double) acc->correct[attr] / (double) den : NAN;
}

/**
 * t2i_attr_acc_mean:
 * @acc: running totals
 *
 * Returns: the mean of the colour, shape, size and position accuracies
 */
double
t2i_attr_acc_mean (const T2iAttrAcc * acc)
{
  return (t2i_attr_acc_get (acc, T2I_SHAPES_ATTR_COLOR)
      + t2i_attr_acc_get (acc, T2I_SHAPES_ATTR_SHAPE)
      + t2i_attr_acc_get (acc, T2I_SHAPES_ATTR_SIZE)
      + t2i_attr_acc_get (acc, T2I_SHAPES_ATTR_POS)) / 4.0;
}
