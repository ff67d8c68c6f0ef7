"""Perplexity tables: methods x patterns (per family), the new baselines beside Wanda and STADE, the Wanda paper's
ablations, the calibration studies and the allocators. A cell with several calibration seeds shows the geometric
mean over seeds and (n); comparisons with intervals are the claims table's job (analysis/claims.py)."""
from __future__ import annotations

import math
from collections import defaultdict

from evidence import seed_of
from tables_common import _emit, _finish, _header, ordered_methods, paper_numbers

PATTERN_COLUMNS = ["dense", "50%", "60%", "4:8", "2:4"]


def _column(method: str, pattern: str, sparsity) -> str:
    if method == "dense":
        return "dense"
    return pattern if pattern not in ("unstructured", "structured") else f"{float(sparsity):.0%}"


def _ppl(row: dict) -> float:
    return next(iter(row["ppl"].values()))


def seed_means(rows: list[dict], key) -> dict:
    """key(row) -> (geometric mean perplexity over the calibration seeds sharing the key, how many seeds).

    One row per seed, the claims' pick (evidence.make_cell): a re-run with per-window records supersedes an older
    row of the same seed without them, so a re-run seed is not counted twice."""
    per_seed: dict = {}
    for r in rows:
        slot = (key(r), seed_of(r))
        if slot not in per_seed or ("ppl_windows" in r and "ppl_windows" not in per_seed[slot]):
            per_seed[slot] = r
    groups: dict = defaultdict(list)
    for (k, _), r in per_seed.items():
        groups[k].append(math.log(_ppl(r)))
    return {k: (math.exp(sum(v) / len(v)), len(v)) for k, v in groups.items()}


def _fmt(cell) -> str:
    if cell is None:
        return ""
    value, n = cell
    return f"{value:.2f}" + (f" ({n})" if n > 1 else "")


def _model(row: dict) -> str:
    return row["model"]["model"]


def _eval_text(r0: dict) -> str:
    corpus = next(iter(r0["ppl"]))
    size = r0["eval_sizes"][corpus]
    calib = r0["config"]
    return (f"Perplexity on `{corpus}` ({size['tokens']} tokens, windows of {size['seqlen']}), calibration "
            f"{calib['nsamples']} x {calib['seqlen']} tokens of `{calib['calib']}` ({r0.get('scale', '?')} scale)")


def main_perplexity_table(rows: list[dict], note: str = "") -> tuple[str, str]:
    """Family x method x pattern; ours beside Wanda Table 3's LLaMA-7B."""
    if not rows:
        return "", ""
    means = seed_means(rows, lambda r: (_model(r), r["method"], _column(r["method"], r["pattern"], r["sparsity_target"])))
    paper = {(p["method"], _column(p["method"], p["pattern"], p["sparsity"])): p["value"]
             for p in paper_numbers() if p["paper"] == "wanda" and p["model"] == "LLaMA-7B" and p["metric"] == "ppl"}
    cols = [c for c in PATTERN_COLUMNS if any(k[2] == c for k in means)]
    lines, tex = _header(["model", "method"] + [f"ours {c}" for c in cols] + [f"paper {c}" for c in cols if c != "60%"])
    models = list(dict.fromkeys(k[0] for k in means))
    for model in models:
        for m in ordered_methods(k[1] for k in means if k[0] == model):
            cells = [_fmt(means.get((model, m, c))) for c in cols]
            _emit(lines, tex, model, [m] + cells + [paper.get((m, c), "") for c in cols if c != "60%"])
    caption = (_eval_text(rows[0]) + "; (n) = geometric mean over n calibration seeds. Paper columns: Wanda paper "
               "Table 3, LLaMA-7B on WikiText-2 (a different model and corpus: compare orderings, not values)." + note)
    return _finish(lines, tex, caption)


NEW_BASELINES = ("ria", "ria_row", "dsnot", "dsnot_stade", "pruner_zero", "wanda_admm", "admm")


