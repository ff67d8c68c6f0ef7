"""Tables from results/ only (never reruns a model): Markdown + LaTeX into figures/, and the README's blocks.

  python analysis/tables.py            # write figures/*.md, figures/*.tex and refresh README.md's generated blocks
  STADE_ANALYSIS_SCALE=full python analysis/tables.py    # results/full/ -> figures/full/ (README untouched)
Each table names the model and scale of our numbers and prints the papers' numbers beside them, labelled.
"""
from __future__ import annotations

import csv
import json
import re

from paths import ROOT, figures_dir, read_jsonl, read_results, results_root, scale, shown

METHOD_ORDER = ["dense", "magnitude", "magnitude_lsq", "wanda", "wanda_lsq", "sparsegpt", "stade", "stade_nocomp",
                "stade_all", "stade_all_nocomp", "stade_star"]


def ordered_methods(present, order: list[str] = METHOD_ORDER) -> list[str]:
    """The methods present, known ones in `order`, then any others (a newly added baseline) as they come."""
    seen = list(dict.fromkeys(present))
    return [m for m in order if m in seen] + [m for m in seen if m not in order]


def paper_numbers() -> list[dict]:
    with open(ROOT / "analysis" / "paper_numbers.csv") as f:
        return list(csv.DictReader(f))


def _tex(text: str) -> str:
    return text.replace("`", "").replace("_", "\\_").replace("%", "\\%")


def _header(head: list[str], tex_head: str | None = None, align: str | None = None) -> tuple[list[str], list[str]]:
    """Start a table: the Markdown header and separator, the LaTeX tabular and its header row."""
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    tex = [f"\\begin{{tabular}}{{{align or 'l' + 'r' * (len(head) - 1)}}}",
           (tex_head or " & ".join(_tex(h) for h in head)) + " \\\\ \\hline"]
    return lines, tex


def _finish(lines: list[str], tex: list[str], caption: str) -> tuple[str, str]:
    tex.append("\\end{tabular}")
    return "\n".join(lines) + "\n\n" + caption + "\n", "\n".join(tex) + "\n"


def _emit(lines: list[str], tex: list[str], label: str, cells: list[str]) -> None:
    """Append one table row to the Markdown and LaTeX versions."""
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
    tex.append(_tex(label) + " & " + " & ".join(
        re.sub(r"(\d)x$", r"\1$\\times$", c.replace("%", "\\%").replace(",", "{,}")) for c in cells) + " \\\\")


def _column(method: str, pattern: str, sparsity: float) -> str:
    if method == "dense":
        return "dense"
    return pattern if pattern != "unstructured" else f"{float(sparsity):.0%}"


def main_perplexity_table(rows: list[dict], note: str = "") -> tuple[str, str]:
    """Methods x patterns; ours (SmolLM2 default scale) beside Wanda Table 3's LLaMA-7B."""
    if not rows:
        return "", ""
    model = rows[0]["model"]["model"]
    corpus = next(iter(rows[0]["ppl"]))
    calib = rows[0]["config"]
    ours = {(r["method"], _column(r["method"], r["pattern"], r["sparsity_target"])): r["ppl"][corpus] for r in rows}
    paper = {(p["method"], _column(p["method"], p["pattern"], p["sparsity"])): p["value"]
             for p in paper_numbers() if p["paper"] == "wanda" and p["model"] == "LLaMA-7B" and p["metric"] == "ppl"}
    cols = ["dense", "50%", "4:8", "2:4"]
    methods = ordered_methods(k[0] for k in ours)
    lines, tex = _header(["method"] + [f"ours {c}" for c in cols] + [f"paper {c}" for c in cols])
    for m in methods:
        cells = [f"{ours[(m, c)]:.2f}" if (m, c) in ours else "" for c in cols]
        pcells = [paper.get((m, c), "") for c in cols]
        _emit(lines, tex, m, cells + pcells)
    caption = (f"Perplexity on `{corpus}` ({rows[0]['eval_sizes'][corpus]['tokens']} tokens, windows of "
               f"{rows[0]['eval_sizes'][corpus]['seqlen']}), model `{model}` ({rows[0]['scale']} scale), calibration "
               f"{calib['nsamples']} x {calib['seqlen']} tokens of `{calib['calib']}`, seed {calib['seed']}. "
               "Paper columns: Wanda paper Table 3, LLaMA-7B on WikiText-2 (a different model and corpus: compare "
               "orderings, not values)." + note)
    return _finish(lines, tex, caption)


def weight_update_table(rows: list[dict]) -> tuple[str, str]:
    """The weight-update ablation: the main table's layout with the `*_lsq` rows."""
    return main_perplexity_table(rows, note=(
        " `*_lsq`: the same mask, then the kept weights of every row re-fitted by least squares on the calibration "
        "inputs (methods/lsq.py). The paper's magnitude baseline compares per layer, ours per output row."))


