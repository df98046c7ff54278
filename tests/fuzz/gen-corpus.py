#!/usr/bin/env python3
# Writes the seed corpora of tests/fuzz/corpus/ (small valid inputs of
# every kind the targets read; the fuzzers mutate them).  Run from
# anywhere: python3 tests/fuzz/gen-corpus.py
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import glob
import gzip
import json
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def out(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    mode = 'wb' if isinstance(data, bytes) else 'w'
    with open(os.path.join(d, name), mode) as f:
        f.write(data)


# ---- launch: the fixtures and shipped pipelines, and a few more ----
for path in sorted(glob.glob(os.path.join(ROOT, 'tests', 'launch', '*.t2i'))
                   + glob.glob(os.path.join(ROOT, 'pipelines', '*.t2i'))):
    shutil.copy(path, os.path.join(HERE, 'corpus', 'launch',
                                   os.path.basename(path)))
for i, text in enumerate([
        'fakesrc num-buffers=${N} ! tee name=t ! queue ! fakesink t. ! '
        'queue ! fakesink',
        '${P}',
        '# comment\nfakesrc ! "video/x-raw,width=(int)4" ! fakesink '
        'name="${OUT:-x}" # more\n',
        'fakesrc ! ( identity ! ( identity name=i ) ) ! fakesink',
        'fakesrc ! funnel name=f ! identity ! f.',
        't2itextsrc text="a;b" batch-size=2 ! t2inoise dim=8 ! '
        't2inoise output=h dim=8 ! t2igenerator cond=h resolution=8 '
        'channels=8 w-dim=8 cond-hidden=8 mapping-layers=1 ! fakesink',
        't2idatasetsrc dataset=shapes batch-size=2 resolution=8 ! '
        't2iloss kind=nosuch ! t2itrainer lr=abc',
        'fakesrc filltype=bogus num-buffers=-5 ! fakesink $${x} ${EMPTY:-'
        '${N:-1}}',
        'fakesrc ! queue ! fakesink sync=false async=false name=a a.sink',
        'fakesrc ! t2iop op=rename from=a to=b ! fakesink',
]):
    out('launch', 'extra-%02d.t2i' % i, text)


# ---- safetensors ----
def safetensors(tensors, metadata=None, pad=True):
    header, data = {}, b''
    if metadata is not None:
        header['__metadata__'] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {'dtype': dtype, 'shape': shape,
                        'data_offsets': [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    while pad and len(h) % 8:
        h += b' '
    return struct.pack('<Q', len(h)) + h + data


f32 = struct.pack('<4f', 1.0, -2.0, 0.5, 3.25)
out('safetensors', 'f32.safetensors', safetensors(
    {'a': ('F32', [2, 2], f32)}, {'format': 'pt', 'step': '3'}))
out('safetensors', 'types.safetensors', safetensors({
    'f16': ('F16', [2], struct.pack('<2e', 1.5, -0.25)),
    'bf16': ('BF16', [2], b'\x80\x3f\x00\xc0'),
    'f64': ('F64', [1], struct.pack('<d', 2.0)),
    'i64': ('I64', [2], struct.pack('<2q', 5, -7)),
    'u64': ('U64', [1], struct.pack('<Q', 9)),
    'i32': ('I32', [1], struct.pack('<i', 4)),
    'u32': ('U32', [1], struct.pack('<I', 4)),
    'i16': ('I16', [1], struct.pack('<h', -4)),
    'u16': ('U16', [1], struct.pack('<H', 4)),
    'i8': ('I8', [1], b'\xfe'),
    'u8': ('U8', [3], b'\x01\x02\x03'),
    'bool': ('BOOL', [2], b'\x00\x01'),
    'e4m3': ('F8_E4M3', [2], b'\x38\xb8'),
    'e5m2': ('F8_E5M2', [2], b'\x3c\xbc'),
}))
out('safetensors', 'empty.safetensors', safetensors({}))
out('safetensors', 'scalar-and-zero.safetensors', safetensors({
    's': ('F32', [], struct.pack('<f', 7.0)),
    'z': ('F32', [0, 3], b''),
    'big': ('F32', [1, 1, 1, 1, 2], struct.pack('<2f', 1, 2)),
}))
out('safetensors', 'unpadded.safetensors', safetensors(
    {'x': ('U8', [1], b'\x07')}, pad=False))

# ---- captions ----
for i, line in enumerate([
        '{"image": "images/Black_Footed_Albatross_0001.png", "captions": '
        '["this bird has a white belly", "a large bird with a long hooked '
        'bill"], "split": "train"}',
        '{"image": "images/Laysan_Albatross_0002.png", "captions": ["..."], '
        '"split": "test", "subsets": ["seabirds"]}',
        '{"image": "a.png", "caption": "  one caption  "}',
        '{"image": "../a.png", "caption": "x"}',
        '{"image": "a.png", "captions": ["a", 2, null, {"x": [1, [2]]}]}',
        '{"image": "a\\u00e9\\ud83d\\ude00.png", "captions": ["\\"q\\" '
        '\\\\ \\n\\t"], "subsets": [1, "s", ["t"]]}',
        '[[[{"image": "a.png"}]]]',
        '{"image": "a.png", "captions": []}',
]):
    out('captions', 'line-%02d.json' % i, line)

# ---- bpe: even first byte, text for the CLIP vocabulary; odd, a merges
# file ----
for i, text in enumerate([
        'a red circle above a blue square',
        'A  Red &amp; BLUE &#x1F600; &lt;b&gt;  caf\u00e9 \u03a3\u039f\u03a3',
        "it's the bird's 12 feathers!!! they're don't",
        '<|startoftext|>a red circle<|endoftext|>',
        'x' * 300,
        '\u0130\u0131 \ufb01 \u00df \u2163 \u3000 \U0001f600\u200d\U0001f469',
]):
    out('bpe', 'text-%02d.txt' % i, b'\x00' + text.encode('utf-8'))
out('bpe', 'text-invalid-utf8.txt', b'\x00a \xff\xfe red \xc3 circle')
out('bpe', 'merges-00.txt', b'\x01#version: 0.2\ni n\nt h\nth e</w>\n'
    b'a n\nr e\nre d</w>\nc i\nci r\ncir c\n')
out('bpe', 'merges-gz.txt', b'\x01' + gzip.compress(
    b'#version: 0.2\ni n\nt h\nth e</w>\n', mtime=0))
out('bpe', 'merges-01.txt', b'\x01#version: 0.2\n' + b'\n'.join(
    [b'a b', b'ab c</w>', b'x y z', b'\xc4\xa0 a', b'bad']))


# ---- image: PNGs of every colour type ----
def chunk(kind, body):
    c = struct.pack('>I', len(body)) + kind + body
    return c + struct.pack('>I', zlib.crc32(kind + body) & 0xffffffff)


def png(w, h, color, depth, rows, extra=b'', interlace=0):
    ihdr = struct.pack('>IIBBBBB', w, h, depth, color, 0, 0, interlace)
    raw = b''.join(b'\x00' + r for r in rows)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + extra +
            chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def adam7_rows(w, h, bpp, pixel):
    """rows of an Adam7-interlaced 8-bit image, pass after pass"""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
              (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    rows = []
    for x0, y0, dx, dy in passes:
        for y in range(y0, h, dy):
            r = b''.join(pixel(x, y) for x in range(x0, w, dx))
            if r:
                rows.append(r)
    return rows


def rgb(x, y):
    return bytes([x * 40 % 256, y * 60 % 256, (x + y) * 20 % 256])


out('image', 'rgb.png', png(4, 3, 2, 8,
                            [b''.join(rgb(x, y) for x in range(4))
                             for y in range(3)]))
out('image', 'rgba.png', png(3, 2, 6, 8,
                             [b''.join(rgb(x, y) + bytes([x * 100])
                                       for x in range(3)) for y in range(2)]))
out('image', 'gray.png', png(5, 2, 0, 8, [bytes([x * 50 for x in range(5)])
                                          for _ in range(2)]))
out('image', 'gray-alpha.png', png(2, 2, 4, 8, [b'\x10\x80\x20\xff'] * 2))
out('image', 'gray-1bit.png', png(9, 2, 0, 1, [b'\xa5\x80', b'\x5a\x00']))
out('image', 'rgb-16bit.png', png(2, 1, 2, 16, [bytes(range(12))]))
out('image', 'palette.png', png(4, 2, 3, 2, [b'\x1b', b'\xe4'],
                                extra=chunk(b'PLTE', bytes(range(12))) +
                                chunk(b'tRNS', b'\xff\x80')))
out('image', 'interlaced.png', png(9, 9, 2, 8, adam7_rows(9, 9, 3, rgb),
                                   interlace=1))
out('image', 'gray-trns.png', png(2, 2, 0, 8, [b'\x00\x7f'] * 2,
                                  extra=chunk(b'tRNS', b'\x00\x7f')))