def new_baselines_table(rows: list[dict]) -> tuple[str, str]:
    """The newer baselines beside Wanda and STADE at each pattern, with what their papers publish."""
    keep = ("dense", "wanda", "stade", "stade_all", "sparsegpt") + NEW_BASELINES
    rows = [r for r in rows if r["method"] in keep and _model(r) == "embedded"]
    if not any(r["method"] in NEW_BASELINES for r in rows):
        return "", ""
    means = seed_means(rows, lambda r: (r["method"], _column(r["method"], r["pattern"], r["sparsity_target"])))
    cols = [c for c in PATTERN_COLUMNS if c != "dense" and any(k[1] == c for k in means)]
    published = {}
    for p in paper_numbers():
        if p["method"] in NEW_BASELINES + ("wanda", "sparsegpt") and p["paper"] in ("ria", "dsnot"):
            published.setdefault(p["method"], []).append(f"{p['value']} ({p['model']}, {p['pattern'] if p['pattern'] != 'unstructured' else format(float(p['sparsity']), '.0%')}, {p['paper']})")
    lines, tex = _header(["method"] + [f"ours {c}" for c in cols] + ["published (model, setting, source)"])
    for m in ordered_methods(k[0] for k in means if k[0] != "dense"):
        _emit(lines, tex, m, [_fmt(means.get((m, c))) for c in cols] + ["; ".join(published.get(m, []))])
    caption = (_eval_text(rows[0]) + ", model `embedded`; (n) = geometric mean over n calibration seeds. The "
               "published numbers are other models (analysis/paper_numbers.csv); Pruner-Zero's, ADMM's and AlphaPruning's tables could not be "
               "read offline. Comparisons with intervals: the claims table.")
    return _finish(lines, tex, caption)


def _allocator_args(rows: list[dict]) -> str:
    """The allocators' arguments as the rows record them (never typed here): 'owl M=5.0, lambda=0.08; ...'."""
    seen: dict[str, str] = {}
    for r in rows:
        args = (r.get("config") or {}).get("allocator_args") or {}
        if r["allocator"] != "uniform" and args:
            seen.setdefault(r["allocator"], ", ".join(f"{k}={v}" for k, v in sorted(args.items())))
    return "; ".join(f"{a} {v}" for a, v in seen.items()) or "allocators at their defaults"


def weight_update_table(rows: list[dict]) -> tuple[str, str]:
    return main_perplexity_table(rows, note=(
        " `*_lsq`: the same mask, then the kept weights of every row re-fitted by least squares (methods/lsq.py); "
        "`*_admm`: the ADMM re-fit (methods/admm.py); `admm`: the official ADMM pruner with its gradual mask."))


def comparison_group_table(rows: list[dict]) -> tuple[str, str]:
    """Metric x comparison group at 50%; the Wanda paper's Table-3 cells where its code uses that group."""
    if not rows:
        return "", ""
    means = seed_means(rows, lambda r: r["method"])
    table3 = {p["method"]: p["value"] for p in paper_numbers() if p["paper"] == "wanda" and p["table"] == "Table 3"
              and p["model"] == "LLaMA-7B" and p["sparsity"] == "0.5" and p["pattern"] == "unstructured"}
    paper = {("wanda", "row"): table3.get("wanda", ""), ("magnitude", "layer"): table3.get("magnitude", "")}
    groups = {"row": "", "column": "_column", "layer": "_layer"}
    metrics = [m for m in ordered_methods(means) if m != "dense" and not m.endswith(("_column", "_layer", "_row"))]
    lines, tex = _header(["metric"] + [f"ours per {g}" for g in groups] + [f"paper per {g}" for g in groups])
    for metric in metrics:
        names = {"row": metric, "column": metric + "_column", "layer": metric + "_layer"}
        if metric == "ria":  # RIA's official default is the layer; ria_row is its per-output option
            names = {"row": "ria_row", "column": "", "layer": "ria"}
        cells = [_fmt(means.get(names[g])) for g in groups]
        _emit(lines, tex, metric, cells + [paper.get((metric, g), "") for g in groups])
    caption = (_eval_text(rows[0]) + "; 50% unstructured; 'per row' = within each output row (Wanda's group), "
               "'per column' = within each input column, 'per layer' = the whole matrix. Per column Wanda's factor "
               "||X_j|| is a constant, so its mask is magnitude's. Paper columns: the two cells the Wanda paper's Table "
               "3 publishes for LLaMA-7B (its code uses these groups); the ablation table was not retrieved offline.")
    return _finish(lines, tex, caption)


