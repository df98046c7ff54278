/* t2i — evaluation metrics over plain arrays (docs/metrics.md).
 *
 * Every statistic is computed in double precision.  Inputs are row-major
 * float arrays; images are channel-major (C, H, W) with values in [-1, 1],
 * as t2i elements produce them.
 *
 * - FID: a streaming accumulator of feature vectors (O(D^2) memory,
 *   whatever the number of samples) and the Frechet distance between two
 *   Gaussians through a symmetric eigendecomposition (LAPACKE_dsyevd).
 * - Inception Score from classifier logits.
 * - R-precision: retrieval of each image's caption among 1 true and
 *   mismatched captions, ranked by cosine similarity.
 * - CLIP score: mean cosine similarity of paired embeddings, with
 *   best-of-n re-ranking.
 * - SSIM (as scikit-image with Gaussian weights) and FSIM / FSIMc (as the
 *   authors' FeatureSIM.m) between paired images.
 * - attr-acc: attributes of the procedural shapes dataset recovered from
 *   pixels without a learned model, compared with the ground truth.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/tensor.h>
#include <t2i/shapes.h>

G_BEGIN_DECLS

#define T2I_METRICS_ERROR (t2i_metrics_error_quark ())
GQuark t2i_metrics_error_quark (void);

/**
 * T2iMetricsError:
 * @T2I_METRICS_ERROR_INVALID: bad arguments (shapes, sizes, ranges)
 * @T2I_METRICS_ERROR_TOO_FEW: not enough samples for the statistic
 * @T2I_METRICS_ERROR_NUMERIC: the linear algebra failed (LAPACK error,
 *   non-finite input)
 * @T2I_METRICS_ERROR_MISMATCH: loaded statistics do not fit (dimension,
 *   extractor)
 */
typedef enum {
  T2I_METRICS_ERROR_INVALID,
  T2I_METRICS_ERROR_TOO_FEW,
  T2I_METRICS_ERROR_NUMERIC,
  T2I_METRICS_ERROR_MISMATCH,
} T2iMetricsError;

/* ------------------------------------------------------------------------ */
/* FID                                                                       */
/* ------------------------------------------------------------------------ */

typedef struct _T2iFidStats T2iFidStats;

/**
 * T2iFidResult:
 * @value: the Frechet distance
 * @mean_term: ||mu1 - mu2||^2
 * @trace1: tr Sigma1
 * @trace2: tr Sigma2
 * @trace_sqrt: tr sqrt(Sigma1^1/2 Sigma2 Sigma1^1/2)
 * @n_clamped: eigenvalues (of Sigma1 and of the product) that came out
 *   negative from round-off and were set to 0
 * @min_eigenvalue: the most negative of those (0 when none)
 */
typedef struct {
  double value;
  double mean_term;
  double trace1;
  double trace2;
  double trace_sqrt;
  gint n_clamped;
  double min_eigenvalue;
} T2iFidResult;

T2iFidStats *t2i_fid_stats_new (gint dim);
void t2i_fid_stats_free (T2iFidStats * stats);
T2iFidStats *t2i_fid_stats_copy (const T2iFidStats * stats);
gint t2i_fid_stats_get_dim (const T2iFidStats * stats);
gint64 t2i_fid_stats_get_n (const T2iFidStats * stats);
gsize t2i_fid_stats_get_alloc_size (const T2iFidStats * stats);
void t2i_fid_stats_add_f32 (T2iFidStats * stats, const float *x, gint64 n);
void t2i_fid_stats_add_f64 (T2iFidStats * stats, const double *x, gint64 n);
gboolean t2i_fid_stats_add_tensor (T2iFidStats * stats, T2iTensor * features,
    GError ** error);
/* the samples of @other added to @stats (data-parallel shares) */
gboolean t2i_fid_stats_merge (T2iFidStats * stats, const T2iFidStats * other,
    GError ** error);
/* as bytes, to move between the processes of one job */
GBytes *t2i_fid_stats_serialize (const T2iFidStats * stats);
T2iFidStats *t2i_fid_stats_deserialize (GBytes * bytes, GError ** error);
gboolean t2i_fid_stats_get (const T2iFidStats * stats, double *mu,
    double *sigma, GError ** error);
gboolean t2i_fid_stats_save (const T2iFidStats * stats, const char *path,
    const char *extractor, GError ** error);
T2iFidStats *t2i_fid_stats_load (const char *path, gchar ** extractor,
    GError ** error);

gboolean t2i_frechet_distance (gint dim, const double *mu1,
    const double *sigma1, const double *mu2, const double *sigma2,
    T2iFidResult * result, GError ** error);
gboolean t2i_fid_compute (const T2iFidStats * real, const T2iFidStats * fake,
    T2iFidResult * result, gchar ** warning, GError ** error);

/* ------------------------------------------------------------------------ */
/* Inception Score                                                           */
/* ------------------------------------------------------------------------ */

gboolean t2i_inception_score (const float *logits, gint64 n, gint n_classes,
    gint splits, gboolean unbiased_std, double *mean, double *std,
    GError ** error);

