/* t2i-launch --report DIR: an HTML page of a run that refreshes while it
 * runs (curves, sample grids, metrics, the pipeline, its variables).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

#include "progress.h"

G_BEGIN_DECLS

/* What the page says about the run besides its messages. */
typedef struct
{
  const gchar *filename;        /* the pipeline file, or <command-line> */
  const gchar *original;        /* its text as written */
  const gchar *expanded;        /* after comments and variables */
  GHashTable *sets;             /* --set NAME -> VALUE */
  GHashTable *used;             /* the variables the text uses (a set) */
  gchar **envp;                 /* the environment variables came from */
  gchar **argv;                 /* t2i-launch's command line */
} T2iHtmlReportInfo;

typedef struct _T2iHtmlReport T2iHtmlReport;

/* Seconds between the page's reloads while the run goes on. */
#define T2I_HTML_REPORT_REFRESH 5

T2iHtmlReport *t2i_html_report_new (const gchar * dir,
    const T2iHtmlReportInfo * info, GError ** error);

void t2i_html_report_free (T2iHtmlReport * r);

gboolean t2i_html_report_message (T2iHtmlReport * r, const GstStructure * s,
    const gchar * source, GError ** error);

void t2i_html_report_problem (T2iHtmlReport * r, const gchar * line);

gboolean t2i_html_report_update (T2iHtmlReport * r, T2iProgress * progress,
    gboolean force, GError ** error);

gboolean t2i_html_report_finish (T2iHtmlReport * r, T2iProgress * progress,
    const gchar * outcome, GError ** error);

const gchar *t2i_html_report_get_dir (T2iHtmlReport * r);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iHtmlReport, t2i_html_report_free)

G_END_DECLS
