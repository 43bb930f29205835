"""``python -m mixedpy``: fit the sleepstudy example shipped with the package and print it."""
from __future__ import annotations

import mixedpy


def main() -> None:
    data = mixedpy.datasets.load("sleepstudy")
    m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", data)
    print(m.summary())
    print()
    print("BLUPs (first 5 subjects):")
    print(m.ranef["Subject"].head())


if __name__ == "__main__":
    main()
