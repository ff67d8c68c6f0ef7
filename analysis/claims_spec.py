"""Every checkable claim of the five papers, declared once: the paper's statement in our words, the cells it covers
(all of them), the statistic compared in each cell, and the criterion with where it comes from. analysis/claims.py
only evaluates this file. Criteria were written down before the rows they judge were computed; changing one later
is a commit that says why.

Statistics are differences of log-perplexity (log ppl_A - log ppl_B = log of the ratio; negative = A better) or of
zero-shot accuracy in points, each with a 95% bootstrap interval over evaluation windows/items and calibration seeds
(analysis/evidence.py). A cell's verdict:
  holds          the whole interval is on the claim's side of the threshold,
  does not hold  the whole interval is on the other side,
  inconclusive   the interval straddles the threshold.
A claim holds if every cell that ran holds, does not hold if some cell does not, and is inconclusive otherwise; the
table reports the counts, so no cell is hidden behind the verdict.

Thresholds from the papers (LLaMA-7B, WikiText-2, unless said):
  "A is far better than B":   at least half the paper's own effect, log(A/B) < 0.5 * log(paper A / paper B)
  "A is competitive with B":  A no worse than B by more than the paper's own gap, log(A/B) < log(paper A / paper B)
  a paper number we could not retrieve: the direction alone, with confidence (threshold 0)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

FAMILIES = ("embedded", "gemma3-270m", "qwen2.5-0.5b")


@dataclass(frozen=True)
class Sel:
    """The rows of one cell: every field that must match (None = any)."""

    method: str
    pattern: str = "unstructured"
    sparsity: Optional[float] = 0.5
    allocator: str = "uniform"
    model: str = "embedded"
    source: Optional[str] = None
    nsamples: Optional[int] = None
    layers: Optional[str] = None
    recipe: Optional[str] = None


@dataclass(frozen=True)
class Cell:
    label: str
    select: dict  # name -> Sel
    statistic: Callable[[dict], object]  # {name: values} -> values (numpy arrays, elementwise)
    threshold: float
    sense: str = "<"


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    statement: str
    experiment: str  # results file (analysis reads results/<experiment>.jsonl)
    script: str  # what produces it
    criterion: str  # the rule in words, and where its number comes from
    paper_value: str
    cells: tuple[Cell, ...] = ()
    kind: str = "ppl"  # ppl | zero_shot | measured
    measured: Optional[str] = None  # the rule for kind == "measured" (analysis/claims.py MEASURED)
    condition: Optional[str] = None  # a precondition a cell must meet to be judged (MEASURED conditions)
    extra: dict = field(default_factory=dict)


def half(a: float, b: float) -> float:
    return 0.5 * math.log(a / b)


def gap(a: float, b: float) -> float:
    return max(0.0, math.log(a / b))


def diff(v):
    return v["a"] - v["b"]


def did(v):
    return (v["a1"] - v["b1"]) - (v["a2"] - v["b2"])


def pair(a: Sel, b: Sel, threshold: float, label: str, sense: str = "<") -> Cell:
    return Cell(label, {"a": a, "b": b}, diff, threshold, sense)


def _families(make, patterns=("unstructured",), models=FAMILIES):
    return tuple(make(p, m) for m in models for p in patterns)


_P50, _P24, _P48 = "unstructured", "2:4", "4:8"
_WANDA_MAG = {_P50: half(7.26, 17.29), _P24: half(11.53, 42.13), _P48: half(8.57, 16.84)}  # Wanda Table 3
_WANDA_SGPT = {_P50: gap(7.26, 7.22), _P24: gap(11.53, 11.00), _P48: gap(8.57, 8.61)}  # Wanda Table 3


def _pl(pattern: str) -> str:
    return "50%" if pattern == _P50 else pattern


CLAIMS: tuple[Claim, ...] = (
    Claim("wanda-vs-magnitude", "Wanda", "magnitude pruning is far worse than Wanda", "main_perplexity",
          "experiments/main_perplexity.py",
          "log(ppl Wanda / ppl magnitude) below half the paper's: 50% -0.43, 2:4 -0.65, 4:8 -0.34 (Wanda Table 3)",
          "7.26 vs 17.29 (50%), 11.53 vs 42.13 (2:4), 8.57 vs 16.84 (4:8), LLaMA-7B",
          _families(lambda p, m: pair(Sel("wanda", p, model=m), Sel("magnitude", p, model=m), _WANDA_MAG[p],
                                      f"{m} {_pl(p)}"), (_P50, _P24, _P48))),
    Claim("wanda-competitive-sparsegpt", "Wanda", "Wanda is competitive with SparseGPT without any weight update",
          "main_perplexity", "experiments/main_perplexity.py",
          "log(ppl Wanda / ppl SparseGPT) below the paper's own gap: 50% +0.55%, 4:8 0 (Wanda better there), "
          "2:4 +4.7% (Wanda Table 3)", "7.26 vs 7.22 (50%), 8.57 vs 8.61 (4:8), 11.53 vs 11.00 (2:4), LLaMA-7B",
          _families(lambda p, m: pair(Sel("wanda", p, model=m), Sel("sparsegpt", p, model=m), _WANDA_SGPT[p],
                                      f"{m} {_pl(p)}"), (_P50, _P24, _P48))),
    Claim("group-wanda", "Wanda", "comparing Wanda's scores per output row beats comparing them per layer",
          "wanda_comparison_group", "experiments/wanda_comparison_group.py",
          "log(ppl per row / ppl per layer) < 0 (direction: the ablation table was not retrievable)",
          "not retrieved (Sec. 5 ablation)",
          (pair(Sel("wanda"), Sel("wanda_layer"), 0.0, "50%"),)),
    Claim("group-magnitude", "Wanda", "comparing magnitudes per output row beats comparing them per layer",
          "wanda_comparison_group", "experiments/wanda_comparison_group.py",
          "log(ppl per row / ppl per layer) < 0 (direction)", "not retrieved (Sec. 5 ablation)",
          (pair(Sel("magnitude"), Sel("magnitude_layer"), 0.0, "50%"),)),
    Claim("update-helps-magnitude-more", "Wanda",
          "a least-squares weight update helps magnitude's mask more than Wanda's", "wanda_weight_update",
          "experiments/wanda_weight_update.py",
          "[log(Wanda+LSQ / Wanda)] - [log(magnitude+LSQ / magnitude)] > 0 (direction)",
          "not retrieved (Sec. 5 ablation)",
          tuple(Cell(_pl(p), {"a1": Sel("wanda_lsq", p), "b1": Sel("wanda", p), "a2": Sel("magnitude_lsq", p),
                              "b2": Sel("magnitude", p)}, did, 0.0, ">") for p in (_P50, _P48, _P24))),
    Claim("few-samples", "Wanda", "Wanda stays good with very few calibration sequences, SparseGPT does not",
          "wanda_calibration_samples", "experiments/wanda_calibration_samples.py",
          "[log(Wanda 1 seq / Wanda many)] - [log(SparseGPT 1 seq / SparseGPT many)] < 0 (direction: a figure)",
          "not retrieved (Sec. 5 figure)",
          tuple(Cell(f"1 vs {n} sequences", {"a1": Sel("wanda", nsamples=1), "b1": Sel("wanda", nsamples=n),
                                             "a2": Sel("sparsegpt", nsamples=1), "b2": Sel("sparsegpt", nsamples=n)},
                     did, 0.0) for n in (16, 32))),
    Claim("pruning-speed", "Wanda", "Wanda's pruning (metric + mask) is orders of magnitude faster than SparseGPT's",
          "pruning_cost", "experiments/pruning_cost.py",
          "solve-time ratio SparseGPT / Wanda >= 100 (two orders; the paper: 376x)",
          "0.54 s vs 203.1 s (LLaMA-7B, A100; unverified)", kind="measured", measured="speed"),
    Claim("zero-shot-competitive", "Wanda", "zero-shot accuracy: Wanda is within reach of SparseGPT at 50%",
          "zero_shot", "experiments/zero_shot.py",
          "mean accuracy Wanda - SparseGPT above the paper's own gap, -0.73 points (Wanda Table 2)",
          "54.21 vs 54.94 (LLaMA-7B, mean of 7 tasks; unverified)",
          (pair(Sel("wanda"), Sel("sparsegpt"), -0.73, "50%", sense=">"),), kind="zero_shot"),
    Claim("theory", "STADE", "the theory's predictions (when Wanda / STADE is the optimal metric) hold on synthetic "
          "layers", "theory_optimality", "theory/check_optimality.py",
          "every falsifiable prediction of theory/ holds (each could fail: see the theory table)",
          "derivation (no number)", kind="measured", measured="theory"),
    Claim("compensation", "STADE", "bias compensation matters when STADE's metric is used on every layer",
          "main_perplexity", "experiments/main_perplexity.py",
          "log(ppl STADE / ppl STADE without compensation) < 0 (direction: Table 7 was not retrievable)",
          "not retrieved (Table 7)",
          _families(lambda p, m: pair(Sel("stade_all", p, model=m), Sel("stade_all_nocomp", p, model=m), 0.0,
                                      f"{m} {_pl(p)}"), (_P50, _P24))),
    Claim("stade-vs-wanda", "STADE", "STADE (the first release's split) improves on Wanda", "main_perplexity",
          "experiments/main_perplexity.py",
          "log(ppl STADE / ppl Wanda) < 0 (direction: the reviews quote gains of ~0.14 ppl on LLaMA-7B and losses at "
          "50% and 4:8; no table number was retrievable)", "~0.14 ppl on LLaMA-7B per a review; not retrieved",
          _families(lambda p, m: pair(Sel("stade", p, model=m), Sel("wanda", p, model=m), 0.0, f"{m} {_pl(p)}"),
                    (_P50, _P24))),
    Claim("training-conditions", "STADE", "Wanda's optimality depends on the training conditions: STADE gains more "
          "over Wanda where the output projections' inputs are uncentred (ReLU) than where they are centred (tanh)",
          "training_conditions", "experiments/training_conditions.py",
          "[log(STADE/Wanda) on opt_relu] - [log(STADE/Wanda) on opt_tanh] < 0, over training seeds; judged only "
          "if Wanda at 50% costs each model >= 10% perplexity (else the models did not learn enough for any metric "
          "to matter)", "stated in the abstract; no number",
          (Cell("opt_relu vs opt_tanh", {"a1": Sel("stade_all", model="*", recipe="opt_relu"),
                                         "b1": Sel("wanda", model="*", recipe="opt_relu"),
                                         "a2": Sel("stade_all", model="*", recipe="opt_tanh"),
                                         "b2": Sel("wanda", model="*", recipe="opt_tanh")}, did, 0.0),),
          condition="learned_enough"),
    Claim("single-sublayer", "STADE", "pruned alone, the layers whose inputs are not normalised (o_proj, down_proj) "
          "gain from STADE over Wanda", "stade_layer_study", "experiments/stade_layer_study.py",
          "log(ppl STADE / ppl Wanda) < 0 with only that layer pruned at 70% (direction: Fig. 1)",
          "OPT-125m fc2: STADE better (Fig. 1; no number)",
          tuple(pair(Sel("stade_all", sparsity=0.7, model=m, layers=layer), Sel("wanda", sparsity=0.7, model=m,
                                                                                layers=layer), 0.0, f"{m} {layer}")
                for m in FAMILIES for layer in ("self_attn.o_proj", "mlp.down_proj"))),
    Claim("input-centring", "STADE", "the inputs of the layers that do not read a norm output are less centred than "
          "those of norm-fed layers (the premise of STADE's layer split)", "theory_real_model",
          "theory/check_real_model.py", "median mu^2/Var of non-norm-fed inputs > of norm-fed inputs, per family",
          "stated (reviews: 'no empirical per-layer mean statistics')", kind="measured", measured="centring"),
    Claim("owl-wanda", "OWL", "non-uniform OWL sparsity beats uniform for Wanda at 70%", "owl_high_sparsity",
          "experiments/owl_high_sparsity.py",
          "log(ppl OWL / ppl uniform) below half the paper's, -0.62 (OWL README table)", "24.55 vs 85.77 (LLaMA-7B)",
          tuple(pair(Sel("wanda", sparsity=0.7, allocator="owl", model=m), Sel("wanda", sparsity=0.7, model=m),
                     half(24.55, 85.77), m) for m in FAMILIES)),
    Claim("owl-sparsegpt", "OWL", "non-uniform OWL sparsity beats uniform for SparseGPT at 70%", "owl_high_sparsity",
          "experiments/owl_high_sparsity.py",
          "log(ppl OWL / ppl uniform) below half the paper's, -0.15 (OWL README table)", "19.49 vs 26.30 (LLaMA-7B)",
          (pair(Sel("sparsegpt", sparsity=0.7, allocator="owl"), Sel("sparsegpt", sparsity=0.7), half(19.49, 26.30),
                "embedded"),)),
    Claim("neuroal-vs-owl", "NeuroAL", "the NeuroAL top-up beats OWL for Wanda at 70%", "neuroal_topup",
          "experiments/neuroal_topup.py", "log(ppl NeuroAL / ppl OWL) < 0 (direction)", "not retrieved",
          (pair(Sel("wanda", sparsity=0.7, allocator="neuroal"), Sel("wanda", sparsity=0.7, allocator="owl"), 0.0,
                "embedded"),)),
    Claim("alpha-vs-uniform", "AlphaPruning", "AlphaPruning's layer sparsities beat uniform for Wanda at 70%",
          "owl_high_sparsity", "experiments/owl_high_sparsity.py", "log(ppl AlphaPruning / ppl uniform) < 0 "
          "(direction)", "not retrieved (abstract: LLaMA-7B pruned to 80% with reasonable perplexity)",
          (pair(Sel("wanda", sparsity=0.7, allocator="alpha"), Sel("wanda", sparsity=0.7), 0.0, "embedded"),)),
    Claim("alpha-vs-owl", "AlphaPruning", "AlphaPruning beats OWL for Wanda at 70%", "owl_high_sparsity",
          "experiments/owl_high_sparsity.py", "log(ppl AlphaPruning / ppl OWL) < 0 (direction)", "not retrieved",
          (pair(Sel("wanda", sparsity=0.7, allocator="alpha"), Sel("wanda", sparsity=0.7, allocator="owl"), 0.0,
                "embedded"),)),
    Claim("bip-bound", "LLM-BIP", "BIP's score upper-bounds the block-output change of removing a unit", "bip_bound",
          "experiments/bip_bound.py", "the bound holds for every head group and every channel measured",
          "derivation (no number)", kind="measured", measured="bip_bound"),
    Claim("bip-beats-baselines", "LLM-BIP", "BIP beats Wanda-sp and FLAP without fine-tuning", "bip_structured",
          "experiments/bip_structured.py", "log(ppl BIP / ppl baseline) < 0 for each baseline (direction; the "
          "abstract's -14.09 ppl is an average over settings)", "-14.09 WikiText-2 ppl vs best baseline (abstract)",
          tuple(pair(Sel("bip", "structured", s), Sel(b, "structured", s), 0.0, f"vs {b} {s:.0%}")
                for s in (0.2, 0.5) for b in ("wanda_sp", "flap"))),
    Claim("bip-ablations", "LLM-BIP", "both of BIP's parts help: the propagation term and the global allocation",
          "bip_structured", "experiments/bip_structured.py", "log(ppl BIP / ppl ablation) < 0 for each ablation "
          "(direction, the rule of the claim above; the digest's key ablation is the propagation term)",
          "not retrieved (the paper's ablation tables could not be read offline)",
          tuple(pair(Sel("bip", "structured", s), Sel(b, "structured", s), 0.0, f"vs {b} {s:.0%}")
                for s in (0.2, 0.5) for b in ("bip_noprop", "bip_uniform"))),
    Claim("source-vs-method", "Calibration", "the calibration source matters more than an advanced pruning strategy "
          "at high sparsity", "calibration_source", "experiments/calibration_source.py",
          "at 70%: the larger |log ppl ratio| between the two real sources (for Wanda, for Wanda+OWL) minus the larger "
          "|log ppl ratio| of the refinement Wanda+OWL over Wanda (per source), > 0 (direction: the paper states it "
          "qualitatively, for refinements of one method such as OWL and DSnoT on Wanda)", "qualitative (abstract)",
          (Cell("70%", {f"{k}_{s}": Sel("wanda", sparsity=0.7, allocator=a, source=src)
                        for k, a in (("wanda", "uniform"), ("owl", "owl"))
                        for s, src in (("enwiki", "enwiki_excerpt"), ("vital", "wiki_vital"))},
                lambda v: np.maximum(abs(v["wanda_enwiki"] - v["wanda_vital"]), abs(v["owl_enwiki"] - v["owl_vital"]))
                - np.maximum(abs(v["owl_enwiki"] - v["wanda_enwiki"]), abs(v["owl_vital"] - v["wanda_vital"])),
                0.0, ">"),)),
    Claim("synthetic-calibration", "Calibration", "self-generated calibration data beats the usual corpora",
          "calibration_source", "experiments/calibration_source.py",
          "log(ppl synthetic / ppl best real corpus) < 0 in every method x sparsity cell (direction: the paper "
          "reports accuracy, up to +2.68 points)", "up to +2.68 accuracy points (abstract)",
          tuple(Cell(f"{m}{'+' + a if a != 'uniform' else ''} {s:.0%}",
                     {"syn": Sel(m, sparsity=s, allocator=a, source="synthetic"),
                      "enwiki": Sel(m, sparsity=s, allocator=a, source="enwiki_excerpt"),
                      "vital": Sel(m, sparsity=s, allocator=a, source="wiki_vital")},
                     lambda v: v["syn"] - np.minimum(v["enwiki"], v["vital"]), 0.0)
                for m, a in (("wanda", "uniform"), ("sparsegpt", "uniform"), ("wanda", "owl")) for s in (0.5, 0.7))),
    Claim("ria-vs-wanda", "RIA", "RIA improves on Wanda", "main_perplexity", "experiments/main_perplexity.py",
          "log(ppl RIA / ppl Wanda) below half the README's LLaMA-3-8B gains: 50% -0.074, 2:4 -0.023",
          "9.34 vs 10.82 (50%), 23.08 vs 24.18 (2:4), LLaMA-3-8B (RIA README)",
          (pair(Sel("ria"), Sel("wanda"), half(9.34, 10.82), "50%"),
           pair(Sel("ria", _P24), Sel("wanda", _P24), half(23.08, 24.18), "2:4"))),
    Claim("dsnot-vs-wanda", "DSnoT", "DSnoT's training-free swaps improve on Wanda's mask", "main_perplexity",
          "experiments/main_perplexity.py",
          "log(ppl DSnoT / ppl Wanda) below half the README's LLaMA-7B gain at 60%, -0.022",
          "10.22 vs 10.69 (60%, LLaMA-7B; DSnoT README)",
          tuple(pair(Sel("dsnot", sparsity=s), Sel("wanda", sparsity=s), half(10.22, 10.69), f"{s:.0%}")
                for s in (0.5, 0.6))),
    Claim("admm-vs-sparsegpt", "ADMM", "the ADMM pruner (gradual mask + ADMM update) beats SparseGPT",
          "wanda_weight_update", "experiments/wanda_weight_update.py", "log(ppl ADMM / ppl SparseGPT) < 0 "
          "(direction: the paper's tables were not retrievable)", "not retrieved (abstract: state of the art)",
          tuple(pair(Sel("admm", p), Sel("sparsegpt", p), 0.0, _pl(p)) for p in (_P50, _P24))),
    Claim("pruner-zero-vs-wanda", "Pruner-Zero", "Pruner-Zero's searched metric improves on Wanda",
          "main_perplexity", "experiments/main_perplexity.py",
          "log(ppl Pruner-Zero / ppl Wanda) < 0 (direction: the paper's tables were not retrievable)",
          "not retrieved", (pair(Sel("pruner_zero"), Sel("wanda"), 0.0, "50%"),)),
)

BY_ID = {c.id: c for c in CLAIMS}
