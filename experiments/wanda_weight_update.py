"""The Wanda paper's weight-update ablation (Sun et al. 2023, Sec. 5; experiments/specs.py: UPDATE): does re-fitting
the kept weights add much? For magnitude's and Wanda's masks, perplexity without and with an update of the kept
weights: the exact per-row least-squares re-fit (`*_lsq`, methods/lsq.py) and Boža's ADMM (`*_admm`,
methods/admm.py), beside SparseGPT and the official ADMM pruner with its gradual mask (`admm`, full scale).
The paper's finding: the update helps magnitude's mask a lot and Wanda's little. Rows without update are
main_perplexity's (reused, not rerun).
  python experiments/wanda_weight_update.py --scale default
"""
from __future__ import annotations

from common import main_for


def main(argv=None):
    return main_for("wanda_weight_update", argv)


if __name__ == "__main__":
    main()
