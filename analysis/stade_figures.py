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


def _relative(rows: list[dict], group_key) -> dict:
    """group -> {method: ppl / Wanda's ppl - 1} for the STADE variants."""
    ppl = {(group_key(r), r["method"]): next(iter(r["ppl"].values())) for r in rows if r["method"] != "dense"}
    out = {}
    for (group, method), value in ppl.items():
        if method in VARIANTS and (group, "wanda") in ppl:
            out.setdefault(group, {})[method] = 100 * (value / ppl[(group, "wanda")] - 1)
    return out


def _bars(ax, relative: dict, labels: list[str]) -> None:
    width = 0.8 / len(VARIANTS)
    for i, (method, (color, label)) in enumerate(VARIANTS.items()):
        xs = [k + i * width for k in range(len(labels))]
        ax.bar(xs, [relative[g].get(method, 0.0) for g in relative], width, color=color, label=label)
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
    relative = _relative(rows, lambda r: r["model"]["model"])
    fig, (curves, gaps) = plt.subplots(1, 2, figsize=(11, 3.8))
    for t in trained:
        curves.plot([p["step"] for p in t["curve"]], [p["loss"] for p in t["curve"]], label=t["recipe"])
    curves.set_xlabel("training step")
    curves.set_ylabel("training loss (nats / byte)")
    curves.legend(fontsize=8)
    curves.grid(alpha=0.3)
    labels = []
    for model in relative:
        t = next(x for x in trained if x["model"] == model)
        centring = max((v["median_mean2_over_var"] for v in t["input_centring"].values() if not v["normalized_input"]),
                       default=float("nan"))
        labels.append(f"{recipe[model]}\nmax μ²/Var {centring:.2f}")
    _bars(gaps, relative, labels)
    gaps.set_title("50% unstructured; μ²/Var: median over channels, worst non-norm input", fontsize=9)
    save_figure(fig, "training_conditions")


def layer_study_figure(rows: list[dict]) -> None:
    if not any(r["method"] != "dense" for r in rows):
        print("skip stade_layer_study: no results yet")
        return
    relative = _relative(rows, lambda r: f"{r['config']['layers']} {r['sparsity_target']:.0%}")
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(relative)), 3.8))
    _bars(ax, relative, list(relative))
    r0 = next(r for r in rows if r["method"] != "dense")
    ax.set_title(f"only one layer type pruned, {r0['model']['model']} ({r0['scale']} scale)", fontsize=9)
    save_figure(fig, "stade_layer_study")


def main() -> None:
    training_conditions_figure(read_results("training_conditions"), read_results("training_conditions_train"))
    layer_study_figure(read_results("stade_layer_study"))


if __name__ == "__main__":
    main()
