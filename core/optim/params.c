/* t2i — parameter groups and their checkpoints.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/params.h"

#include <string.h>

struct _T2iParamGroup {
  gint ref_count;
  char *name;
  GPtrArray *params;            /* T2iParam*, in insertion order */
  GHashTable *by_local;         /* local name -> T2iParam* */
  GTree *models;                /* role -> JSON description, sorted */
};

static void
param_free (gpointer data)
{
  T2iParam *p = data;

  t2i_tensor_unref (p->value);
  g_free (p->name);
  g_free (p);
}

T2iParamGroup *
t2i_param_group_new (const char *name)
{
  g_return_val_if_fail (name != NULL, NULL);
  T2iParamGroup *g = g_new0 (T2iParamGroup, 1);

  g->ref_count = 1;
  g->name = g_strdup (name);
  g->params = g_ptr_array_new_with_free_func (param_free);
  g->by_local = g_hash_table_new (g_str_hash, g_str_equal);
  return g;
}

T2iParamGroup *
t2i_param_group_ref (T2iParamGroup * group)
{
  g_return_val_if_fail (group != NULL, NULL);
  g_atomic_int_inc (&group->ref_count);
  return group;
}

void
t2i_param_group_unref (T2iParamGroup * group)
{
  if (group == NULL || !g_atomic_int_dec_and_test (&group->ref_count))
    return;
  g_hash_table_unref (group->by_local);
  g_ptr_array_unref (group->params);
  if (group->models)
    g_tree_unref (group->models);
  g_free (group->name);
  g_free (group);
}

static gint
compare_roles (gconstpointer a, gconstpointer b, gpointer data)
{
  return g_strcmp0 (a, b);
}

void
t2i_param_group_set_model (T2iParamGroup * group, const char *role,
    const char *json)
{
  g_return_if_fail (group != NULL && role != NULL && json != NULL);
  if (!group->models)
    group->models = g_tree_new_full (compare_roles, NULL,
        g_free, g_free);
  g_tree_replace (group->models, g_strdup (role), g_strdup (json));
}

static gboolean
append_model (gpointer key, gpointer value, gpointer data)
{
  GString *s = data;
  g_autofree char *k = g_strescape (key, NULL);
  g_string_append_printf (s, "%s\"%s\":%s", s->len > 1 ? "," : "", k,
      (const char *) value);
  return FALSE;
}

char *
t2i_param_group_models_json (T2iParamGroup * group)
{
  g_return_val_if_fail (group != NULL, NULL);
  if (!group->models || g_tree_nnodes (group->models) == 0)
    return NULL;
  GString *s = g_string_new ("{");
  g_tree_foreach (group->models, append_model, s);
  g_string_append_c (s, '}');
  return g_string_free (s, FALSE);
}

const char *
t2i_param_group_get_name (T2iParamGroup * group)
{
  g_return_val_if_fail (group != NULL, NULL);
  return group->name;
}

static gboolean
is_float (const T2iTensor * t)
{
  return t->dtype == T2I_F32 || t->dtype == T2I_F64;
}

void
t2i_param_group_set_param_trainable (T2iParam * param, gboolean trainable)
{
  g_return_if_fail (param != NULL);
  T2iTensor *v = param->value;

  /* only float leaves can require a gradient */
  param->trainable = trainable && is_float (v);
  if (is_float (v) && (v->node == NULL || param->trainable))
    t2i_tensor_set_requires_grad (v, param->trainable);
}

T2iParam *
t2i_param_group_add (T2iParamGroup * group, const char *local_name, T2iTensor * value,
    gboolean trainable)
{
  g_return_val_if_fail (group != NULL && local_name != NULL && *local_name, NULL);
  g_return_val_if_fail (value != NULL, NULL);
  if (g_hash_table_contains (group->by_local, local_name)) {
    g_critical ("parameter group '%s' already has a parameter '%s'", group->name,
        local_name);
    return NULL;
  }
  T2iParam *p = g_new0 (T2iParam, 1);

  if (group->name[0])
    p->name = g_strdup_printf ("%s.%s", group->name, local_name);
  else
    p->name = g_strdup (local_name);
  p->local_name = p->name + strlen (p->name) - strlen (local_name);
  p->value = t2i_tensor_ref (value);
  t2i_param_group_set_param_trainable (p, trainable);
  g_ptr_array_add (group->params, p);
  g_hash_table_insert (group->by_local, (gpointer) p->local_name, p);
  return p;
}

guint
t2i_param_group_n_params (T2iParamGroup * group)
{
  g_return_val_if_fail (group != NULL, 0);
  return group->params->len;
}

T2iParam *
t2i_param_group_get (T2iParamGroup * group, guint index)
{
  g_return_val_if_fail (group != NULL, NULL);
  g_return_val_if_fail (index < group->params->len, NULL);
  return g_ptr_array_index (group->params, index);
}

