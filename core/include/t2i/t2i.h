/* t2i — everything an element or application author needs.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <t2i/tensor.h>
#include <t2i/captions.h>
#include <t2i/ops.h>
#include <t2i/rng.h>
#include <t2i/params.h>
#include <t2i/optim.h>
#include <t2i/schedule.h>
#include <t2i/safetensors.h>
#include <t2i/record.h>
#include <t2i/session.h>
#include <t2i/dist.h>
#include <t2i/element.h>
#include <t2i/launch.h>
#include <t2i/nn.h>
#include <t2i/metrics.h>
#include <t2i/models.h>
#include <t2i/clip.h>
#include <t2i/vgg.h>
#include <t2i/sdn.h>
#include <t2i/inception.h>
#include <t2i/arch.h>
#include <t2i/options.h>
#include <t2i/vqdiffusion.h>
