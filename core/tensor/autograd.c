/* Define-by-run reverse-mode autograd.
 *
 * Every op that sees an input requiring grad (with grad mode on) attaches a
 * T2iNode to its output; the node holds its inputs.  Backward walks the
 * graph from the loss in reverse topological order, runs each node's
 * backward function (written with the differentiable ops, so running it
 * with grad mode on records a graph of the gradient itself) and accumulates
 * the input gradients.  Paths that reach none of the requested leaves are
 * pruned before any backward function runs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/tensor.h"
#include "../backend/backend.h"
#include "t2i/ops.h"
#include "tensor-private.h"

#include <string.h>

static GPrivate grad_disabled_key;      /* per thread; NULL = enabled */

gboolean
t2i_grad_enabled (void)
{
  return g_private_get (&grad_disabled_key) == NULL;
}

gboolean
t2i_set_grad_enabled (gboolean enabled)
{
  gboolean prev = t2i_grad_enabled ();
  g_private_set (&grad_disabled_key, enabled ? NULL : GINT_TO_POINTER (1));
  return prev;
}

void
t2i_tensor_set_requires_grad (T2iTensor * t, gboolean requires_grad)
{
  g_return_if_fail (t->node == NULL || requires_grad);
  g_return_if_fail (!requires_grad || t->dtype == T2I_F32 || t->dtype == T2I_F64);
  t->requires_grad = requires_grad;
}

void
t2i_tensor_zero_grad (T2iTensor * t)
{
  g_clear_pointer (&t->grad, t2i_tensor_unref);
}

gboolean
t2i_any_requires_grad (gint n, T2iTensor ** inputs)
{
  if (!t2i_grad_enabled ())
    return FALSE;
  for (gint i = 0; i < n; i++)
    if (inputs[i] && inputs[i]->requires_grad)
      return TRUE;
  return FALSE;
}

T2iNode *
t2i_node_new (const char *name, T2iBackwardFn backward, gint n_inputs,
    T2iTensor ** inputs)
{
  g_return_val_if_fail (n_inputs <= T2I_NODE_MAX_INPUTS, NULL);
  T2iNode *node = g_new0 (T2iNode, 1);
  node->ref_count = 1;
  node->name = name;
  node->backward = backward;
  node->n_inputs = n_inputs;
  for (gint i = 0; i < n_inputs; i++) {
    node->inputs[i] = inputs[i] ? t2i_tensor_ref (inputs[i]) : NULL;
    node->needs_grad[i] = inputs[i] && inputs[i]->requires_grad;
  }
  return node;
}

void
t2i_node_save (T2iNode * node, gint slot, T2iTensor * t)
{
  g_return_if_fail (slot >= 0 && slot < (gint) G_N_ELEMENTS (node->saved));
  if (node->saved[slot])
    t2i_tensor_unref (node->saved[slot]);
  node->saved[slot] = t ? t2i_tensor_ref (t) : NULL;
}

void
t2i_node_unref (T2iNode * node)
{
  if (!node || !g_atomic_int_dec_and_test (&node->ref_count))
    return;
  for (gint i = 0; i < node->n_inputs; i++)
    if (node->inputs[i])
      t2i_tensor_unref (node->inputs[i]);
  for (guint i = 0; i < G_N_ELEMENTS (node->saved); i++)
    if (node->saved[i])
      t2i_tensor_unref (node->saved[i]);
  if (node->free_user)
    node->free_user (node->user);
  g_free (node);
}

T2iTensor *
t2i_node_attach (T2iNode * node, T2iTensor * out)
{
  if (!out || !t2i_any_requires_grad (node->n_inputs, node->inputs)) {
    t2i_node_unref (node);
    return out;
  }
  g_return_val_if_fail (out->node == NULL, out);
  node->out_dtype = out->dtype;
  node->out_ndim = out->ndim;
  memcpy (node->out_shape, out->shape, sizeof (out->shape));
  out->node = node;
  out->requires_grad = TRUE;
  return out;
}

