"""One declarative record per experiment: its grid per scale, its tables and figures, the rows it reuses. run_all.sh
(stages, models to set up), analysis/ (which tables and figures each results file feeds) and the tests all iterate
this list. Pure Python: importing it loads neither torch nor the package.

A grid is a list of Blocks; each block is the product of its axes (methods x patterns x sparsities x allocators x
seeds x calibration sources x sample counts x layers x models), on top of the scale's preset. Seeds change the
calibration draw: claims whose gap is small get several (3 at the default scale, 5 at the full scale).

  python experiments/specs.py stages --scale default     # the stage names, in run order
  python experiments/specs.py models --scale default     # the embedded models the scale needs
  python experiments/specs.py show main_perplexity       # an experiment's record
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Optional

SCALES = ("tiny", "default", "full", "paper")
FAMILIES = ("gemma3-270m", "qwen2.5-0.5b")  # the other two real families, beside the default SmolLM2 ("embedded")
DEFAULT_SEEDS, FULL_SEEDS = (0, 1, 2), (0, 1, 2, 3, 4)
# the larger families are evaluated on 40 windows at the full scale; every row a claim pairs must use the same ones
FAMILY_EVAL = (("eval_windows", 40),)


@dataclass(frozen=True)
class Block:
    """The product of these axes; None = the scale preset's value."""

    methods: tuple[str, ...]
    patterns: tuple[str, ...] = ("unstructured",)
    sparsities: tuple[float, ...] = (0.5,)
    allocators: tuple[str, ...] = ("uniform",)
    seeds: tuple[int, ...] = (0,)
    sources: Optional[tuple[str, ...]] = None
    nsamples: Optional[tuple[int, ...]] = None
    layers: Optional[tuple[str, ...]] = None  # ("each",) = every linear of the block, one at a time
    models: Optional[tuple[str, ...]] = None
    overrides: tuple[tuple[str, object], ...] = ()  # PruneConfig fields, e.g. (("eval_windows", 40),)


@dataclass(frozen=True)
class Experiment:
    name: str  # the script experiments/<name>.py, the results file, the run_all stage
    paper: str  # what it reproduces
    grids: dict = field(default_factory=dict)  # scale -> tuple of Blocks (PruneConfig grids)
    tables: tuple[str, ...] = ()  # analysis/tables.py builders fed by results/<name>.jsonl
    figures: tuple[str, ...] = ()  # figures drawn from it (analysis figure scripts' INPUTS)
    reuse_from: tuple[str, ...] = ()  # experiments whose rows with the same run key are copied, not rerun
    method_axis: str = "wanda"  # where --add-method places a new method: beside "wanda" / "wanda_sp" rows, or ""
    scales: tuple[str, ...] = SCALES
    optional: bool = False  # run only when asked for (run_all.sh --only NAME)
    base: dict = field(default_factory=dict)  # scale -> PruneConfig fields every row of this experiment sets
    paper_models: tuple[str, ...] = ("huggyllama/llama-7b",)

    def blocks(self, scale: str) -> tuple[Block, ...]:
        return tuple(self.grids.get(scale, ()))


def _b(*methods, **axes) -> Block:
    return Block(tuple(methods), **{k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in axes.items()})