T2iParam *
t2i_param_group_lookup (T2iParamGroup * group, const char *name)
{
  g_return_val_if_fail (group != NULL && name != NULL, NULL);
  T2iParam *p = g_hash_table_lookup (group->by_local, name);
  gsize len = strlen (group->name);

  if (p == NULL && len > 0 && strncmp (name, group->name, len) == 0 && name[len] == '.')
    p = g_hash_table_lookup (group->by_local, name + len + 1);
  return p;
}

gint64
t2i_param_group_numel (T2iParamGroup * group, gboolean trainable_only)
{
  g_return_val_if_fail (group != NULL, 0);
  gint64 total = 0;

  for (guint i = 0; i < group->params->len; i++) {
    T2iParam *p = g_ptr_array_index (group->params, i);

    if (p->trainable || !trainable_only)
      total += p->value->numel;
  }
  return total;
}

void
t2i_param_group_set_trainable (T2iParamGroup * group, gboolean trainable)
{
  g_return_if_fail (group != NULL);
  for (guint i = 0; i < group->params->len; i++)
    t2i_param_group_set_param_trainable (g_ptr_array_index (group->params, i),
        trainable);
}

gboolean
t2i_param_group_to_device (T2iParamGroup * group, T2iDevice device,
    GError ** error)
{
  g_return_val_if_fail (group != NULL, FALSE);
  for (guint i = 0; i < group->params->len; i++) {
    T2iParam *p = g_ptr_array_index (group->params, i);
    if (!t2i_tensor_move_to_device (p->value, device, error)) {
      g_prefix_error (error, "%s: ", p->name);
      return FALSE;
    }
  }
  return TRUE;
}

void
t2i_param_group_zero_grad (T2iParamGroup * group)
{
  g_return_if_fail (group != NULL);
  for (guint i = 0; i < group->params->len; i++) {
    T2iParam *p = g_ptr_array_index (group->params, i);

    t2i_tensor_zero_grad (p->value);
  }
}

static char *
default_prefix (T2iParamGroup * group, const char *prefix)
{
  if (prefix)
    return g_strdup (prefix);
  return group->name[0] ? g_strdup_printf ("%s.", group->name) : g_strdup ("");
}

void
t2i_param_group_collect (T2iParamGroup * group, const char *prefix, GPtrArray * names,
    GPtrArray * tensors)
{
  g_return_if_fail (group != NULL && names != NULL && tensors != NULL);
  char *pre = default_prefix (group, prefix);

  for (guint i = 0; i < group->params->len; i++) {
    T2iParam *p = g_ptr_array_index (group->params, i);

    g_ptr_array_add (names, g_strconcat (pre, p->local_name, NULL));
    g_ptr_array_add (tensors, t2i_tensor_ref (p->value));
  }
  g_free (pre);
}

gboolean
t2i_param_group_save (T2iParamGroup * group, const char *path, const char *prefix,
    GHashTable * metadata, GError ** error)
{
  g_return_val_if_fail (group != NULL && path != NULL, FALSE);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  GPtrArray *tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) t2i_tensor_unref);
  gboolean ok;

  t2i_param_group_collect (group, prefix, names, tensors);
  ok = t2i_safetensors_save (path, (const char *const *) names->pdata,
      (T2iTensor **) tensors->pdata, names->len, metadata, error);
  g_ptr_array_unref (names);
  g_ptr_array_unref (tensors);
  return ok;
}

/* Appends @item to a "; what: a, b, c (and N more)" list. */
typedef struct {
  const char *what;
  GString *text;
  guint count;
} NameList;

#define NAME_LIST_MAX 8

static void
name_list_add (NameList * l, const char *item)
{
  if (l->count < NAME_LIST_MAX) {
    if (l->text == NULL)
      l->text = g_string_new (NULL);
    g_string_append_printf (l->text, "%s%s", l->count ? ", " : "", item);
  }
  l->count++;
}

static void
name_list_finish (NameList * l, GString * msg)
{
  if (l->count == 0)
    return;
  g_string_append_printf (msg, "; %s: %s", l->what, l->text->str);
  if (l->count > NAME_LIST_MAX)
    g_string_append_printf (msg, " (and %u more)", l->count - NAME_LIST_MAX);
  g_string_free (l->text, TRUE);
  l->text = NULL;
}

static gboolean
dtype_class_compatible (T2iDType a, T2iDType b)
{
  gboolean fa = a == T2I_F32 || a == T2I_F64;
  gboolean fb = b == T2I_F32 || b == T2I_F64;

  return fa == fb;
}

/* Reading can fail only when integers must be narrowed to i32. */
static gboolean
read_may_fail (const char *file_dtype)
{
  return strcmp (file_dtype, "I64") == 0 || strcmp (file_dtype, "U64") == 0
      || strcmp (file_dtype, "U32") == 0;
}