def calibration_samples_table(rows: list[dict]) -> tuple[str, str]:
    """Method x number of calibration sequences: geometric mean over seeds (n)."""
    pruned = [r for r in rows if r["method"] != "dense"]
    if not pruned:
        return "", ""
    means = seed_means(pruned, lambda r: (r["method"], r["calibration"]["nsamples"]))
    counts = sorted({k[1] for k in means})
    lines, tex = _header(["method"] + [str(n) for n in counts])
    for m in ordered_methods(k[0] for k in means):
        _emit(lines, tex, m, [_fmt(means.get((m, n))) for n in counts])
    dense = next((_ppl(r) for r in rows if r["method"] == "dense"), float("nan"))
    caption = (_eval_text(pruned[0]) + f"; 50% unstructured vs the number of calibration sequences (dense {dense:.2f});"
               " (n) = mean over n calibration draws. Figure: figures/calibration_samples.png.")
    return _finish(lines, tex, caption)


def calibration_source_table(rows: list[dict]) -> tuple[str, str]:
    """Method x sparsity x calibration source (mean over seeds), and what synthesis cost."""
    pruned = [r for r in rows if r["method"] != "dense"]
    if not pruned:
        return "", ""
    sources = list(dict.fromkeys(r["calibration"]["source"] for r in pruned))
    label = lambda r: r["method"] + (f"+{r['allocator']}" if r["allocator"] != "uniform" else "")  # noqa: E731
    means = seed_means(pruned, lambda r: (label(r), r["sparsity_target"], r["calibration"]["source"]))
    lines, tex = _header(["method", "sparsity"] + sources)
    for lab, sparsity in sorted({(k[0], k[1]) for k in means}, key=lambda k: (k[1], k[0])):
        _emit(lines, tex, lab, [f"{sparsity:.0%}"] + [_fmt(means.get((lab, sparsity, s))) for s in sources])
    synth = [r for r in pruned if (r["calibration"].get("generated") or {}).get("kept")]
    cost = ""
    if synth:
        g = synth[0]["calibration"]["generated"]
        cost = (f" Synthetic data: {g['generated']} generations of up to {g['params']['new_tokens']} tokens per seed, "
                f"{g['kept']} kept after the perplexity filter; generation {g['generation_s_per_sample']:.1f} s per "
                "sample; each seed's set is cached and reused by every row of that seed.")
    caption = (_eval_text(pruned[0]) + "; (n) = mean over n calibration seeds (the synthetic set is generated per "
               "seed). The paper's claims (source matters more than method; synthetic data best) are judged in the "
               "claims table." + cost)
    return _finish(lines, tex, caption)


ALLOCATOR_ORDER = ["uniform", "owl", "alpha", "neuroal"]


def allocator_table(rows: list[dict]) -> tuple[str, str]:
    """Scorer x allocator rows, one column per sparsity (per family); the OWL README's LLaMA-7B 70% beside."""
    if not rows:
        return "", ""
    pruned = [r for r in rows if r["method"] != "dense"]
    means = seed_means(pruned, lambda r: (_model(r), r["method"], r["allocator"], f"{r['sparsity_target']:.0%}"))
    cols = sorted({k[3] for k in means})
    ref = {p["method"]: p["value"] for p in paper_numbers()
           if p["paper"] == "owl" and p["model"] == "LLaMA-7B" and p["sparsity"] in ("0.7", "0.0")}
    lines, tex = _header(["model", "scorer + allocator"] + [f"ours {c}" for c in cols] + ["search s (70%)",
                                                                                       "OWL paper 70% (LLaMA-7B)"])
    for model in dict.fromkeys(k[0] for k in means):
        for m in ordered_methods(k[1] for k in means if k[0] == model):
            for a in [a for a in ALLOCATOR_ORDER if (model, m, a) in {k[:3] for k in means}]:
                r70 = next((r for r in pruned if (_model(r), r["method"], r["allocator"]) == (model, m, a)
                            and abs(r["sparsity_target"] - 0.7) < 1e-9), None)
                search = f"{r70['seconds'].get('allocate', 0):.0f}" if r70 and a != "uniform" else ""
                key = m if a == "uniform" else f"{m}+{a}"
                _emit(lines, tex, model, [f"{m} + {a}"] + [_fmt(means.get((model, m, a, c))) for c in cols]
                      + [search, ref.get(key, "")])
    caption = (_eval_text(pruned[0]) + "; (n) = geometric mean over n calibration seeds; " + _allocator_args(pruned)
               + ". The last column is the OWL README's LLaMA-7B WikiText-2 table at 70% "
               "(analysis/paper_numbers.csv): a different model and corpus. NeuroAL's lambdas per row are in "
               "row['allocation']; the NeuroAL and AlphaPruning repositories ship no result tables.")
    return _finish(lines, tex, caption)
