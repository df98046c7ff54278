#!/usr/bin/env python3
# LAFITE training with its tensors on the CUDA device against the same run
# on the CPU: the loss curve step by step, the checkpoint, the samples.
#
# Without --gpu the CUDA table runs on the host emulator in strict mode
# (T2I_CUDA_EMULATE=strict): any host code that reads a CUDA tensor's data
# directly crashes the run, so passing means the pipeline's records,
# parameters and optimizer state stay on the device between the bridges;
# the emulator computes what the CPU computes, so the curves agree to
# float rounding.  With --gpu (tests/gpu/run) the run uses the GPU, whose
# cuBLAS, cuDNN and libm round differently: the first steps must agree
# closely, and the whole curve is printed side by side.
#
# usage: test-cuda-pipeline.py T2I_LAUNCH SOURCE_DIR [--gpu] [--steps N]
#        [--batch N] [--ch N]
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

ap = argparse.ArgumentParser()
ap.add_argument('launch')
ap.add_argument('source')
ap.add_argument('--gpu', action='store_true')
ap.add_argument('--steps', type=int, default=3)
ap.add_argument('--batch', type=int, default=4)
ap.add_argument('--ch', type=int, default=16)
args = ap.parse_args()

LAUNCH = os.path.abspath(args.launch)
SOURCE = os.path.abspath(args.source)
TMP = tempfile.mkdtemp(prefix='t2i-cuda-pipeline-')


def run(device):
    out = os.path.join(TMP, device)
    env = dict(os.environ)
    env.pop('T2I_DEVICE', None)
    if device == 'cuda' and not args.gpu:
        env['T2I_CUDA_EMULATE'] = 'strict'
    else:
        env.pop('T2I_CUDA_EMULATE', None)
    cmd = [LAUNCH, '--quiet', '--device', device, '--json', out + '.json',
           '--set', 'clip=' + os.path.join(SOURCE, 'models',
                                           'clip-shapes.safetensors'),
           '--set', 'ch=%d' % args.ch, '--set', 'batch=%d' % args.batch,
           '--set', 'xi=0.65', '--set', 'steps=%d' % args.steps,
           '--set', 'report=1', '--set', 'out=' + out,
           os.path.join(SOURCE, 'pipelines', 'lafite-train-free.t2i')]
    r = subprocess.run(cmd, cwd=SOURCE, env=env, capture_output=True,
                       text=True, timeout=3600)
    if r.returncode != 0:
        sys.exit('%s run failed (%d): %s' % (device, r.returncode,
                                             r.stderr.strip()[-2000:]))
    curve = []
    with open(out + '.json') as f:
        for line in f:
            m = json.loads(line)
            if m.get('type') == 't2i-train':
                curve.append((m['step'], m['loss/D'], m['loss/G']))
    for name in ('.safetensors', '-samples-%d.png' % args.steps):
        if not os.path.exists(out + name):
            sys.exit('%s run wrote no %s' % (device, out + name))
    return curve


cpu = run('cpu')
cuda = run('cuda')
if len(cpu) != args.steps or len(cuda) != args.steps:
    sys.exit('expected %d reports, cpu gave %d, cuda %d'
             % (args.steps, len(cpu), len(cuda)))

where = 'GPU' if args.gpu else 'emulator'
print('step  loss/D cpu   loss/D %-9s loss/G cpu   loss/G %s' % (where, where))
worst = 0.0
for (s, dc, gc), (_, dd, gd) in zip(cpu, cuda):
    print('%4d  %-12.6g %-16.6g %-12.6g %.6g' % (s, dc, dd, gc, gd))
    for a, b in ((dc, dd), (gc, gd)):
        if math.isnan(b) or math.isinf(b):
            sys.exit('step %d: a non-finite loss on %s' % (s, where))
        rel = abs(a - b) / max(abs(a), 1e-6)
        # the GPU's rounding compounds over steps: the first three steps
        # are held to it, the rest is reported
        if not args.gpu or s <= 3:
            worst = max(worst, rel)
tol = 2e-3 if args.gpu else 1e-4
print('largest relative difference%s: %.3g (tolerance %g)'
      % (' over steps 1-3' if args.gpu else '', worst, tol))
if worst > tol:
    sys.exit('the %s curve leaves the CPU curve' % where)
