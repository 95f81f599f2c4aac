"""docs/architecture.md's layer diagram against the code's imports: no module imports from a line
above its own."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGES = {"clbench": "clbench", "strategies": "clbench_strategies", "tasks": "clbench_tasks"}


def layers() -> list[list[str]]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = re.search(r"```layers\n(.*?)```", text, re.S).group(1)
    return [re.split(r"\s{2,}", line.strip())[0].split() for line in block.splitlines() if line.strip()]


def unit(module: str) -> str | None:
    """The diagram's name for a module: its package's first level (clbench.optim.nanoadam -> clbench.optim)."""
    parts = module.split(".")
    if parts[0] in ("clbench_strategies", "clbench_tasks"):
        return parts[0]
    return ".".join(parts[:2]) if parts[0] == "clbench" and len(parts) > 1 else None


def imports() -> dict[str, set[str]]:
    """{unit: the units its modules import}"""
    found: dict[str, set[str]] = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [package, *path.relative_to(ROOT / folder).with_suffix("").parts]
            importer = unit(".".join(p for p in parts if p != "__init__")) or package
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module] if node.module != "clbench" else [f"clbench.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                found.setdefault(importer, set()).update(u for name in names if (u := unit(name)) and u != importer)
    return found


def test_every_module_is_on_one_line_of_the_diagram():
    listed = [name for line in layers() for name in line]
    assert len(listed) == len(set(listed))
    assert set(imports()) - {"clbench"} <= set(listed), "a module missing from docs/architecture.md's diagram"


def test_no_import_runs_up_the_diagram():
    line_of = {name: i for i, line in enumerate(layers()) for name in line}
    upward = [f"{importer} imports {imported}" for importer, imported_units in imports().items()
              for imported in imported_units if line_of.get(imported, 99) < line_of.get(importer, 99)]
    assert not upward, "imports that run up docs/architecture.md's diagram: " + "; ".join(sorted(upward))
