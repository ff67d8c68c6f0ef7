"""Figures of the STADE paper's studies, from results/ only (never reruns a model).

  training_conditions.png   left: training curves of the small models trained from scratch; right: STADE's
                            perplexity relative to Wanda at 50% per model (with and without compensation), beside how
                            far the output projections' inputs are from centred
  stade_layer_study.png     STADE's perplexity relative to Wanda when only one layer type is pruned
  python analysis/stade_figures.py
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from plotting import read_results, save_figure

# figure -> the results files it is drawn from (tests/test_analysis.py checks figures are not older)
INPUTS = {"training_conditions": ["training_conditions", "training_conditions_train"],
          "stade_layer_study": ["stade_layer_study"]}

VARIANTS = {"stade_all": ("tab:red", "STADE (compensated)"), "stade_all_nocomp": ("tab:gray", "W²Var, no compensation")}


def _relative(rows: list[dict], group_key, pair_key) -> dict:
    """group -> {method: [100 (ppl / Wanda's ppl - 1) per pair]}: each STADE variant's row against the Wanda row of
    the same group and pair (the same trained model, the same calibration seed), so seeds are never mixed."""
    ppl = {(group_key(r), pair_key(r), r["method"]): next(iter(r["ppl"].values())) for r in rows
           if r["method"] != "dense"}
    out: dict = {}
    for (group, pair, method), value in ppl.items():
        if method in VARIANTS and (group, pair, "wanda") in ppl:
            out.setdefault(group, {}).setdefault(method, []).append(100 * (value / ppl[(group, pair, "wanda")] - 1))
    return out


def _seed(row: dict) -> int:
    return (row.get("calibration") or {}).get("seed", 0)


def _bars(ax, relative: dict, labels: list[str]) -> None:
    """Mean over pairs, with the range over pairs (seeds, trained models) as an error bar where there are several."""
    width = 0.8 / len(VARIANTS)
    for i, (method, (color, label)) in enumerate(VARIANTS.items()):
        xs = [k + i * width for k in range(len(labels))]
        values = [relative[g].get(method, [0.0]) for g in relative]
        means = [sum(v) / len(v) for v in values]
        spread = [[m - min(v) for m, v in zip(means, values)], [max(v) - m for m, v in zip(means, values)]]
        several = any(len(v) > 1 for v in values)
        ax.bar(xs, means, width, color=color, label=label, yerr=spread if several else None, capsize=2)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks([k + width * (len(VARIANTS) - 1) / 2 for k in range(len(labels))], labels, rotation=20, fontsize=8)
    ax.set_ylabel("perplexity vs Wanda (%), lower = better")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")


def training_conditions_figure(rows: list[dict], trained: list[dict]) -> None:
    if not rows or not trained:
        print("skip training_conditions: no results yet")
        return
    recipe = {t["model"]: t["recipe"] for t in trained}
    relative = _relative(rows, lambda r: recipe.get(r["model"]["model"], r["model"]["model"]),
                         lambda r: (r["model"]["model"], _seed(r)))
    fig, (curves, gaps) = plt.subplots(1, 2, figsize=(11, 3.8))
    colors = {name: f"C{i}" for i, name in enumerate(dict.fromkeys(t["recipe"] for t in trained))}
    for t in trained:  # one curve per trained model; a recipe's training seeds share its colour
        first = t is next(x for x in trained if x["recipe"] == t["recipe"])
        curves.plot([p["step"] for p in t["curve"]], [p["loss"] for p in t["curve"]], color=colors[t["recipe"]],
                    alpha=0.8, label=t["recipe"] if first else None)
    curves.set_xlabel("training step")
    curves.set_ylabel("training loss (nats / byte)")
    curves.legend(fontsize=8)
    curves.grid(alpha=0.3)
    labels = []
    for name in relative:
        centring = [v["median_mean2_over_var"] for t in trained if t["recipe"] == name
                    for v in t["input_centring"].values() if not v["normalized_input"]]
        labels.append(f"{name}\nmax μ²/Var {max(centring, default=float('nan')):.2f}")
    _bars(gaps, relative, labels)
    seeds = max(len(v) for g in relative.values() for v in g.values()) if relative else 0
    gaps.set_title(f"50% unstructured; bars: mean over {seeds} trained model(s) x seed(s), whiskers: range\n"
                   "μ²/Var: median over channels of the least centred non-norm input", fontsize=8)
    save_figure(fig, "training_conditions")


def layer_study_figure(rows: list[dict]) -> None:
    if not any(r["method"] != "dense" for r in rows):
        print("skip stade_layer_study: no results yet")
        return
    relative = _relative(rows, lambda r: f"{r['model']['model']}\n{r['config']['layers']} {r['sparsity_target']:.0%}",
                         _seed)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(relative)), 3.8))
    _bars(ax, relative, list(relative))
    r0 = next(r for r in rows if r["method"] != "dense")
    ax.set_title(f"only one layer type pruned ({r0['scale']} scale); whiskers: range over calibration seeds",
                 fontsize=9)
    save_figure(fig, "stade_layer_study")


def main() -> None:
    training_conditions_figure(read_results("training_conditions"), read_results("training_conditions_train"))
    layer_study_figure(read_results("stade_layer_study"))


if __name__ == "__main__":
    main()