def _ppl(row: dict) -> float:
    return next(iter(row["ppl"].values()))


def comparison_group_table(rows: list[dict]) -> tuple[str, str]:
    """Metric x comparison group at 50%; the Wanda paper's Table-3 cells where its code uses that group."""
    if not rows:
        return "", ""
    ours = {r["method"]: _ppl(r) for r in rows}
    table3 = {p["method"]: p["value"] for p in paper_numbers() if p["paper"] == "wanda" and p["table"] == "Table 3"
              and p["model"] == "LLaMA-7B" and p["sparsity"] == "0.5" and p["pattern"] == "unstructured"}
    # the official code compares Wanda per output row and magnitude per layer: those two cells are published
    paper = {("wanda", "row"): table3.get("wanda", ""), ("magnitude", "layer"): table3.get("magnitude", "")}
    groups = {"row": "", "column": "_column", "layer": "_layer"}
    lines, tex = _header(["metric"] + [f"ours per {g}" for g in groups] + [f"paper per {g}" for g in groups])
    for metric in ("magnitude", "wanda"):
        cells = [f"{ours[metric + suffix]:.2f}" if metric + suffix in ours else "" for suffix in groups.values()]
        _emit(lines, tex, metric, cells + [paper.get((metric, g), "") for g in groups])
    r0 = rows[0]
    caption = (f"Perplexity at 50% unstructured on `{next(iter(r0['ppl']))}`, model `{r0['model']['model']}` "
               f"({r0['scale']} scale); 'per row' = within each output row (Wanda's group), 'per column' = within "
               "each input column, 'per layer' = the whole matrix. Per column, Wanda's factor ||X_j|| is a constant, "
               "so its mask is magnitude's. Paper columns: the two cells the Wanda paper's Table 3 publishes for "
               "LLaMA-7B (its code uses these groups); the ablation table itself was not retrieved offline.")
    return _finish(lines, tex, caption)


def calibration_samples_table(rows: list[dict]) -> tuple[str, str]:
    """Method x number of calibration sequences: mean perplexity over the seeds (and their spread)."""
    pruned = [r for r in rows if r["method"] != "dense"]
    if not pruned:
        return "", ""
    counts = sorted({r["calibration"]["nsamples"] for r in pruned})
    methods = ordered_methods(r["method"] for r in pruned)
    lines, tex = _header(["method"] + [str(n) for n in counts])
    for m in methods:
        cells = []
        for n in counts:
            values = [_ppl(r) for r in pruned if r["method"] == m and r["calibration"]["nsamples"] == n]
            mean = sum(values) / len(values) if values else None
            spread = f" ({min(values):.1f}-{max(values):.1f}, {len(values)} seeds)" if len(values) > 1 else ""
            cells.append(f"{mean:.2f}{spread}" if values else "")
        _emit(lines, tex, m, cells)
    r0, dense = pruned[0], next((_ppl(r) for r in rows if r["method"] == "dense"), float("nan"))
    caption = (f"Perplexity at 50% unstructured vs the number of calibration sequences of {r0['calibration']['seqlen']} "
               f"tokens (`{r0['calibration']['source']}`), model `{r0['model']['model']}` ({r0['scale']} scale), "
               f"evaluated on {r0['eval_sizes'][next(iter(r0['ppl']))]['tokens']} tokens of `{next(iter(r0['ppl']))}` "
               f"(dense {dense:.2f}); mean over calibration draws, with min-max where several were run. "
               "Figure: figures/calibration_samples.png.")
    return _finish(lines, tex, caption)


