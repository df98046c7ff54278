#!/usr/bin/env python3
# The tutorials (docs/tutorial-*.md) run as written: every ```sh block of a
# tutorial, in order, in one bash, from a folder that looks like the top of
# the tree (pipelines/, models/, examples/ and build/ linked in), with
# tiny sizes.  The sizes are the shell variables each tutorial's first
# block sets with ${name:-default}; the test sets every one of them before,
# as shell variables (and fails when a tutorial gains one it does not know,
# rather than run it at full size).  Then it checks what the tutorial says
# was made.
#
# usage: test-tutorials.py SOURCE_DIR BUILD_DIR
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

SOURCE, BUILD = [os.path.abspath(a) for a in sys.argv[1:3]]
TMP = tempfile.mkdtemp(prefix='t2i-tutorials-test-')

# tiny sizes for every variable the tutorials set
SIZES = {
    'steps': '4', 'more': '2', 'ch': '8', 'batch': '8', 'report': '2',
    'save': '2', 'evalsteps': '1', 'clipsteps': '2',
}


def sh_blocks(name):
    with open(os.path.join(SOURCE, 'docs', name), encoding='utf-8') as f:
        text = f.read()
    return re.findall(r'^```sh\n(.*?)^```$', text, re.M | re.S)


def size_variables(blocks):
    return re.findall(r'^(\w+)=\$\{\1:-[^}]*\}', blocks[0], re.M)


def metadata(path):
    with open(path, 'rb') as f:
        (n,) = struct.unpack('<Q', f.read(8))
        return json.loads(f.read(n))['__metadata__']


def png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n', path
    return struct.unpack('>II', head[16:24])


class Tutorial(unittest.TestCase):

    def run_tutorial(self, name):
        blocks = sh_blocks(name)
        self.assertGreaterEqual(len(blocks), 4)
        unknown = [v for v in size_variables(blocks) if v not in SIZES]
        self.assertEqual(unknown, [], 'sizes the test does not set')
        root = os.path.join(TMP, name[:-3])
        os.makedirs(root)
        for d in ('pipelines', 'models', 'examples'):
            os.symlink(os.path.join(SOURCE, d), os.path.join(root, d))
        os.symlink(BUILD, os.path.join(root, 'build'))
        # shell variables, as a reader sets them: not exported, since
        # t2i-launch takes exported ones as pipeline variables
        env = {k: v for k, v in os.environ.items() if k not in SIZES}
        script = 'set -eux\n' + ''.join('%s=%s\n' % kv for kv in
                                         SIZES.items()) + '\n'.join(blocks)
        r = subprocess.run(['bash', '-c', script], cwd=root, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=1200)
        if r.returncode != 0:
            raise AssertionError('%s: a command failed (%d):\n%s' % (
                name, r.returncode, r.stderr[-4000:]))
        return root, r.stderr

    def test_lafite(self):
        root, log = self.run_tutorial('tutorial-lafite.md')
        path = lambda *p: os.path.join(root, *p)
        # 1. the data
        self.assertTrue(os.path.exists(path('out', 'shapes-grid-00.png')))
        # 2. a CLIP trained for clipsteps, and its retrieval measured
        self.assertEqual(metadata(path('runs', 'clip.safetensors'))['step'],
                         SIZES['clipsteps'])
        self.assertIn('metric r-precision=', log)
        # 3. trained, then resumed for more steps
        total = int(SIZES['steps']) + int(SIZES['more'])
        self.assertEqual(metadata(path('runs', 'lafite.safetensors'))
                         ['step'], str(total))
        with open(path('runs', 'lafite-report', 'index.html'),
                  encoding='utf-8') as f:
            page = f.read()
        self.assertIn('finished</b> &mdash; step %d/%d (100%%)'
                      % (total, total), page)
        self.assertIn('src="loss.png"', page)
        self.assertIn('src="eval-attr-acc.png"', page)
        self.assertIn('<li>a red circle</li>', page)
        self.assertTrue(os.listdir(path('runs', 'lafite-report', 'samples')))
        with open(path('runs', 'lafite-graph.svg'), encoding='utf-8') as f:
            self.assertIn('+ fake f32[8,3,32,32]', html.unescape(f.read()))
        # 4. images from prompts
        self.assertEqual(png_size(path('out', 'lafite-grid-000.png')),
                         (266, 266))
        mine = sorted(os.listdir(path('out', 'mine')))
        self.assertEqual(len([m for m in mine if re.match(
            r'lafite-\d{4}\.png$', m)]), 16)
        # 5. the metrics of this model and of the shipped one
        for name in ('lafite-eval.json', 'shipped-eval.json'):
            with open(path('runs', name)) as f:
                result = json.load(f)
            self.assertEqual(result['kind'], 'attr-acc')
            self.assertEqual(result['n'], 100 * int(SIZES['evalsteps']))

    def test_distgan(self):
        root, log = self.run_tutorial('tutorial-distgan.md')
        path = lambda *p: os.path.join(root, *p)
        for run in ('distgan', 'distgan-base-ada'):
            self.assertEqual(metadata(path('runs', run + '.safetensors'))
                             ['step'], SIZES['steps'])
            with open(path('runs', run + '-report', 'index.html'),
                      encoding='utf-8') as f:
                page = f.read()
            self.assertIn('finished</b>', page)
            for plot in ('loss.png', 'eval-fid.png', 'eval-r-precision.png'):
                self.assertIn('src="%s"' % plot, page)
        with open(path('runs', 'distgan-graph.svg'), encoding='utf-8') as f:
            svg = html.unescape(f.read())
        self.assertIn('+ v_m f32[8,', svg)
        self.assertIn('+ loss/G-con f32[]', svg)
        self.assertTrue(os.path.exists(path('out', 'distgan',
                                            'distgan-grid-000.png')))
        w, h = png_size(path('out', 'distgan-strip.png'))
        self.assertGreater(w, 4 * h)
        for run in ('distgan-eval', 'distgan-base-ada-eval'):
            for kind, file in (('fid', 'fid'), ('r-precision', 'rprec'),
                               ('attr-acc', 'attr')):
                with open(path('runs', '%s-%s.json' % (run, file))) as f:
                    self.assertEqual(json.load(f)['kind'], kind)


if __name__ == '__main__':
    try:
        unittest.main(argv=sys.argv[:1], verbosity=2)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
