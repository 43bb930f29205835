"""Every python block of README.md runs as written, in order, in one namespace (as a reader pasting
them one after the other into a session would), on the data shipped in mixedpy.datasets."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def readme_blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def test_readme_has_python_blocks():
    assert len(readme_blocks()) >= 8


def test_readme_python_blocks_run_in_order(monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)            # nothing a block writes lands in the repository
    namespace: dict = {"__name__": "__readme__"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # RowsDroppedWarning etc. are part of what the reader sees
        for k, block in enumerate(readme_blocks(), start=1):
            try:
                exec(compile(block, f"README.md python block {k}", "exec"), namespace)  # noqa: S102
            except Exception as exc:       # say which block, with its first line
                first = block.strip().splitlines()[0]
                raise AssertionError(f"README python block {k} ({first!r}) failed: "
                                     f"{type(exc).__name__}: {exc}") from exc
    plt.close("all")
    # the numbers the README states
    mk = namespace["mk"]
    assert abs(mk.fixef["sex[F]"] - 3.404) < 1e-3 and abs(mk.fixef["sex[M]"] - 4.358) < 1e-3  # Mrode truncates
    assert round(float(mk.ranef["animal"].iloc[:, 0].loc[1]), 3) == 0.098
    assert round(float(mk.ranef["animal"].iloc[:, 0].loc[8]), 3) == 0.183
    assert len(namespace["ma"].ranef["animal"]) == 440


def test_readme_names_no_undefined_data():
    text = README.read_text(encoding="utf-8")
    for name in ("pedigree_df", "geno.bed", "trials", "pheno"):
        assert name not in "\n".join(readme_blocks()), f"README block uses undefined {name!r}"
    assert "## What mixedpy does not do yet" in text


def test_limitations_page_repeats_the_readme_list():
    """docs/limitations.md and the README's "What mixedpy does not do yet" list the same items."""
    root = Path(__file__).resolve().parents[1]

    def items(text):
        return [b.strip() for b in re.split(r"\n- ", "\n" + text) if b.strip().startswith("**")]
    readme = (root / "README.md").read_text().split("## What mixedpy does not do yet", 1)[1].split("\n## ", 1)[0]
    page = (root / "docs" / "limitations.md").read_text().split("\n", 1)[1]
    page = page.split("The README keeps", 1)[0]
    assert items(readme) and items(readme) == items(page)