def _ratio_spread(values: list[float]) -> float:
    return max(values) / min(values)


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def calibration_source_table(rows: list[dict]) -> tuple[str, str]:
    """Method x sparsity x calibration source, then the paper's effect size: at each sparsity, how far perplexity
    moves across (real) sources for a fixed method vs across methods for a fixed source (ratios max/min)."""
    pruned = [r for r in rows if r["method"] != "dense"]
    if not pruned:
        return "", ""
    sources = list(dict.fromkeys(r["calibration"]["source"] for r in pruned))
    cells: dict[tuple[str, float], dict[str, list[float]]] = {}
    for r in pruned:
        label = r["method"] + (f"+{r['allocator']}" if r["allocator"] != "uniform" else "")
        cells.setdefault((label, r["sparsity_target"]), {}).setdefault(r["calibration"]["source"], []).append(_ppl(r))
    mean = {k: {src: sum(v) / len(v) for src, v in by.items()} for k, by in cells.items()}
    lines, tex = _header(["method", "sparsity"] + sources)
    for (label, sparsity), by in sorted(mean.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        _emit(lines, tex, label, [f"{sparsity:.0%}"] + [f"{by[src]:.2f}" if src in by else "" for src in sources])
    real = [src for src in sources if src != "random"]
    effect = ["| sparsity | across sources, per method (median) | across methods, per source (median) | "
              "random / best real source (median) |", "|---|---|---|---|"]
    for sparsity in sorted({k[1] for k in mean}):
        here = {label: by for (label, sp), by in mean.items() if sp == sparsity and "+" not in label}
        per_method = [_ratio_spread([by[s] for s in real]) for by in here.values() if all(s in by for s in real)]
        per_source = [_ratio_spread([by[s] for by in here.values()]) for s in real
                      if all(s in by for by in here.values()) and len(here) > 1]
        floor = [by["random"] / min(by[s] for s in real) for by in here.values()
                 if "random" in by and all(s in by for s in real)]
        fmt = lambda v: f"{_median(v):.2f}x" if v else ""  # noqa: E731
        effect.append(f"| {sparsity:.0%} | {fmt(per_method)} | {fmt(per_source)} | {fmt(floor)} |")
    gen = [r["calibration"]["generated"] for r in pruned if (r["calibration"].get("generated") or {}).get("kept")]
    synth = [r for r in pruned if (r["calibration"].get("generated") or {}).get("kept")]
    cost = ""
    if gen:
        g, r = gen[0], synth[0]
        share = g["generation_s"] / (g["generation_s"] + g["filter_s"] + r["seconds"]["prune"])
        cost = (f" Synthetic data: {g['generated']} generations of up to {g['params']['new_tokens']} tokens, "
                f"{g['kept']} kept after the perplexity filter; generation {g['generation_s_per_sample']:.1f} s per "
                f"sample ({g['generation_s']:.0f} s, {share:.0%} of generation + filter + pruning for "
                f"{r['method']} at {r['sparsity_target']:.0%}); the set is cached and reused by every row.")
    ref = {p["dataset"]: float(p["value"]) for p in paper_numbers()
           if p["paper"] == "calibration" and p["table"].startswith("plot_volin") and p["model"] == "DCLM-7B?"}
    if ref:
        cost += (f" Reference (the paper's repo, 20-seed mean 0-shot accuracy of Wanda, model presumably DCLM-7B; "
                 f"accuracy, not perplexity): {', '.join(f'{k} {v:.2f}' for k, v in ref.items())}, a "
                 f"{max(ref.values()) - min(ref.values()):.2f}-point spread across sources.")
    r0 = pruned[0]
    corpus = next(iter(r0["ppl"]))
    caption = (f"Perplexity on {r0['eval_sizes'][corpus]['tokens']} tokens of `{corpus}`, model "
               f"`{r0['model']['model']}` ({r0['scale']} scale), {r0['calibration']['nsamples']} x "
               f"{r0['calibration']['seqlen']} calibration tokens from each source; mean over seeds where several. "
               "Effect size (second table): ratio max/min of perplexity across the real sources (not `random`) for "
               "each method, and across methods for each source; the paper's claim is that the first can exceed "
               "the second, more so at high sparsity." + cost)
    md, tex = _finish(lines, tex, caption)
    return md + "\n" + "\n".join(effect) + "\n", tex


STRUCTURED_ORDER = ["dense", "magnitude_sp", "wanda_sp", "flap", "bip", "bip_uniform", "bip_noprop"]


def bip_structured_table(rows: list[dict]) -> tuple[str, str]:
    """Structured methods x ratio: perplexity, zero-shot mean, parameters left; FLAP's published LLaMA-7B numbers."""
    if not rows:
        return "", ""
    corpus = next(iter(rows[0]["ppl"]))
    ratios = sorted({r["sparsity_target"] for r in rows if r["method"] != "dense"})
    paper = {(p["method"], float(p["sparsity"])): p["value"] for p in paper_numbers() if p["paper"] == "flap"}
    head = ["method"] + [f"{c} {x:.0%}" for x in ratios for c in ("ppl", "0-shot", "params")]
    head += [f"FLAP paper ppl {x:.0%}" for x in ratios]
    lines, tex = _header(head)
    by = {(r["method"], r["sparsity_target"]): r for r in rows}
    for m in ordered_methods((k[0] for k in by), STRUCTURED_ORDER):
        cells = []
        for x in ([0.0] * len(ratios) if m == "dense" else ratios):
            r = by.get((m, x))
            zs = r and r.get("zero_shot")
            accs = [t["acc"] for t in zs["tasks"].values()] if zs else []
            params = (r.get("structured") or {}).get("params_after") if r else None
            cells += [f"{r['ppl'][corpus]:.2f}" if r else "", f"{100 * sum(accs) / len(accs):.1f}" if accs else "",
                      f"{params / 1e6:.1f}M" if params else ("dense" if r else "")]
        cells += [paper.get((m, 0.0 if m == "dense" else x), "") for x in ratios]
        _emit(lines, tex, m, cells)
    r0 = rows[0]
    caption = (f"Perplexity on `{corpus}` in windows of {r0['eval_sizes'][corpus]['seqlen']} tokens "
               f"({r0['eval_sizes'][corpus]['tokens']} tokens), offline zero-shot mean accuracy (%), attention+MLP "
               f"parameters left; model `{r0['model']['model']}` ({r0['scale']} scale), ratio = share of attention + "
               "MLP parameters removed, no fine-tuning. Paper columns: FLAP's LLaMA-7B WikiText-2 numbers (copied in "
               "a third-party README; the LLM-BIP paper's own tables could not be read offline; its abstract claims "
               "-14.09 WikiText-2 / -68.76 PTB perplexity and +3.26 accuracy points over the best baseline).")
    return _finish(lines, tex, caption)


def structured_speedup_table(rows: list[dict]) -> tuple[str, str]:
    if not rows:
        return "", ""
    lines, tex = _header(["model", "method", "ratio", "params after", "prefill speed-up", "decode speed-up",
                          "dense prefill tok/s", "dense decode tok/s"])
    for r in rows:
        _emit(lines, tex, r["model"], [r["method"], f"{r['ratio']:.0%}", f"{r['model_params_after'] / 1e6:.1f}M",
                                       f"{r['speedup']['prefill_tokens_per_s']:.2f}x",
                                       f"{r['speedup']['decode_tokens_per_s']:.2f}x",
                                       f"{r['dense']['prefill_tokens_per_s']:.0f}",
                                       f"{r['dense']['decode_tokens_per_s']:.1f}"])
    machine = rows[0]["provenance"]["machine"]
    caption = (f"Tokens/s of the physically smaller model over the dense one, measured in the same process "
               f"({rows[0]['tokens']}-token prefill, {rows[0]['new_tokens']} greedy decode tokens, best of 3), "
               f"device `{rows[0]['device']}`, {machine['cpu_threads']} CPU threads.")
    return _finish(lines, tex, caption)


def _gain(stade: float, wanda: float) -> str:
    """STADE's perplexity change relative to Wanda, in % (negative = STADE better)."""
    return f"{100 * (stade / wanda - 1):+.1f}%"


def training_conditions_table(rows: list[dict]) -> tuple[str, str]:
    """Recipe x method at 50%, STADE's gain over Wanda, and how centred the output projections' inputs are."""
    if not rows:
        return "", ""
    trained = {r["model"]: r for r in read_results("training_conditions_train")}
    methods = ["dense", "magnitude", "wanda", "stade", "stade_all", "stade_all_nocomp"]
    by = {(r["model"]["model"], r["method"]): _ppl(r) for r in rows}
    models = list(dict.fromkeys(r["model"]["model"] for r in rows))
    lines, tex = _header(["model"] + methods + ["stade_all vs wanda", "no-comp vs wanda",
                                                "mu^2/Var of non-norm inputs (median)", "final train loss"])
    for m in models:
        t = trained.get(m, {})
        cells = [f"{by[(m, x)]:.3f}" if (m, x) in by else "" for x in methods]
        gains = [_gain(by[(m, x)], by[(m, "wanda")]) if (m, x) in by and (m, "wanda") in by else ""
                 for x in ("stade_all", "stade_all_nocomp")]
        centring = ", ".join(f"{k.split('.')[-1]} {v['median_mean2_over_var']:.2f}"
                             for k, v in t.get("input_centring", {}).items() if not v["normalized_input"])
        _emit(lines, tex, t.get("recipe", m), cells + gains + [centring, f"{t['final_loss']:.3f}" if t else ""])
    r0 = rows[0]
    caption = (f"Perplexity (byte-level) on `{next(iter(r0['ppl']))}` of small decoders trained from scratch under "
               f"one changed condition each (experiments/training_conditions.py), pruned at 50% "
               f"({r0['scale']} scale). 'vs wanda': STADE's perplexity relative to Wanda's (negative = better). "
               "The theory predicts STADE's advantage where the inputs of the output projections are far from centred "
               "(large mu^2/Var) and compensation carries it.")
    return _finish(lines, tex, caption)


def stade_layer_study_table(rows: list[dict]) -> tuple[str, str]:
    """Layer pruned alone x method; STADE's change relative to Wanda per layer."""
    pruned = [r for r in rows if r["method"] != "dense"]
    if not pruned:
        return "", ""
    methods = ["wanda", "stade_all", "stade_all_nocomp"]
    cells_by = {(r["config"]["layers"], r["sparsity_target"], r["method"]): _ppl(r) for r in pruned}
    keys = list(dict.fromkeys((r["config"]["layers"], r["sparsity_target"]) for r in pruned))
    lines, tex = _header(["layer pruned alone", "sparsity"] + methods + ["stade_all vs wanda", "no-comp vs wanda"])
    for layer, sparsity in keys:
        vals = [cells_by.get((layer, sparsity, m)) for m in methods]
        gains = [_gain(v, vals[0]) if v and vals[0] else "" for v in vals[1:]]
        _emit(lines, tex, layer, [f"{sparsity:.0%}"] + [f"{v:.2f}" if v else "" for v in vals] + gains)
    dense = next((_ppl(r) for r in rows if r["method"] == "dense"), float("nan"))
    r0 = pruned[0]
    caption = (f"Only the named linear of every block pruned; perplexity on `{next(iter(r0['ppl']))}`, model "
               f"`{r0['model']['model']}` ({r0['scale']} scale), dense {dense:.2f}. The STADE paper's Fig. 1 does "
               "this for OPT-125m's fc1 and fc2.")
    return _finish(lines, tex, caption)


def pruning_cost_table(rows: list[dict]) -> tuple[str, str]:
    if not rows:
        return "", ""
    r0 = rows[0]
    lines, tex = _header(["method", "sparsity", "prune time / dense forward", "(decoder only)", "solve s", "allocator s",
                          "forward passes", "peak RSS / model RSS"],
                         "method & sparsity & time ratio & decoder ratio & solve s & allocator s & passes & memory ratio")
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    for r in sorted(rows, key=lambda r: (order.get(r["method"].split("+")[0], 99), r["method"])):
        passes = r["forward_passes"]
        cells = [f"{r.get('sparsity', 0.5):.0%}", f"{r['time_ratio']:.2f}x", f"{r['time_ratio_decoder']:.2f}x",
                 f"{r['solve_s']:.1f}", f"{r.get('allocate_s', 0):.1f}",
                 f"{passes:.2f}".rstrip("0").rstrip("."), f"{r['memory_ratio']:.2f}x"]
        _emit(lines, tex, r["method"], cells)
    machine = r0["provenance"]["machine"]
    paper = {p["method"]: p["value"] for p in paper_numbers()
             if p["table"] == "pruning time" and p["model"] == "LLaMA-7B"}
    solve = {r["method"]: r["solve_s"] for r in rows}
    caption = (f"Model `{r0['model']['model']}`, calibration {r0['calibration']['nsamples']} x "
               f"{r0['calibration']['seqlen']} tokens, batches of {r0['batch_size']}, {machine['cpu_threads']} CPU "
               f"threads{' (' + machine['cpu'] + ')' if machine.get('cpu') else ''}"
               f"{', GPU ' + machine['gpu'] if machine.get('gpu') else ''}; dense forward = "
               f"{r0['dense_forward_s']:.1f} s for the whole model. 'solve' is the Wanda paper's notion of pruning "
               f"time (metric + mask + update, no forward passes); the paper reports {paper['wanda']} s (Wanda) vs "
               f"{paper['sparsegpt']} s (SparseGPT) for LLaMA-7B on an A100 (analysis/paper_numbers.csv, unverified): "
               f"SparseGPT/Wanda solve ratio {float(paper['sparsegpt']) / float(paper['wanda']):.0f}x there, "
               f"{solve['sparsegpt'] / solve['wanda']:.0f}x here. "
               "'+owl'/'+neuroal' rows run the allocator first (at 70%); 'forward passes' counts full passes over the "
               "calibration set, the allocator's included (NeuroAL's search runs on its search samples only).")
    return _finish(lines, tex, caption)


def corpora_table(rows: list[dict]) -> tuple[str, str]:
    if not rows:
        return "", ""
    lines, tex = _header(["corpus", "split", "documents", "words", "SmolLM2 tokens", "dense ppl (16 x 512, eval split)"],
                         "corpus & split & documents & words & tokens & dense ppl", "llrrrr")
    for r in rows:
        for split, s in r["splits"].items():
            ppl = f"{r['dense_ppl_16x512']:.2f}" if split == "test" else ""
            cells = [str(s["documents"]), f"{s['words']:,}", f"{s['tokens']:,}", ppl]
            _emit(lines, tex, f"`{r['corpus']}`", [split] + cells)
    removed = rows[0].get("removed_as_in_both")
    note = (f"{removed} vital articles that are also in the excerpt were removed from `wiki_vital`, so no article "
            "is in both corpora." if removed is not None else "")
    return _finish(lines, tex, note)


def theory_table(_: list[dict]) -> tuple[str, str]:
    """Measured verdicts of the theory checks (results/theory_*.jsonl), one line per statement."""
    def rows_of(name):
        return read_results(f"theory_{name}")

    opt = {r["scenario"]: r for r in rows_of("optimality") if "scenario" in r}
    if not opt:
        return "", ""
    share = lambda sc, m: f"{opt[sc]['summary'][m]['optimal_share']:.0%}"  # noqa: E731
    lines = ["| statement | script | measured (share of rows whose mask is the exhaustive optimum) | holds |",
             "|---|---|---|---|"]
    closed = next((r["summary"] for r in rows_of("closed_form") if "summary" in r), None)
    if closed:
        lines.append(f"| closed form of E[e²]; P1 optimal bias | `theory/check_closed_form.py` | Monte Carlo inside "
                     f"99.9% interval: {closed['closed_form_within_999_share']:.0%}; optimal bias beats perturbed: "
                     f"{closed['optimal_bias_share']:.0%} | {'yes' if closed['closed_form_within_999_share'] == 1 else 'no'} |")
    checks = [("P2 STADE + compensation optimal, any means", "independent_nonzero_mean", "stade", 1.0),
              ("P3 Wanda not optimal without compensation when μ ≠ 0", "independent_nonzero_mean", "wanda", None),
              ("P4 Wanda optimal for centred independent inputs", "independent_zero_mean", "wanda", 1.0),
              ("P4 STADE optimal there too", "independent_zero_mean", "stade", 1.0),
              ("P5 magnitude optimal for equal second moments", "equal_second_moment", "magnitude", 1.0)]
    for text, sc, metric, want in checks:
        value = opt[sc]["summary"][metric]["optimal_share"]
        holds = value == want if want is not None else value < 1.0
        lines.append(f"| {text} | `theory/check_optimality.py` | {metric}: {share(sc, metric)} ({sc}, "
                     f"{opt[sc]['trials']} rows, d={opt[sc]['d']}) | {'yes' if holds else 'no'} |")
    corr = {r["scenario"]: r for r in rows_of("correlated") if "scenario" in r}
    if corr:
        c = corr["correlated_nonzero_mean"]["summary"]
        lines.append(f"| correlated inputs break optimality | `theory/check_assumptions_broken.py` | stade "
                     f"{c['stade']['optimal_share']:.0%}, wanda {c['wanda']['optimal_share']:.0%} | "
                     f"{'yes' if c['stade']['optimal_share'] < 1 else 'no'} |")
    obs = next((r["summary"] for r in rows_of("obs") if "summary" in r), None)
    if obs:
        lines.append(f"| SparseGPT never below the OBS optimum | `theory/check_obs.py` | mean excess "
                     f"{obs['zero_mean']['sparsegpt_mean_excess_over_obs_optimum']:.0%} (μ = 0), "
                     f"{obs['nonzero_mean']['sparsegpt_mean_excess_over_obs_optimum']:.0%} (μ ≠ 0) | "
                     f"{'yes' if all(v['sparsegpt_never_below_optimum'] for v in obs.values()) else 'no'} |")
    return "\n".join(lines) + "\n", ""  # a verdict list, Markdown only


ALLOCATOR_ORDER = ["uniform", "owl", "neuroal"]


def allocator_table(rows: list[dict], paper: str = "owl") -> tuple[str, str]:
    """Scorer x allocator rows, one column per sparsity; the paper's LLaMA-7B 70% numbers beside ours.
    For NeuroAL rows, the chosen lambdas and the search time at the same sparsity go into extra columns."""
    if not rows:
        return "", ""
    corpus = next(iter(rows[0]["ppl"]))
    sparsities = sorted({r["sparsity_target"] for r in rows if r["method"] != "dense"})
    cols = [f"{s:.0%}" for s in sparsities]
    cell = {(r["method"], r["allocator"], f"{r['sparsity_target']:.0%}"): r for r in rows if r["method"] != "dense"}
    ref = {p["method"]: p["value"] for p in paper_numbers()
           if p["paper"] == "owl" and p["model"] == "LLaMA-7B" and p["sparsity"] in ("0.7", "0.0")}
    dense = next((r["ppl"][corpus] for r in rows if r["method"] == "dense"), None)
    has_neuroal = any(a == "neuroal" for _, a, _ in cell)
    extra = ["NeuroAL lambda block/row (70%)", "search s (70%)"] if has_neuroal else []
    head = ["scorer + allocator"] + [f"ours {c}" for c in cols] + extra + ["OWL paper 70% (LLaMA-7B)"]
    lines, tex = _header(head)
    scorers = ordered_methods(k[0] for k in cell)
    for m in scorers:
        for a in ALLOCATOR_ORDER:
            if not any(k[:2] == (m, a) for k in cell):
                continue
            cells = [f"{cell[(m, a, c)]['ppl'][corpus]:.2f}" if (m, a, c) in cell else "" for c in cols]
            if extra:
                r70 = cell.get((m, a, "70%"))
                info = (r70 or {}).get("allocation") or {}
                cells += [f"{info.get('block_lambda')}/{info.get('row_lambda', '-')}" if a == "neuroal" and r70 else "",
                          f"{r70['seconds'].get('allocate', 0):.0f}" if r70 and a != "uniform" else ""]
            key = m if a == "uniform" else f"{m}+{a}"
            _emit(lines, tex, f"{m} + {a}", cells + [ref.get(key, "")])
    r0 = rows[0]
    calib = r0["config"]
    dense_text = f"dense {dense:.2f} (paper: {ref.get('dense', '?')}); " if dense is not None else ""
    caption = (f"Perplexity on `{corpus}` ({r0['eval_sizes'][corpus]['tokens']} tokens; {dense_text}"
               f"model `{r0['model']['model']}` "
               f"({r0.get('scale', '?')} scale), calibration {calib['nsamples']} x {calib['seqlen']} tokens of "
               f"`{calib['calib']}`; OWL M = 5, lambda = 0.08. The last column is the OWL README's LLaMA-7B WikiText-2 "
               "table at 70% (analysis/paper_numbers.csv): a different model and corpus, compare orderings and "
               "relative gains only.")
    if has_neuroal:
        caption += (" NeuroAL: lambdas chosen by the alignment search (block step / row step; '-' = block only), "
                    "search time in seconds at 70%. The NeuroAL repository ships no result numbers and its paper "
                    "tables could not be retrieved, so there is no paper column for it.")
    return _finish(lines, tex, caption)


def zero_shot_table(rows: list[dict]) -> tuple[str, str]:
    """One line per pruned model: perplexity, accuracy (lm-eval `acc`) per task and their mean; the Wanda paper's
    LLaMA-7B 7-task mean beside it (a different model and task set: ordering only)."""
    rows = [r for r in rows if r.get("zero_shot")]
    if not rows:
        return "", ""
    corpus = next(iter(rows[0]["ppl"]))
    tasks = list(rows[0]["zero_shot"]["tasks"])
    paper = {p["method"]: p["value"] for p in paper_numbers() if p["paper"] == "wanda" and p["table"] == "Table 2"}
    head = ["model", f"ppl {corpus}"] + tasks + ["mean", "Wanda paper mean (LLaMA-7B, 7 tasks)"]
    lines, tex = _header(head)
    for r in rows:
        accs = [r["zero_shot"]["tasks"][t]["acc"] for t in tasks]
        label = "dense" if r["method"] == "dense" else (
            f"{r['method']} {_column(r['method'], r['pattern'], r['sparsity_target'])}"
            + (f" + {r['allocator']}" if r["allocator"] != "uniform" else ""))
        ref = paper.get(r["method"], "") if r["pattern"] == "unstructured" and r["allocator"] == "uniform" and \
            r["sparsity_target"] in (0.0, 0.5) else ""
        _emit(lines, tex, label, [f"{r['ppl'][corpus]:.2f}"] + [f"{100 * a:.1f}" for a in accs]
              + [f"{100 * sum(accs) / len(accs):.1f}", ref])
    zs = rows[0]["zero_shot"]
    seconds = sorted(r["zero_shot"]["seconds"] for r in rows)
    caption = (f"Accuracy in % (lm-eval {zs['lm_eval_version']}, 0-shot, metric `{zs['metric']}`), tasks "
               f"`{zs.get('spec', '')}`; model `{rows[0]['model']['model']}` ({rows[0].get('scale', '?')} scale). "
               "Chance: stade_lastword ~0 (greedy whole-word match), stade_nextsent 25% (1 of 4). The offline suite "
               "is generated from the evaluation corpus (methods/tasks.py); the paper column is the Wanda paper's "
               f"LLaMA-7B mean over its 7 tasks (unverified; ordering only). Zero-shot time per model: median "
               f"{seconds[len(seconds) // 2]:.0f} s on this machine.")
    return _finish(lines, tex, caption)


def not_run_yet(name: str) -> str:
    """What a README block says while its experiment has no rows at this scale."""
    return f"_Not run yet at this scale: `bash run_all.sh --only {name}`._\n"


def update_readme(blocks: dict[str, str]) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    for name, body in blocks.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
        if body and pattern.search(text):
            text = pattern.sub(lambda m: m.group(1) + body + m.group(2), text)
    readme.write_text(text)


STAGE_ORDER = ["setup", "corpora_stats", "main_perplexity", "owl_high_sparsity", "neuroal_topup", "zero_shot",
               "pruning_cost", "wanda_outlier_features", "wanda_comparison_group", "wanda_weight_update", "wanda_calibration_samples",
               "calibration_source", "bip_bound", "bip_structured", "structured_speedup", "training_conditions",
               "stade_layer_study", "theory"]


def _row_compute_seconds(rows: list[dict]) -> float:
    """Loading, calibration data, pruning and evaluation seconds recorded in rows (reused rows counted once, where
    they were computed); training seconds for the trained-from-scratch models."""
    total = 0.0
    for r in rows:
        if r.get("reused_from"):
            continue
        seconds = r.get("seconds")
        if isinstance(seconds, dict):
            total += sum(seconds.get(k, 0.0) for k in ("load", "calibration_data", "prune", "eval"))
        total += r.get("train_seconds", 0.0)
    return total


def run_times_table() -> tuple[str, str]:
    """Time per stage: the default scale's measured wall time (run_all.sh, results/run_all_times_default.json) beside
    the full scale's compute recorded in its rows (results/full/, runs made stage by stage, possibly resumed)."""
    times_file = results_root() / "run_all_times_default.json"
    default = json.loads(times_file.read_text()) if times_file.is_file() else {"stages": {}}
    full = {s: _row_compute_seconds(read_jsonl(results_root() / "full" / f"{s}.jsonl")
                                    + read_jsonl(results_root() / "full" / f"{s}_train.jsonl")) for s in STAGE_ORDER}
    if not default["stages"] and not any(full.values()):
        return "", ""
    lines, tex = _header(["stage", "default: wall minutes (run_all.sh)", "full: compute minutes in its rows"])
    for stage in STAGE_ORDER:
        d, f = default["stages"].get(stage), full.get(stage)
        cells = [f"{d / 60:.1f}" if d is not None else "", f"{f / 60:.1f}" if f else ""]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
        tex.append(f"{_tex(stage)} & " + " & ".join(cells) + " \\\\")
    d_total, f_total = sum(default["stages"].values()), sum(full.values())
    lines.append(f"| **total** | {d_total / 60:.0f} | {f_total / 60:.0f} |")
    machine = default.get("machine") or {}
    full_cpus = sorted({(r.get("provenance") or {}).get("machine", {}).get("cpu") for s in STAGE_ORDER
                        for r in read_jsonl(results_root() / "full" / f"{s}.jsonl")} - {None})
    caption = (f"Default scale: wall time of each stage of one `bash run_all.sh` on {machine.get('cpu', '?')} "
               f"({machine.get('cores', '?')} cores, no GPU), {default.get('date', '?')}, from a fresh clone with an "
               "empty cache (setup: virtual environment, wheels, corpora); the analysis adds about a minute. Full "
               "scale: the load, calibration, pruning, evaluation and training seconds recorded in `results/full/` rows (run stage by stage; CPU: "
               f"{', '.join(full_cpus) or 'not recorded in older rows'}; 2 threads).")
    return _finish(lines, tex, caption)


# results file (and README block) -> table builder
TABLES = {"main_perplexity": main_perplexity_table, "pruning_cost": pruning_cost_table,
          "owl_high_sparsity": allocator_table, "neuroal_topup": allocator_table, "zero_shot": zero_shot_table,
          "wanda_comparison_group": comparison_group_table, "wanda_weight_update": weight_update_table,
          "wanda_calibration_samples": calibration_samples_table, "calibration_source": calibration_source_table,
          "bip_structured": bip_structured_table, "structured_speedup": structured_speedup_table,
          "training_conditions": training_conditions_table, "stade_layer_study": stade_layer_study_table,
          "corpora_stats": corpora_table, "theory_verdicts": theory_table}


def main() -> None:
    out = figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    blocks = {}
    for name, builder in TABLES.items():
        md, tex = builder(read_results(name))
        if md:
            (out / f"{name}.md").write_text(md)
            if tex:
                (out / f"{name}.tex").write_text(tex)
            print(f"wrote {shown(out / name)}.md" + (" and .tex" if tex else ""))
        blocks[name] = md or not_run_yet(name)
    if scale() == "default":  # the README embeds the default scale, which run_all.sh reproduces
        md, tex = run_times_table()
        if md:
            (out / "run_times.md").write_text(md)
            (out / "run_times.tex").write_text(tex)
            blocks["run_times"] = md
        update_readme(blocks)


if __name__ == "__main__":
    main()
