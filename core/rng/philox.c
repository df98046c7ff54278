/* t2i — Philox 4x32-10 counter-based random numbers and distributions.
 *
 * See t2i/rng.h for how stream words map to values.  Every fill is a loop
 * over Philox blocks (4 words) that only reads (seed, first block, block
 * index), so OpenMP may split it any way it likes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/rng.h"
#include "../backend/backend.h"

#include <math.h>
#include <string.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* Parallelise only fills big enough to pay for the threads. */
#define PAR_BLOCKS 2048

#define TWO_POW_M24 (1.0 / 16777216.0)
#define TWO_POW_M32 (1.0 / 4294967296.0)
#define TWO_POW_M53 (1.0 / 9007199254740992.0)

static inline void
philox_round (guint32 c[4], const guint32 k[2])
{
  guint64 p0 = (guint64) PHILOX_M0 * c[0];
  guint64 p1 = (guint64) PHILOX_M1 * c[2];
  guint32 hi0 = (guint32) (p0 >> 32), lo0 = (guint32) p0;
  guint32 hi1 = (guint32) (p1 >> 32), lo1 = (guint32) p1;
  guint32 n0 = hi1 ^ c[1] ^ k[0];
  guint32 n2 = hi0 ^ c[3] ^ k[1];

  c[0] = n0;
  c[1] = lo1;
  c[2] = n2;
  c[3] = lo0;
}

void
t2i_philox4x32_10 (const guint32 counter[4], const guint32 key[2], guint32 out[4])
{
  guint32 c[4] = { counter[0], counter[1], counter[2], counter[3] };
  guint32 k[2] = { key[0], key[1] };

  for (gint r = 0; r < 10; r++) {
    if (r > 0) {
      k[0] += PHILOX_W0;
      k[1] += PHILOX_W1;
    }
    philox_round (c, k);
  }
  memcpy (out, c, sizeof c);
}

/* The four words of stream block @block under @seed. */
static inline void
philox_block (guint64 seed, guint64 block, guint32 out[4])
{
  const guint32 ctr[4] = { (guint32) block, (guint32) (block >> 32), 0, 0 };
  const guint32 key[2] = { (guint32) seed, (guint32) (seed >> 32) };

  t2i_philox4x32_10 (ctr, key, out);
}

/* Rounds the offset up to a block, reserves @n_blocks blocks and returns the
 * first one. */
static guint64
rng_claim (T2iRng * rng, guint64 n_blocks)
{
  guint64 first = (rng->offset + 3) / 4;

  rng->offset = (first + n_blocks) * 4;
  return first;
}

static inline guint64
blocks_for (guint64 n_words)
{
  return (n_words + 3) / 4;
}

/* A sharded generator's fill of n values is the slice [g0, g0 + n) of a
 * fill of n * K values (t2i/rng.h); an ordinary one has K = 1, g0 = 0. */
static inline guint64
shard_count (const T2iRng * rng)
{
  return rng->shards > 1 ? rng->shards : 1;
}

static inline guint64
shard_start (const T2iRng * rng, guint64 n)
{
  return rng->shards > 1 ? (guint64) rng->shard * n : 0;
}

/* a single value: block @shard of the next K blocks */
static guint64
claim_single (T2iRng * rng)
{
  guint64 first = rng_claim (rng, shard_count (rng));
  return first + (rng->shards > 1 ? rng->shard : 0);
}

/* ---- word -> value maps ---- */

static inline double
u24 (guint32 w)                 /* [0, 1) */
{
  return (double) (w >> 8) * TWO_POW_M24;
}

static inline double
u24_open_low (guint32 w)        /* (0, 1] */
{
  return ((double) (w >> 8) + 1.0) * TWO_POW_M24;
}

static inline double
u24_open (guint32 w)            /* (0, 1) */
{
  return ((double) (w >> 8) + 0.5) * TWO_POW_M24;
}

static inline guint64
w64 (guint32 hi, guint32 lo)
{
  return ((guint64) hi << 32) | lo;
}

static inline double
u53 (guint32 hi, guint32 lo)    /* [0, 1) */
{
  return (double) (w64 (hi, lo) >> 11) * TWO_POW_M53;
}

