/* t2imetric: evaluation metrics accumulated over the stream.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_METRIC (t2i_metric_get_type ())
G_DECLARE_FINAL_TYPE (T2iMetric, t2i_metric, T2I, METRIC, T2iTransform)

/**
 * T2iMetricKind:
 * @T2I_METRIC_FID: Frechet distance between real and generated features
 * @T2I_METRIC_IS: Inception Score of classifier logits
 * @T2I_METRIC_R_PRECISION: caption retrieval among 100 candidates
 * @T2I_METRIC_CLIP_SCORE: mean cosine of image and text embeddings
 * @T2I_METRIC_SSIM: structural similarity of paired images
 * @T2I_METRIC_FSIM: feature similarity of paired images
 * @T2I_METRIC_ATTR_ACC: shapes-dataset attribute accuracy from pixels
 */
typedef enum {
  T2I_METRIC_FID,
  T2I_METRIC_IS,
  T2I_METRIC_R_PRECISION,
  T2I_METRIC_CLIP_SCORE,
  T2I_METRIC_SSIM,
  T2I_METRIC_FSIM,
  T2I_METRIC_ATTR_ACC,
} T2iMetricKind;

GST_ELEMENT_REGISTER_DECLARE (t2imetric);

G_END_DECLS