# ---------------------------------------------------------------------------------------------- main perplexity
_CLOSE_50 = ("wanda", "sparsegpt", "stade", "stade_all", "stade_all_nocomp", "ria", "dsnot")  # small gaps: seeds
_MAIN_50_FULL = _CLOSE_50 + ("stade_nocomp", "stade_star", "dsnot_stade", "pruner_zero", "ria_row")
MAIN = Experiment(
    "main_perplexity", "Wanda Table 3 / STADE Table 2: every method at 50%, 2:4 and 4:8; new baselines beside them",
    grids={
        "tiny": (_b("dense"), _b("magnitude", "wanda", "stade", "sparsegpt")),
        "default": (_b("dense"), _b("magnitude", "stade_nocomp", "stade_star", "pruner_zero"),
                    _b(*_CLOSE_50, seeds=DEFAULT_SEEDS), _b("wanda", "dsnot", sparsities=[0.6], seeds=DEFAULT_SEEDS),
                    _b("magnitude", patterns=["2:4"]),
                    _b("wanda", "sparsegpt", "stade_all", "stade_all_nocomp", patterns=["2:4"], seeds=DEFAULT_SEEDS),
                    _b("dense", "magnitude", models=FAMILIES),  # the other families: the two claims that fit the
                    _b("wanda", "stade", models=FAMILIES, seeds=DEFAULT_SEEDS)),  # budget (magnitude, STADE vs Wanda)
        "full": (_b("dense"), _b("magnitude", patterns=["unstructured", "2:4", "4:8"]),
                 _b(*_MAIN_50_FULL, seeds=FULL_SEEDS), _b("wanda", "dsnot", sparsities=[0.6], seeds=FULL_SEEDS),
                 _b("wanda", "sparsegpt", "stade", "stade_all", "stade_all_nocomp", "ria", patterns=["2:4", "4:8"],
                    seeds=FULL_SEEDS),
                 _b("dense", models=FAMILIES, overrides=FAMILY_EVAL),
                 _b("magnitude", models=FAMILIES, patterns=["unstructured", "2:4", "4:8"], overrides=FAMILY_EVAL),
                 _b("wanda", "sparsegpt", "stade", "stade_all", "stade_all_nocomp", models=FAMILIES,
                    patterns=["unstructured", "2:4"], seeds=(0, 1, 2), overrides=FAMILY_EVAL),
                 # the 4:8 cells of the two Wanda claims on the other families
                 _b("wanda", "sparsegpt", models=FAMILIES, patterns=["4:8"], seeds=(0, 1, 2),
                    overrides=FAMILY_EVAL),
                 # seeds 3-4 of the 50% cells whose gaps came out under 10% (issue 21: 5 seeds at full scale)
                 _b("wanda", "sparsegpt", "stade", models=FAMILIES, seeds=(3, 4), overrides=FAMILY_EVAL),
                 _b("wanda", "stade", models=["qwen2.5-0.5b"], patterns=["2:4"], seeds=(3, 4), overrides=FAMILY_EVAL)),
        "paper": (_b("dense"), _b("magnitude", "wanda", "sparsegpt", "stade", "stade_nocomp", "stade_all",
                                  "stade_all_nocomp", "stade_star", "ria", "dsnot", "pruner_zero",
                                  patterns=["unstructured", "2:4", "4:8"])),
    },
    tables=("main_perplexity", "new_baselines", "embedded_models", "noise"), figures=(),
    paper_models=("huggyllama/llama-7b", "meta-llama/Llama-2-7b-hf", "facebook/opt-125m", "Qwen/Qwen3-1.7B"))

# -------------------------------------------------------------------------------------------------- allocators
OWL = Experiment(
    "owl_high_sparsity", "OWL Table 3 (70% and 60/80%), uniform vs OWL vs AlphaPruning per scorer",
    grids={
        "tiny": (_b("dense"), _b("wanda", "stade", sparsities=[0.7], allocators=["uniform", "owl", "alpha"])),
        "default": (_b("dense"), _b("wanda", sparsities=[0.7], allocators=["uniform", "owl", "alpha"], seeds=DEFAULT_SEEDS),
                    _b("sparsegpt", sparsities=[0.7], allocators=["uniform", "owl"], seeds=DEFAULT_SEEDS)),
        "full": (_b("dense"), _b("wanda", "sparsegpt", sparsities=[0.7], allocators=["uniform", "owl", "alpha"],
                                 seeds=FULL_SEEDS),
                 _b("stade", "magnitude", sparsities=[0.7], allocators=["uniform", "owl", "alpha"]),
                 _b("wanda", "sparsegpt", "stade", "magnitude", sparsities=[0.6, 0.8], allocators=["uniform", "owl"]),
                 # 5 seeds: issue 21's rule for a claim cell whose gap is under 10% (Qwen2.5's is)
                 _b("wanda", models=FAMILIES, sparsities=[0.7], allocators=["uniform", "owl"], seeds=FULL_SEEDS,
                    overrides=FAMILY_EVAL)),
        "paper": (_b("dense"), _b("magnitude", "wanda", "sparsegpt", "stade", sparsities=[0.6, 0.7, 0.8],
                                  allocators=["uniform", "owl", "alpha"])),
    },
    tables=("owl_high_sparsity",), figures=("allocation_ppl", "allocation_profile"),
    reuse_from=("main_perplexity", "neuroal_topup"),
    paper_models=("huggyllama/llama-7b", "huggyllama/llama-13b", "facebook/opt-6.7b"))