/* ---- the engine ---- */

static void
add_into (T2iTensor * dst, const T2iTensor * src)
{
  T2I_BACKEND (dst)->accumulate (dst, src);
}

/* takes ownership of @g */
static void
accumulate (GHashTable * grads, T2iTensor * t, T2iTensor * g,
    gboolean create_graph)
{
  if (!t2i_tensor_same_shape (t, g) || t->dtype != g->dtype) {
    g_autofree char *a = t2i_shape_to_string (t->ndim, t->shape);
    g_autofree char *b = t2i_shape_to_string (g->ndim, g->shape);
    g_critical ("t2i autograd: gradient %s does not match its tensor %s (op %s)",
        b, a, t->node ? t->node->name : "leaf");
    t2i_tensor_unref (g);
    return;
  }
  T2iTensor *have = g_hash_table_lookup (grads, t);
  if (!have) {
    g_hash_table_insert (grads, t, g);
  } else if (create_graph) {
    g_hash_table_insert (grads, t, t2i_add (have, g));
    t2i_tensor_unref (g);
  } else if (t2i_tensor_is_exclusive (have)) {
    add_into (have, g);
    t2i_tensor_unref (g);
  } else if (t2i_tensor_is_exclusive (g)) {
    add_into (g, have);
    g_hash_table_insert (grads, t, g);
  } else {
    T2iTensor *sum = t2i_tensor_copy (have);
    add_into (sum, g);
    t2i_tensor_unref (g);
    g_hash_table_insert (grads, t, sum);
  }
}

typedef struct
{
  T2iTensor *t;
  gint next;
} Frame;

/* post-order of the tensors reachable from @root: inputs before outputs */
static GPtrArray *
topo_order (T2iTensor * root)
{
  GPtrArray *order = g_ptr_array_new ();
  GHashTable *seen = g_hash_table_new (g_direct_hash, g_direct_equal);
  GArray *stack = g_array_new (FALSE, FALSE, sizeof (Frame));
  Frame f0 = { root, 0 };

  g_hash_table_add (seen, root);
  g_array_append_val (stack, f0);
  while (stack->len) {
    Frame *f = &g_array_index (stack, Frame, stack->len - 1);
    T2iNode *node = f->t->node;
    if (node && f->next < node->n_inputs) {
      T2iTensor *child = node->inputs[f->next++];
      if (child && !g_hash_table_contains (seen, child)) {
        Frame fc = { child, 0 };
        g_hash_table_add (seen, child);
        g_array_append_val (stack, fc);
      }
    } else {
      g_ptr_array_add (order, f->t);
      g_array_set_size (stack, stack->len - 1);
    }
  }
  g_array_free (stack, TRUE);
  g_hash_table_destroy (seen);
  return order;
}

/* Core: fills @grads (tensor -> gradient) for every tensor on a path from
 * @out to one of @targets.  @targets are kept in @grads. */