static gboolean
copy_into (T2iParam * p, T2iTensor * src)
{
  T2iTensor *conv = src->dtype == p->value->dtype ? t2i_tensor_ref (src)
      : t2i_tensor_to_dtype (src, p->value->dtype);

  if (conv == NULL)
    return FALSE;
  gboolean ok = TRUE;
  if (conv->nbytes > 0)
    ok = t2i_tensor_copy_into (p->value, conv, NULL);
  t2i_tensor_unref (conv);
  return ok;
}

gboolean
t2i_param_group_load (T2iParamGroup * group, T2iSafetensors * st, const char *prefix,
    gboolean strict, GError ** error)
{
  g_return_val_if_fail (group != NULL && st != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  char *pre = default_prefix (group, prefix);
  gsize plen = strlen (pre);
  NameList missing = { "missing", NULL, 0 };
  NameList unexpected = { "unexpected", NULL, 0 };
  NameList mismatched = { "mismatched", NULL, 0 };
  guint n = group->params->len;
  char **keys = g_new0 (char *, n + 1);
  T2iTensor **staged = g_new0 (T2iTensor *, MAX (n, 1));
  gboolean ok = FALSE;

  /* 1. check every parameter against the file */
  for (guint i = 0; i < n; i++) {
    T2iParam *p = g_ptr_array_index (group->params, i);
    T2iDType dtype;
    gint ndim;
    gint64 shape[T2I_MAX_DIMS];
    const char *fdt;

    keys[i] = g_strconcat (pre, p->local_name, NULL);
    if (!t2i_safetensors_get_info (st, keys[i], &dtype, &ndim, shape, &fdt)) {
      name_list_add (&missing, keys[i]);
      g_clear_pointer (&keys[i], g_free);
      continue;
    }
    if (ndim != p->value->ndim
        || memcmp (shape, p->value->shape, sizeof (gint64) * (gsize) ndim) != 0
        || !dtype_class_compatible (dtype, p->value->dtype)) {
      char *fs = t2i_shape_to_string (ndim, shape);
      char *ps = t2i_shape_to_string (p->value->ndim, p->value->shape);
      char *item = g_strdup_printf ("%s (file %s %s, parameter %s %s)", keys[i], fdt,
          fs, t2i_dtype_name (p->value->dtype), ps);

      name_list_add (&mismatched, item);
      g_free (item);
      g_free (fs);
      g_free (ps);
      continue;
    }
    if (read_may_fail (fdt)) {
      staged[i] = t2i_safetensors_read (st, keys[i], error);
      if (staged[i] == NULL)
        goto out;
    }
  }
  if (strict) {
    for (const char *const *nm = t2i_safetensors_names (st); *nm; nm++)
      if (strncmp (*nm, pre, plen) == 0
          && !g_hash_table_contains (group->by_local, *nm + plen))
        name_list_add (&unexpected, *nm);
  }
  if (mismatched.count > 0 || (strict && (missing.count > 0 || unexpected.count > 0))) {
    GString *msg = g_string_new (NULL);

    g_string_append_printf (msg, "%s: cannot load parameter group '%s' (prefix \"%s\")",
        t2i_safetensors_get_path (st), group->name, pre);
    name_list_finish (&mismatched, msg);
    if (strict) {
      name_list_finish (&missing, msg);
      name_list_finish (&unexpected, msg);
    }
    g_set_error_literal (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_NOT_FOUND,
        msg->str);
    g_string_free (msg, TRUE);
    goto out;
  }

  /* 2. copy */
  for (guint i = 0; i < n; i++) {
    T2iParam *p = g_ptr_array_index (group->params, i);
    T2iTensor *src;

    if (keys[i] == NULL)
      continue;
    src = staged[i] ? t2i_tensor_ref (staged[i]) : t2i_safetensors_read (st, keys[i], error);
    if (src == NULL)
      goto out;
    gboolean copied = copy_into (p, src);
    t2i_tensor_unref (src);
    if (!copied) {
      g_set_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_UNSUPPORTED,
          "%s: cannot convert \"%s\" to %s", t2i_safetensors_get_path (st), keys[i],
          t2i_dtype_name (p->value->dtype));
      goto out;
    }
  }
  ok = TRUE;

out:
  if (missing.text)
    g_string_free (missing.text, TRUE);
  if (unexpected.text)
    g_string_free (unexpected.text, TRUE);
  if (mismatched.text)
    g_string_free (mismatched.text, TRUE);
  for (guint i = 0; i < n; i++)
    if (staged[i])
      t2i_tensor_unref (staged[i]);
  g_free (staged);
  for (guint i = 0; i < n; i++)
    g_free (keys[i]);
  g_free (keys);
  g_free (pre);
  return ok;
}
