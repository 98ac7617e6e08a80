"""Reproduce the real model and data files shipped in 3rdparty/ from their public sources, checked by sha256.

    python scripts/fetch_real_data.py                  # every entry below, into 3rdparty/ (the manifest's paths)
    python scripts/fetch_real_data.py yolox_nano_coco  # one of them
    python scripts/fetch_real_data.py --out /tmp/check # elsewhere, e.g. to compare with the shipped copies

- ``yolox_nano_coco``: ``model/yolox_nano.onnx`` of GitHub Kazuhito00/YOLOX-ONNX-TFLite-Sample at a fixed commit
  (the official Megvii YOLOX-Nano weights exported with the raw head), downloaded over HTTPS;
- ``sports2d_demo``: ``Sports2D/Demo/demo.mp4`` of the ``sports2d`` 0.8.34 wheel, fetched with
  ``pip download --no-deps`` from PyPI (or the index pip is configured with).

Each file is written only if its sha256 equals the manifest's. Licences: 3rdparty/detectors/yolox_nano/LICENSE
(Apache-2.0) and 3rdparty/data/sports2d/LICENSE (BSD-3-Clause).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pose_pipeline.weights import DEFAULT_MANIFEST, load_manifest

SPORTS2D_WHEEL = "sports2d==0.8.34"


def fetch_yolox_nano(entry, scratch: Path) -> Path:
    target = scratch / "yolox_nano.onnx"
    with urllib.request.urlopen(entry.url, timeout=120) as response, open(target, "wb") as f:
        shutil.copyfileobj(response, f)
    return target


def fetch_sports2d(entry, scratch: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", SPORTS2D_WHEEL, "-d", str(scratch)]
    subprocess.run(command, check=True)
    (wheel,) = scratch.glob("sports2d-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        target = scratch / Path(entry.archive_member).name
        target.write_bytes(archive.read(entry.archive_member))
    return target


FETCHERS = {"yolox_nano_coco": ("models", fetch_yolox_nano), "sports2d_demo": ("data", fetch_sports2d)}


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(FETCHERS), help=f"entries to fetch: {', '.join(FETCHERS)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_MANIFEST.parent, help="root for the manifest's paths")
    args = parser.parse_args()

    failed = False
    for name in args.names:
        if name not in FETCHERS:
            parser.error(f"unknown entry {name!r}; known: {', '.join(FETCHERS)}")
        section, fetch = FETCHERS[name]
        entry = load_manifest(section=section)[name]
        with tempfile.TemporaryDirectory() as scratch:
            try:
                got = fetch(entry, Path(scratch))
            except (OSError, subprocess.CalledProcessError) as error:
                print(f"{name}: cannot fetch it from {entry.url}: {error}")
                failed = True
                continue
            digest = sha256(got)
            if digest != entry.sha256:
                print(f"{name}: sha256 {digest} differs from the manifest's {entry.sha256}; not written")
                failed = True
                continue
            target = args.out / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(got, target)
            print(f"{name}: {target} ({target.stat().st_size:,} bytes, sha256 verified)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
