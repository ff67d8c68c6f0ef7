"""All of the analysis for one scale, from results/ only: tables (and the README's blocks), the method and allocator
tables from the registries, every figure, and the claims table; ends with the claims' verdicts.

  python analysis/run.py                          # default scale: results/ -> figures/ and README.md
  STADE_ANALYSIS_SCALE=full python analysis/run.py  # results/full/ -> figures/full/ (the README's full columns too)
"""
from __future__ import annotations

import allocation_figures
import claims
import method_table
import stade_figures
import tables
import theory_figures
import wanda_figures
from paths import scale

FIGURE_MODULES = (allocation_figures, stade_figures, theory_figures, wanda_figures)


def main() -> None:
    tables.main()
    if scale() == "default":
        method_table.main()
    for module in FIGURE_MODULES:
        if scale() == "default" or module is not theory_figures:  # the theory is scale-free: figures/ only
            module.main()
    claims.main()


if __name__ == "__main__":
    main()