NEUROAL = Experiment(
    "neuroal_topup", "NeuroAL Tables 1-3: uniform vs OWL vs NeuroAL on each scorer at 70%",
    grids={
        "tiny": (_b("dense"), _b("wanda", "sparsegpt", sparsities=[0.7], allocators=["uniform", "owl", "neuroal"])),
        "default": (_b("dense"), _b("wanda", sparsities=[0.7], allocators=["uniform", "owl", "neuroal"])),
        "full": (_b("dense"), _b("wanda", sparsities=[0.7], allocators=["uniform", "owl", "neuroal"], seeds=(0, 1, 2)),
                 _b("stade", "sparsegpt", "magnitude", sparsities=[0.7], allocators=["uniform", "owl", "neuroal"]),
                 _b("wanda", "stade", sparsities=[0.6, 0.8], allocators=["uniform", "owl", "neuroal"])),
        "paper": (_b("dense"), _b("magnitude", "wanda", "sparsegpt", "stade", sparsities=[0.6, 0.7, 0.8],
                                  allocators=["uniform", "owl", "neuroal"])),
    },
    tables=("neuroal_topup",), figures=("allocation_ppl", "allocation_profile"),
    reuse_from=("owl_high_sparsity", "main_perplexity"),
    base={"paper": {"eval": ("wikitext2", "c4", "ptb")}},
    paper_models=("huggyllama/llama-7b", "meta-llama/Llama-2-7b-hf", "mistralai/Mistral-7B-v0.1", "microsoft/phi-2"))

# ------------------------------------------------------------------------------------------------- zero-shot
ZERO_SHOT = Experiment(
    "zero_shot", "Wanda Table 2 / STADE / NeuroAL zero-shot: accuracy beside perplexity (per-item results kept)",
    grids={
        "tiny": (_b("dense"), _b("wanda")),
        # Wanda vs SparseGPT (a claim's cell, gap of a few points): issue 21's 3 seeds at default, 5 at full
        "default": (_b("dense"), _b("magnitude"), _b("wanda", "sparsegpt", seeds=DEFAULT_SEEDS)),
        "full": (_b("dense"), _b("magnitude", "wanda", "sparsegpt", "stade", "stade_all", "ria"),
                 _b("wanda", "sparsegpt", seeds=FULL_SEEDS),
                 _b("wanda", "sparsegpt", "stade", patterns=["2:4"]),
                 _b("wanda", sparsities=[0.7], allocators=["uniform", "owl", "neuroal"])),
        "paper": (_b("dense"), _b("magnitude", "wanda", "sparsegpt", "stade", "stade_all", "ria"),
                  _b("wanda", "sparsegpt", patterns=["2:4"])),
    },
    tables=("zero_shot",),
    base={"tiny": {"zero_shot": "offline"}, "default": {"zero_shot": "offline", "zero_shot_limit": 100},
          "full": {"zero_shot": "offline", "zero_shot_limit": None}, "paper": {"zero_shot": "paper"}},
    paper_models=("huggyllama/llama-7b", "meta-llama/Llama-2-7b-hf"))

