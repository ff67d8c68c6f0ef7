"""Zero-shot accuracy beside perplexity: the papers' zero-shot tables on one grid.

Reproduces the shape of the Wanda paper's Table 2 (dense, magnitude, SparseGPT, Wanda at 50% unstructured, 7 lm-eval
tasks, LLaMA-7B..65B), STADE's zero-shot table (same tasks, STADE beside Wanda) and NeuroAL's zero-shot comparison
(uniform vs OWL vs NeuroAL at 70%), plus 2:4. Each row holds perplexity and the per-task accuracy (lm-eval `acc`,
the metric the papers report; `acc_norm` kept where a task has it).
  default scale: the offline suite (methods/tasks.py: stade_lastword, stade_nextsent), its first 50 items per task
                 (lm-eval --limit); 50% unstructured and Wanda at 2:4. Full scale: every item, every pattern and
                 the allocators at 70%.
  paper scale:   the seven tasks from lm-eval's registry (BoolQ, RTE, HellaSwag, WinoGrande, ARC-e/c, OBQA; Hub)
  scientific: method, pattern, allocator.   nuisance: calibration draw (seed 0).
  python experiments/zero_shot.py --scale default
"""
from __future__ import annotations

from common import allocator_args_for, base_config, models_for, parser, run_grid, with_method

NAME = "zero_shot"
TASKS = {"tiny": "offline", "default": "offline", "full": "offline", "paper": "paper"}
AT_50 = {"tiny": ["wanda"], "default": ["magnitude", "wanda", "sparsegpt", "stade"],
         "full": ["magnitude", "wanda", "sparsegpt", "stade", "stade_all"]}
AT_50["paper"] = AT_50["full"]
AT_2_4 = {"tiny": [], "default": ["wanda"], "full": ["wanda", "sparsegpt", "stade"]}
AT_2_4["paper"] = AT_2_4["full"]
ALLOCATED = {"tiny": [], "default": [], "full": ["uniform", "owl", "neuroal"]}  # Wanda at 70% (NeuroAL's table)
ALLOCATED["paper"] = ALLOCATED["full"]
PAPER_MODELS = ["huggyllama/llama-7b", "meta-llama/Llama-2-7b-hf"]


def grid(args):
    configs = []
    for model in models_for(args, PAPER_MODELS):
        base = base_config(args, model=model, zero_shot=args.zero_shot or TASKS[args.scale])
        configs.append(with_method(base, "dense"))
        configs += [with_method(base, m) for m in AT_50[args.scale]]
        configs += [with_method(base, "wanda", sparsity=0.7, allocator=a, allocator_args=allocator_args_for(a, args.scale))
                    for a in ALLOCATED[args.scale]]
        configs += [with_method(base, m, "2:4") for m in AT_2_4[args.scale]]
    return configs


def main(argv=None):
    args = parser(__doc__).parse_args(argv)
    rows = run_grid(NAME, args, grid(args))
    for r in rows:
        accs = " ".join(f"{t}={m['acc']:.3f}" for t, m in r["zero_shot"]["tasks"].items())
        print(f"{r['method']}+{r['allocator']} {r['pattern']} s={r['sparsity_target']}: {accs} "
              f"ppl={next(iter(r['ppl'].values())):.2f} ({r['zero_shot']['seconds']:.0f}s zero-shot)")


if __name__ == "__main__":
    main()
