#!/usr/bin/env python3
# End-to-end tests of the t2i-launch binary.
#
# usage: test-launch.py T2I_LAUNCH TEST_PLUGIN FIXTURE_DIR SYSTEM_PLUGIN_DIR
#
# Every bad-*.t2i style fixture in FIXTURE_DIR that has a "# expect: LINE"
# comment must fail with exactly that line on stderr and exit code 2
# ("# args: ..." adds arguments).  The other tests run good files, runtime
# errors, the message lines and --json log (with the test-only element
# "launchtestposter" from TEST_PLUGIN), Ctrl-C handling and the options.
#
# GStreamer sees only the core elements, audiotestsrc and the test plugin
# (plus the t2i plugin linked into t2i-launch), with a private registry, so
# that "did you mean" hints do not depend on what is installed.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import fcntl
import glob
import json
import os
import pty
import re
import resource
import select
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
import unittest

T2I_LAUNCH, TEST_PLUGIN, FIXTURES, SYSTEM_PLUGINS = [
    os.path.abspath(arg) for arg in sys.argv[1:5]]
TMP = tempfile.mkdtemp(prefix='t2i-launch-test-')
ENV = {}


def setup_environment():
    plugins = os.path.join(TMP, 'plugins')
    os.mkdir(plugins)
    for name in ('libgstcoreelements.so', 'libgstaudiotestsrc.so'):
        os.symlink(os.path.join(SYSTEM_PLUGINS, name),
                   os.path.join(plugins, name))
    os.symlink(TEST_PLUGIN,
               os.path.join(plugins, os.path.basename(TEST_PLUGIN)))
    ENV.update(os.environ)
    for name in ('GST_DEBUG', 'N', 'OUT', 'BUFFERS', 'SIZE', 'DELAY',
                 'T2I_TEST_STEPS', 'T2I_TEST_DEFINED'):
        ENV.pop(name, None)
    ENV.update({
        'GST_PLUGIN_SYSTEM_PATH_1_0': plugins,
        'GST_PLUGIN_PATH_1_0': '',
        'GST_REGISTRY_1_0': os.path.join(TMP, 'registry.bin'),
        # scan in-process: an ASan-built test plugin cannot be loaded by
        # the uninstrumented gst-plugin-scanner
        'GST_REGISTRY_FORK': 'no',
    })


def launch(*args, env=None, timeout=120, preexec_fn=None):
    """Runs t2i-launch in the fixture directory: (exit code, out, err)."""
    e = dict(ENV)
    e.update(env or {})
    p = subprocess.run([T2I_LAUNCH, *args], cwd=FIXTURES, env=e,
                       capture_output=True, text=True, timeout=timeout,
                       preexec_fn=preexec_fn)
    return p.returncode, p.stdout, p.stderr


def read_json(path):
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f]


def tmp_path(name):
    return os.path.join(TMP, name)


TRAIN = 'step {0}/{1} epoch 1 loss/G=0.6931 loss/D=1.3863 12.5 items/s'
# records with image f32[2,3,8,8], caption, id and attr/ entries
SHAPES = 't2idatasetsrc dataset=shapes batch-size=2 resolution=8 max-steps=1 ! '
NOTE = ("t2i-launch: note: {0}'s output goes nowhere; added a fakesink (end "
        "the pipeline with '! fakesink' to silence this)\n")
LOOP = (r'^t2i-launch: the links form a loop: ({0}) \(an element cannot take '
        r'its own output; remove one of these links\)\n$')


PROGRESS = 'progress {0}/{1} ({2}%) 12.5 items/s elapsed T'


