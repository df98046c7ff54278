/* Optimizer steps on f32 parameters (core/optim/optimizer.c): the CPU's
 * loops, one element per index, with the scalars the CPU folds on the
 * host (T2iSgdArgs / T2iAdamArgs).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "../kdefs.h"

typedef struct
{
  float lr, wd, mom, damp1;
  int momentum, nesterov, first;
  float *p, *buf;
  const float *g;
} T2iK_sgd;

T2I_KFN void
t2i_k_sgd (int64_t i, const T2iK_sgd * k)
{
  float *p = k->p;
  float d = k->g[i] + k->wd * p[i];
  if (k->momentum) {
    float bf = k->first ? d : k->buf[i] * k->mom + k->damp1 * d;
    k->buf[i] = bf;
    d = k->nesterov ? d + k->mom * bf : bf;
  }
  p[i] = p[i] + -k->lr * d;
}

typedef struct
{
  float b1, one_m_b1, b2, one_m_b2, l2, shrink, neg_step_size, bc2_sqrt, eps;
  int decoupled;
  float *p, *m, *v;
  const float *g;
} T2iK_adam;

T2I_KFN void
t2i_k_adam (int64_t i, const T2iK_adam * k)
{
  float pi = k->p[i];
  float gi = k->g[i] + k->l2 * pi;

  if (k->decoupled)
    pi = pi * k->shrink;
  float mi = k->m[i] * k->b1 + k->one_m_b1 * gi;
  float vi = k->v[i] * k->b2 + k->one_m_b2 * (gi * gi);
  float denom = sqrtf (vi) / k->bc2_sqrt + k->eps;

  k->m[i] = mi;
  k->v[i] = vi;
  k->p[i] = pi + k->neg_step_size * (mi / denom);
}
