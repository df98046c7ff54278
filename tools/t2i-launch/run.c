/* Running a built pipeline to EOS for t2i-launch.
 *
 * The first SIGINT sends EOS into the pipeline so that trainers write
 * their checkpoint and metrics report before it stops; a second one gives
 * up at once.  A timer ticks while it runs: the status line's clock, the
 * plain progress lines, the --report page, and the --graph once every
 * link has its caps.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "run.h"

#include <glib-unix.h>
#include <signal.h>

#include "dot.h"

/* How often the timer ticks (milliseconds). */
#define TICK_INTERVAL 250

typedef struct
{
  GstElement *pipeline;
  GMainLoop *loop;
  T2iReporter *reporter;
  T2iHtmlReport *html;
  const gchar *graph;
  gboolean graph_written;
  T2iExitCode exit_code;
  gboolean failed;
  guint interrupts;
  guint ticks;
} Run;

/* An output the user asked for (--report, --graph) failed: stop as an
 * element's error does, with one line. */
static void
output_failed (Run * run, const GError * error)
{
  if (!run->failed)
    t2i_reporter_print (run->reporter, T2I_VERBOSITY_QUIET, "t2i-launch: %s",
        error->message);
  run->failed = TRUE;
  run->exit_code = T2I_EXIT_RUNTIME_ERROR;
  g_main_loop_quit (run->loop);
}

static void
write_graph (Run * run)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *note = NULL;

  run->graph_written = TRUE;
  if (!t2i_dot_write (GST_BIN (run->pipeline), run->graph, &note, &error))
    output_failed (run, error);
  else if (note != NULL)
    t2i_reporter_print (run->reporter, T2I_VERBOSITY_NORMAL,
        "t2i-launch: note: %s", note);
}

static gboolean
on_tick (gpointer user_data)
{
  Run *run = user_data;
  g_autoptr (GError) error = NULL;

  if (run->graph && !run->graph_written
      && t2i_dot_caps_ready (GST_BIN (run->pipeline)))
    write_graph (run);
  if (++run->ticks % (1000 / TICK_INTERVAL) != 0)
    return G_SOURCE_CONTINUE;
  t2i_reporter_tick (run->reporter);
  if (run->html && !t2i_html_report_update (run->html,
          t2i_reporter_get_progress (run->reporter), FALSE, &error))
    output_failed (run, error);
  return G_SOURCE_CONTINUE;
}

static void
report_problem (Run * run, GstMessage * message, gboolean is_error)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *debug = NULL;
  g_autofree gchar *source = NULL;
  g_autofree gchar *line = NULL;

  if (is_error)
    gst_message_parse_error (message, &error, &debug);
  else
    gst_message_parse_warning (message, &error, &debug);
  source = g_strdup_printf (is_error ? "%s" : "%s: warning",
      GST_MESSAGE_SRC_NAME (message) ? GST_MESSAGE_SRC_NAME (message) : "?");
  line = t2i_format_error (source, error, debug);
  t2i_reporter_print (run->reporter, is_error ? T2I_VERBOSITY_QUIET :
      T2I_VERBOSITY_NORMAL, "%s", line);
  if (run->html)
    t2i_html_report_problem (run->html, line);
}

