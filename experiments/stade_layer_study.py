"""Which layers gain from STADE? Prune one linear of every block at a time (the STADE paper's Fig. 1 study:
OPT-125m with only the first or only the second MLP layer pruned, Wanda vs STADE).

For every linear of the block (q/k/v/o, gate/up/down; OPT: q/k/v/out, fc1/fc2) only that layer is pruned, with
Wanda, STADE (W^2 Var + bias compensation) and STADE without compensation, at the scale's sparsities. The theory
predicts STADE's gain where the layer's inputs are far from centred (o_proj / down_proj / fc2: attention and
activation outputs) and none where they are centred; input centring per layer: theory/check_real_model.py.
  scientific: layer, method, sparsity.   fixed: calibration set (seed 0), evaluation windows.
  default scale: SmolLM2's 7 linears x Wanda and STADE at 70%, the scale's 16 evaluation windows
  full scale:    the 7 linears x 3 methods (+ STADE without compensation), 40 evaluation windows of 512 tokens
  paper scale:   OPT-125m, fc1 and fc2 (and the rest), 10% ... 90%
  python experiments/stade_layer_study.py --scale default
"""
from __future__ import annotations

from dataclasses import replace

import torch

from common import model_bases, parser, run_grid, with_method

NAME = "stade_layer_study"
METHODS = {"tiny": ["wanda", "stade_all", "stade_all_nocomp"], "default": ["wanda", "stade_all"],
           "full": ["wanda", "stade_all", "stade_all_nocomp"]}
METHODS["paper"] = METHODS["full"]
SPARSITIES = {"tiny": [0.7], "default": [0.7], "full": [0.7], "paper": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]}
EVAL_WINDOWS = {"full": 40}
PAPER_MODELS = ["facebook/opt-125m"]


def block_linears(model_spec: str) -> list[str]:
    """The linears of one block of the model, in module order (loads the config and builds it on the meta device)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from methods.models import find_blocks, find_linears, is_local_spec
    if is_local_spec(model_spec):
        from methods.models import load_model
        return list(find_linears(find_blocks(load_model(model_spec, device="cpu").model)[1][0]))
    with torch.device("meta"):  # the Hub model's structure without its weights
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_spec))
    return list(find_linears(find_blocks(model)[1][0]))


def grid(args):
    configs = []
    for base in model_bases(args, PAPER_MODELS, eval_windows=EVAL_WINDOWS.get(args.scale)):
        configs.append(with_method(base, "dense"))
        for sparsity in SPARSITIES[args.scale]:
            for layer in block_linears(base.model):
                configs += [replace(with_method(base, m, sparsity=sparsity), layers=layer)
                            for m in METHODS[args.scale]]
    return configs


def main(argv=None):
    args = parser(__doc__).parse_args(argv)
    rows = run_grid(NAME, args, grid(args))
    for r in rows:
        if r["method"] != "dense":
            print(f"{r['config']['layers']:20s} {r['method']:18s} s={r['sparsity_target']}: "
                  f"{next(iter(r['ppl'].values())):.2f}")


if __name__ == "__main__":
    main()
