#!/usr/bin/env python3
# "Training you can watch", end to end: a short LAFITE run
# (pipelines/lafite-train-free.t2i at tiny sizes) with --report and
# --graph, on a pseudo-terminal.  Checks that the status line reached 100%
# with an ETA on the way, that the graph shows the record entries on its
# links, that the report holds the curves, the sample grids with their
# captions and the evaluation per checkpoint, and that headless Chromium
# draws it: the screenshot is not blank, shows the loss curve in its
# colour and a colourful sample grid.
#
# Without chromium the browser part skips, saying so;
# scripts/install-test-browser installs it (CI runs it).
#
# usage: test-report-browser.py T2I_LAUNCH SOURCE_DIR
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import fcntl
import html
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import unittest

T2I_LAUNCH, SOURCE = [os.path.abspath(a) for a in sys.argv[1:3]]
TMP = tempfile.mkdtemp(prefix='t2i-report-test-')
CLIP = os.path.join(SOURCE, 'models', 'clip-shapes.safetensors')
REPORT = os.path.join(TMP, 'report')
GRAPH = os.path.join(TMP, 'lafite.svg')
# the first colour of the plots' palette (tools/t2i-launch/plot.c): the
# first loss curve
PLOT_BLUE = (31, 120, 181)
WIDTH, HEIGHT = 1200, 2400
CHROMIUM = next((shutil.which(n) for n in ('chromium', 'chromium-browser')
                 if shutil.which(n)), None)

run = {}


def train_on_terminal():
    """The run, once for all tests: (exit code, what it wrote on the
    terminal)."""
    if run:
        return run['code'], run['text']
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ,
                struct.pack('HHHH', 24, 250, 0, 0))
    sets = dict(steps=16, batch=8, ch=8, report=2, save=8, evalsteps=1,
                clip=CLIP, out=os.path.join(TMP, 'lafite'))
    args = [T2I_LAUNCH, '--report', REPORT, '--graph', GRAPH]
    for k, v in sets.items():
        args += ['--set', '%s=%s' % (k, v)]
    args.append(os.path.join(SOURCE, 'pipelines', 'lafite-train-free.t2i'))
    p = subprocess.Popen(args, cwd=SOURCE, stdout=subprocess.DEVNULL,
                         stderr=slave)
    os.close(slave)
    data = b''
    while True:
        ready, _, _ = select.select([master], [], [], 600)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    os.close(master)
    run['code'] = p.wait(timeout=600)
    run['text'] = data.decode()
    return run['code'], run['text']


def png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n', path
    return struct.unpack('>II', head[16:24])


