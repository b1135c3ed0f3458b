"""The import layers of ``helpers/`` and ``course/`` (drawn in docs/contributing.md).

Every module belongs to one layer; a module imports only from its own layer or lower ones,
and no modules import each other in a circle, so a reader can start at the bottom and never
meet a name defined above. The imports are read with ``ast`` (nothing is imported), all of
them: at the top of a module, inside functions and under ``TYPE_CHECKING``.

A new module must be given a layer here: the test names any module that has none.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Lowest first. A module's layer is the one with the longest prefix naming it
#: (``course.grading.steps.fairness`` is in ``course.grading.steps``, not ``course.grading``).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("helpers", ("helpers",)),
    (
        "course base",
        ("course.__init__", "course.cells", "course.config", "course.lessons")
        + ("course.import_rule", "course.exchange"),
    ),
    ("isolation", ("course.isolation",)),
    ("forking", ("course.forking",)),
    (
        "grading records",
        ("course.grading.records", "course.grading.notes", "course.grading.settings")
        + ("course.grading.warmup",),
    ),
    ("grading steps", ("course.grading.steps",)),
    ("course grade", ("course.grading",)),
    (
        "commands",
        ("course.build", "course.report", "course.corpus", "course.selfgrade", "course.bench")
        + ("course.lab", "course.setup_lab", "course.hub", "course.cli"),
    ),
]


def module_files() -> dict[str, Path]:
    """Dotted name of every module of the two packages (a package as ``pkg.__init__``)."""
    files = sorted([*(ROOT / "course").rglob("*.py"), *(ROOT / "helpers").rglob("*.py")])
    return {".".join(p.relative_to(ROOT).with_suffix("").parts): p for p in files}


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The module an imported dotted name lives in (a package's ``__init__`` for its names)."""
    while name:
        if name in modules:
            return name
        if f"{name}.__init__" in modules:
            return f"{name}.__init__"
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the two packages that ``module`` imports (``from pkg import sub`` is an
    import of the submodule ``pkg.sub``, not of the package's ``__init__``).

    >>> modules = module_files()
    >>> sorted(imports_of("course.grading.records", modules["course.grading.records"], modules))
    ['course.grading.warmup']
    """
    package = module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            target = _target(name, modules) if name.split(".")[0] in ("course", "helpers") else None
            if target and target != module:
                found.add(target)
    return found


def layer_of(module: str) -> int | None:
    """Index in :data:`LAYERS` of the layer ``module`` belongs to; None if it has none.

    >>> LAYERS[layer_of("course.grading.steps.fairness")][0]
    'grading steps'
    """
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), index)
    return None if best is None else best[1]


def find_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of ``graph``: its strongly connected parts of two or more modules
    (Tarjan's algorithm, without recursion).

    >>> find_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    [['a', 'b', 'c']]
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    part.append(member)
                    if member == node:
                        break
                if len(part) > 1:
                    circles.append(sorted(part))
    return sorted(circles)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_every_module_has_a_layer(graph):
    assert [m for m in graph if layer_of(m) is None] == []


def test_no_import_circle(graph):
    assert find_circles(graph) == []


def test_no_import_from_a_lower_layer_to_a_higher_one(graph):
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if None not in (layer_of(module), layer_of(target)) and layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_the_checks_see_a_circle_and_an_upward_import():
    """The rules can fail: a planted circle and a planted upward import are found."""
    assert find_circles({"x": {"y"}, "y": {"x"}}) == [["x", "y"]]
    assert layer_of("course.grading.steps.fairness") > layer_of("course.grading.notes")
    assert layer_of("helpers.checks") < layer_of("course.cells")
