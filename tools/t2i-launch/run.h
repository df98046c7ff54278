/* Running a built pipeline to EOS for t2i-launch.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

#include "report.h"

G_BEGIN_DECLS

/* Exit codes of t2i-launch. */
typedef enum
{
  T2I_EXIT_OK = 0,
  T2I_EXIT_RUNTIME_ERROR = 1,
  T2I_EXIT_USAGE = 2,
  T2I_EXIT_ABORTED = 130,
} T2iExitCode;

T2iExitCode t2i_run_pipeline (GstElement * pipeline, T2iReporter * reporter);
/* With @leave_on_error, a pipeline that failed is left as it is, like an
 * aborted one: a rank of a data-parallel job whose streaming thread may
 * wait for the other ranks ends the job instead of joining it. */
T2iExitCode t2i_run_pipeline_full (GstElement * pipeline,
    T2iReporter * reporter, gboolean leave_on_error);

G_END_DECLS
