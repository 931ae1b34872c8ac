"""The package's layers, enforced: imports go down the stack, never up, and never in a circle.

The table is the one docs/architecture.md draws. Every ``import onnxslim_lint...``
counts, wherever it stands in a module (a function-level import hides an upward
dependency from a reader, not from this test), except the few listed in
``ALLOWED_UPWARD`` with the reason each one is there.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "onnxslim_lint"

# Lowest first. A module may import its own layer and the layers below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("leaf", ("__init__", "errors", "sizes", "findings", "results")),
    ("config", ("config", "toml_edit")),
    ("model", ("model",)),
    ("rules", ("rules",)),
    ("fixing", ("fixing",)),
    ("files", ("discover", "datafiles", "gitbase", "run_options", "enforced", "budget", "cache")),
    ("pipeline", ("pipeline", "parallel")),
    ("report", ("report",)),
    ("entry", ("api", "commands", "progress")),
    ("cli", ("cli", "__main__")),
]

# (importing module, imported module): why this one import goes up a layer.
ALLOWED_UPWARD = {
    # Rule.run is the "any rule as a pass" API: it hands the rule to the fix engine,
    # which sits above the rules, so that a rule used alone gets the CLI's gates.
    ("onnxslim_lint.rules.base", "onnxslim_lint.fixing.engine"),
    # The package's lazy public API: ``onnxslim_lint.check`` imports the API on first
    # use, so that ``import onnxslim_lint`` (for ``__version__``) stays cheap.
    ("onnxslim_lint", "onnxslim_lint.api"),
}

# What the report layer may read: the data it renders, never the machinery.
REPORT_MAY_IMPORT = (
    "onnxslim_lint.findings",
    "onnxslim_lint.results",
    "onnxslim_lint.sizes",
    "onnxslim_lint.errors",
    "onnxslim_lint.report",
    "onnxslim_lint.rules.catalog",
    "onnxslim_lint.rules.registry",  # rule metadata for SARIF and docs links
    "onnxslim_lint.model.read_errors",  # the OSL0xx catalog, same purpose
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every onnxslim_lint module ``name`` imports (``from x import y`` yields x.y when
    x.y is a module, else x)."""
    modules = _modules()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("onnxslim_lint"):
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not target.startswith("onnxslim_lint"):
                continue
            submodules = [f"{target}.{alias.name}" for alias in node.names]
            found = [sub for sub in submodules if sub in modules]
            yield from found or [target]


def _layer(module: str) -> int:
    parts = module.split(".")
    first = parts[1] if len(parts) > 1 else "__init__"
    for number, (_, members) in enumerate(LAYERS):
        if first in members:
            return number
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (and docs/architecture.md)")


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {imported for imported in _imports(name, path) if imported != name}
        for name, path in modules.items()
    }


def test_every_module_has_a_layer() -> None:
    for module in _modules():
        _layer(module)


def test_imports_never_go_up_a_layer() -> None:
    upward = [
        f"{module} (layer {LAYERS[_layer(module)][0]}) imports {imported} "
        f"(layer {LAYERS[_layer(imported)][0]})"
        for module, imported_modules in sorted(_graph().items())
        for imported in sorted(imported_modules)
        if _layer(imported) > _layer(module) and (module, imported) not in ALLOWED_UPWARD
    ]
    assert upward == []


def test_the_model_layer_knows_nothing_of_configuration() -> None:
    """model/ is the toolkit every layer above uses; settings reach it as arguments."""
    leaks = [
        f"{module} imports {imported}"
        for module, imported_modules in sorted(_graph().items())
        if module.startswith("onnxslim_lint.model")
        for imported in sorted(imported_modules)
        if not imported.startswith(("onnxslim_lint.model", "onnxslim_lint.errors"))
        and not imported.startswith(("onnxslim_lint.sizes", "onnxslim_lint.findings"))
    ]
    assert leaks == []


def test_the_report_layer_reads_only_results() -> None:
    leaks = [
        f"{module} imports {imported}"
        for module, imported_modules in sorted(_graph().items())
        if module.startswith("onnxslim_lint.report")
        for imported in sorted(imported_modules)
        if not imported.startswith(REPORT_MAY_IMPORT)
    ]
    assert leaks == []


def test_no_rule_imports_another_rules_module() -> None:
    """Shared analysis lives in the model layer or a shared ``rules/_*.py`` helper."""
    shared = ("onnxslim_lint.rules.base", "onnxslim_lint.rules._", "onnxslim_lint.rules.catalog")
    leaks = []
    for module, imported_modules in sorted(_graph().items()):
        if not module.startswith("onnxslim_lint.rules.") or module.endswith(".registry"):
            continue
        own_package = module.rpartition(".")[0]
        for imported in sorted(imported_modules):
            if not imported.startswith("onnxslim_lint.rules."):
                continue
            if imported.startswith(shared) or imported.startswith(own_package + "."):
                continue
            if own_package != "onnxslim_lint.rules" and imported.startswith(own_package):
                continue
            leaks.append(f"{module} imports {imported}")
    assert leaks == []


def test_there_is_no_import_cycle() -> None:
    graph = _graph()
    allowed = ALLOWED_UPWARD
    edges = {
        module: {m for m in imported if m in graph and (module, m) not in allowed}
        for module, imported in graph.items()
    }
    # A package's __init__ re-exporting its submodules is not a cycle with them.
    for module in edges:
        edges[module] = {
            m for m in edges[module] if not (module.startswith(m + ".") and m in graph)
        }
    cycles = _strongly_connected(edges)
    assert [sorted(c) for c in cycles if len(c) > 1] == []


def _strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (the import graph is small, recursion is not the risk;
    clarity is)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(
    edges: dict[str, set[str]], expected: list[list[str]]
) -> None:
    found = [sorted(c) for c in _strongly_connected(edges) if len(c) > 1]
    assert found == expected
