/* Running a built pipeline to EOS for t2i-launch.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

#include "htmlreport.h"
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

/* What watches a run besides the terminal, and how it ends. */
typedef struct
{
  T2iHtmlReport *html;          /* --report DIR, nullable */
  const gchar *graph;           /* --graph FILE, nullable */
  /* a pipeline that failed is left as it is, like an aborted one: a rank
   * of a data-parallel job whose streaming thread may wait for the other
   * ranks ends the job instead of joining it */
  gboolean leave_on_error;
} T2iRunExtras;

T2iExitCode t2i_run_pipeline (GstElement * pipeline, T2iReporter * reporter,
    const T2iRunExtras * extras);

G_END_DECLS