/* ------------------------------------------------------------------------ */
/* Embedding metrics: R-precision and CLIP score                             */
/* ------------------------------------------------------------------------ */

void t2i_cosine_rows (const float *a, const float *b, gint64 n, gint dim,
    double *out);
void t2i_rprecision_sample_candidates (guint64 seed, gint64 n,
    gint n_mismatched, gint64 * out);
gboolean t2i_rprecision_compute_with_candidates (const float *image_emb,
    const float *text_emb, gint64 n, gint dim, const gint64 * mismatched,
    gint n_mismatched, const gint * ks, gint n_ks, double *hits,
    GError ** error);
gboolean t2i_rprecision_compute (const float *image_emb,
    const float *text_emb, gint64 n, gint dim, guint64 seed,
    gint n_candidates, const gint * ks, gint n_ks, double *hits,
    gint * n_used, GError ** error);
gboolean t2i_clip_score (const double *cosines, gint64 n, gint best_of,
    double scale, gboolean clamp, double *score, double *std,
    GError ** error);

/* ------------------------------------------------------------------------ */
/* Full-reference image quality: SSIM and FSIM                               */
/* ------------------------------------------------------------------------ */

/** T2I_SSIM_WIN_SIZE: side of the Gaussian window (sigma 1.5, truncate 3.5) */
#define T2I_SSIM_WIN_SIZE 11

gboolean t2i_ssim (const float *x, const float *y, gint channels,
    gint height, gint width, gboolean luma, double *out, GError ** error);

typedef struct _T2iFsim T2iFsim;

T2iFsim *t2i_fsim_new (void);
void t2i_fsim_free (T2iFsim * fsim);
gboolean t2i_fsim_compute (T2iFsim * fsim, const float *x, const float *y,
    gint channels, gint height, gint width, gboolean chromatic, double *out,
    GError ** error);
gboolean t2i_fsim (const float *x, const float *y, gint channels,
    gint height, gint width, gboolean chromatic, double *out,
    GError ** error);
void t2i_fsim_phase_congruency (T2iFsim * fsim, const double *image,
    gint height, gint width, double *pc);

/* ------------------------------------------------------------------------ */
/* attr-acc: shapes attributes from pixels                                   */
/* ------------------------------------------------------------------------ */

/**
 * T2iShapesFound:
 * @color: nearest palette colour (#T2iShapesColor)
 * @shape: best-matching shape (#T2iShapesShape)
 * @size: best-matching size class (#T2iShapesSize)
 * @pos: 3x3 cell of the coverage-weighted centroid
 * @cx: centroid x, image units (0..1)
 * @cy: centroid y, image units (0..1, down)
 * @mass: coverage summed over the object's pixels (pixels)
 * @match: the shape match error (mean squared coverage difference)
 *
 * One object recovered from an image.
 */
typedef struct {
  gint color;
  gint shape;
  gint size;
  gint pos;
  float cx;
  float cy;
  float mass;
  float match;
} T2iShapesFound;

/**
 * T2iShapesDetection:
 * @n_objects: objects found, 0..%T2I_SHAPES_MAX_OBJECTS, largest first
 * @objects: the objects
 * @background: the background colour estimate, RGB 0..255
 */
typedef struct {
  gint n_objects;
  T2iShapesFound objects[T2I_SHAPES_MAX_OBJECTS];
  float background[3];
} T2iShapesDetection;

typedef struct _T2iShapesDetector T2iShapesDetector;

T2iShapesDetector *t2i_shapes_detector_new (gint resolution);
void t2i_shapes_detector_free (T2iShapesDetector * det);
gint t2i_shapes_detector_get_resolution (T2iShapesDetector * det);
void t2i_shapes_detector_detect (T2iShapesDetector * det, const float *chw,
    T2iShapesDetection * out);

/**
 * T2iAttrAcc:
 * @images: images scored
 * @objects: ground-truth objects scored
 * @pairs: two-object images scored (for the relation)
 * @correct: per #T2iShapesAttr: COUNT counts images whose number of
 *   objects was found; COLOR, SHAPE, SIZE and POS count objects whose
 *   attribute was found; RELATION counts two-object images whose found
 *   objects stand in the true relation
 *
 * Running totals of t2i_attr_acc_add().  Zero it to start.
 */
typedef struct {
  gint64 images;
  gint64 objects;
  gint64 pairs;
  gint64 correct[T2I_SHAPES_N_ATTRS];
} T2iAttrAcc;

void t2i_attr_acc_add (T2iAttrAcc * acc, const T2iShapesDetection * det,
    gint n_true, const gint32 * color, const gint32 * shape,
    const gint32 * size, const gint32 * pos, gint relation);
double t2i_attr_acc_get (const T2iAttrAcc * acc, T2iShapesAttr attr);
double t2i_attr_acc_mean (const T2iAttrAcc * acc);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iFidStats, t2i_fid_stats_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iFsim, t2i_fsim_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iShapesDetector, t2i_shapes_detector_free)

G_END_DECLS
