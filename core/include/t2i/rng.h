/* t2i — counter-based random numbers (Philox 4x32-10).
 *
 * A #T2iRng is two integers: a 64-bit @seed (the Philox key) and a 64-bit
 * @offset counting the 32-bit words drawn so far.  Word w of the stream is
 * word (w % 4) of philox4x32_10 (counter = w / 4 as a 128-bit integer,
 * key = seed).  A fill of n values starting at @offset uses words that
 * depend only on (seed, offset, element index), never on the number of
 * threads or how the work is chunked, so the CPU and CUDA backends can draw
 * the same numbers.  Every call advances @offset by the number of words it
 * consumed rounded up to a multiple of 4 (one Philox block), so each call
 * starts on a fresh block.
 *
 * How words map to values (the same on every backend):
 *
 * - uniform f32: one word per value, 24 bits: (w >> 8) * 2^-24, in [0, 1).
 * - uniform f64: two words per value (hi, lo), 53 bits, in [0, 1).
 * - normal f32: element pairs (2k, 2k+1) share words 2k, 2k+1 through
 *   Box-Muller: u1 = ((w0 >> 8) + 1) * 2^-24 in (0, 1],
 *   u2 = (w1 >> 8) * 2^-24, r = sqrt(-2 ln u1),
 *   z0 = r cos(2 pi u2), z1 = r sin(2 pi u2).
 * - normal f64: pair k uses block k: 53-bit u1 from words 0,1 (in (0, 1]),
 *   53-bit u2 from words 2,3.
 * - Gumbel: -log(-log(u)) with u strictly inside (0, 1) (half-step offset).
 * - bernoulli: one word per value, u = (w >> 8) * 2^-24, 1 when u < p.
 * - categorical: one word per row, u = w * 2^-32.
 * - randint and permutations: two words (64 bits) per value.
 *
 * Sharded generators (data-parallel training, docs/distributed.md): with
 * @shards = K > 1, rank @shard's fill of n values gives values
 * shard * n .. shard * n + n - 1 of the fill of K n values an unsharded
 * generator at the same offset would draw, and advances @offset as that
 * fill does.  K ranks that each draw noise for their B items then hold,
 * together, exactly the noise one process draws for the K B items of the
 * same step, and their offsets stay equal to its offset.  A single value
 * (uniform1, normal1, randint1) takes block @shard of the next K blocks:
 * distinct on every rank, the offset again as K such calls.
 * Permutations and shuffles ignore the shard (every rank draws the same
 * one).  t2i_rng_init() and t2i_rng_derive() make unsharded generators.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/tensor.h>

G_BEGIN_DECLS

/**
 * T2iRng:
 * @seed: the Philox key
 * @offset: 32-bit words consumed so far (always a multiple of 4 after a call)
 * @shard: this rank's index among @shards
 * @shards: 0 or 1 for an ordinary generator; K for a rank's share of a
 *   K-rank data-parallel stream (see above)
 *
 * The whole state of a generator.  Save @seed and @offset to checkpoint it;
 * assign them back (or use t2i_rng_set_state(), which keeps the shard) to
 * continue bit-exactly.  The struct is plain data: copying it forks an
 * identical stream.
 */
typedef struct _T2iRng {
  guint64 seed;
  guint64 offset;
  guint32 shard;
  guint32 shards;
} T2iRng;

/**
 * t2i_philox4x32_10:
 * @counter: the 128-bit counter as four 32-bit words, least significant first
 * @key: the 64-bit key as two 32-bit words, least significant first
 * @out: (out caller-allocates): four random words
 *
 * The raw Philox4x32 bijection with 10 rounds (Salmon et al., Random123).
 */
void t2i_philox4x32_10 (const guint32 counter[4], const guint32 key[2], guint32 out[4]);

/* ---- state ---- */
void t2i_rng_init (T2iRng * rng, guint64 seed);                 /* offset 0 */
void t2i_rng_get_state (const T2iRng * rng, guint64 * seed, guint64 * offset);
void t2i_rng_set_state (T2iRng * rng, guint64 seed, guint64 offset);
/* makes @rng rank @shard's share of a @shards-rank stream (@shards <= 1:
 * an ordinary generator again) */
void t2i_rng_set_shard (T2iRng * rng, guint shard, guint shards);
/* skips @n_words words, rounded up to a whole block of 4 (not sharded) */
void t2i_rng_skip (T2iRng * rng, guint64 n_words);
/**
 * t2i_rng_derive:
 * @parent: a generator (not advanced)
 * @stream: any integer naming the sub-stream
 * @out: (out caller-allocates): an independent generator at offset 0
 *
 * Derives a statistically independent generator from (@parent's seed,
 * @stream) with a SplitMix64 hash, for example one per element or per
 * data-parallel rank.
 */
void t2i_rng_derive (const T2iRng * parent, guint64 stream, T2iRng * out);

