#!/usr/bin/env python3
# ICSD-GAN's pipelines (docs/icsd.md) run end to end with t2i-launch: the
# DAMSM vocabulary, pretraining and class prototypes, a few training steps
# of pipelines/icsd-train.t2i with resume, then generation and evaluation
# with what they wrote, and generation with the shipped model.  Sizes are
# set small with --set; what each run writes is checked, not its quality
# (bench/icsd-table5 measures that).
#
# usage: test-icsd-pipelines.py T2I_LAUNCH SOURCE_DIR
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

T2I_LAUNCH, SOURCE = [os.path.abspath(a) for a in sys.argv[1:3]]
TMP = tempfile.mkdtemp(prefix='t2i-icsd-pipelines-test-')
MODEL = os.path.join(SOURCE, 'models', 'icsd-shapes.safetensors')


def launch(pipeline, **sets):
    args = [T2I_LAUNCH, '--quiet']
    for k, v in sets.items():
        args += ['--set', '%s=%s' % (k, v)]
    args.append(os.path.join(SOURCE, 'pipelines', pipeline))
    r = subprocess.run(args, cwd=SOURCE, capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        raise AssertionError('%s failed (%d): %s' % (pipeline, r.returncode,
                                                      r.stderr.strip()))
    return r


def metadata(path):
    with open(path, 'rb') as f:
        (n,) = struct.unpack('<Q', f.read(8))
        return json.loads(f.read(n))


def png_size(path):
    with open(path, 'rb') as f:
        data = f.read(24)
    assert data[:8] == b'\x89PNG\r\n\x1a\n', path
    return struct.unpack('>II', data[16:24])


class IcsdPipelines(unittest.TestCase):

    def test_train_generate_eval(self):
        d = os.path.join(TMP, 'run')
        os.makedirs(d)
        damsm = os.path.join(d, 'damsm')
        launch('damsm-vocab.t2i', vocab=damsm + '-vocab.txt', captions=500)
        launch('damsm-pretrain.t2i', steps=2, batch=4, out=damsm)
        self.assertEqual(metadata(damsm + '.safetensors')['__metadata__']
                         ['step'], '2')
        protos = os.path.join(d, 'protos.safetensors')
        launch('damsm-prototypes.t2i', damsm=damsm + '.safetensors',
               out=protos)
        self.assertEqual(metadata(protos)['text_emb']['shape'], [100, 256])

        run = os.path.join(d, 'icsd')
        common = dict(damsm=damsm + '.safetensors', batch=4, ngf=4, ndf=4,
                      out=run)
        launch('icsd-train.t2i', steps=2, **common)
        self.assertEqual(metadata(run + '.safetensors')['__metadata__']
                         ['step'], '2')
        launch('icsd-train.t2i', steps=3, resume='true', **common)
        meta = metadata(run + '.safetensors')
        self.assertEqual(meta['__metadata__']['step'], '3')
        for prefix in ('ema/G.g0.fc.weight', 'ema/G.fc.weight', 'D0.',
                       'D1.', 'D2.', 'damsm.encoder.weight',
                       'damsm.emb_cnn_code.weight'):
            self.assertTrue(any(k.startswith(prefix) for k in meta), prefix)
        # the trainer's samples: 16 prompts of 64 px in a 4x4 grid, scale 2
        self.assertEqual(png_size('%s-samples-3.png' % run), (522, 522))

        gen = os.path.join(d, 'gen')
        os.makedirs(gen)
        launch('icsd-generate.t2i', ckpt=run + '.safetensors',
               damsm=damsm + '.safetensors', out=gen,
               prompts=os.path.join(SOURCE, 'examples', 'prompts.txt'))
        for s in (0, 1, 2):
            self.assertEqual(png_size(os.path.join(
                gen, 'icsd-s%d-0000.png' % s)), (64, 64))
        self.assertTrue(os.path.exists(os.path.join(gen, 'icsd-grid-000.txt')))

        ev = os.path.join(d, 'eval')
        launch('icsd-eval.t2i', ckpt=run + '.safetensors',
               damsm=damsm + '.safetensors', protos=protos, steps=1, out=ev)
        for what in ('fid', 'is', 'is-real', 'rprec', 'rprec-real', 'attr'):
            with open('%s-%s.json' % (ev, what)) as f:
                r = json.load(f)
            self.assertEqual(r['n'], 100, what)

    @unittest.skipUnless(os.path.exists(MODEL), 'no shipped model')
    def test_generate_shipped(self):
        """pipelines/icsd-generate.t2i on its defaults: the model in models/"""
        out = os.path.join(TMP, 'shipped')
        os.makedirs(out)
        launch('icsd-generate.t2i', out=out)
        names = sorted(os.listdir(out))
        self.assertIn('icsd-s2-0015.png', names)
        ev = os.path.join(TMP, 'shipped-eval')
        launch('icsd-eval.t2i', steps=1, out=ev)


if __name__ == '__main__':
    try:
        unittest.main(argv=sys.argv[:1], verbosity=2)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