def plain_lines(n, path='ckpt.safetensors', every=False):
    """The lines counted.t2i prints for N=n when stderr is no terminal (the
    elapsed times as T, see timeless()): a progress line at the first
    step and at the last, or at every one with --progress-interval 0."""
    lines = []
    for step in range(1, n + 1):
        lines.append(TRAIN.format(step, n))
        if every or step in (1, n):
            lines.append(PROGRESS.format(step, n, 100 * step // n))
    lines += ['checkpoint step {0}: {1}'.format(n, path),
              'metric fid=12.5 n={0} extractor=test top1=0.25 ok=true '
              'loss=nan'.format(n)]
    return ''.join(line + '\n' for line in lines)


def timeless(text, eta=False):
    """The text with every elapsed time as T (runs take what they take),
    and without the ETAs with @eta."""
    if eta:
        text = re.sub(r' ETA \d+(:\d\d)+', '', text)
    return re.sub(r'elapsed \d+(:\d\d)+', 'elapsed T', text)


def on_terminal(*args, env=None):
    """Runs t2i-launch with standard error on a 200-column pseudo-terminal:
    (exit code, everything it wrote there)."""
    master, slave = pty.openpty()
    # wide enough for the whole status line (it is cut to the width)
    fcntl.ioctl(slave, termios.TIOCSWINSZ,
                struct.pack('HHHH', 24, 200, 0, 0))
    e = dict(ENV)
    e.update(env or {})
    p = subprocess.Popen([T2I_LAUNCH, *args], cwd=FIXTURES, env=e,
                         stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    data = b''
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    os.close(master)
    code = p.wait(timeout=60)
    p.stdout.close()
    return code, data.decode()


class Fixtures(unittest.TestCase):
    def test_bad_files(self):
        checked = 0
        for path in sorted(glob.glob(os.path.join(FIXTURES, '*.t2i'))):
            with open(path, encoding='utf-8') as f:
                text = f.read()
            expect = re.search(r'^# expect: (.*)$', text, re.M)
            if not expect:
                continue
            args = re.search(r'^# args: (.*)$', text, re.M)
            args = shlex.split(args.group(1)) if args else []
            name = os.path.basename(path)
            with self.subTest(fixture=name):
                code, out, err = launch(*args, name)
                self.assertEqual(err, expect.group(1) + '\n')
                self.assertEqual(code, 2)
                self.assertEqual(out, '')
            checked += 1
        self.assertGreaterEqual(checked, 10)

    def test_good_file(self):
        self.assertEqual(launch('good.t2i'), (0, '', ''))
        self.assertEqual(launch('good.t2i', env={'BUFFERS': '5'}),
                         (0, '', ''))

    def test_command_line(self):
        self.assertEqual(launch('--', 'fakesrc num-buffers=2 ! fakesink'),
                         (0, '', ''))
        # words are joined, comments and variables work there too
        self.assertEqual(launch('--set', 'N=2', '--', 'fakesrc',
                                'num-buffers=${N}', '!', 'fakesink',
                                '# done'), (0, '', ''))
        self.assertEqual(
            launch('--', 'fakesrc ! fakesinkk'),
            (2, '', "<command-line>:1:11: unknown element 'fakesinkk' "
             "(did you mean 'fakesink'?)\n"))
        self.assertEqual(
            launch('--', 'fakesrc', 'num-buffers=${STEPS}', '!', 'fakesink'),
            (2, '', "<command-line>:1:21: undefined variable 'STEPS' "
             "(use --set STEPS=VALUE or ${STEPS:-default})\n"))


class Substitution(unittest.TestCase):
    def checkpoint(self, *args, env=None):
        out = tmp_path('counted.json')
        code, _, err = launch('-q', '--json', out, *args, 'counted.t2i',
                              env=env)
        self.assertEqual((code, err), (0, ''))
        ckpt = [m for m in read_json(out) if m['type'] == 't2i-checkpoint']
        self.assertEqual(len(ckpt), 1)
        return ckpt[0]['step'], ckpt[0]['path']

    def test_precedence(self):
        self.assertEqual(self.checkpoint(), (2, 'ckpt.safetensors'))
        self.assertEqual(self.checkpoint(env={'N': '4'}),
                         (4, 'ckpt.safetensors'))
        self.assertEqual(self.checkpoint('--set', 'N=5', '-s', 'OUT=run/x',
                                          env={'N': '4'}),
                         (5, 'run/x.safetensors'))
        # an empty value takes the default
        self.assertEqual(self.checkpoint(env={'N': ''}),
                         (2, 'ckpt.safetensors'))

    def test_unused_set(self):
        code, _, err = launch('--set', 'NN=3', 'counted.t2i')
        self.assertEqual(code, 0)
        self.assertTrue(err.startswith(
            't2i-launch: warning: --set NN is not used by counted.t2i\n'),
            err)


class Messages(unittest.TestCase):
    def test_plain_lines(self):
        code, out, err = launch('--set', 'N=3', 'counted.t2i')
        self.assertEqual((code, out), (0, ''))
        self.assertEqual(timeless(err), plain_lines(3))

    def test_progress_interval(self):
        code, out, err = launch('--progress-interval', '0', '--set', 'N=3',
                                'counted.t2i')
        self.assertEqual((code, out), (0, ''))
        self.assertEqual(timeless(err, eta=True), plain_lines(3, every=True))

    def test_quiet(self):
        self.assertEqual(launch('-q', 'counted.t2i'), (0, '', ''))

    def test_verbose(self):
        code, _, err = launch('-v', 'counted.t2i')
        self.assertEqual(code, 0)
        self.assertIn('pipeline0: state READY -> PAUSED\n', err)
        self.assertIn('t2i-launch: setting pipeline to PLAYING\n', err)
        self.assertIn('checkpoint step 2: ckpt.safetensors\n', err)

    def test_json(self):
        path = tmp_path('messages.json')
        code, out, err = launch('--json', path, '--set', 'N=2',
                                'counted.t2i')
        self.assertEqual((code, out), (0, ''))
        self.assertEqual(timeless(err), plain_lines(2))
        messages = read_json(path)
        self.assertEqual([m['type'] for m in messages],
                         ['t2i-train', 't2i-progress'] * 2 +
                         ['t2i-checkpoint', 't2i-metric'])
        for m in messages:
            self.assertEqual(m['element'], 'poster')
            self.assertIsInstance(m['time'], float)
        train = messages[2]
        del train['time']
        self.assertEqual(train, {
            'type': 't2i-train', 'element': 'poster', 'step': 2,
            'epoch': 1, 'total-steps': 2, 'items-per-second': 12.5,
            'loss/G': 0.693147, 'loss/D': 1.386294})
        metric = messages[-1]
        self.assertEqual(metric['kind'], 'fid')
        self.assertEqual(metric['value'], 12.5)
        self.assertEqual(metric['n'], 2)
        self.assertEqual(metric['details'], {
            'type': 'details', 'top1': 0.25, 'ok': True, 'loss': 'NaN',
            'sizes': [1, 2, 3]})

    def test_json_to_stdout(self):
        code, out, err = launch('-q', '--json', '-', 'counted.t2i')
        self.assertEqual((code, err), (0, ''))
        types = [json.loads(line)['type'] for line in out.splitlines()]
        self.assertEqual(types[-2:], ['t2i-checkpoint', 't2i-metric'])

    def test_json_unwritable(self):
        code, _, err = launch('--json', '/nonexistent/x.json', 'good.t2i')
        self.assertEqual(code, 2)
        self.assertTrue(err.startswith('t2i-launch: cannot write '), err)

    def test_terminal_progress(self):
        """On a terminal: one live status line, other lines above it."""
        code, text = on_terminal('--set', 'N=3', 'counted.t2i')
        self.assertEqual(code, 0)
        text = timeless(text)
        # the step, the last losses and the rate share the status line
        self.assertIn('\r[100%] step 3/3 epoch 1 loss/G=0.6931 '
                      'loss/D=1.3863 12.5 items/s elapsed T\x1b[K', text)
        self.assertIn('\r\x1b[Kcheckpoint step 3: ckpt.safetensors\r\n',
                      text)
        self.assertIn('metric fid=12.5 n=3', text)
        self.assertTrue(text.endswith('\r\n'), repr(text))
        self.assertNotIn('\nstep ', text)
        self.assertNotIn('\nprogress ', text)

    def test_terminal_eta(self):
        """A run of a few seconds: the percentage grows to 100 with an ETA
        on the way, none once done."""
        code, text = on_terminal('--set', 'N=8', '--set', 'DELAY=250',
                                 'counted.t2i')
        self.assertEqual(code, 0)
        status = re.findall(r'\r(\[ *(\d+)%\][^\r\x1b]*)\x1b\[K', text)
        percents = [int(p) for _, p in status]
        self.assertEqual(percents, sorted(percents), text)
        self.assertEqual(percents[-1], 100)
        with_eta = [line for line, p in status if 'ETA ' in line]
        self.assertTrue(with_eta, text)
        self.assertRegex(with_eta[-1], r' ETA \d+:\d\d$')
        self.assertNotIn('ETA', status[-1][0])


class Outputs(unittest.TestCase):
    """--report DIR and --graph FILE"""

    def test_report(self):
        folder = tmp_path('report')
        code, out, err = launch('-q', '--report', folder, '--set', 'N=3',
                                'counted.t2i')
        self.assertEqual((code, out, err), (0, '', ''))
        with open(os.path.join(folder, 'index.html'), encoding='utf-8') as f:
            page = f.read()
        # the last version, which does not reload
        self.assertIn('finished</b> &mdash; step 3/3 (100%)', page)
        self.assertNotIn('http-equiv="refresh"', page)
        for name in ('loss.png', 'speed.png'):
            self.assertIn('src="%s"' % name, page)
            with open(os.path.join(folder, name), 'rb') as f:
                self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')
        self.assertIn('<td>poster</td><td>fid</td><td class="num">12.5</td>',
                      page)
        self.assertIn('<td>N</td><td>3</td><td>--set</td>', page)
        self.assertIn('step 3: ckpt.safetensors', page)
        self.assertIn('launchtestposter name=poster', page)

    def test_report_unwritable(self):
        code, _, err = launch('--report', '/dev/null/report', 'good.t2i')
        self.assertEqual(code, 2)
        self.assertTrue(err.startswith(
            't2i-launch: --report: cannot create /dev/null/report: '), err)

    @unittest.skipUnless(shutil.which('dot'), 'graphviz is not installed '
                         '(scripts/bootstrap installs it)')
    def test_graph(self):
        path = tmp_path('graph.svg')
        code, out, err = launch('--graph', path, 'counted.t2i', '-q')
        self.assertEqual((code, out, err), (0, '', ''))
        with open(path, encoding='utf-8') as f:
            svg = f.read()
        self.assertIn('<svg', svg)
        self.assertIn('poster', svg)

    def test_graph_dot(self):
        path = tmp_path('graph.dot')
        code, _, err = launch('--graph', path, '-q', 'good.t2i')
        self.assertEqual((code, err), (0, ''))
        with open(path, encoding='utf-8') as f:
            self.assertTrue(f.read().startswith('digraph pipeline {'))

    def test_graph_without_graphviz(self):
        empty = tmp_path('no-programs')
        os.makedirs(empty, exist_ok=True)
        path = tmp_path('nographviz.svg')
        code, _, err = launch('--graph', path, 'good.t2i',
                              env={'PATH': empty})
        self.assertEqual(code, 0)
        dot = tmp_path('nographviz.dot')
        self.assertEqual(err, "t2i-launch: note: graphviz's dot is not "
                         "installed: wrote {0} instead of {1} (apt-get "
                         "install graphviz, then dot -Tsvg {0} -o {1})\n"
                         .format(dot, path))
        self.assertTrue(os.path.exists(dot))
        self.assertFalse(os.path.exists(path))


class RuntimeErrors(unittest.TestCase):
    def test_missing_file(self):
        self.assertEqual(
            launch('--', 'filesrc location=/nonexistent ! fakesink'),
            (1, '', 'filesrc0: Resource not found. '
             '(No such file "/nonexistent")\n'))

    def test_element_error(self):
        code, out, err = launch('-q', '--', 'fakesrc num-buffers=5 ! '
                                'launchtestposter name=poster fail-at=2 ! '
                                'fakesink')
        self.assertEqual((code, out), (1, ''))
        self.assertEqual(err, 'poster: loss is NaN at step 2 (kept the last '
                         'good checkpoint (out.safetensors))\n')


class InputLimits(unittest.TestCase):
    """Prompt and caption files past their limits: one line, exit 1."""

    def test_prompts(self):
        self.assertEqual(launch('--', 't2itextsrc location=/nonexistent ! '
                                'fakesink'), (
            1, '', 't2itextsrc0: location=/nonexistent: cannot open it: No '
            'such file or directory\n'))
        self.assertEqual(launch('--', 't2itextsrc location=/dev/zero ! '
                                'fakesink'), (
            1, '', 't2itextsrc0: location=/dev/zero: longer than 16 MiB, the '
            'limit\n'))
        path = tmp_path('long-prompt.txt')
        with open(path, 'w', encoding='utf-8') as f:
            f.write('a red circle\n' + 'b' * 4097 + '\n')
        self.assertEqual(launch('--', 't2itextsrc location=' + path +
                                ' ! fakesink'), (
            1, '', 't2itextsrc0: ' + path + ':2: the prompt is 4097 bytes '
            'long, more than the limit of 4096\n'))

    def test_captions(self):
        d = tmp_path('captions-limits')
        os.makedirs(os.path.join(d, 'images'))
        shutil.copy(os.path.join(FIXTURES, '..', '..', 'examples',
                                 'custom-element', 'README.md'),
                    os.path.join(d, 'images', 'a.png'))
        lines = [
            '{"image": "images/a.png", "captions": ["%s"]}' % ('c' * 4097),
            '{"image": "images/a.png", "captions": ["x"], "pad": "%s"}' % (
                'p' * 65536),
            '[' * 20000 + ']' * 20000,
        ]
        expect = [
            'captions.jsonl:1: caption 1 is 4097 bytes long, more than the '
            'limit of 4096',
            'captions.jsonl:1: the line is 65591 bytes long, more than the '
            'limit of 65536',
            'captions.jsonl:1: arrays and objects nested more than 16 deep',
        ]
        for line, want in zip(lines, expect):
            with open(os.path.join(d, 'captions.jsonl'), 'w') as f:
                f.write(line + '\n')
            code, out, err = launch('--', 't2idatasetsrc dataset=folder '
                                    'location=' + d + ' ! fakesink')
            self.assertEqual((code, out), (1, ''), err)
            self.assertEqual(err, 't2idatasetsrc0: ' + os.path.join(d, want) +
                             ' (set on-error=skip to skip bad items)\n')


class BuildErrors(unittest.TestCase):
    """An element that refuses a link while the pipeline is built: its own
    line, as when it fails running (exit 1), not 'could not link'."""

    def test_missing_entry(self):
        code, out, err = launch('--', SHAPES + 't2idiscriminator real=image '
                                'fake=fake ! fakesink')
        self.assertEqual((code, out), (1, ''))
        self.assertTrue(err.startswith(
            "t2idiscriminator0: fake=fake: needs entry 'fake' but upstream "
            "offers image f32[2,3,8,8], caption str[2]"), err)
        self.assertEqual(err.count('\n'), 1, err)

    def test_missing_weights(self):
        """A shipped pipeline before runs/clip.safetensors exists."""
        pipeline = os.path.join(FIXTURES, '..', '..', 'pipelines',
                                'clip-eval.t2i')
        code, out, err = launch(pipeline)
        self.assertEqual((code, out), (1, ''))
        self.assertRegex(err, r'^t2i(text|image)encoder0: '
                         r'weights=runs/clip.safetensors: ')
        self.assertEqual(err.count('\n'), 1, err)


class Links(unittest.TestCase):
    def test_output_goes_nowhere(self):
        """A transform at the end gets a fakesink instead of stopping the
        pipeline with not-linked."""
        self.assertEqual(launch('--', 'fakesrc num-buffers=2 ! identity'),
                         (0, '', NOTE.format('identity0')))
        self.assertEqual(launch('-q', '--', 'fakesrc num-buffers=2 ! '
                                'identity'), (0, '', ''))
        # inside a bin: the fakesink goes into the bin
        self.assertEqual(launch('--', 'fakesrc num-buffers=2 ! '
                                '( identity name=i )'), (0, '', NOTE.format('i')))

    def test_metric_at_the_end(self):
        code, out, err = launch('--', SHAPES + 't2imetric kind=attr-acc '
                                'fake=image')
        self.assertEqual((code, out), (0, ''), err)
        self.assertTrue(err.startswith(NOTE.format('t2imetric0')), err)
        self.assertIn('\nmetric attr-acc=', err)

    def test_loop(self):
        """A loop through a name. reference: refused before it hangs."""
        code, out, err = launch('--', 'fakesrc num-buffers=3 ! funnel name=f '
                                '! identity name=i ! f.')
        self.assertEqual((code, out), (2, ''))
        self.assertRegex(err, LOOP.format('f -> i -> f|i -> f -> i'))
        # through a bin
        code, out, err = launch('--', 'fakesrc num-buffers=3 ! funnel name=f '
                                '! ( identity name=i ! identity name=j ) ! '
                                'f.')
        self.assertEqual((code, out), (2, ''))
        self.assertRegex(err, LOOP.format('f -> i -> j -> f|i -> j -> f -> i|'
                                          'j -> f -> i -> j'))

    def test_bad_caps_loop(self):
        """Caps GStreamer cannot parse are refused before it drops them and
        links their neighbours into a loop it queries caps around forever
        (fuzz-launch; the caps run to the next '!': 'a/b fakesrc')."""
        code, out, err = launch('--', 't. ! queue ! a/b fakesrc ! tee name=t '
                                't. ! fakesink')
        self.assertEqual((code, out), (2, ''))
        self.assertEqual(err, "<command-line>:1:14: bad caps 'a/b fakesrc'\n")
        # a link to a name no element has: refused before GStreamer, which
        # crashed on this one (fuzz-launch)
        code, out, err = launch('--', 'tee nAme=tee !2 queu.e ! fakesink0.')
        self.assertEqual((code, out), (2, ''))
        self.assertRegex(err, r"^<command-line>:1:17: no element named "
                         r"'queu'.*\n$")

    def test_no_false_loop(self):
        """Branches that meet again and bins passed through are no loop."""
        self.assertEqual(launch('--', 'fakesrc num-buffers=2 ! tee name=t ! '
                                'queue ! funnel name=f ! fakesink t. ! queue '
                                '! f.'), (0, '', ''))
        self.assertEqual(launch('--', 'fakesrc num-buffers=2 ! ( identity ! '
                                '( identity ) ) ! fakesink'), (0, '', ''))


class Limits(unittest.TestCase):
    def write(self, name, text):
        path = tmp_path(name)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        return path

    def test_nested_bins(self):
        deep = self.write('deep.t2i', '(' * 50000 + 'fakesrc ! fakesink' +
                          ')' * 50000)
        self.assertEqual(launch(deep), (2, '', deep + ':1:257: bins nested '
                                        'more than 256 deep (the limit)\n'))
        limit = self.write('limit.t2i', '(' * 256 + 'fakesrc num-buffers=1 '
                           '! fakesink' + ')' * 256)
        self.assertEqual(launch(limit), (0, '', ''))

    def test_nested_defaults(self):
        deep = self.write('deepvar.t2i', 'fakesrc num-buffers=' +
                          '${A:-' * 80000 + '1' + '}' * 80000 + ' ! fakesink')
        self.assertEqual(launch(deep), (
            2, '', deep + ':1:1301: variable references nested more than '
            '256 deep in defaults (the limit)\n'))

    def test_file_size(self):
        self.assertEqual(launch('/dev/zero'), (
            2, '', 't2i-launch: /dev/zero: longer than 1024 KiB, the limit '
            'for a pipeline file\n'))
        big = self.write('big.t2i', 'fakesrc ! fakesink' + ' ' * (1 << 20))
        self.assertEqual(launch(big), (
            2, '', 't2i-launch: ' + big + ': longer than 1024 KiB, the limit '
            'for a pipeline file\n'))


class LostOutput(unittest.TestCase):
    """Output that cannot be written is an error, not a silent loss."""

    def test_json_disk_full(self):
        self.assertEqual(launch('-q', '--json', '/dev/full', 'counted.t2i'), (
            1, '', 't2i-launch: cannot write /dev/full: No space left on '
            'device\n'))

    def test_json_stdout_full(self):
        with open('/dev/full', 'w') as full:
            p = subprocess.run([T2I_LAUNCH, '-q', '--json', '-',
                                'counted.t2i'], cwd=FIXTURES, env=ENV,
                               stdout=full, stderr=subprocess.PIPE,
                               text=True, timeout=120)
        self.assertEqual((p.returncode, p.stderr), (
            1, 't2i-launch: cannot write standard output: No space left on '
            'device\n'))

    def test_metric_output_disk_full(self):
        """A full disk, as a file size limit of 0 makes every write fail."""
        def no_file_writes():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

        # the private registry exists before writing is made impossible
        self.assertEqual(launch('--', 'fakesrc num-buffers=1 ! fakesink'),
                         (0, '', ''))
        path = tmp_path('metric.json')
        code, out, err = launch(
            '-q', '--', SHAPES + 't2imetric kind=attr-acc fake=image output=' +
            path + ' ! fakesink', preexec_fn=no_file_writes)
        self.assertEqual((code, out), (1, ''))
        self.assertTrue(err.startswith('t2imetric0: output=' + path + ': '),
                        err)
        self.assertEqual(err.count('\n'), 1, err)
        self.assertFalse(os.path.exists(path))


class OutOfMemory(unittest.TestCase):
    """A tensor the machine cannot give: one line naming the element and
    the size, exit 1, instead of an abort (docs/reliability.md)."""

    # an abandoned computation's allocations are not freed, by design
    NO_LEAK_CHECK = {'ASAN_OPTIONS': 'detect_leaks=0:abort_on_error=1'}

    def oom(self, pipeline, limit=None):
        env = dict(self.NO_LEAK_CHECK)
        if limit:
            env['T2I_MEMORY_LIMIT'] = limit
        code, out, err = launch('-q', '--', pipeline, env=env)
        self.assertEqual((code, out), (1, ''), err)
        self.assertEqual(err.count('\n'), 1, err)
        return err

    def test_noise_past_the_machine(self):
        err = self.oom('t2itextsrc text=a batch-size=65536 ! t2inoise '
                       'dim=1048576 ! fakesink')
        self.assertRegex(err, r'^t2inoise0: out of memory: a tensor f32 '
                         r'\[65536,1048576\] needs 256 GiB, more than the '
                         r'[0-9.]+ [GT]iB of memory and swap of this machine; '
                         r'make the batch, the image size or the model '
                         r'smaller\n$')

    def test_limit(self):
        err = self.oom('t2itextsrc text=a batch-size=1024 ! t2inoise '
                       'dim=65536 ! fakesink', limit='64M')
        self.assertEqual(err, 't2inoise0: out of memory: a tensor f32 '
                         '[1024,65536] needs 256 MiB, more than the limit '
                         'of 64 MiB (T2I_MEMORY_LIMIT=64M); make the batch, '
                         'the image size or the model smaller\n')

    def test_source(self):
        err = self.oom('t2idatasetsrc dataset=shapes batch-size=64 '
                       'resolution=256 max-steps=1 ! fakesink', limit='16M')
        self.assertEqual(err, 't2idatasetsrc0: out of memory: a tensor f32 '
                         '[64,3,256,256] needs 48 MiB, more than the limit of '
                         '16 MiB (T2I_MEMORY_LIMIT=16M); make the batch, the '
                         'image size or the model smaller\n')

    def test_generator_parameters(self):
        """Parameters too wide for the machine fail while it builds."""
        err = self.oom('t2itextsrc text=a batch-size=1 ! t2inoise dim=8 ! '
                       't2inoise output=h dim=8 ! t2igenerator cond=h '
                       'channels=4096 resolution=1024 mapping-layers=1 ! '
                       'fakesink', limit='1G')
        self.assertRegex(err, r'^t2igenerator0: out of memory: a tensor f32 '
                         r'\[4096,4096,3,3\] needs 576 MiB with [0-9.]+ MiB '
                         r'in use, past the limit of 1 GiB ')


class Interrupt(unittest.TestCase):
    def start(self, *args):
        return subprocess.Popen([T2I_LAUNCH, *args], cwd=FIXTURES, env=ENV,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def wait_for_json(self, path):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if os.path.exists(path) and os.path.getsize(path) > 0:
                return
            time.sleep(0.05)
        self.fail('no message in ' + path)

    def test_sigint_sends_eos(self):
        """Ctrl-C: EOS reaches the elements (they report), exit 0."""
        path = tmp_path('live.json')
        p = self.start('--json', path, '--', 'audiotestsrc is-live=true ! '
                       'launchtestposter name=poster ! fakesink')
        self.wait_for_json(path)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn('t2i-launch: interrupted: finishing (sending EOS); '
                      'press Ctrl-C again to abort\n', err)
        types = [m['type'] for m in read_json(path)]
        self.assertIn('t2i-train', types)
        self.assertEqual(types[-2:], ['t2i-checkpoint', 't2i-metric'])

    def test_second_sigint_aborts(self):
        """A stuck pipeline: the second Ctrl-C gives up with 130."""
        path = tmp_path('stuck.json')
        p = self.start('--json', path, '--', 'fakesrc ! launchtestposter ! '
                       'identity sleep-time=600000000 ! fakesink')
        # the first buffer has passed the poster: identity holds the
        # streaming thread, EOS cannot get through
        self.wait_for_json(path)
        p.send_signal(signal.SIGINT)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 130, err)
        self.assertIn('t2i-launch: aborted\n', err)


    def test_second_sigint_during_a_save(self):
        """Aborting while a checkpoint is written leaves neither a torn
        checkpoint nor the temporary file (a 340 MB checkpoint written at
        EOS, aborted when its temporary appears)."""
        d = tmp_path('abort-save')
        os.mkdir(d)
        ck = os.path.join(d, 'c.safetensors')
        pipeline = ('t2itextsrc text=a batch-size=1 ! t2inoise output=x '
                    'dim=8 ! t2inoise output=y dim=8 ! t2igenerator name=G '
                    'cond=x noise=y resolution=8 channels=1024 w-dim=32 '
                    'cond-hidden=32 mapping-layers=1 ! t2idiscriminator '
                    'name=D real="" fake=fake cond=x channels=8 ! t2iloss '
                    'kind=gan-logistic-g update=G output=G ! t2itrainer '
                    'checkpoint=' + ck)
        for attempt in range(3):
            p = self.start('-q', '--', pipeline)
            temps = []
            while p.poll() is None and not temps:
                temps = glob.glob(ck + '.tmp-*')
                time.sleep(0.002)
            if temps:
                p.send_signal(signal.SIGINT)
                time.sleep(0.02)
                p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=120)
            if p.returncode == 0:
                # the save won the race: again
                os.unlink(ck)
                continue
            self.assertEqual(p.returncode, 130, err)
            self.assertEqual(os.listdir(d), [])
            return
        self.skipTest('every save finished before the second Ctrl-C')


class Options(unittest.TestCase):
    def test_precision(self):
        """--precision=bf16 trains with bf16 products (other weights than
        f32's, deterministically); f32 is the default; a bad value, a CPU
        without bf16 and CUDA get one line each."""
        pipeline = ('t2itextsrc text=a batch-size=4 num-buffers=2 ! '
                    't2inoise output=x dim=8 ! t2inoise output=y dim=8 ! '
                    't2igenerator name=G cond=x noise=y resolution=8 '
                    'channels=16 w-dim=32 cond-hidden=32 mapping-layers=1 ! '
                    't2idiscriminator name=D real="" fake=fake cond=x '
                    'channels=8 ! t2iloss kind=gan-logistic-g update=G '
                    'output=G ! t2itrainer checkpoint=')
        weights = {}
        for name, args in (('default', []), ('f32', ['--precision=f32']),
                           ('bf16', ['--precision', 'bf16']),
                           ('bf16-again', ['--precision=bf16'])):
            ck = tmp_path('precision-%s.safetensors' % name)
            code, out, err = launch('-q', *args, '--', pipeline + ck)
            if code != 0 and 'lacks' in err:
                self.skipTest(err.strip())
            self.assertEqual((code, out, err), (0, '', ''))
            with open(ck, 'rb') as f:
                weights[name] = f.read()
        self.assertEqual(weights['default'], weights['f32'])
        self.assertEqual(weights['bf16'], weights['bf16-again'])
        self.assertNotEqual(weights['bf16'], weights['f32'])

        code, out, err = launch('--precision=fp16', 'good.t2i')
        self.assertEqual((code, out), (2, ''))
        self.assertTrue(err.startswith('t2i-launch: --precision takes f32 '
                                       'or bf16\n'), err)
        code, out, err = launch('--precision=bf16', 'good.t2i',
                                env={'T2I_NO_BF16': '1'})
        self.assertEqual((code, out), (1, ''))
        self.assertRegex(err, r'^t2i-launch: --device=cpu --precision=bf16: '
                         r'precision bf16 needs a CPU with bf16 dot products '
                         r'.*; use f32\n$')

    def test_version(self):
        code, out, err = launch('--version')
        self.assertEqual((code, err), (0, ''))
        self.assertRegex(out, r'^t2i-launch \d+\.\d+\.\d+\n'
                         r'GStreamer \d+\.\d+\.\d+.*\n$')

    def test_help(self):
        code, out, _ = launch('--help')
        self.assertEqual(code, 0)
        for option in ('--set', '--json', '--report', '--graph',
                       '--progress-interval', '--quiet', '--verbose',
                       '--device', '--precision',
                       '--list-elements', '--version'):
            self.assertIn(option, out)

    def test_list_elements(self):
        code, out, err = launch('--list-elements')
        self.assertEqual((code, err), (0, ''))
        names = [line.split()[0] for line in out.splitlines()]
        self.assertEqual(names, sorted(names))
        for line in out.splitlines():
            self.assertRegex(line, r'^t2i\S+ +\S')

    def test_usage_errors(self):
        for args, message in [
                ((), 'no pipeline file given'),
                (('a.t2i', 'b.t2i'), 'more than one pipeline file given'),
                (('good.t2i', '--', 'fakesrc'), 'give either FILE or'),
                (('--',), "no pipeline after '--'"),
                (('--set', 'X', 'good.t2i'), '--set expects NAME=VALUE'),
                (('--set', '1X=2', 'good.t2i'), '--set expects NAME=VALUE'),
                (('-q', '-v', 'good.t2i'), 'exclude each other'),
                (('--progress-interval', '-1', 'good.t2i'),
                 '--progress-interval takes a number of seconds'),
                (('--graph', 'x.jpg', 'good.t2i'),
                 '--graph x.jpg: the file name must end in .svg, .png, '
                 '.pdf or .dot'),
                (('--bogus',), 'Unknown option --bogus'),
                (('missing.t2i',), 'missing.t2i')]:
            with self.subTest(args=args):
                code, out, err = launch(*args)
                self.assertEqual(code, 2)
                self.assertIn(message, err)


if __name__ == '__main__':
    setup_environment()
    try:
        unittest.main(argv=[sys.argv[0], '-v'])
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
