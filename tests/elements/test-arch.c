/* The architecture registry and T2iNetwork: arch= options a network does
 * not read are refused, model files describe themselves, a property that
 * disagrees with the file is one line naming both values, and share= runs
 * one network for two elements.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <string.h>

#define G_SMALL "resolution=8 channels=8 w-dim=8 cond-hidden=8 " \
    "mapping-layers=1"

static void
assert_fails (const char *desc, const char *expect)
{
  g_autofree char *err = NULL;
  g_assert_false (test_run_pipeline (desc, &err, NULL, NULL));
  if (!strstr (err, expect))
    g_error ("%s: expected '%s', got: %s", desc, expect, err);
}

static void
test_registry (void)
{
  const T2iArch *g = t2i_arch_find (T2I_ROLE_GENERATOR, "stylegan2");
  g_assert_nonnull (g);
  g_assert_nonnull (t2i_options_find (g->options, "channels"));
  g_assert_null (t2i_arch_find (T2I_ROLE_GENERATOR, "vgg19"));
  guint n = 0;
  for (const T2iArch * const *a = t2i_archs (); *a; a++)
    n++;
  g_assert_cmpuint (n, >=, 8);
}

static void
test_option_not_applicable (void)
{
  assert_fails ("t2idatasetsrc dataset=shapes resolution=16 batch-size=2 "
      "max-steps=1 ! t2iimageencoder arch=cnn width=64 ! fakesink",
      "width= does not apply to arch=cnn (it reads: input, output, "
      "normalize, widths, depth, embed-dim)");
  assert_fails ("t2idatasetsrc dataset=shapes resolution=16 batch-size=2 "
      "max-steps=1 ! t2iimageencoder arch=vgg19 normalize=true ! fakesink",
      "normalize= does not apply to arch=vgg19");
}

/* a trainer's checkpoint describes G; weights= alone rebuilds it, and a
 * property that disagrees is refused */
static void
test_self_describing (void)
{
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *ck = g_build_filename (dir, "g.safetensors", NULL);
  g_autofree char *train = g_strdup_printf ("t2itextsrc text=a batch-size=2 "
      "repeat=1 ! t2inoise output=z dim=6 ! t2inoise output=h dim=5 ! "
      "t2igenerator name=G " G_SMALL " ! t2iimageencoder arch=cnn "
      "widths=8,8 embed-dim=5 input=fake output=e trainable=false ! "
      "t2iloss kind=lafite-cong input=e update=G ! t2itrainer "
      "checkpoint=%s", ck);
  g_autofree char *err = NULL;
  g_assert_true (test_run_pipeline (train, &err, NULL, NULL));
  g_autoptr (T2iSafetensors) st = t2i_safetensors_load (ck, NULL);
  const char *json = t2i_safetensors_get_metadata (st, "model/G");
  g_assert_nonnull (json);
  g_assert_nonnull (strstr (json, "\"generator\":{\"arch\":\"stylegan2\""));
  g_assert_nonnull (strstr (json, "\"z-dim\":6"));

  g_autofree char *out = g_build_filename (dir, "fake.safetensors", NULL);
  g_autofree char *gen = g_strdup_printf ("t2itextsrc text=a batch-size=3 "
      "! t2inoise output=z dim=6 ! t2inoise output=h dim=5 ! t2igenerator "
      "name=G weights=%s ! t2itensorsink location=%s", ck, out);
  g_assert_true (test_run_pipeline (gen, &err, NULL, NULL));
  g_autoptr (T2iSafetensors) o = t2i_safetensors_load (out, NULL);
  g_autoptr (T2iTensor) fake = t2i_safetensors_get (o, "fake");
  g_assert_cmpint (fake->shape[0], ==, 3);
  g_assert_cmpint (fake->shape[3], ==, 8);

  /* the one generator a file describes is found without group= */
  g_autofree char *anon = g_strdup_printf ("t2itextsrc text=a batch-size=1 "
      "! t2inoise output=z dim=6 ! t2inoise output=h dim=5 ! t2igenerator "
      "weights=%s ! fakesink", ck);
  g_assert_true (test_run_pipeline (anon, &err, NULL, NULL));

  g_autofree char *bad = g_strdup_printf ("t2itextsrc text=a batch-size=1 "
      "! t2inoise output=z dim=6 ! t2inoise output=h dim=5 ! t2igenerator "
      "name=G weights=%s channels=16 ! fakesink", ck);
  g_autofree char *expect = g_strdup_printf ("channels=16 disagrees with "
      "weights=%s, which holds a model with channels=8", ck);
  assert_fails (bad, expect);
  test_rmdir (dir);
}

/* share=: the second encoder runs the first one's network, adds no
 * parameters, and computes the same function */
static void
test_share (void)
{
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2idatasetsrc dataset=shapes "
      "resolution=16 batch-size=2 max-steps=1 ! t2iimageencoder name=a "
      "arch=cnn widths=8,16 embed-dim=4 output=ea ! t2iimageencoder name=b "
      "share=a output=eb ! t2itensorsink location=%s", out);
  GError *error = NULL;
  GstElement *pipe = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *m = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_cmpint (GST_MESSAGE_TYPE (m), ==, GST_MESSAGE_EOS);
  gst_message_unref (m);
  GstElement *a = gst_bin_get_by_name (GST_BIN (pipe), "a");
  GstElement *b = gst_bin_get_by_name (GST_BIN (pipe), "b");
  g_assert_true (t2i_network_get_net (T2I_NETWORK (a)) ==
      t2i_network_get_net (T2I_NETWORK (b)));
  g_assert_cmpuint (t2i_param_group_n_params (t2i_transform_get_params
          (T2I_TRANSFORM (b))), ==, 0);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (a);
  gst_object_unref (b);
  gst_object_unref (bus);
  gst_object_unref (pipe);

  g_autoptr (T2iSafetensors) st = t2i_safetensors_load (out, NULL);
  g_autoptr (T2iTensor) ea = t2i_safetensors_get (st, "ea");
  g_autoptr (T2iTensor) eb = t2i_safetensors_get (st, "eb");
  g_assert_cmpmem (ea->data, ea->nbytes, eb->data, eb->nbytes);

  assert_fails ("t2idatasetsrc dataset=shapes resolution=16 batch-size=2 "
      "max-steps=1 ! t2iimageencoder name=a arch=cnn widths=8,16 ! "
      "t2iimageencoder share=a embed-dim=8 output=eb ! fakesink",
      "embed-dim=8 disagrees with share=a, which holds a model with "
      "embed-dim=256");
  assert_fails ("t2idatasetsrc dataset=shapes resolution=16 batch-size=2 "
      "max-steps=1 ! t2iimageencoder share=nobody ! fakesink",
      "share=nobody: the pipeline has no element of that name");
  test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  test_elements_register ();
  g_test_add_func ("/arch/registry", test_registry);
  g_test_add_func ("/arch/option-not-applicable", test_option_not_applicable);
  g_test_add_func ("/arch/self-describing", test_self_describing);
  g_test_add_func ("/arch/share", test_share);
  return g_test_run ();
}
