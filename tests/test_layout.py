"""The package's shape: imports run one way, from the command line down to the facts, with no circle.

The import graph is read from the source (every `import` and `from ... import`, also those
inside functions), with the edge Python adds itself: importing `a.b.c` first runs `a/__init__.py`
and `a/b/__init__.py`, so a package's face that imports its own modules is part of every
import of one of them. A circle in that graph is what leaves a module partially initialised
(`cannot import name ... from partially initialized module`). The floors are the data flow the
README's "How it is built" section maps; a module may import its own floor and those below it.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "plugins" / "gpuconform"

#: The subpackages in the order data flows through them, the lowest first.
FLOORS = ("facts", "expect", "probes", "verdict", "diagnose", "frameworks", "report", "plugin", "fleet", "cli")
#: Modules of the package's top level and the floor each stands on.
TOP_LEVEL = {"gpuconform": "facts", "gpuconform.data": "facts", "gpuconform.schemas": "facts"}
#: The framework-neutral machinery a framework's folder builds on; it never imports a framework.
FRAMEWORK_FOLDERS = ("tensorflow", "torch", "jax", "keras")
#: Outside a framework's own folder, only the pytest face wires a framework in.
WIRES_FRAMEWORKS = ("gpuconform.plugin",)
#: The layers, each one file of suites/.
LAYERS = ("platform", "driver", "libraries", "framework", "placement", "memory", "preprocessing", "determinism")
#: "Modules under about 400 lines."
MOST_LINES = 440


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path) -> set[str]:
    """The gpuconform modules a module imports, by name (a `from package import name` of a submodule is that module)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if base.split(".")[0] != "gpuconform":
                continue
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "gpuconform")
    return {m for m in found if m in MODULES}


def packages_above(name: str) -> Iterator[str]:
    parts = name.split(".")
    for n in range(1, len(parts)):
        yield ".".join(parts[:n])


def graph() -> dict[str, set[str]]:
    """Every module's imports, each with the packages above it (Python runs their __init__ first)."""
    edges = {}
    for name, path in MODULES.items():
        deps = set()
        for dep in imported(path):
            deps.add(dep)
            deps.update(packages_above(dep))
        edges[name] = deps - {name} - set(packages_above(name))
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def floor(name: str) -> int:
    if name in TOP_LEVEL:
        return FLOORS.index(TOP_LEVEL[name])
    top = name.split(".")[1]
    return FLOORS.index("cli" if top == "__main__" else top)


def test_every_module_stands_on_a_floor() -> None:
    unplaced = [m for m in MODULES if m not in TOP_LEVEL and m.split(".")[1] not in (*FLOORS, "__main__")]
    assert not unplaced, f"modules outside the layers (add them to a floor or to FLOORS): {unplaced}"


def test_no_module_imports_another_in_a_circle() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_circle_through_a_package_face() -> None:
    # The shape that broke before the layout: a package's face imports its module, which imports
    # a sibling of the package that imports the module back.
    edges = {
        "gpuconform.frameworks.replay": {"gpuconform.frameworks.tensorflow.log", "gpuconform.frameworks.tensorflow"},
        "gpuconform.frameworks.tensorflow": {"gpuconform.frameworks.tensorflow.memory"},
        "gpuconform.frameworks.tensorflow.memory": {"gpuconform.frameworks.replay"},
        "gpuconform.frameworks.tensorflow.log": set(),
    }
    assert cycles(edges) == [
        ["gpuconform.frameworks.replay", "gpuconform.frameworks.tensorflow", "gpuconform.frameworks.tensorflow.memory"]
    ]


def test_imports_run_down_the_data_flow() -> None:
    upward = [
        f"{m} ({FLOORS[floor(m)]}) imports {d} ({FLOORS[floor(d)]})"
        for m, deps in graph().items()
        for d in sorted(deps)
        if floor(d) > floor(m)
    ]
    assert not upward, "\n".join(upward)


def test_a_framework_is_imported_by_its_own_folder_and_the_pytest_face_alone() -> None:
    reached = []
    for m, deps in graph().items():
        for folder in FRAMEWORK_FOLDERS:
            own = f"gpuconform.frameworks.{folder}"
            if m == own or m.startswith(own + ".") or m.startswith(WIRES_FRAMEWORKS):
                continue
            reached += [f"{m} imports {d}" for d in sorted(deps) if d == own or d.startswith(own + ".")]
    assert not reached, "\n".join(reached)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_is_short_enough_to_read(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MOST_LINES, (
        f"{MODULES[name].relative_to(PACKAGE.parent)} has {lines} lines; split it by what it holds"
    )


def test_every_module_imports_on_its_own() -> None:
    # Each in a fresh interpreter, so that one module's import order cannot hide another's circle
    # (not the children's entry points nor __main__, which run when imported).
    importable = [m for m in MODULES if not m.endswith("_child") and m != "gpuconform.__main__"]
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [k for k in sys.modules if k.startswith('gpuconform')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as e:\n"
        "        failed.append(f'{name}: {type(e).__name__}: {e}')\n"
        "print('\\n'.join(failed))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, *importable], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", proc.stdout


def test_the_readme_map_names_files_that_exist_and_every_floor_and_layer() -> None:
    readme = (PACKAGE.parents[1] / "README.md").read_text()
    section = readme.split("## How it is built", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = {m.strip("`") for line in rows for m in re.findall(r"`[^`]+\.py`|`[a-z_/]+/`", line)}
    layer_files = {f"suites/test_{layer}.py" for layer in LAYERS}
    missing = sorted(p for p in named if not (PACKAGE / p).exists() and not (PACKAGE.parents[1] / p).exists())
    assert not missing, f"the README's map names files that do not exist: {missing}"
    floors = {f"{f}/" for f in FLOORS if f != "cli"} | {"cli.py"}
    assert floors | layer_files <= named, f"not in the README's map: {sorted((floors | layer_files) - named)}"
