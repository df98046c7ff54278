#!/usr/bin/env python3
# scripts/fetch-data emoji on a tiny fake package layout (no network): the
# captions.jsonl it builds, the splits and subsets, the copied images, and
# that t2idatasetsrc dataset=emoji reads the result.
#   test-fetch-data.py PATH/TO/fetch-data [SANITIZE]
# SANITIZE is meson's b_sanitize: a sanitized plugin cannot be loaded by
# the uninstrumented gst-launch-1.0, so that part is skipped then.
# SPDX-License-Identifier: LGPL-2.1-or-later

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib

FETCH = sys.argv[1]
SANITIZED = len(sys.argv) > 2 and sys.argv[2] not in ("", "none")


def png(w, h, rgba):
    """A minimal RGBA PNG of one colour."""
    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(
            ">I", zlib.crc32(c) & 0xffffffff)
    raw = b"".join(b"\0" + bytes(rgba) * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def tgz(path, files):
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo("package/" + name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def emoji(name, unified, image, category, sub, google=True, twitter=True,
          **extra):
    e = {"name": name, "unified": unified, "non_qualified": None,
         "image": image, "category": category, "subcategory": sub,
         "sort_order": len(EMOJI), "has_img_google": google,
         "has_img_twitter": twitter}
    e.update(extra)
    EMOJI.append(e)


EMOJI = []
emoji("GRINNING FACE", "1F600", "1f600.png", "Smileys & Emotion",
      "face-smiling")
emoji("SMILING FACE WITH OPEN MOUTH", "1F603", "1f603.png",
      "Smileys & Emotion", "face-smiling", google=False)
emoji("JAPAN FLAG", "1F1EF-1F1F5", "1f1ef-1f1f5.png", "Flags",
      "country-flag")
emoji("EMOJI MODIFIER FITZPATRICK TYPE-1-2", "1F3FB", "1f3fb.png",
      "Component", "skin-tone")
emoji("WAVING HAND SIGN", "1F44B", "1f44b.png", "People & Body",
      "hand-fingers-open", skin_variations={"1F3FB": {
          "unified": "1F44B-1F3FB", "image": "1f44b-1f3fb.png",
          "has_img_google": True, "has_img_twitter": True}})
emoji("BABY", "1F476", "1f476.png", "People & Body", "person")
emoji("ROCKET", "1F680", "1f680.png", "Travel & Places", "transport-air")

BASE = [
    {"label": "grinning face", "hexcode": "1F600",
     "tags": ["face", "grin", "happy"]},
    {"label": "grinning face with big eyes", "hexcode": "1F603",
     "tags": ["mouth", "open", "smile"]},
    {"label": "flag: Japan", "hexcode": "1F1EF-1F1F5", "tags": ["JP"]},
    {"label": "waving hand", "hexcode": "1F44B", "tags": ["hand", "wave"],
     "skins": [{"label": "waving hand: light skin tone",
                "hexcode": "1F44B-1F3FB"}]},
    {"label": "baby", "hexcode": "1F476", "tags": ["young"]},
    # the rocket is missing: its caption comes from the name
]


def build_packages(d):
    tgz(os.path.join(d, "emoji-datasource-16.0.0.tgz"),
        {"emoji.json": json.dumps(EMOJI).encode()})
    tgz(os.path.join(d, "emojibase-data-16.0.3.tgz"),
        {"en/data.json": json.dumps(BASE).encode()})
    for style, colour in (("google", (255, 0, 0, 255)),
                          ("twitter", (0, 0, 255, 0))):
        files = {}
        for e in EMOJI:
            for v in [e] + list(e.get("skin_variations", {}).values()):
                if v.get("has_img_" + style):
                    files["img/%s/64/%s" % (style, v["image"])] = png(
                        4, 4, colour)
        tgz(os.path.join(d, "emoji-datasource-%s-16.0.0.tgz" % style), files)


def check(cond, msg):
    if not cond:
        print("FAIL: " + msg, file=sys.stderr)
        sys.exit(1)


def main():
    tmp = tempfile.mkdtemp(prefix="t2i-fetch-")
    try:
        pkgs = os.path.join(tmp, "pkgs")
        os.makedirs(pkgs)
        build_packages(pkgs)
        cache = os.path.join(tmp, "cache")
        r = subprocess.run([sys.executable, FETCH, "emoji", "--cache", cache,
                            "--packages", pkgs], capture_output=True,
                           text=True)
        check(r.returncode == 0, "fetch-data failed: " + r.stderr)
        out = os.path.join(cache, "emoji")
        lines = [json.loads(x) for x in open(
            os.path.join(out, "captions.jsonl"), encoding="utf-8")]
        by = {(x["emoji"], x["style"]): x for x in lines}

        # component excluded; 1F603 has no google image
        check(len(lines) == 11, "11 lines, got %d" % len(lines))
        check(("1F3FB", "google") not in by, "components are excluded")
        check(("1F603", "google") not in by, "missing images are skipped")
        g = by[("1F600", "google")]
        check(g["image"] == "images/google/1f600.png", g["image"])
        check(g["captions"][0] == "grinning face", g["captions"])
        check("a grinning face" in g["captions"], g["captions"])
        check("grinning face, Noto style" in g["captions"], g["captions"])
        check(any("happy" in c for c in g["captions"]), "tags are used")
        check(g["subsets"] == ["faces"], "faces subset")
        check(by[("1F476", "twitter")]["subsets"] == ["faces"], "baby face")
        check(by[("1F44B", "google")]["subsets"] == [], "hands no face")
        f = by[("1F1EF-1F1F5", "twitter")]
        check(f["captions"][0] == "the flag of Japan", f["captions"])
        check("japan flag" in f["captions"], f["captions"])
        check(by[("1F680", "google")]["captions"][0] == "rocket",
              "name when emojibase lacks the emoji")
        s = by[("1F603", "twitter")]
        check("smiling face with open mouth" in s["captions"], s["captions"])
        for (u, style), x in by.items():
            other = by.get((u, "twitter" if style == "google" else "google"))
            check(other is None or other["split"] == x["split"],
                  "both styles of an emoji share the split")
            check(x["split"] in ("train", "test"), x["split"])
            check(os.path.exists(os.path.join(out, x["image"])), x["image"])
            check(all(c.strip() for c in x["captions"]), "empty caption")
        info = json.load(open(os.path.join(out, "info.json")))
        check(info["images"] == 11, info)
        check(info["pairs"] == sum(len(x["captions"]) for x in lines), info)

        # skin tones
        r = subprocess.run([sys.executable, FETCH, "emoji", "--cache", cache,
                            "--packages", pkgs, "--skin-tones"],
                           capture_output=True, text=True)
        check(r.returncode == 0, "fetch-data --skin-tones: " + r.stderr)
        lines = [json.loads(x) for x in open(
            os.path.join(out, "captions.jsonl"), encoding="utf-8")]
        v = [x for x in lines if x["emoji"] == "1F44B-1F3FB"]
        check(len(v) == 2, "skin tone variant in both styles")
        check(v[0]["captions"][0] == "waving hand, light skin tone",
              v[0]["captions"])
        check(v[0]["split"] == by[("1F44B", "google")]["split"],
              "variants share the split of their emoji")

        # missing package
        os.unlink(os.path.join(pkgs, "emojibase-data-16.0.3.tgz"))
        r = subprocess.run([sys.executable, FETCH, "emoji", "--cache", cache,
                            "--packages", pkgs], capture_output=True,
                           text=True)
        check(r.returncode != 0 and "emojibase-data" in r.stderr, r.stderr)

        # t2idatasetsrc reads what the script built, from the cache
        launch = shutil.which("gst-launch-1.0")
        if launch and not SANITIZED:
            env = dict(os.environ, T2I_DATA_DIR=cache)
            for props in ("split=all", "split=all subset=faces"):
                r = subprocess.run(
                    [launch, "-q", "t2idatasetsrc", "dataset=emoji"] +
                    props.split() + ["batch-size=2", "resolution=8", "!",
                                     "fakesink"], env=env,
                    capture_output=True, text=True)
                check(r.returncode == 0, "t2idatasetsrc dataset=emoji %s: "
                      "%s%s" % (props, r.stdout, r.stderr))
        print("ok")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