# --------------------------------------------------------------------------------------------- the Wanda paper
GROUP = Experiment(
    "wanda_comparison_group", "Wanda Sec. 5: comparison group (per output row / input column / layer)",
    grids={s: (_b("dense"), _b("magnitude", "magnitude_column", "magnitude_layer", "wanda", "wanda_column",
                               "wanda_layer", "ria", "ria_row"))
           for s in ("tiny", "default", "full", "paper")},
    tables=("wanda_comparison_group",), reuse_from=("main_perplexity",))

UPDATE = Experiment(
    "wanda_weight_update", "Wanda Sec. 5: a weight update on top of the mask (least squares, ADMM) vs SparseGPT",
    grids={
        "tiny": (_b("dense"), _b("wanda", "wanda_lsq", "wanda_admm", "sparsegpt")),
        "default": (_b("dense"), _b("magnitude", "magnitude_lsq", "wanda", "wanda_lsq", "wanda_admm", "sparsegpt")),
        "full": (_b("dense"), _b("magnitude", "magnitude_lsq", "magnitude_admm", "wanda", "wanda_lsq", "wanda_admm",
                                 "admm", "sparsegpt", patterns=["unstructured", "4:8", "2:4"])),
        "paper": (_b("dense"), _b("magnitude", "magnitude_lsq", "wanda", "wanda_lsq", "wanda_admm", "admm",
                                  "sparsegpt", patterns=["unstructured", "4:8", "2:4"])),
    },
    tables=("wanda_weight_update",), reuse_from=("main_perplexity",))

SAMPLES = Experiment(
    "wanda_calibration_samples", "Wanda Sec. 5: robustness to the number of calibration sequences",
    grids={
        "tiny": (_b("dense"), _b("wanda", "sparsegpt", nsamples=[1, 8]), _b("wanda", "sparsegpt", nsamples=[1],
                                                                            seeds=[1, 2])),
        "default": (_b("dense"), _b("wanda", "sparsegpt", nsamples=[1, 16], seeds=DEFAULT_SEEDS),
                    _b("wanda", "sparsegpt", nsamples=[4])),
        "full": (_b("dense"), _b("wanda", "sparsegpt", "stade", nsamples=[1, 2, 4, 8, 32], seeds=FULL_SEEDS),
                 _b("wanda", "sparsegpt", "stade", nsamples=[16, 64])),
        "paper": (_b("dense"), _b("wanda", "sparsegpt", "stade", nsamples=[1, 2, 4, 8, 16, 32, 64, 128])),
    },
    tables=("wanda_calibration_samples",), figures=("calibration_samples",),
    base={"full": {"eval_windows": 40}})

# ------------------------------------------------------------------------------------------------ calibration
_SOURCES = ("enwiki_excerpt", "wiki_vital", "synthetic", "random")
SOURCE = Experiment(
    "calibration_source", "Ji et al. 2024, main table: calibration source vs pruning method",
    grids={
        "tiny": (_b("dense"), _b("wanda", sources=["synthetic", "random"])),
        "default": (_b("dense"), _b("wanda", "sparsegpt", sparsities=[0.7], sources=_SOURCES),
                    _b("wanda", sparsities=[0.7], allocators=["owl"], sources=_SOURCES[:2]),
                    # the calibration claims' Wanda cells have gaps < 10%: 3 calibration draws each
                    _b("wanda", sparsities=[0.7], sources=_SOURCES[:3], seeds=DEFAULT_SEEDS),
                    _b("wanda", sparsities=[0.7], allocators=["owl"], sources=_SOURCES[:2], seeds=DEFAULT_SEEDS)),
        "full": (_b("dense"), _b("wanda", "sparsegpt", sparsities=[0.5, 0.7], sources=_SOURCES[:3], seeds=FULL_SEEDS),
                 _b("wanda", "sparsegpt", sparsities=[0.5, 0.7], sources=["random"]),
                 _b("wanda", sparsities=[0.5, 0.7], allocators=["owl"], sources=_SOURCES[:3], seeds=FULL_SEEDS),
                 _b("stade", sparsities=[0.5, 0.7], sources=_SOURCES)),
        "paper": (_b("dense"), _b("wanda", "sparsegpt", "stade", sparsities=[0.5, 0.6, 0.7],
                                  sources=["c4", "wikitext2", "synthetic", "random"], seeds=[0, 5, 10, 15, 20])),
    },
    tables=("calibration_source",), reuse_from=("wanda_calibration_samples",),
    base={"full": {"eval_windows": 40}}, paper_models=("meta-llama/Llama-2-7b-hf",))

