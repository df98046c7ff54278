/* t2idatasetsrc: batches of image-caption pairs from a dataset.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>
#include <t2i/element.h>

G_BEGIN_DECLS

#define T2I_TYPE_DATASET_SRC (t2i_dataset_src_get_type ())
G_DECLARE_FINAL_TYPE (T2iDatasetSrc, t2i_dataset_src, T2I, DATASET_SRC,
    T2iSource)

GST_ELEMENT_REGISTER_DECLARE (t2idatasetsrc);

G_END_DECLS
