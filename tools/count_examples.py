"""Count public functions, classes and methods under mixedpy/ with and without
a numpy-docstring ``Examples`` section.

Usage: python tools/count_examples.py [--missing] [--by-file] [paths...]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def _has_examples(node: ast.AST) -> bool:
    doc = ast.get_docstring(node, clean=True) or ""
    lines = doc.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.strip() == "Examples" and set(lines[i + 1].strip()) == {"-"}:
            return True
    return False


def _public_module(path: Path) -> bool:
    return not any(
        part.startswith("_") and part != "__init__.py" for part in path.parts
    )


def _walk(tree: ast.Module):
    """Yield (qualname, node) for public top-level functions/classes and the
    public methods of public top-level classes."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if not node.name.startswith("_"):
                yield node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            yield node.name, node
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    if not sub.name.startswith("_"):
                        yield f"{node.name}.{sub.name}", sub


def main(argv: list[str]) -> int:
    show_missing = "--missing" in argv
    by_file = "--by-file" in argv
    paths = [a for a in argv if not a.startswith("--")] or ["mixedpy"]
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    with_ex = without = 0
    for f in files:
        if not _public_module(f):
            continue
        tree = ast.parse(f.read_text(encoding="utf-8"))
        fw = fo = 0
        for name, node in _walk(tree):
            if _has_examples(node):
                fw += 1
            else:
                fo += 1
                if show_missing:
                    print(f"{f}:{node.lineno}: {name}")
        with_ex += fw
        without += fo
        if by_file and fw + fo:
            print(f"{fw:4d} {fo:4d}  {f}")
    total = with_ex + without
    print(f"public callables: {total}  with Examples: {with_ex}  "
          f"without: {without}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