static inline double
u53_open_low (guint32 hi, guint32 lo)   /* (0, 1] */
{
  return ((double) (w64 (hi, lo) >> 11) + 1.0) * TWO_POW_M53;
}

static inline double
u53_open (guint32 hi, guint32 lo)       /* (0, 1) */
{
  return ((double) (w64 (hi, lo) >> 11) + 0.5) * TWO_POW_M53;
}

/* High 64 bits of the 128-bit product a * b. */
static inline guint64
mulhi64 (guint64 a, guint64 b)
{
  guint64 a_lo = (guint32) a, a_hi = a >> 32;
  guint64 b_lo = (guint32) b, b_hi = b >> 32;
  guint64 lo_lo = a_lo * b_lo;
  guint64 hi_lo = a_hi * b_lo;
  guint64 lo_hi = a_lo * b_hi;
  guint64 hi_hi = a_hi * b_hi;
  guint64 cross = (lo_lo >> 32) + (guint32) hi_lo + lo_hi;

  return hi_hi + (hi_lo >> 32) + (cross >> 32);
}

/* Uniform integer in [low, low + range) from 64 random bits (range > 0,
 * as an unsigned count so the full gint64 span fits). */
static inline gint64
bounded (guint32 hi, guint32 lo, gint64 low, guint64 range)
{
  return (gint64) ((guint64) low + mulhi64 (w64 (hi, lo), range));
}

static inline void
box_muller (double u1, double u2, double *z0, double *z1)
{
  double r = sqrt (-2.0 * log (u1));
  double theta = 2.0 * G_PI * u2;

  *z0 = r * cos (theta);
  *z1 = r * sin (theta);
}

/* ---- state ---- */

void
t2i_rng_init (T2iRng * rng, guint64 seed)
{
  g_return_if_fail (rng != NULL);
  rng->seed = seed;
  rng->offset = 0;
  rng->shard = 0;
  rng->shards = 0;
}

void
t2i_rng_get_state (const T2iRng * rng, guint64 * seed, guint64 * offset)
{
  g_return_if_fail (rng != NULL);
  if (seed)
    *seed = rng->seed;
  if (offset)
    *offset = rng->offset;
}

void
t2i_rng_set_state (T2iRng * rng, guint64 seed, guint64 offset)
{
  g_return_if_fail (rng != NULL);
  rng->seed = seed;
  rng->offset = offset;
}

void
t2i_rng_set_shard (T2iRng * rng, guint shard, guint shards)
{
  g_return_if_fail (rng != NULL);
  g_return_if_fail (shards <= 1 || shard < shards);
  rng->shard = shards > 1 ? shard : 0;
  rng->shards = shards > 1 ? shards : 0;
}

void
t2i_rng_skip (T2iRng * rng, guint64 n_words)
{
  g_return_if_fail (rng != NULL);
  rng_claim (rng, blocks_for (n_words));
}