static GHashTable *
run_backward (T2iTensor * out, T2iTensor * grad_out, GHashTable * targets,
    gboolean create_graph)
{
  GHashTable *grads = g_hash_table_new_full (g_direct_hash, g_direct_equal,
      NULL, (GDestroyNotify) t2i_tensor_unref);
  GPtrArray *order = topo_order (out);
  GHashTable *reach = g_hash_table_new (g_direct_hash, g_direct_equal);

  for (guint k = 0; k < order->len; k++) {
    T2iTensor *t = order->pdata[k];
    gboolean r = targets ? g_hash_table_contains (targets, t)
        : (t->requires_grad && !t->node);
    if (!r && t->node)
      for (gint i = 0; i < t->node->n_inputs; i++)
        if (t->node->inputs[i] && g_hash_table_contains (reach, t->node->inputs[i])) {
          r = TRUE;
          break;
        }
    if (r)
      g_hash_table_add (reach, t);
  }

  if (g_hash_table_contains (reach, out)) {
    gboolean prev = t2i_set_grad_enabled (create_graph);
    T2iTensor *seed = grad_out ? t2i_tensor_ref (grad_out)
        : t2i_tensor_full_on (out->device, out->dtype, out->ndim, out->shape,
        1.0);
    g_hash_table_insert (grads, out, seed);

    for (gint k = (gint) order->len - 1; k >= 0; k--) {
      T2iTensor *t = order->pdata[k];
      T2iNode *node = t->node;
      T2iTensor *g = g_hash_table_lookup (grads, t);
      if (!node || !g)
        continue;
      T2iTensor *gin[T2I_NODE_MAX_INPUTS] = { NULL };
      gboolean any = FALSE;
      for (gint i = 0; i < node->n_inputs; i++) {
        T2iTensor *in = node->inputs[i];
        node->needs_grad[i] = in && in->requires_grad
            && g_hash_table_contains (reach, in);
        any |= node->needs_grad[i];
      }
      if (any) {
        t2i_tensor_ref (g);
        node->backward (node, g, gin);
        t2i_tensor_unref (g);
      }
      for (gint i = 0; i < node->n_inputs; i++) {
        if (!gin[i])
          continue;
        if (node->needs_grad[i])
          accumulate (grads, node->inputs[i], gin[i], create_graph);
        else
          t2i_tensor_unref (gin[i]);
      }
      if (!targets || !g_hash_table_contains (targets, t))
        g_hash_table_remove (grads, t);
    }
    t2i_set_grad_enabled (prev);
  }

  g_hash_table_destroy (reach);
  g_ptr_array_free (order, TRUE);
  return grads;
}

void
t2i_backward (T2iTensor * loss, T2iTensor ** params)
{
  g_return_if_fail (loss != NULL && loss->numel == 1);
  GHashTable *targets = NULL;
  if (params) {
    targets = g_hash_table_new (g_direct_hash, g_direct_equal);
    for (T2iTensor ** p = params; *p; p++)
      g_hash_table_add (targets, *p);
  }
  GHashTable *grads = run_backward (loss, NULL, targets, FALSE);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, grads);
  while (g_hash_table_iter_next (&it, &k, &v)) {
    T2iTensor *leaf = k, *g = v;
    if (leaf->node && !targets)
      continue;
    if (!leaf->grad) {
      /* the grads table holds one reference: exclusive means only it */
      leaf->grad = t2i_tensor_is_exclusive (g) ? t2i_tensor_ref (g)
          : t2i_tensor_copy (g);
    } else {
      if (!t2i_tensor_is_exclusive (leaf->grad)) {
        T2iTensor *c = t2i_tensor_copy (leaf->grad);
        t2i_tensor_unref (leaf->grad);
        leaf->grad = c;
      }
      add_into (leaf->grad, g);
    }
  }
  g_hash_table_destroy (grads);
  if (targets)
    g_hash_table_destroy (targets);
}

T2iTensor **
t2i_grad (T2iTensor * out, T2iTensor * grad_out, T2iTensor ** inputs, gint n,
    gboolean create_graph)
{
  g_return_val_if_fail (grad_out != NULL || out->numel == 1, NULL);
  GHashTable *targets = g_hash_table_new (g_direct_hash, g_direct_equal);
  for (gint i = 0; i < n; i++)
    g_hash_table_add (targets, inputs[i]);
  GHashTable *grads = run_backward (out, grad_out, targets, create_graph);
  T2iTensor **res = g_new0 (T2iTensor *, n + 1);
  for (gint i = 0; i < n; i++) {
    T2iTensor *g = g_hash_table_lookup (grads, inputs[i]);
    res[i] = g ? t2i_tensor_ref (g) : t2i_tensor_zeros_like (inputs[i]);
  }
  g_hash_table_destroy (grads);
  g_hash_table_destroy (targets);
  return res;
}
