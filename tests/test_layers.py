"""The package's layers: each module imports only modules of its own or a lower layer (function-level
imports included; ``if TYPE_CHECKING:`` blocks excluded), and no two modules import each other in a
cycle.  This is the contract import-linter's ``layers`` would check, written with ``ast`` so that it
runs wherever the tests run."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "mixedpy"

# top to bottom; a module belongs to the layer of its longest matching prefix
LAYERS = [
    ["mixedpy.__main__"],
    ["mixedpy.plot"],
    ["mixedpy.scale"],
    ["mixedpy.api", "mixedpy.multitrait"],
    ["mixedpy.fitting"],
    ["mixedpy.results", "mixedpy.glmm_results"],
    ["mixedpy.present", "mixedpy.predict"],
    ["mixedpy.inference"],
    ["mixedpy.variance"],
    ["mixedpy.model.workspace", "mixedpy.glmm_fit"],
    ["mixedpy.model.spec"],
    ["mixedpy.warm_start"],
    ["mixedpy.estimates"],
    ["mixedpy.solution", "mixedpy.model.protocol", "mixedpy.model"],
    ["mixedpy.whitened", "mixedpy.ai_reml"],
    ["mixedpy.genetics.mme", "mixedpy.genetics.tridiagonal", "mixedpy.objective", "mixedpy.pirls", "mixedpy.pirls_latent",
     "mixedpy.laplace_gradient"],
    ["mixedpy.gradient", "mixedpy.whitened_gradient", "mixedpy.objective_dense", "mixedpy.genetics.elimination",
     "mixedpy.agq"],
    ["mixedpy.optimize", "mixedpy.hessian"],
    ["mixedpy.genetics"],
    ["mixedpy.covariance"],
    ["mixedpy.design"],
    ["mixedpy.formula"],
    ["mixedpy.linalg"],
    ["mixedpy.deviance"],
    ["mixedpy.figures", "mixedpy.threads", "mixedpy.progress", "mixedpy.datasets", "mixedpy.families"],
    ["mixedpy.errors"],
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(path: Path) -> set[str]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: set[str] = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                    names = [f"{target}.{a.name}" for a in child.names]
                else:
                    target = child.module or ""
                    names = [f"{target}.{a.name}" for a in child.names]
                if target.startswith("mixedpy"):
                    # `from . import x` names a submodule: count the most specific existing module
                    out.update(n for n in names if _exists(n)) if not _exists(target) or target == package \
                        else out.add(target)
            elif isinstance(child, ast.Import):
                out.update(a.name for a in child.names if a.name.startswith("mixedpy"))
            visit(child)

    visit(ast.parse(path.read_text()))
    out.discard(module)
    return out


def _exists(module: str) -> bool:
    rel = Path(*module.split("."))
    return (ROOT.parent / rel).with_suffix(".py").exists() or (ROOT.parent / rel / "__init__.py").exists()


def _layer(module: str) -> int | None:
    best, where = -1, None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, where = len(p), i
    return where


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
GRAPH = {m: _imports(p) for m, p in MODULES.items()}


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if m != "mixedpy" and _layer(m) is None]
    assert not missing, f"modules without a layer: {missing}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "mixedpy"))
def test_no_upward_import(module):
    mine = _layer(module)
    upward = sorted(t for t in GRAPH[module] if t != "mixedpy" and (_layer(t) if _layer(t) is not None else -1) < mine
                    and not t.startswith(module + "."))
    assert not upward, f"{module} (layer {mine}) imports from higher layers: {upward}"


def test_no_import_cycles():
    graph = {m: {t for t in ts if t in GRAPH} for m, ts in GRAPH.items() if m != "mixedpy"}
    index, low, stack, on, cycles = {}, {}, [], set(), []
    counter = [0]

    def strong(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_a_violation(tmp_path):
    # the test can fail: a module importing a higher layer is found
    f = ROOT / "deviance.py"
    imports = _imports(f)
    assert all((_layer(t) or 0) >= _layer("mixedpy.deviance") for t in imports)
    assert _layer("mixedpy.api") < _layer("mixedpy.inference.anova") < _layer("mixedpy.deviance")
