"""The layers of ``docs/architecture.md``, kept by walking every import in ``src/understudy``.

Every import counts, also the lazy ones inside functions: a lazy import that points up a layer
is still a dependency, only hidden. A module may import its own layer or any lower one, and
no two modules may import each other, directly or round a longer loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

import understudy

ROOT = Path(understudy.__file__).resolve().parent

# Lowest first. A module belongs to the layer of its top-level package (or of itself, for a
# module at the top level); the same list stands in docs/architecture.md.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "version", "regions", "scene", "attributes", "assets", "samples"),
    ("io",),
    ("perception", "body", "render", "diffusion"),
    ("methods",),
    ("run", "evaluation", "rating", "utility", "train"),
    ("api", "sheet", "cli", "__init__", "__main__"),
)
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(["understudy", *parts])


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The understudy modules a file imports, anywhere in it (``from a import b`` counts as
    ``a.b`` when ``b`` is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in modules else node.module)
    return {m for m in found if m in modules}


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(files)
    return {name: imports_of(path, modules) - {name} for name, path in files.items()}


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_layer():
    unknown = sorted({unit(m) for m in graph()} - set(LAYER_OF))
    assert not unknown, f"add these to LAYERS (and docs/architecture.md): {unknown}"


def test_no_import_points_up_a_layer():
    upward = [f"{m} -> {d}" for m, deps in graph().items() for d in deps
              if LAYER_OF[unit(d)] > LAYER_OF[unit(m)]]
    assert not upward, "imports that point up the layers:\n" + "\n".join(sorted(upward))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_module_cycle():
    assert _cycles(graph()) == []


def test_no_package_cycle():
    packages: dict[str, set[str]] = {}
    for m, deps in graph().items():
        packages.setdefault(unit(m), set()).update(unit(d) for d in deps if unit(d) != unit(m))
    assert _cycles(packages) == []


def test_the_walker_sees_lazy_and_from_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from understudy.methods import registry\n"
                      "    import understudy.scene\n")
    modules = {"understudy.methods", "understudy.methods.registry", "understudy.scene"}
    assert imports_of(source, modules) == {"understudy.methods.registry", "understudy.scene"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