def rgb_pixels(png):
    """(width, height, RGB bytes) of a PNG, decoded by GStreamer's pngdec
    through t2i-launch (the plugins scripts/bootstrap installs)."""
    raw = png + '.rgb'
    r = subprocess.run(
        [T2I_LAUNCH, '-q', '--', 'filesrc', 'location=' + png, '!',
         'pngdec', '!', 'videoconvert', '!',
         'video/x-raw,format=RGB', '!', 'filesink', 'location=' + raw],
        capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    w, h = png_size(png)
    with open(raw, 'rb') as f:
        data = f.read()
    # GStreamer's RGB rows are padded to 4 bytes
    stride = (w * 3 + 3) & ~3
    assert len(data) == stride * h, (len(data), stride, h)
    return w, h, b''.join(data[y * stride:y * stride + w * 3]
                          for y in range(h))


class Training(unittest.TestCase):

    def test_progress(self):
        """the status line grows to 100% and shows an ETA on the way"""
        code, text = train_on_terminal()
        self.assertEqual(code, 0, text[-2000:])
        status = re.findall(r'\r(\[ *(\d+)%\][^\r\x1b]*)\x1b\[K', text)
        percents = [int(p) for _, p in status]
        self.assertTrue(percents, text[-2000:])
        self.assertEqual(percents, sorted(percents))
        self.assertEqual(percents[-1], 100)
        self.assertIn('step 16/16', status[-1][0])
        self.assertTrue(any(re.search(r' ETA \d+:\d\d', line)
                            for line, p in status if int(p) < 100),
                        text[-2000:])
        # the losses and the rate are on it
        self.assertRegex(status[-1][0], r'loss/D=\S+ loss/G=\S+ [\d.]+ '
                         r'items/s elapsed \d+:\d\d$')
        # checkpoints, samples and evaluations come as lines above it
        for line in ('checkpoint step 8: ', 'samples step 8: ',
                     'eval step 8: metric fid=', 'eval step 16: metric '
                     'attr-acc='):
            self.assertIn('\x1b[K' + line, text)

    def test_graph(self):
        code, _ = train_on_terminal()
        self.assertEqual(code, 0)
        self.assertTrue(shutil.which('dot'), "graphviz's dot is not "
                        "installed (scripts/bootstrap installs it)")
        with open(GRAPH, encoding='utf-8') as f:
            svg = html.unescape(f.read())
        self.assertIn('<svg', svg)
        for text in ('T2iTrainer', 'T2iGenerator', '+ fake f32[8,3,32,32]',
                     '+ img_feat f32[8,128]', '+ loss/D f32[]',
                     '\xa0image f32[8,3,32,32]'):
            self.assertIn(text, svg)

    def test_report_files(self):
        code, _ = train_on_terminal()
        self.assertEqual(code, 0)
        with open(os.path.join(REPORT, 'index.html'),
                  encoding='utf-8') as f:
            page = f.read()
        self.assertIn('finished</b> &mdash; step 16/16 (100%)', page)
        for name in ('loss.png', 'lr.png', 'speed.png', 'eval-fid.png',
                     'eval-attr-acc.png'):
            self.assertIn('src="%s"' % name, page)
            self.assertEqual(png_size(os.path.join(REPORT, name)),
                             (720, 300))
        grids = sorted(os.listdir(os.path.join(REPORT, 'samples')))
        self.assertEqual(grids, ['00000008-lafite-samples-8.png',
                                 '00000016-lafite-samples-16.png'])
        for g in grids:
            self.assertIn('src="samples/%s"' % g, page)
        # the captions of the grid: the prompts, in order
        self.assertIn('<li>a red circle</li><li>a blue square</li>', page)
        self.assertIn('lafite-train-free.t2i', page)
        self.assertIn('<td>ch</td><td>8</td><td>--set</td>', page)


@unittest.skipUnless(CHROMIUM, 'chromium is not installed: '
                     'scripts/install-test-browser installs it')
class Browser(unittest.TestCase):

    def screenshot(self):
        shot = os.path.join(TMP, 'screenshot.png')
        profile = tempfile.mkdtemp(dir=TMP, prefix='chromium-')
        args = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu',
                '--disable-quic', '--no-first-run',
                '--disable-background-networking',
                '--disable-component-update', '--disable-sync',
                '--hide-scrollbars', '--disable-dev-shm-usage',
                '--user-data-dir=' + profile,
                '--screenshot=' + shot,
                '--window-size=%d,%d' % (WIDTH, HEIGHT),
                'file://' + os.path.join(REPORT, 'index.html')]
        r = subprocess.run(args, capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertTrue(os.path.exists(shot), r.stderr[-2000:])
        return shot

    def test_screenshot(self):
        code, _ = train_on_terminal()
        self.assertEqual(code, 0)
        w, h, rgb = rgb_pixels(self.screenshot())
        self.assertEqual((w, h), (WIDTH, HEIGHT))
        n = w * h
        pixels = [rgb[i:i + 3] for i in range(0, 3 * n, 3)]
        # not blank: a good part of the page is not the white background
        not_white = sum(1 for p in pixels if min(p) < 235)
        self.assertGreater(not_white, n // 50)
        # the loss plot: its first curve (and legend) in the first colour
        blue = [i for i, p in enumerate(pixels)
                if all(abs(p[c] - PLOT_BLUE[c]) <= 6 for c in range(3))]
        self.assertGreater(len(blue), 100)
        xs = [i % w for i in blue]
        self.assertGreater(max(xs) - min(xs), 300)  # across the plot
        # a sample grid: many strongly coloured pixels (the generated
        # images), more than the plots' thin lines make
        colourful = sum(1 for p in pixels if max(p) - min(p) > 60)
        self.assertGreater(colourful, 100000)


if __name__ == '__main__':
    try:
        unittest.main(argv=sys.argv[:1], verbosity=2)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
