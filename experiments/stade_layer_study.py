"""Which layers gain from STADE? One linear of every block pruned at a time (the STADE paper's Fig. 1 study:
OPT-125m with only fc1 or only fc2 pruned, Wanda vs STADE; experiments/specs.py: LAYERS).

The theory predicts STADE's gain where a layer's inputs are far from centred (o_proj / down_proj / fc2: attention and
activation outputs) and none where they are centred (norm-fed layers); input centring per layer:
theory/check_real_model.py. The full scale runs every linear on all three families.
  python experiments/stade_layer_study.py --scale default
"""
from __future__ import annotations

from common import BY_NAME, parse_args, parser, run_grid


def main(argv=None):
    args = parse_args(parser(__doc__), argv)
    for r in run_grid(BY_NAME["stade_layer_study"], args):
        if r["method"] != "dense":
            print(f"{r['model']['model']:14s} {r['config']['layers']:20s} {r['method']:18s} s={r['sparsity_target']}: "
                  f"{next(iter(r['ppl'].values())):.2f}")


if __name__ == "__main__":
    main()