static guint64
splitmix64 (guint64 x)
{
  x += G_GUINT64_CONSTANT (0x9E3779B97F4A7C15);
  x = (x ^ (x >> 30)) * G_GUINT64_CONSTANT (0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * G_GUINT64_CONSTANT (0x94D049BB133111EB);
  return x ^ (x >> 31);
}

void
t2i_rng_derive (const T2iRng * parent, guint64 stream, T2iRng * out)
{
  g_return_if_fail (parent != NULL && out != NULL);
  out->seed = splitmix64 (splitmix64 (parent->seed) ^ splitmix64 (~stream));
  out->offset = 0;
  out->shard = 0;
  out->shards = 0;
}

/* ---- raw words and single values ---- */

/* One word per value: 4 values per block.  EXPR maps word `w` to the value.
 * Value g of the (whole, unsharded) fill is word g % 4 of block g / 4; this
 * rank writes values [g0, g0 + n). */
#define FILL_PER_WORD(T, EXPR)                                          \
  G_STMT_START {                                                        \
    guint64 g0 = shard_start (rng, n);                                  \
    guint64 first = rng_claim (rng, blocks_for (n * shard_count (rng))); \
    guint64 b0 = g0 / 4, b1 = blocks_for (g0 + n);                      \
    guint64 seed = rng->seed;                                           \
    _Pragma ("omp parallel for if (b1 - b0 >= PAR_BLOCKS) schedule(static)") \
    for (gint64 b = (gint64) b0; b < (gint64) b1; b++) {                \
      guint32 ws[4];                                                    \
      philox_block (seed, first + (guint64) b, ws);                     \
      for (guint64 j = 0; j < 4; j++) {                                 \
        guint64 g = (guint64) b * 4 + j;                                \
        guint32 w = ws[j];                                              \
        if (g >= g0 && g < g0 + n)                                      \
          out[g - g0] = (T) (EXPR);                                     \
      }                                                                 \
    }                                                                   \
  } G_STMT_END

/* Two words per value (hi = even word, lo = odd word): 2 values per block,
 * value g in block g / 2. */
#define FILL_PER_TWO_WORDS(T, EXPR)                                     \
  G_STMT_START {                                                        \
    guint64 g0 = shard_start (rng, n);                                  \
    guint64 first = rng_claim (rng,                                     \
        blocks_for ((guint64) n * shard_count (rng) * 2));              \
    guint64 b0 = g0 / 2, b1 = (g0 + n + 1) / 2;                         \
    guint64 seed = rng->seed;                                           \
    _Pragma ("omp parallel for if (b1 - b0 >= PAR_BLOCKS) schedule(static)") \
    for (gint64 b = (gint64) b0; b < (gint64) b1; b++) {                \
      guint32 ws[4];                                                    \
      philox_block (seed, first + (guint64) b, ws);                     \
      for (guint64 j = 0; j < 2; j++) {                                 \
        guint64 g = (guint64) b * 2 + j;                                \
        guint32 hi = ws[2 * j], lo = ws[2 * j + 1];                     \
        if (g >= g0 && g < g0 + n)                                      \
          out[g - g0] = (T) (EXPR);                                     \
      }                                                                 \
    }                                                                   \
  } G_STMT_END

void
t2i_rng_fill_u32 (T2iRng * rng, guint32 * out, gsize n)
{
  g_return_if_fail (rng != NULL && (out != NULL || n == 0));
  FILL_PER_WORD (guint32, w);
}

double
t2i_rng_uniform1 (T2iRng * rng)
{
  guint32 w[4];

  g_return_val_if_fail (rng != NULL, 0.0);
  philox_block (rng->seed, claim_single (rng), w);
  return u53 (w[0], w[1]);
}

double
t2i_rng_normal1 (T2iRng * rng)
{
  guint32 w[4];
  double z0, z1;

  g_return_val_if_fail (rng != NULL, 0.0);
  philox_block (rng->seed, claim_single (rng), w);
  box_muller (u53_open_low (w[0], w[1]), u53 (w[2], w[3]), &z0, &z1);
  return z0;
}

gint64
t2i_rng_randint1 (T2iRng * rng, gint64 low, gint64 high)
{
  guint32 w[4];

  g_return_val_if_fail (rng != NULL, low);
  g_return_val_if_fail (high > low, low);
  philox_block (rng->seed, claim_single (rng), w);
  return bounded (w[0], w[1], low, (guint64) high - (guint64) low);
}

/* ---- buffers ---- */

void
t2i_rng_uniform_f32 (T2iRng * rng, float *out, gsize n, double low, double high)
{
  g_return_if_fail (rng != NULL && (out != NULL || n == 0));
  double scale = high - low;

  /* the f32 rounding of low + u * scale may reach @high: keep it below */
  float top = nextafterf ((float) high, -INFINITY);
  if (!(top >= (float) low))
    top = (float) low;
  FILL_PER_WORD (float, MIN ((float) (low + u24 (w) * scale), top));
}

void
t2i_rng_uniform_f64 (T2iRng * rng, double *out, gsize n, double low, double high)
{
  g_return_if_fail (rng != NULL && (out != NULL || n == 0));
  double scale = high - low;
  /* rounding of low + u * scale may reach @high: keep it below */
  double top = nextafter (high, -INFINITY);

  if (!(top >= low))
    top = low;
  FILL_PER_TWO_WORDS (double, MIN (low + u53 (hi, lo) * scale, top));
}

/* values 2k and 2k+1 share words 2k, 2k+1: value g is in block g / 4 */
void
t2i_rng_normal_f32 (T2iRng * rng, float *out, gsize n, double mean, double std)
{
  g_return_if_fail (rng != NULL && (out != NULL || n == 0));
  guint64 all = (guint64) n * shard_count (rng), g0 = shard_start (rng, n);
  guint64 first = rng_claim (rng, blocks_for (all + (all & 1)));
  guint64 b0 = g0 / 4, b1 = blocks_for (g0 + n);
  guint64 seed = rng->seed;

#pragma omp parallel for if (b1 - b0 >= PAR_BLOCKS) schedule(static)
  for (gint64 b = (gint64) b0; b < (gint64) b1; b++) {
    guint32 w[4];

    philox_block (seed, first + (guint64) b, w);
    for (guint64 j = 0; j < 4; j += 2) {
      guint64 g = (guint64) b * 4 + j;
      double z0, z1;

      if (g + 1 < g0 || g >= g0 + n)
        continue;
      box_muller (u24_open_low (w[j]), u24 (w[j + 1]), &z0, &z1);
      if (g >= g0)
        out[g - g0] = (float) (mean + std * z0);
      if (g + 1 >= g0 && g + 1 < g0 + n)
        out[g + 1 - g0] = (float) (mean + std * z1);
    }
  }
}

/* pair k (values 2k, 2k+1) takes block k */
void
t2i_rng_normal_f64 (T2iRng * rng, double *out, gsize n, double mean, double std)
{
  g_return_if_fail (rng != NULL && (out != NULL || n == 0));
  guint64 all = (guint64) n * shard_count (rng), g0 = shard_start (rng, n);
  guint64 first = rng_claim (rng, (all + 1) / 2);
  guint64 b0 = g0 / 2, b1 = (g0 + n + 1) / 2;
  guint64 seed = rng->seed;

#pragma omp parallel for if (b1 - b0 >= PAR_BLOCKS) schedule(static)
  for (gint64 b = (gint64) b0; b < (gint64) b1; b++) {
    guint32 w[4];
    guint64 g = (guint64) b * 2;
    double z0, z1;

    philox_block (seed, first + (guint64) b, w);
    box_muller (u53_open_low (w[0], w[1]), u53 (w[2], w[3]), &z0, &z1);
    if (g >= g0)
      out[g - g0] = mean + std * z0;
    if (g + 1 >= g0 && g + 1 < g0 + n)
      out[g + 1 - g0] = mean + std * z1;
  }
}

void
t2i_rng_gumbel_f32 (T2iRng * rng, float *out, gsize n)
{
  g_return_if_fail (rng != NULL && (out != NULL || n == 0));
  FILL_PER_WORD (float, -log (-log (u24_open (w))));
}

void
t2i_rng_gumbel_f64 (T2iRng * rng, double *out, gsize n)
{
  g_return_if_fail (rng != NULL && (out != NULL || n == 0));
  FILL_PER_TWO_WORDS (double, -log (-log (u53_open (hi, lo))));
}

void
t2i_rng_bernoulli_f32 (T2iRng * rng, float *out, gsize n, double p)
{
  g_return_if_fail (rng != NULL && (out != NULL || n == 0));
  FILL_PER_WORD (float, u24 (w) < p ? 1.0f : 0.0f);
}

void
t2i_rng_bernoulli_u8 (T2iRng * rng, guint8 * out, gsize n, double p)
{
  g_return_if_fail (rng != NULL && (out != NULL || n == 0));
  FILL_PER_WORD (guint8, u24 (w) < p ? 1 : 0);
}

void
t2i_rng_randint_i32 (T2iRng * rng, gint32 * out, gsize n, gint64 low, gint64 high)
{
  g_return_if_fail (rng != NULL && (out != NULL || n == 0));
  g_return_if_fail (high > low);
  g_return_if_fail (low >= G_MININT32 && high - 1 <= G_MAXINT32);
  guint64 range = (guint64) (high - low);

  FILL_PER_TWO_WORDS (gint32, bounded (hi, lo, low, range));
}

void
t2i_rng_randint_i64 (T2iRng * rng, gint64 * out, gsize n, gint64 low, gint64 high)
{
  g_return_if_fail (rng != NULL && (out != NULL || n == 0));
  g_return_if_fail (high > low);
  guint64 range = (guint64) high - (guint64) low;

  FILL_PER_TWO_WORDS (gint64, bounded (hi, lo, low, range));
}

/* Fisher-Yates: step s (i = n-1-s) draws j in [0, i] from words 2s, 2s+1;
 * calls @swap (i, j). */
#define FISHER_YATES(n, SWAP)                                           \
  G_STMT_START {                                                        \
    guint64 steps = (n) > 1 ? (guint64) (n) - 1 : 0;                    \
    guint64 first = rng_claim (rng, blocks_for (steps * 2));            \
    guint32 w[4];                                                       \
    for (guint64 s = 0; s < steps; s++) {                               \
      if ((s & 1) == 0)                                                 \
        philox_block (rng->seed, first + s / 2, w);                     \
      guint64 i = (guint64) (n) - 1 - s;                                \
      guint64 j = (guint64) bounded (w[(s & 1) * 2], w[(s & 1) * 2 + 1], \
          0, i + 1);                                                    \
      SWAP;                                                             \
    }                                                                   \
  } G_STMT_END

void
t2i_rng_permutation (T2iRng * rng, gint64 * out, gint64 n)
{
  g_return_if_fail (rng != NULL && n >= 0 && (out != NULL || n == 0));
  for (gint64 i = 0; i < n; i++)
    out[i] = i;
  FISHER_YATES (n, {
        gint64 t = out[i];
        out[i] = out[j];
        out[j] = t;
      });
}

void
t2i_rng_shuffle (T2iRng * rng, gpointer base, gsize n, gsize elem_size)
{
  g_return_if_fail (rng != NULL && (base != NULL || n == 0));
  g_return_if_fail (elem_size > 0);
  guint8 *p = base;
  guint8 *tmp = g_malloc (elem_size);

  FISHER_YATES (n, {
        if (i != j) {
          memcpy (tmp, p + i * elem_size, elem_size);
          memcpy (p + i * elem_size, p + j * elem_size, elem_size);
          memcpy (p + j * elem_size, tmp, elem_size);
        }
      });
  g_free (tmp);
}

/* The non-negative weight of one entry of a probability or logit row. */
static inline double
cat_weight (float x, gboolean logits, float max)
{
  if (isnan (x))
    return 0.0;
  if (!logits) {
    if (x <= 0.0f)
      return 0.0;
    return isinf (x) ? (double) G_MAXFLOAT : (double) x;
  }
  if (x == -INFINITY)
    return 0.0;
  if (max == INFINITY)
    return x == INFINITY ? 1.0 : 0.0;
  return exp ((double) x - (double) max);
}

void
t2i_rng_categorical (T2iRng * rng, const float *p, gint64 rows, gint64 cols,
    gboolean logits, gint32 * out)
{
  g_return_if_fail (rng != NULL && rows >= 0 && cols > 0 && cols <= G_MAXINT32);
  g_return_if_fail ((p != NULL && out != NULL) || rows == 0);
  /* one word per row; a shard's rows are rows g0.. of the whole draw */
  guint64 g0 = shard_start (rng, (guint64) rows);
  guint64 first = rng_claim (rng,
      blocks_for ((guint64) rows * shard_count (rng)));
  guint64 seed = rng->seed;

#pragma omp parallel for if (rows * cols >= 65536) schedule(static)
  for (gint64 r = 0; r < rows; r++) {
    const float *row = p + r * cols;
    guint32 w[4];
    float max = -INFINITY;
    double total = 0.0, target, cum = 0.0;
    gint64 pick = -1, last_positive = -1;

    philox_block (seed, first + (g0 + (guint64) r) / 4, w);
    double u = (double) w[(g0 + (guint64) r) % 4] * TWO_POW_M32;

    if (logits)
      for (gint64 c = 0; c < cols; c++)
        if (row[c] > max)
          max = row[c];
    for (gint64 c = 0; c < cols; c++)
      total += cat_weight (row[c], logits, max);

    if (!(total > 0.0)) {
      out[r] = (gint32) MIN ((gint64) (u * (double) cols), cols - 1);
      continue;
    }
    target = u * total;
    for (gint64 c = 0; c < cols; c++) {
      double wt = cat_weight (row[c], logits, max);

      if (wt > 0.0) {
        last_positive = c;
        cum += wt;
        if (cum > target) {
          pick = c;
          break;
        }
      }
    }
    /* rounding can leave cum just below target: the last category with
     * weight is the right answer then */
    out[r] = (gint32) (pick >= 0 ? pick : last_positive);
  }
}

/* ---- tensors ---- */

static gboolean
check_float (const T2iTensor * t, const char *what)
{
  if (t->dtype != T2I_F32 && t->dtype != T2I_F64) {
    g_critical ("%s: expected an f32 or f64 tensor, got %s", what,
        t2i_dtype_name (t->dtype));
    return FALSE;
  }
  return TRUE;
}

/* The CPU table's fill entry */
gboolean
t2i_cpu_rng_fill (T2iRng * rng, T2iRngFill kind, T2iTensor * t, double a,
    double b)
{
  const gboolean f32 = t->dtype == T2I_F32;
  switch (kind) {
    case T2I_RNG_UNIFORM:
      if (f32)
        t2i_rng_uniform_f32 (rng, t->data, (gsize) t->numel, a, b);
      else
        t2i_rng_uniform_f64 (rng, t->data, (gsize) t->numel, a, b);
      break;
    case T2I_RNG_NORMAL:
      if (f32)
        t2i_rng_normal_f32 (rng, t->data, (gsize) t->numel, a, b);
      else
        t2i_rng_normal_f64 (rng, t->data, (gsize) t->numel, a, b);
      break;
    case T2I_RNG_GUMBEL:
      if (f32)
        t2i_rng_gumbel_f32 (rng, t->data, (gsize) t->numel);
      else
        t2i_rng_gumbel_f64 (rng, t->data, (gsize) t->numel);
      break;
    case T2I_RNG_BERNOULLI:
      switch (t->dtype) {
        case T2I_F32:
          t2i_rng_bernoulli_f32 (rng, t->data, (gsize) t->numel, a);
          break;
        case T2I_U8:
          t2i_rng_bernoulli_u8 (rng, t->data, (gsize) t->numel, a);
          break;
        case T2I_F64:{
          /* same draws as f32: one word per value */
          float *tmp = g_new (float, MAX (t->numel, 1));
          double *d = t->data;

          t2i_rng_bernoulli_f32 (rng, tmp, (gsize) t->numel, a);
          for (gint64 i = 0; i < t->numel; i++)
            d[i] = tmp[i];
          g_free (tmp);
          break;
        }
        default:
          g_critical ("t2i_rng_fill_bernoulli: unsupported dtype %s",
              t2i_dtype_name (t->dtype));
          return FALSE;
      }
      break;
  }
  return TRUE;
}

void
t2i_rng_fill_uniform (T2iRng * rng, T2iTensor * t, double low, double high)
{
  g_return_if_fail (rng != NULL && t != NULL);
  if (check_float (t, G_STRFUNC))
    T2I_BACKEND (t)->rng_fill (rng, T2I_RNG_UNIFORM, t, low, high);
}

void
t2i_rng_fill_normal (T2iRng * rng, T2iTensor * t, double mean, double std)
{
  g_return_if_fail (rng != NULL && t != NULL);
  if (check_float (t, G_STRFUNC))
    T2I_BACKEND (t)->rng_fill (rng, T2I_RNG_NORMAL, t, mean, std);
}

void
t2i_rng_fill_gumbel (T2iRng * rng, T2iTensor * t)
{
  g_return_if_fail (rng != NULL && t != NULL);
  if (check_float (t, G_STRFUNC))
    T2I_BACKEND (t)->rng_fill (rng, T2I_RNG_GUMBEL, t, 0, 0);
}

void
t2i_rng_fill_bernoulli (T2iRng * rng, T2iTensor * t, double p)
{
  g_return_if_fail (rng != NULL && t != NULL);
  T2I_BACKEND (t)->rng_fill (rng, T2I_RNG_BERNOULLI, t, p, 0);
}

T2iTensor *
t2i_rng_rand_on (T2iRng * rng, T2iDevice device, T2iDType dtype, gint ndim,
    const gint64 * shape)
{
  g_return_val_if_fail (dtype == T2I_F32 || dtype == T2I_F64, NULL);
  T2iTensor *t = t2i_tensor_new_on (device, dtype, ndim, shape);

  if (t)
    t2i_rng_fill_uniform (rng, t, 0.0, 1.0);
  return t;
}

T2iTensor *
t2i_rng_randn_on (T2iRng * rng, T2iDevice device, T2iDType dtype, gint ndim,
    const gint64 * shape)
{
  g_return_val_if_fail (dtype == T2I_F32 || dtype == T2I_F64, NULL);
  T2iTensor *t = t2i_tensor_new_on (device, dtype, ndim, shape);

  if (t)
    t2i_rng_fill_normal (rng, t, 0.0, 1.0);
  return t;
}

T2iTensor *
t2i_rng_rand (T2iRng * rng, T2iDType dtype, gint ndim, const gint64 * shape)
{
  g_return_val_if_fail (dtype == T2I_F32 || dtype == T2I_F64, NULL);
  T2iTensor *t = t2i_tensor_new (dtype, ndim, shape);

  if (t)
    t2i_rng_fill_uniform (rng, t, 0.0, 1.0);
  return t;
}

T2iTensor *
t2i_rng_randn (T2iRng * rng, T2iDType dtype, gint ndim, const gint64 * shape)
{
  g_return_val_if_fail (dtype == T2I_F32 || dtype == T2I_F64, NULL);
  T2iTensor *t = t2i_tensor_new (dtype, ndim, shape);

  if (t)
    t2i_rng_fill_normal (rng, t, 0.0, 1.0);
  return t;
}

T2iTensor *
t2i_rng_randint (T2iRng * rng, gint ndim, const gint64 * shape, gint64 low, gint64 high)
{
  g_return_val_if_fail (rng != NULL && high > low, NULL);
  g_return_val_if_fail (low >= G_MININT32 && high - 1 <= G_MAXINT32, NULL);
  T2iTensor *t = t2i_tensor_new (T2I_I32, ndim, shape);

  if (t)
    t2i_rng_randint_i32 (rng, t->data, (gsize) t->numel, low, high);
  return t;
}

T2iTensor *
t2i_rng_randperm (T2iRng * rng, gint64 n)
{
  g_return_val_if_fail (rng != NULL && n >= 0 && n <= G_MAXINT32, NULL);
  T2iTensor *t = t2i_tensor_new (T2I_I32, T2I_SHAPE (n));
  gint32 *out = t->data;

  for (gint64 i = 0; i < n; i++)
    out[i] = (gint32) i;
  FISHER_YATES (n, {
        gint32 tmp = out[i];
        out[i] = out[j];
        out[j] = tmp;
      });
  return t;
}

T2iTensor *
t2i_rng_multinomial (T2iRng * rng, T2iTensor * p, gboolean logits)
{
  g_return_val_if_fail (rng != NULL && p != NULL, NULL);
  if (p->device != T2I_DEVICE_CPU) {
    /* inverse-CDF sampling is a host loop: the weights come over, the
     * picks go back */
    g_autoptr (T2iTensor) ph = t2i_tensor_to_device (p, T2I_DEVICE_CPU, NULL);
    g_autoptr (T2iTensor) r = ph ? t2i_rng_multinomial (rng, ph, logits) : NULL;
    return r ? t2i_tensor_to_device (r, p->device, NULL) : NULL;
  }
  g_return_val_if_fail (p->ndim == 1 || p->ndim == 2, NULL);
  g_return_val_if_fail (p->dtype == T2I_F32 || p->dtype == T2I_F64, NULL);
  gint64 cols = p->shape[p->ndim - 1];
  gint64 rows = p->ndim == 2 ? p->shape[0] : 1;
  g_return_val_if_fail (cols > 0, NULL);
  T2iTensor *pf = p->dtype == T2I_F32 ? t2i_tensor_ref (p) : t2i_tensor_to_dtype (p, T2I_F32);
  T2iTensor *out = p->ndim == 2 ? t2i_tensor_new (T2I_I32, T2I_SHAPE (rows))
      : t2i_tensor_new (T2I_I32, 0, NULL);

  t2i_rng_categorical (rng, pf->data, rows, cols, logits, out->data);
  t2i_tensor_unref (pf);
  return out;
}
