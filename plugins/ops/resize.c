/* op=resize: an image entry at another resolution.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recordops.h"

static const T2iOption options[] = {
  T2I_RECORD_OP_INPUT ("image"),
  T2I_RECORD_OP_OUTPUT,
  T2I_OPTION_INT ("size", 0, 0, 65536, 0,
      "The side of the output images (square), in pixels"),
  T2I_OPTION_CHOICE ("mode", "area", "area|bilinear|bicubic", 0,
      "area: the mean over each output pixel's area (adaptive average "
      "pooling, torch's mode=area); bilinear and bicubic: interpolation "
      "(align_corners=false, no antialiasing)"),
  {NULL}
};

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 shape[T2I_MAX_DIMS];
  gint ndim;
  const char *dtype;
  const gint size = t2i_config_int (config, "size");
  if (size <= 0) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "size= is not set: give the side of the output images");
    return FALSE;
  }
  if (!t2i_record_op_require_input (config, in, TRUE, 4, &dtype, &ndim,
          shape, error))
    return FALSE;
  if (ndim != 4) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s must be images [N, C, H, W]", t2i_config_string (config,
            "input"));
    return FALSE;
  }
  shape[2] = shape[3] = size;
  t2i_caps_set_entry (out, t2i_record_op_output (config), dtype, 4, shape);
  return TRUE;
}

static gboolean
apply (const GstStructure * config, GstBuffer * record, GError ** error)
{
  T2iTensor *x = t2i_record_op_get_input (config, record, error);
  if (!x)
    return FALSE;
  const gint size = t2i_config_int (config, "size");
  const char *mode = t2i_config_string (config, "mode");
  g_autoptr (T2iTensor) y = g_str_equal (mode, "bilinear") ?
      t2i_upsample_bilinear2d (x, size, size, FALSE) :
      g_str_equal (mode, "bicubic") ? t2i_resize_bicubic2d (x, size, size) :
      t2i_adaptive_avg_pool2d (x, size, size);
  return t2i_record_set_tensor (record, t2i_record_op_output (config), y,
      error);
}

const T2iRecordOp t2i_record_op_resize = {
  "resize", "An image entry at size x size: area averaging (default), "
      "bilinear or bicubic", options, negotiate, apply,
};
