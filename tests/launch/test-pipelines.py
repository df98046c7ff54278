#!/usr/bin/env python3
# The shipped pipelines (pipelines/*.t2i) run end to end with t2i-launch:
# generation and evaluation on the committed models (models/), a few
# training steps of every training pipeline (with resume), and the CLIP
# pipelines.  Sizes are set small with --set; what each run writes is
# checked, not its quality (bench/lafite-shapes measures that).
#
# usage: test-pipelines.py T2I_LAUNCH SOURCE_DIR
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
import zlib

T2I_LAUNCH, SOURCE = [os.path.abspath(a) for a in sys.argv[1:3]]
TMP = tempfile.mkdtemp(prefix='t2i-pipelines-test-')
MODELS = os.path.join(SOURCE, 'models')
CLIP = os.path.join(MODELS, 'clip-shapes.safetensors')


def launch(pipeline, quiet=True, **sets):
    args = [T2I_LAUNCH] + (['--quiet'] if quiet else [])
    for k, v in sets.items():
        args += ['--set', '%s=%s' % (k, v)]
    args.append(os.path.join(SOURCE, 'pipelines', pipeline))
    # the pipelines' relative defaults (models/, examples/) are relative
    # to the source tree
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


def tensors(path):
    """name -> raw bytes of every tensor of a safetensors file"""
    with open(path, 'rb') as f:
        (n,) = struct.unpack('<Q', f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    header.pop('__metadata__', None)
    return {k: data[v['data_offsets'][0]:v['data_offsets'][1]]
            for k, v in header.items()}


def png_pixels(path):
    """(width, height, raw scanline bytes) of an 8-bit RGB(A) PNG."""
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', path
    pos, idat, w, h = 8, b'', 0, 0
    while pos < len(data):
        (length,) = struct.unpack('>I', data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            w, h = struct.unpack('>II', body[:8])
        elif kind == b'IDAT':
            idat += body
        pos += 12 + length
    return w, h, zlib.decompress(idat)


class Pipelines(unittest.TestCase):

    def out(self, name):
        d = os.path.join(TMP, name)
        os.makedirs(d, exist_ok=True)
        return d

    def test_generate(self):
        """make demo's pipeline: examples/prompts.txt on the shipped model"""
        out = self.out('generate')
        launch('lafite-generate.t2i', out=out)
        with open(os.path.join(SOURCE, 'examples', 'prompts.txt')) as f:
            prompts = [l.strip() for l in f
                       if l.strip() and not l.startswith('#')]
        images = sorted(p for p in os.listdir(out)
                        if p.startswith('lafite-0') and p.endswith('.png'))
        self.assertEqual(len(images), len(prompts))
        w, h, first = png_pixels(os.path.join(out, images[0]))
        self.assertEqual((w, h), (128, 128))          # 32 px, scale 4
        _, _, second = png_pixels(os.path.join(out, images[1]))
        self.assertNotEqual(first, second)
        with open(os.path.join(out, 'lafite-grid-000.txt')) as f:
            captions = [l.split('\t', 1)[1].strip() for l in f
                        if not l.startswith('#')]
        self.assertEqual(captions, prompts[:16])
        # seed= and psi= change the images, the same seed repeats them
        again = self.out('generate-again')
        launch('lafite-generate.t2i', out=again)
        other = self.out('generate-seed')
        launch('lafite-generate.t2i', out=other, seed=3, psi=1)
        self.assertEqual(png_pixels(os.path.join(again, images[0]))[2],
                         first)
        self.assertNotEqual(png_pixels(os.path.join(other, images[0]))[2],
                            first)

    def test_generate_defaults(self):
        """every method's generate pipeline draws out of the box: on its
        defaults (the model it names in models/), one PNG per prompt of
        examples/prompts.txt (SDN: its own prompts, n candidates each)"""
        with open(os.path.join(SOURCE, 'examples', 'prompts.txt')) as f:
            n = len([l for l in f if l.strip() and not l.startswith('#')])
        for name, prefix in (('distgan', 'distgan-0'), ('vqdiff', 'vqdiff-0'),
                             ('icsd', 'icsd-s2-0')):
            with self.subTest(name):
                out = self.out(name + '-defaults')
                # vqdiff: fewer reverse steps keep the test short
                launch(name + '-generate.t2i', out=out,
                       **({'steps': 5} if name == 'vqdiff' else {}))
                images = [p for p in os.listdir(out)
                          if p.startswith(prefix) and p.endswith('.png')]
                self.assertEqual(len(images), n)

    def test_missing_model(self):
        """a missing checkpoint is one line naming the element and property"""
        args = [T2I_LAUNCH, '--set', 'ckpt=/nonexistent.safetensors',
                '--set', 'out=' + self.out('missing'),
                os.path.join(SOURCE, 'pipelines', 'lafite-generate.t2i')]
        r = subprocess.run(args, cwd=SOURCE, capture_output=True, text=True,
                           timeout=600)
        self.assertEqual(r.returncode, 1)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertRegex(lines[0], r'^t2igenerator\d+: '
                         r'weights=/nonexistent.safetensors: ')

    def test_eval(self):
        """held-out attribute accuracy of the shipped model"""
        out = os.path.join(self.out('eval'), 'eval.json')
        launch('lafite-eval.t2i', steps=1, out=out)
        with open(out) as f:
            r = json.load(f)
        self.assertEqual(r['kind'], 'attr-acc')
        self.assertEqual(r['n'], 100)
        for k in ('color', 'shape', 'size', 'pos'):
            self.assertTrue(0.0 <= r['details'][k] <= 1.0, k)

    def check_train(self, pipeline, **sets):
        run = os.path.join(self.out('train'), pipeline[:-4])
        common = dict(steps=2, batch=8, ch=8, clip=CLIP, out=run, **sets)
        if 'free.t2i' in pipeline:
            common['evalsteps'] = 1     # the evaluation after each save
        launch(pipeline, **common)
        self.assertEqual(metadata(run + '.safetensors')['__metadata__']
                         ['step'], '2')
        common.update(steps=3, resume='true')
        launch(pipeline, **common)
        meta = metadata(run + '.safetensors')
        self.assertEqual(meta['__metadata__']['step'], '3')
        self.assertTrue(any(k.startswith('ema/G.') for k in meta))
        # the trainer's samples= drew examples/prompts.txt after each save:
        # a 4x4 grid of 32 px images at scale 2 with 2 px padding
        for step in (2, 3):
            w, h, _ = png_pixels('%s-samples-%d.png' % (run, step))
            self.assertEqual((w, h), (266, 266))
        return run

    def test_train_free(self):
        run = self.check_train('lafite-train-free.t2i')
        # its generator samples and evaluates with the same settings
        out = self.out('train-free-samples')
        launch('lafite-generate.t2i', ckpt=run + '.safetensors',
               clip=CLIP, out=out, text='a red circle;a blue square')

    def test_train_free_resume_bit_exact(self):
        """18 steps straight equal 9 + resume + 9, lazy R1 (every 16 steps)
        on the records' own steps through the resume"""
        d = self.out('resume')
        common = dict(batch=4, ch=8, clip=CLIP, evalsteps=1)
        launch('lafite-train-free.t2i', steps=18, out=d + '/straight',
               **common)
        launch('lafite-train-free.t2i', steps=9, out=d + '/resumed',
               **common)
        launch('lafite-train-free.t2i', steps=18, out=d + '/resumed',
               resume='true', **common)
        a = tensors(d + '/straight.safetensors')
        b = tensors(d + '/resumed.safetensors')
        self.assertEqual(sorted(a), sorted(b))
        differ = [k for k in a if a[k] != b[k]]
        self.assertEqual(differ, [])

    def test_train_free_kill_resume(self):
        """A short run of the kill-and-resume soak (tests/soak/kill-resume,
        docs/reliability.md): three SIGKILLs, each checkpoint loads, no
        temporary file stays, the end equals an uninterrupted run."""
        r = subprocess.run([os.path.join(SOURCE, 'tests', 'soak',
                                         'kill-resume'), '--kills', '3',
                            '--steps', '8', '--seed', '3',
                            '--launch', T2I_LAUNCH],
                           capture_output=True, text=True, timeout=900)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('bit-identical', r.stdout)

    def test_train_free_ablation(self):
        self.check_train('lafite-train-free.t2i', gamma=0, **{'lambda': 0})

    def test_train_sup(self):
        self.check_train('lafite-train-sup.t2i')

    def test_train_pixels(self):
        run = os.path.join(self.out('pixels'), 'pixels')
        launch('lafite-train-free-pixels.t2i', steps=2, batch=8, ch=8,
               out=run)
        launch('lafite-generate-pixels.t2i', ckpt=run + '.safetensors',
               steps=1, out=run + '-samples')

    def test_distgan(self):
        """DiST-GAN: a few steps of the full model (and a Base variant), then
        its generate, interpolate and eval pipelines on the checkpoint"""
        run = self.check_train('distgan-train.t2i')
        self.check_train('distgan-train.t2i', cond='text_emb', vl=0)
        ckpt = run + '.safetensors'
        out = self.out('distgan-generate')
        launch('distgan-generate.t2i', ckpt=ckpt, out=out,
               prompts=os.path.join(SOURCE, 'examples', 'prompts.txt'))
        self.assertTrue(os.path.exists(os.path.join(out, 'distgan-0000.png')))
        strip = os.path.join(out, 'strip.png')
        launch('distgan-interpolate.t2i', ckpt=ckpt, steps=4, out=strip)
        w, h, _ = png_pixels(strip)
        self.assertEqual((w, h), (4 * 64 + 10, 68))
        ev = os.path.join(out, 'eval')
        launch('distgan-eval.t2i', ckpt=ckpt, steps=1, out=ev)
        for k in ('fid', 'rprec', 'attr'):
            self.assertTrue(os.path.exists('%s-%s.json' % (ev, k)), k)

    def test_vqdiffusion(self):
        """CLIP-VQDiffusion's three stages in a few steps each, with resume,
        then generation with guidance and evaluation on the result"""
        d = self.out('vqdiff')
        vq = os.path.join(d, 'vqgan')
        small = dict(batch=4, ch=8, codes=16)
        launch('vqgan-train.t2i', steps=2, out=vq, disc_start=1,
               perceptual='identity', **small)
        launch('vqgan-train.t2i', steps=3, out=vq, disc_start=1,
               perceptual='identity', resume='true', **small)
        self.assertEqual(metadata(vq + '.safetensors')['__metadata__']
                         ['step'], '3')
        w, h, _ = png_pixels(vq + '-samples-3.png')
        self.assertEqual((w, h), (4 * 128 + 10, 4 * 64 + 10))  # image | recon
        model = os.path.join(d, 'vqdiff')
        tiny = dict(batch=4, codes=16, width=16, layers=1, heads=2,
                    timesteps=10, clip=CLIP, vqgan=vq + '.safetensors')
        launch('vqdiff-train.t2i', steps=2, out=model, **tiny)
        launch('vqdiff-train.t2i', steps=3, out=model, resume='true', **tiny)
        meta = metadata(model + '.safetensors')
        self.assertEqual(meta['__metadata__']['step'], '3')
        # the frozen tokenizer is saved with the model: one file draws
        self.assertTrue(any(k.startswith('VQ.') for k in meta))
        self.assertTrue(any(k.startswith('ema/T.') for k in meta))
        self.assertTrue(os.path.exists(model + '-samples-3.png'))
        cfg = os.path.join(d, 'cfg')
        launch('vqdiff-finetune-cfg.t2i', steps=2, batch=4, clip=CLIP,
               timesteps=10, model=model + '.safetensors', out=cfg)
        self.assertIn('ema/T.empty_text_embed',
                      metadata(cfg + '.safetensors'))
        out = self.out('vqdiff-generate')
        launch('vqdiff-generate.t2i', model=cfg + '.safetensors', clip=CLIP,
               guidance=3, steps=2, out=out)
        self.assertTrue(os.path.exists(os.path.join(out, 'vqdiff-0000.png')))
        # guidance needs the null embedding of the fine-tune
        with self.assertRaisesRegex(AssertionError, 'guidance=3 needs a null '
                                    'embedding'):
            launch('vqdiff-generate.t2i', model=model + '.safetensors',
                   clip=CLIP, guidance=3, steps=2, out=out)
        ev = os.path.join(out, 'eval')
        launch('vqdiff-eval.t2i', model=cfg + '.safetensors', clip=CLIP,
               batches=1, steps=2, out=ev)
        for k in ('clip', 'fid', 'attr'):
            self.assertTrue(os.path.exists('%s-%s.json' % (ev, k)), k)

    def test_clip(self):
        out = os.path.join(self.out('clip'), 'clip.safetensors')
        vocab = os.path.join(TMP, 'clip', 'clip-vocab.txt')
        launch('clip-pretrain.t2i', steps=2, batch=16, out=out, vocab=vocab)
        self.assertTrue(os.path.getsize(vocab) > 0)
        self.assertEqual(metadata(out)['__metadata__']['step'], '2')
        r = launch('clip-eval.t2i', quiet=False, steps=1, weights=CLIP,
                   vocab=os.path.join(MODELS, 'clip-shapes-vocab.txt'))
        self.assertIn('r-precision', r.stdout + r.stderr)


    # ---- SDN (docs/sdn.md) ----

    def test_sdn_generate(self):
        """the shipped SDN model draws its 3 candidates per prompt"""
        out = self.out('sdn-generate')
        launch('sdn-generate.t2i', out=out)
        with open(os.path.join(SOURCE, 'examples', 'sdn-prompts.txt')) as f:
            prompts = [l.strip() for l in f
                       if l.strip() and not l.startswith('#')]
        frames = sorted(p for p in os.listdir(out)
                        if p.startswith('sdn-0') and p.endswith('.png'))
        self.assertEqual(len(frames), 3 * len(prompts))
        w, h, first = png_pixels(os.path.join(out, frames[0]))
        self.assertEqual((w, h), (128, 128))          # 32 px, scale 4
        # no noise: the same prompt gives the same images
        again = self.out('sdn-generate-again')
        launch('sdn-generate.t2i', out=again)
        self.assertEqual(png_pixels(os.path.join(again, frames[0]))[2], first)

    def test_sdn_eval(self):
        """IS with the shipped teacher's heads, SSIM, FSIM, attributes"""
        out = os.path.join(self.out('sdn-eval'), 'eval')
        launch('sdn-eval.t2i', steps=1, out=out)
        for kind in ('is', 'is2', 'ssim', 'fsim', 'attr'):
            with open('%s-%s.json' % (out, kind)) as f:
                r = json.load(f)
            self.assertEqual(r['n'], 100, kind)
        with open(out + '-is.json') as f:
            self.assertGreaterEqual(json.load(f)['value'], 1.0)

    def test_sdn_train(self):
        """Stage I, then Stage II resumed from it (eq. 4-5 with two
        candidates), Stage II with Stage I's loss, and the image loss"""
        run = os.path.join(self.out('sdn-train'), 'sdn')
        common = dict(batch=4, choices=2, columns=2, clip=CLIP)
        launch('sdn-train-stage1.t2i', steps=2, out=run, **common)
        self.assertEqual(metadata(run + '.safetensors')['__metadata__']
                         ['step'], '2')
        shutil.copy(run + '.safetensors', run + '-2.safetensors')
        launch('sdn-train-stage2.t2i', steps=3, out=run + '-2',
               resume='true', **common)
        meta = metadata(run + '-2.safetensors')['__metadata__']
        self.assertEqual(meta['step'], '3')
        self.assertIn('"choices":2', meta['model/G'])
        # 16 prompts, a row of 2 candidates each, 32 px at scale 2
        w, h, _ = png_pixels('%s-2-samples-3.png' % run)
        self.assertEqual((w, h), (2 * 66 + 2, 16 * 66 + 2))
        launch('sdn-train-stage2.t2i', steps=1, out=run + '-both',
               stage1=-1, batch=4, clip=CLIP)
        launch('sdn-train-stage1.t2i', steps=1, out=run + '-image',
               kind='sdn-image', batch=4, clip=CLIP)
        # the checkpoint rebuilds the generator for generation
        out = self.out('sdn-train-generate')
        launch('sdn-generate.t2i', ckpt=run + '-2.safetensors', n=2, out=out,
               prompts=os.path.join(SOURCE, 'examples', 'prompts.txt'))
        self.assertEqual(len(os.listdir(out)), 2 * 16 + 1)

    def test_vgg_pretrain(self):
        out = os.path.join(self.out('vgg'), 'vgg.safetensors')
        launch('vgg-pretrain.t2i', steps=2, batch=8, out=out)
        meta = metadata(out)['__metadata__']
        self.assertEqual(meta['step'], '2')
        for group in ('V', 'P', 'P2'):
            self.assertIn('model/' + group, meta)

if __name__ == '__main__':
    try:
        unittest.main(argv=sys.argv[:1], verbosity=2)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
