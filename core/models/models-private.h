/* Helpers shared by the architectures of core/models/ (not installed).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "t2i/models.h"
#include "t2i/nn.h"
#include "t2i/options.h"
#include "t2i/tokenizer.h"

G_BEGIN_DECLS

/* "<prefix>.<name>", or @name when @prefix is NULL or "" */
G_GNUC_INTERNAL char *t2i_model_join (const char *prefix, const char *name);

/* printf-style t2i_model_join() */
G_GNUC_INTERNAL char *t2i_model_joinf (const char *prefix, const char *fmt,
    ...) G_GNUC_PRINTF (2, 3);

/* adds @t (transfer full) as "<prefix>.<name>"; returns @t (borrowed) */
G_GNUC_INTERNAL T2iTensor *t2i_model_add (T2iParamGroup * group,
    const char *prefix, const char *name, T2iTensor * t, gboolean trainable);

/* the number of characters to skip in a local name to get the official
 * name of a model built with module prefix @prefix */
G_GNUC_INTERNAL gsize t2i_model_prefix_len (const char *prefix);

/**
 * t2i_model_load_ranges:
 * @group: the model's group
 * @skip: t2i_model_prefix_len() of the model's module prefix
 * @ranges: @n_ranges pairs (start, end) of parameter indices of @group
 * @n_ranges: how many pairs
 * @st: the file
 * @file_prefix: (nullable): prepended to the official names
 * @what: what is loaded, for messages ("the CLIP text tower")
 * @error: return location for a #GError
 *
 * Checks that the file has every parameter of the ranges with the same
 * shape (all problems in one %T2I_MODEL_ERROR_MISMATCH message), reads and
 * converts them all, then copies: on error nothing has changed.
 */
G_GNUC_INTERNAL gboolean t2i_model_load_ranges (T2iParamGroup * group,
    gsize skip, const guint * ranges, guint n_ranges, T2iSafetensors * st,
    const char *file_prefix, const char *what, GError ** error);

/* sets the trainable flag of the parameters [start, end) */
G_GNUC_INTERNAL void t2i_model_set_trainable (T2iParamGroup * group,
    guint start, guint end, gboolean trainable);

/* a constant [1, C, 1, 1] tensor of @dtype */
G_GNUC_INTERNAL T2iTensor *t2i_model_channel_const (T2iDType dtype, gint c,
    const double *values);

/* y = x * scale[c] + shift[c] per channel of x [N, C, H, W] */
G_GNUC_INTERNAL T2iTensor *t2i_model_channel_affine (T2iTensor * x,
    const double *scale, const double *shift);

/* ---- the BPE vocabulary of a text encoder (vocab.c) ----
 * Options vocab= (a merges file; default: <weights>-vocab.txt beside
 * weights=, else bytes only) and vocab-merges= (with vocab= not existing
 * yet: train that many merges on the first record's captions and save
 * them there). */
typedef struct {
  T2iTokenizer *tok;            /* %NULL until trained */
  gboolean train;               /* train at the first captions */
  gboolean bytes_only;          /* no vocabulary given: bytes only */
  gchar *sibling;               /* <weights>-vocab.txt, for messages */
} T2iModelVocab;

G_GNUC_INTERNAL gboolean t2i_model_vocab_open (T2iModelVocab * v,
    const GstStructure * config, T2iSafetensors * weights, GError ** error);
/* trains and saves the vocabulary when v->train */
G_GNUC_INTERNAL gboolean t2i_model_vocab_prepare (T2iModelVocab * v,
    const GstStructure * config, const char *const *captions, gsize n,
    GError ** error);
G_GNUC_INTERNAL void t2i_model_vocab_clear (T2iModelVocab * v);

/* x = expr, dropping the old reference of x (a forward step) */
#define T2I_MODEL_STEP(x, expr) G_STMT_START { \
    T2iTensor *t2i_model_next_ = (expr); \
    t2i_tensor_unref (x); \
    (x) = t2i_model_next_; \
  } G_STMT_END

G_END_DECLS