# ------------------------------------------------------------------------------------------------ STADE studies
_CLAIM_LAYERS = ["self_attn.o_proj", "mlp.down_proj"]  # the single-sublayer claim's cells: gaps < 10%, so seeds
LAYERS = Experiment(
    "stade_layer_study", "STADE Fig. 1: one linear of every block pruned at a time, Wanda vs STADE",
    grids={
        "tiny": (_b("dense"), _b("wanda", "stade_all", "stade_all_nocomp", sparsities=[0.7], layers=["each"])),
        "default": (_b("dense"), _b("wanda", "stade_all", sparsities=[0.7],
                                    layers=["self_attn.v_proj", "self_attn.o_proj", "mlp.up_proj", "mlp.down_proj"]),
                    _b("wanda", "stade_all", sparsities=[0.7], layers=_CLAIM_LAYERS, seeds=DEFAULT_SEEDS)),
        "full": (_b("dense"), _b("wanda", "stade_all", sparsities=[0.7], layers=["each"], seeds=(0, 1, 2)),
                 _b("wanda", "stade_all", sparsities=[0.7], layers=_CLAIM_LAYERS, seeds=FULL_SEEDS),
                 _b("stade_all_nocomp", sparsities=[0.7], layers=["each"]),
                 _b("dense", models=FAMILIES),
                 _b("wanda", "stade_all", models=FAMILIES, sparsities=[0.7], layers=["each"],
                    overrides=FAMILY_EVAL),
                 # the claim's family cells get the embedded cells' 5 seeds (gaps of a few %, as on SmolLM2)
                 _b("wanda", "stade_all", models=FAMILIES, sparsities=[0.7], layers=_CLAIM_LAYERS,
                    seeds=FULL_SEEDS[1:], overrides=FAMILY_EVAL)),
        "paper": (_b("dense"), _b("wanda", "stade_all", "stade_all_nocomp",
                                  sparsities=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], layers=["each"])),
    },
    tables=("stade_layer_study",), figures=("stade_layer_study",),
    base={"full": {"eval_windows": 40}}, paper_models=("facebook/opt-125m",))

TRAINING = Experiment(
    "training_conditions", "STADE's training-conditions claim: small decoders trained under one changed condition",
    tables=("training_conditions",), figures=("training_conditions",), method_axis="wanda",
    scales=("tiny", "default", "full"))

# ------------------------------------------------------------------------------------------------- structured
_STRUCTURED = ("magnitude_sp", "wanda_sp", "flap", "bip", "bip_uniform", "bip_noprop")
BIP = Experiment(
    "bip_structured", "LLM-BIP: structured pruning vs Wanda-sp, FLAP, magnitude-sp (no fine-tuning)",
    grids={
        "tiny": (_b("dense"), _b("wanda_sp", "bip", sparsities=[0.2])),
        "default": (_b("dense"), _b(*_STRUCTURED, sparsities=[0.2, 0.5])),  # both of the claim's ratios
        # zero-shot (about 12 min a row) on the first calibration draw; the other draws give the perplexity claim
        # its seed spread (not magnitude-sp: it reads no calibration data)
        "full": (_b("dense"), _b(*_STRUCTURED, sparsities=[0.2, 0.5]),
                 _b(*_STRUCTURED[1:], sparsities=[0.2, 0.5], seeds=(1, 2), overrides=(("zero_shot", None),))),
        "paper": (_b("dense"), _b(*_STRUCTURED, sparsities=[0.2, 0.5])),
    },
    tables=("bip_structured",), method_axis="wanda_sp",
    base={"tiny": {"eval_seqlen": 128, "eval_windows": 8}, "full": {"eval_seqlen": 128, "eval_windows": 320,
                                                                   "zero_shot": "offline"},
          "paper": {"eval": ("wikitext2", "ptb"), "eval_seqlen": 128, "eval_windows": None, "calib": "wikitext2",
                    "nsamples": 1024, "seqlen": 128, "zero_shot": "paper"}},
    paper_models=("huggyllama/llama-7b", "lmsys/vicuna-7b-v1.3", "huggyllama/llama-13b"))

