/* t2itrainer: backpropagates the loss entries and steps the optimizers.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define T2I_TYPE_TRAINER (t2i_trainer_get_type ())
G_DECLARE_FINAL_TYPE (T2iTrainer, t2i_trainer, T2I, TRAINER, GstBaseSink)

GST_ELEMENT_REGISTER_DECLARE (t2itrainer);

G_END_DECLS
