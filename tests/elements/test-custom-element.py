#!/usr/bin/python3
"""Builds examples/custom-element out of tree against the build's
uninstalled t2i.pc (PKG_CONFIG_PATH=<build>/meson-uninstalled), then runs
its loss in pipelines: the gradients written by t2itensorsink grads-of=
must be d mean((a - b)^2) / da = 2 (a - b) / n, and a record without the
loss's input must fail at negotiation naming the entry.

Arguments: the meson executable, the t2i-launch executable (it has the
t2i plugin built in) and the build's b_sanitize option.

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import json
import os
import struct
import subprocess
import sys
import tempfile


def save(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (shape, values) in tensors.items():
        data = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape,
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def load(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info)
        b, e = info["data_offsets"]
        raw = blob[8 + n + b:8 + n + e]
        out[name] = struct.unpack("<%df" % (len(raw) // 4), raw)
    return out


def run(cmd, env, cwd):
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True,
                          text=True)


def main():
    meson, launch = sys.argv[1], sys.argv[2]
    sanitized = len(sys.argv) > 3 and sys.argv[3] not in ("", "none")
    src = os.environ["T2I_SOURCE_DIR"]
    build = os.environ["T2I_BUILD_DIR"]
    launch = os.path.join(build, launch)  # no-op when already absolute
    with tempfile.TemporaryDirectory(prefix="t2i-custom-") as work:
        env = dict(os.environ)
        env["PKG_CONFIG_PATH"] = os.path.join(build, "meson-uninstalled")
        ex_build = os.path.join(work, "build")
        for cmd in ([meson, "setup", ex_build,
                     os.path.join(src, "examples", "custom-element")],
                    [meson, "compile", "-C", ex_build]):
            r = run(cmd, env, work)
            if r.returncode != 0:
                sys.exit("%s failed:\n%s%s" % (" ".join(cmd), r.stdout,
                                               r.stderr))

        env["GST_PLUGIN_PATH_1_0"] = ex_build
        env["GST_REGISTRY_1_0"] = os.path.join(work, "registry.bin")
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            [os.path.join(build, "core"), env.get("LD_LIBRARY_PATH", "")])
        if sanitized:
            # the uninstrumented gst-plugin-scanner cannot load a module
            # that links the sanitized libt2i: scan in t2i-launch itself
            env["GST_REGISTRY_FORK"] = "no"
            # full stacks let lsan.supp match what system libraries leak
            # while t2i-launch loads them
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + \
                ":fast_unwind_on_malloc=0"
        a = [0.5, -1.0, 2.0, 3.5, 0.0, 1.25]
        b = [1.0, 1.0, -2.0, 3.0, 0.5, 0.25]
        save(os.path.join(work, "ab.safetensors"),
             {"a": ([2, 3], a), "b": ([2, 3], b)})

        r = run([launch, "--", "t2itensorsrc location=ab.safetensors "
                 "requires-grad=a ! t2iexamplel2loss update=x output=l2 ! "
                 "t2itensorsink location=out.safetensors grads-of=loss/l2"],
                env, work)
        if r.returncode != 0:
            sys.exit("pipeline failed:\n%s%s" % (r.stdout, r.stderr))
        out = load(os.path.join(work, "out.safetensors"))
        n = len(a)
        loss = sum((x - y) ** 2 for x, y in zip(a, b)) / n
        assert abs(out["loss/l2"][0] - loss) < 1e-5, out["loss/l2"]
        for g, x, y in zip(out["grad/a"], a, b):
            assert abs(g - 2 * (x - y) / n) < 1e-6, (out["grad/a"], a, b)
        assert "grad/b" not in out

        r = run([launch, "--", "t2itensorsrc location=ab.safetensors ! "
                 "t2iexamplel2loss update=x b=missing ! fakesink"], env, work)
        text = r.stdout + r.stderr
        if r.returncode == 0 or "'missing'" not in text \
                or "upstream offers" not in text:
            sys.exit("negotiation error not reported as expected:\n" + text)
    print("custom element: built out of tree, gradients and errors ok")


if __name__ == "__main__":
    main()