# ------------------------------------------------------------------------ measurements (not PruneConfig grids)
CORPORA = Experiment("corpora_stats", "the embedded corpora, measured", tables=("corpora_stats",), method_axis="",
                     scales=("tiny", "default", "full"))
OUTLIERS = Experiment("wanda_outlier_features", "Wanda Sec. 2-3: emergent large-magnitude input features",
                      figures=("outlier_features",), method_axis="wanda")
COST = Experiment("pruning_cost", "Wanda's pruning-time table: time and memory per method over a dense forward",
                  tables=("pruning_cost",), method_axis="wanda")
BOUND = Experiment("bip_bound", "LLM-BIP's bound against the measured block-output change", method_axis="wanda_sp")
SPEEDUP = Experiment("structured_speedup", "tokens/s of structurally pruned models", tables=("structured_speedup",),
                     method_axis="wanda_sp")
PEER = Experiment("peer_benchmark", "ours vs llm-compressor 0.14: time, memory, perplexity (benchmark)",
                  tables=("peer_benchmark",), method_axis="", scales=("default",), optional=True)
REPRO = Experiment("reproducibility", "significant digits a rerun reproduces of the committed rows, at 1 and 2 threads",
                   tables=("reproducibility",), method_axis="", scales=("default",), optional=True)
CLONE = Experiment("fresh_clone", "one run_all.sh from a fresh clone: its wall time and the digits it reproduces of "
                   "every committed default row", tables=("fresh_clone",), method_axis="", scales=("default",),
                   optional=True)

EXPERIMENTS: tuple[Experiment, ...] = (CORPORA, MAIN, OWL, NEUROAL, ZERO_SHOT, COST, OUTLIERS, GROUP, UPDATE, SAMPLES,
                                       SOURCE, BOUND, BIP, SPEEDUP, TRAINING, LAYERS, PEER, REPRO,
                                       CLONE)
BY_NAME = {e.name: e for e in EXPERIMENTS}


def stages(scale: str, include_optional: bool = False) -> list[str]:
    return [e.name for e in EXPERIMENTS if scale in e.scales and (include_optional or not e.optional)]


def models_needed(scale: str) -> list[str]:
    """The embedded models a scale's grids use (run_all.sh builds them at set-up)."""
    if scale in ("tiny", "paper"):
        return ["smollm2-135m"] if scale == "tiny" else []
    extra = {m for e in EXPERIMENTS for b in e.blocks(scale) for m in (b.models or ())}
    return ["smollm2-135m", *sorted(extra)]


def main(argv: Optional[list[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["stages", "optional", "models", "show"])
    p.add_argument("name", nargs="?")
    p.add_argument("--scale", default="default", choices=SCALES)
    args = p.parse_args(argv)
    if args.what == "stages":
        print(" ".join(stages(args.scale)))
    elif args.what == "optional":  # run only when named with run_all.sh --only
        print(" ".join(sorted(set(stages(args.scale, include_optional=True)) - set(stages(args.scale)))))
    elif args.what == "models":
        print(",".join(models_needed(args.scale)))
    else:
        if args.name not in BY_NAME:
            sys.exit(f"error: no experiment named {args.name!r}; known: {', '.join(BY_NAME)}")
        print(json.dumps(asdict(BY_NAME[args.name]), indent=2, default=str))


if __name__ == "__main__":
    main()