/* ---- raw words and single values (each consumes one block of 4 words) ---- */
void t2i_rng_fill_u32 (T2iRng * rng, guint32 * out, gsize n);
double t2i_rng_uniform1 (T2iRng * rng);                         /* [0, 1), 53 bits */
double t2i_rng_normal1 (T2iRng * rng);                          /* N(0, 1), f64 path */
gint64 t2i_rng_randint1 (T2iRng * rng, gint64 low, gint64 high); /* [low, high) */

/* ---- buffers ---- */
void t2i_rng_uniform_f32 (T2iRng * rng, float *out, gsize n, double low, double high);
void t2i_rng_uniform_f64 (T2iRng * rng, double *out, gsize n, double low, double high);
void t2i_rng_normal_f32 (T2iRng * rng, float *out, gsize n, double mean, double std);
void t2i_rng_normal_f64 (T2iRng * rng, double *out, gsize n, double mean, double std);
void t2i_rng_gumbel_f32 (T2iRng * rng, float *out, gsize n);
void t2i_rng_gumbel_f64 (T2iRng * rng, double *out, gsize n);
/* out[i] = 1 with probability @p, else 0 */
void t2i_rng_bernoulli_f32 (T2iRng * rng, float *out, gsize n, double p);
void t2i_rng_bernoulli_u8 (T2iRng * rng, guint8 * out, gsize n, double p);
/* uniform integers in [@low, @high); @high > @low */
void t2i_rng_randint_i32 (T2iRng * rng, gint32 * out, gsize n, gint64 low, gint64 high);
void t2i_rng_randint_i64 (T2iRng * rng, gint64 * out, gsize n, gint64 low, gint64 high);

/**
 * t2i_rng_permutation:
 * @rng: the generator
 * @out: (out caller-allocates): @n indices
 * @n: how many
 *
 * A uniformly random permutation of 0..@n-1 (Fisher-Yates: for i from n-1
 * down to 1, swap i with j = randint(0, i+1), the j of step i drawn from
 * value index n-1-i), e.g. to shuffle a dataset each epoch.
 */
void t2i_rng_permutation (T2iRng * rng, gint64 * out, gint64 n);
/* shuffles @n elements of @elem_size bytes in place, same draws as above */
void t2i_rng_shuffle (T2iRng * rng, gpointer base, gsize n, gsize elem_size);

/**
 * t2i_rng_categorical:
 * @rng: the generator
 * @p: @rows x @cols row-major weights: probabilities (any non-negative
 *   scale; negative and NaN entries count as 0) or, with @logits, logits
 *   (-inf allowed)
 * @rows: number of independent draws
 * @cols: number of categories
 * @logits: whether @p holds logits (a stable softmax is applied per row)
 * @out: (out caller-allocates): @rows category indices
 *
 * Inverse-CDF sampling with one uniform per row.  A row whose weights are
 * all zero draws uniformly among its @cols categories.
 */
void t2i_rng_categorical (T2iRng * rng, const float *p, gint64 rows, gint64 cols,
    gboolean logits, gint32 * out);

/* ---- tensors (on any device; f32 or f64 unless stated) ---- */
void t2i_rng_fill_uniform (T2iRng * rng, T2iTensor * t, double low, double high);
void t2i_rng_fill_normal (T2iRng * rng, T2iTensor * t, double mean, double std);
void t2i_rng_fill_gumbel (T2iRng * rng, T2iTensor * t);
/* f32, f64 or u8 tensors of 0/1 */
void t2i_rng_fill_bernoulli (T2iRng * rng, T2iTensor * t, double p);
/* new tensors, like torch.rand / torch.randn */
T2iTensor *t2i_rng_rand (T2iRng * rng, T2iDType dtype, gint ndim, const gint64 * shape);
T2iTensor *t2i_rng_randn (T2iRng * rng, T2iDType dtype, gint ndim, const gint64 * shape);
/* the same on @device (the CUDA backend draws the same words as the CPU) */
T2iTensor *t2i_rng_rand_on (T2iRng * rng, T2iDevice device, T2iDType dtype,
    gint ndim, const gint64 * shape);
T2iTensor *t2i_rng_randn_on (T2iRng * rng, T2iDevice device, T2iDType dtype,
    gint ndim, const gint64 * shape);
/* i32 tensor of @ndim/@shape with values in [@low, @high) */
T2iTensor *t2i_rng_randint (T2iRng * rng, gint ndim, const gint64 * shape, gint64 low,
    gint64 high);
/* i32 [@n]: a random permutation (@n < 2^31) */
T2iTensor *t2i_rng_randperm (T2iRng * rng, gint64 n);
/* @p: f32 [K] or [N, K]; returns i32 [] or [N] */
T2iTensor *t2i_rng_multinomial (T2iRng * rng, T2iTensor * p, gboolean logits);

G_END_DECLS