static gboolean
on_bus_message (GstBus * bus, GstMessage * message, gpointer user_data)
{
  Run *run = user_data;

  switch (GST_MESSAGE_TYPE (message)) {
    case GST_MESSAGE_ERROR:
      /* only the first error: the ones after it are its echoes */
      if (!run->failed)
        report_problem (run, message, TRUE);
      run->failed = TRUE;
      run->exit_code = T2I_EXIT_RUNTIME_ERROR;
      g_main_loop_quit (run->loop);
      break;
    case GST_MESSAGE_WARNING:
      report_problem (run, message, FALSE);
      break;
    case GST_MESSAGE_EOS:
      g_main_loop_quit (run->loop);
      break;
    case GST_MESSAGE_ELEMENT:{
      g_autoptr (GError) error = NULL;

      /* the log and the report were asked for: losing them is an error */
      if (!t2i_reporter_element_message (run->reporter, message, &error)
          || (run->html && gst_message_get_structure (message)
              && !t2i_html_report_message (run->html,
                  gst_message_get_structure (message),
                  GST_MESSAGE_SRC_NAME (message), &error)))
        output_failed (run, error);
      break;
    }
    case GST_MESSAGE_STATE_CHANGED:{
      GstState old_state, new_state;

      gst_message_parse_state_changed (message, &old_state, &new_state, NULL);
      t2i_reporter_print (run->reporter, T2I_VERBOSITY_VERBOSE,
          "%s: state %s -> %s", GST_MESSAGE_SRC_NAME (message),
          gst_element_state_get_name (old_state),
          gst_element_state_get_name (new_state));
      break;
    }
    case GST_MESSAGE_INFO:{
      g_autoptr (GError) error = NULL;
      g_autofree gchar *debug = NULL;
      g_autofree gchar *line = NULL;

      gst_message_parse_info (message, &error, &debug);
      line = t2i_format_error (GST_MESSAGE_SRC_NAME (message), error, debug);
      t2i_reporter_print (run->reporter, T2I_VERBOSITY_VERBOSE, "%s", line);
      break;
    }
    case GST_MESSAGE_CLOCK_LOST:
      /* pick a new clock, as gst-launch does */
      gst_element_set_state (run->pipeline, GST_STATE_PAUSED);
      gst_element_set_state (run->pipeline, GST_STATE_PLAYING);
      break;
    case GST_MESSAGE_LATENCY:
      gst_bin_recalculate_latency (GST_BIN (run->pipeline));
      break;
    case GST_MESSAGE_REQUEST_STATE:{
      GstState state;

      gst_message_parse_request_state (message, &state);
      gst_element_set_state (run->pipeline, state);
      break;
    }
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

/* Sending EOS can wait for a busy streaming thread: it is done off the
 * main loop, which must stay free to take a second Ctrl-C. */
static gpointer
send_eos (gpointer pipeline)
{
  gst_element_send_event (pipeline, gst_event_new_eos ());
  gst_object_unref (pipeline);
  return NULL;
}

static gboolean
on_sigint (gpointer user_data)
{
  Run *run = user_data;

  if (++run->interrupts == 1) {
    t2i_reporter_print (run->reporter, T2I_VERBOSITY_NORMAL,
        "t2i-launch: interrupted: finishing (sending EOS); "
        "press Ctrl-C again to abort");
    g_thread_unref (g_thread_new ("t2i-launch-eos", send_eos,
            gst_object_ref (run->pipeline)));
    return G_SOURCE_CONTINUE;
  }
  t2i_reporter_print (run->reporter, T2I_VERBOSITY_QUIET,
      "t2i-launch: aborted");
  run->exit_code = T2I_EXIT_ABORTED;
  g_main_loop_quit (run->loop);
  return G_SOURCE_REMOVE;
}

/* When the state change fails at once: the element's error, if it posted
 * one, else a generic line. */
static void
report_start_failure (Run * run)
{
  g_autoptr (GstBus) bus = gst_element_get_bus (run->pipeline);
  g_autoptr (GstMessage) message = gst_bus_pop_filtered (bus,
      GST_MESSAGE_ERROR);

  if (message != NULL)
    report_problem (run, message, TRUE);
  else
    t2i_reporter_print (run->reporter, T2I_VERBOSITY_QUIET,
        "t2i-launch: the pipeline could not be started");
}

/**
 * t2i_run_pipeline:
 *
 * Sets @pipeline to PLAYING and runs it until EOS, an error or a second
 * SIGINT, showing its messages through @reporter.
 *
 * Returns: %T2I_EXIT_OK, %T2I_EXIT_RUNTIME_ERROR or %T2I_EXIT_ABORTED.  On
 *   abort the pipeline is left running (a stuck streaming thread must not
 *   keep the process alive): the caller exits without tearing it down.
 */
T2iExitCode
t2i_run_pipeline (GstElement * pipeline, T2iReporter * reporter,
    const T2iRunExtras * extras)
{
  Run run = {
    .pipeline = pipeline,
    .loop = g_main_loop_new (NULL, FALSE),
    .reporter = reporter,
    .html = extras ? extras->html : NULL,
    .graph = extras ? extras->graph : NULL,
    .exit_code = T2I_EXIT_OK,
  };
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  guint sigint, watch, tick;
  gint64 start = g_get_monotonic_time ();

  sigint = g_unix_signal_add (SIGINT, on_sigint, &run);
  tick = g_timeout_add (TICK_INTERVAL, on_tick, &run);

  t2i_reporter_print (reporter, T2I_VERBOSITY_VERBOSE,
      "t2i-launch: setting pipeline to PLAYING");
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    report_start_failure (&run);
    run.failed = TRUE;
    run.exit_code = T2I_EXIT_RUNTIME_ERROR;
  } else {
    watch = gst_bus_add_watch (bus, on_bus_message, &run);
    g_main_loop_run (run.loop);
    g_source_remove (watch);
  }

  g_source_remove (tick);
  if (run.exit_code == T2I_EXIT_RUNTIME_ERROR && extras
      && extras->leave_on_error) {
    g_source_remove (sigint);
    t2i_reporter_finish (reporter);
  } else if (run.exit_code != T2I_EXIT_ABORTED) {
    g_source_remove (sigint);
    /* the graph of a run that ended before every link had caps */
    if (run.graph && !run.graph_written)
      write_graph (&run);
    if (run.html) {
      g_autoptr (GError) error = NULL;

      if (!t2i_html_report_finish (run.html,
              t2i_reporter_get_progress (reporter), run.failed ? "failed" :
              run.interrupts > 0 ? "interrupted (Ctrl-C)" : "finished",
              &error))
        output_failed (&run, error);
    }
    t2i_reporter_finish (reporter);
    t2i_reporter_print (reporter, T2I_VERBOSITY_VERBOSE,
        "t2i-launch: %s after %.3f s, setting pipeline to NULL",
        run.exit_code == T2I_EXIT_OK ? "finished" : "failed",
        (g_get_monotonic_time () - start) / 1e6);
    gst_element_set_state (pipeline, GST_STATE_NULL);
  }
  g_main_loop_unref (run.loop);
  return run.exit_code;
}
