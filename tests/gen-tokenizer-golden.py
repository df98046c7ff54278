#!/usr/bin/python3
"""Golden data for the C tokenizer (tests/core/test-bpe.c).

Re-implements the tokenizer of OpenAI CLIP (clip/simple_tokenizer.py and
clip.tokenize) from its description, and writes, for every string of
tests/golden/tokenizer-strings.json, the cleaned text, the words, the ids,
the 77-token context and the decoded text to tests/golden/tokenizer.json.

ftfy.fix_text(), the reference's first step, is not applied (the C side
does not implement it).  An entry of the strings file is either a string or
{"text": ..., "ftfy": "what ftfy would change"}; the note is copied to the
case.  When the ftfy module is importable, "ftfy_changes" records whether
fix_text() changes the text (null otherwise).  For strings ftfy leaves alone
the ids equal the reference's exactly.

Needs the `regex` module (Debian: python3-regex).

Usage: tests/gen-tokenizer-golden.py [BPE_VOCAB_GZ] [STRINGS_JSON] [OUT_JSON]
defaults: ../shared/data/bpe_simple_vocab_16e6.txt.gz,
tests/golden/tokenizer-strings.json, tests/golden/tokenizer.json.

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import gzip
import html
import json
import os
import sys

import regex

try:
    import ftfy
except ImportError:
    ftfy = None

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SOT = '<|startoftext|>'
EOT = '<|endoftext|>'
N_MERGES = 49152 - 256 - 2
CONTEXT = 77

WORD_RE = regex.compile(
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d"
    r"|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
    regex.IGNORECASE)
SPACE_RE = regex.compile(r'\s+')


def byte_symbols():
    """GPT-2's reversible byte -> printable code point table, in the order
    the vocabulary lists it."""
    keep = (list(range(0x21, 0x7f)) + list(range(0xa1, 0xad))
            + list(range(0xae, 0x100)))
    order = list(keep)
    chars = [chr(b) for b in keep]
    extra = 0
    for b in range(256):
        if b not in keep:
            order.append(b)
            chars.append(chr(256 + extra))
            extra += 1
    return order, chars


class ReferenceTokenizer:
    def __init__(self, vocab_path):
        lines = gzip.open(vocab_path).read().decode('utf-8').split('\n')
        merges = [tuple(l.split()) for l in lines[1:N_MERGES + 1]]
        order, chars = byte_symbols()
        self.byte_to_char = dict(zip(order, chars))
        self.char_to_byte = {c: b for b, c in self.byte_to_char.items()}
        vocab = list(chars) + [c + '</w>' for c in chars]
        vocab += [''.join(m) for m in merges]
        vocab += [SOT, EOT]
        self.encoder = {}
        for i, tok in enumerate(vocab):
            self.encoder[tok] = i            # a repeated text keeps its last id
        self.decoder = {i: t for t, i in self.encoder.items()}
        self.ranks = {}
        for i, m in enumerate(merges):
            self.ranks[m] = i
        self.cache = {SOT: [SOT], EOT: [EOT]}

    @staticmethod
    def clean(text, use_ftfy=False):
        if use_ftfy:
            text = ftfy.fix_text(text)
        text = html.unescape(html.unescape(text)).strip()
        text = SPACE_RE.sub(' ', text).strip()
        return text.lower()

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        symbols = list(word[:-1]) + [word[-1] + '</w>']
        while len(symbols) > 1:
            best = None
            for pair in zip(symbols, symbols[1:]):
                r = self.ranks.get(pair)
                if r is not None and (best is None or r < best[0]):
                    best = (r, pair)
            if best is None:
                break
            a, b = best[1]
            merged, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        self.cache[word] = symbols
        return symbols

    def words(self, clean_text):
        return WORD_RE.findall(clean_text)

    def encode(self, text, use_ftfy=False):
        ids = []
        for w in self.words(self.clean(text, use_ftfy)):
            w = ''.join(self.byte_to_char[b] for b in w.encode('utf-8'))
            ids.extend(self.encoder[s] for s in self.bpe(w))
        return ids

    def decode(self, ids):
        text = ''.join(self.decoder[i] for i in ids)
        raw = bytearray(self.char_to_byte[c] for c in text)
        return raw.decode('utf-8', errors='replace').replace('</w>', ' ')

    def tokenize(self, text, context=CONTEXT, use_ftfy=False):
        ids = ([self.encoder[SOT]] + self.encode(text, use_ftfy)
               + [self.encoder[EOT]])
        truncated = len(ids) > context
        if truncated:
            ids = ids[:context]
            ids[-1] = self.encoder[EOT]
        return ids + [0] * (context - len(ids)), truncated


def main():
    vocab = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, '..', 'shared', 'data', 'bpe_simple_vocab_16e6.txt.gz')
    strings = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        HERE, 'golden', 'tokenizer-strings.json')
    out = sys.argv[3] if len(sys.argv) > 3 else os.path.join(
        HERE, 'golden', 'tokenizer.json')

    tok = ReferenceTokenizer(vocab)
    cases = []
    for entry in json.load(open(strings, encoding='utf-8')):
        s = entry['text'] if isinstance(entry, dict) else entry
        clean = tok.clean(s)
        ids = tok.encode(s)
        ctx, truncated = tok.tokenize(s)
        case = {
            'text': s,
            'clean': clean,
            'words': tok.words(clean),
            'ids': ids,
            'context': ctx,
            'truncated': truncated,
            'decoded': tok.decode(ids),
            'ftfy_changes': None if ftfy is None else ftfy.fix_text(s) != s,
        }
        if isinstance(entry, dict) and 'ftfy' in entry:
            case['ftfy_note'] = entry['ftfy']
        cases.append(case)

    doc = {
        'about': 'CLIP tokenizer golden data, written by '
                 'tests/gen-tokenizer-golden.py; ids without ftfy',
        'vocab': 'bpe_simple_vocab_16e6.txt.gz',
        'vocab_size': len(tok.encoder),
        'sot': tok.encoder[SOT],
        'eot': tok.encoder[EOT],
        'context_length': CONTEXT,
        'cases': cases,
    }
    # one case per line keeps diffs readable
    head = json.dumps({k: v for k, v in doc.items() if k != 'cases'},
                      ensure_ascii=True, indent=1)
    with open(out, 'w', encoding='utf-8') as f:
        f.write(head[:-2] + ',\n "cases": [\n')
        f.write(',\n'.join('  ' + json.dumps(c, ensure_ascii=True)
                            for c in cases))
        f.write('\n ]\n}\n')
    print('%s: %d cases' % (out, len(cases)))


if __name__ == '__main__':
    main()
