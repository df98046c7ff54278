/* The record: what flows between t2i elements.
 *
 * One GstBuffer is one record: any number of named entries for one batch.
 * An entry is either a T2iTensor (batch first, row-major, with its
 * autograd graph) or a string list (captions).  The buffer holds a single
 * GstMemory: a table of entry references, shared copy-on-write, so a
 * shallow buffer copy (tee, gst_buffer_make_writable) shares the table and
 * the first change to either copy gives it its own table (the tensors stay
 * shared); gst_buffer_copy_deep copies the table and every tensor.  A small
 * meta carries step, epoch, phase and seed.
 *
 * Caps: `application/x-t2i-record` with, per entry NAME, the fields
 * `NAME.dtype` (string: f32, f64, i32, u8 or str) and `NAME.shape` (an int
 * array, outermost first), plus `entries` (a string array, in order).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <t2i/tensor.h>

G_BEGIN_DECLS

#define T2I_RECORD_CAPS_NAME "application/x-t2i-record"
#define T2I_RECORD_ERROR (t2i_record_error_quark ())
GQuark t2i_record_error_quark (void);

typedef enum {
  T2I_RECORD_ERROR_BAD_NAME,
  T2I_RECORD_ERROR_MISSING,
  T2I_RECORD_ERROR_MISMATCH,
} T2iRecordError;

/**
 * T2iRecordMeta:
 * @step: training step (batch index) of the record; with phases, every
 *   phase's record of a batch has the batch's step
 * @epoch: epoch of the source
 * @phase: "" or the GAN phase this record is for ("D", "G")
 * @phase_index: which of the batch's @n_phases records this is (0-based)
 * @n_phases: records the source emits per batch (1 without phases); the
 *   record with @phase_index + 1 == @n_phases ends the step
 * @seed: seed the source used for this batch
 */
typedef struct {
  GstMeta meta;
  gint64 step;
  gint64 epoch;
  gchar phase[8];
  guint phase_index;
  guint n_phases;
  guint64 seed;
} T2iRecordMeta;

GType t2i_record_meta_api_get_type (void);
const GstMetaInfo *t2i_record_meta_get_info (void);

/* A new empty record (buffer with its meta). */
GstBuffer *t2i_record_new (void);
T2iRecordMeta *t2i_record_get_meta (GstBuffer * record);
gboolean t2i_record_is_record (GstBuffer * buffer);

/* Adds (or replaces, in place) an entry; the record takes its own
 * reference.  The record must be writable. */
gboolean t2i_record_set_tensor (GstBuffer * record, const char *name,
    T2iTensor * tensor, GError ** error);
gboolean t2i_record_set_strings (GstBuffer * record, const char *name,
    const char *const *strv, GError ** error);
gboolean t2i_record_remove (GstBuffer * record, const char *name);

gboolean t2i_record_has (GstBuffer * record, const char *name);
guint t2i_record_n_entries (GstBuffer * record);
const char *t2i_record_entry_name (GstBuffer * record, guint index);
/* borrowed; NULL when absent or not a tensor */
T2iTensor *t2i_record_get_tensor (GstBuffer * record, const char *name);
/* borrowed, NULL-terminated; NULL when absent or not strings */
const char *const *t2i_record_get_strings (GstBuffer * record, const char *name);
/* "image f32[8,3,32,32], caption str[8]"; a family of more than eight
 * entries under one prefix reads "vgg/real/... (22 entries)" */
char *t2i_record_describe (GstBuffer * record);
/* whether this record is the last of its step (phase_index + 1 == n_phases) */
gboolean t2i_record_ends_step (GstBuffer * record);
/* valid entry names: a letter, then letters, digits and / - _ : */
gboolean t2i_record_name_is_valid (const char *name);

/* ---- caps ---- */
GstCaps *t2i_record_caps_new_any (void);
GstCaps *t2i_record_caps_from_record (GstBuffer * record);
/* sets an entry description on a caps structure; @dtype "str" for strings */
void t2i_caps_set_entry (GstStructure * s, const char *name, const char *dtype,
    gint ndim, const gint64 * shape);
gboolean t2i_caps_remove_entry (GstStructure * s, const char *name);
/* reads an entry description; FALSE when absent.  @dtype/@ndim/@shape
 * nullable; @shape needs %T2I_MAX_DIMS slots */
gboolean t2i_caps_get_entry (const GstStructure * s, const char *name,
    const char **dtype, gint * ndim, gint64 * shape);
/* "image f32[8,3,32,32], caption str[8]" or "no entries" (families as in
 * t2i_record_describe()) */
char *t2i_caps_describe (const GstStructure * s);

/* Checks that @s has entry @name with @dtype (NULL: any floating dtype)
 * and @ndim dims (0: any), each of @shape that is >= 0 matching.  On
 * failure sets @error to one line naming the entry, what was expected and
 * what upstream offers. */
gboolean t2i_caps_require (const GstStructure * s, const char *name,
    const char *dtype, gint ndim, const gint64 * shape, GError ** error);

G_END_DECLS
