"""NeuroAL's headline comparison (experiments/specs.py: NEUROAL): uniform vs OWL vs NeuroAL on each scorer at 70%.

Reproduces the shape of NeuroAL (Cunegatti et al. 2024) Tables 1-3 and adds STADE as a base scorer. Each row
records NeuroAL's chosen lambdas, its alignment passes and search time (row["allocation"], row["seconds"]).
  fixed: NeuroAL's lambda grids (methods/neuroal.py) and search set (experiments/common.py: NEUROAL_ARGS).
Uniform and OWL rows already measured by owl_high_sparsity.py are reused, not rerun.
  python experiments/neuroal_topup.py --scale default
"""
from __future__ import annotations

from common import main_for


def main(argv=None):
    rows = main_for("neuroal_topup", argv,
                    lambda r: r["method"] if r["method"] == "dense" else f"{r['method']} + {r['allocator']}")
    for r in rows:
        info = r.get("allocation") or {}
        if r["allocator"] == "neuroal":
            print(f"{r['method']} s={r['sparsity_target']}: lambda_block={info.get('block_lambda')} "
                  f"lambda_row={info.get('row_lambda')} passes={info.get('alignment_passes')} "
                  f"search {r['seconds'].get('allocate', 0):.0f}s")


if __name__ == "__main__":
    main()
