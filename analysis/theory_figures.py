"""Figure from results/theory_crossover.jsonl: excess output error of each metric's mask over the best achievable
(the compensated exhaustive optimum) as the input means grow relative to their spread."""
from __future__ import annotations

import matplotlib.pyplot as plt

from plotting import read_results, save_figure

# figure -> the results files it is drawn from (tests/test_analysis.py checks figures are not older)
INPUTS = {"theory_real_model": ["theory_real_model"], "theory_crossover": ["theory_crossover"]}
LABELS = {"magnitude": "magnitude |W|", "wanda": "Wanda |W|·‖x‖", "stade": "STADE W²Var + bias comp.",
          "stade_nocomp": "W²Var, no comp.", "stade_star": "STADE* W²(Var+μ²)"}


def real_model_figure() -> None:
    """Median mu^2/Var of each layer type's input channels, per block, on the embedded model."""
    rows = [r for r in read_results("theory_real_model") if "block" in r]
    if not rows:
        print("skip: results/theory_real_model.jsonl missing (run theory/check_real_model.py)")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for layer in dict.fromkeys(r["layer"] for r in rows):
        rs = [r for r in rows if r["layer"] == layer]
        style = "-" if rs[0]["normalized_input"] else "--"
        ax.plot([r["block"] for r in rs], [r["median_mean2_over_var"] for r in rs], style, marker=".",
                label=f"{layer} ({'norm' if rs[0]['normalized_input'] else 'no norm'} input)")
    ax.set_yscale("log")
    ax.set_xlabel("decoder block")
    ax.set_ylabel("median over channels of μ²/Var(x)")
    ax.set_title(f"Input centring per layer, {rows[0]['model']} ({rows[0]['nsamples']}x{rows[0]['seqlen']} tokens)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    save_figure(fig, "theory_real_model")


def main() -> None:
    real_model_figure()
    rows = read_results("theory_crossover")
    if not rows:
        print("skip: results/theory_crossover.jsonl missing (run theory/check_crossover.py)")
        return
    x = [r["mean_scale"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for metric, label in LABELS.items():
        ax.plot(x, [100 * r[metric]["mean_excess_vs_best"] for r in rows], marker="o", label=label,
                linestyle="--" if metric == "stade_star" else "-")
    ax.set_xlabel("input mean scale (|μ| relative to σ ∈ [0.2, 2])")
    ax.set_ylabel("excess E[e²] over the best mask (%)")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_title(f"Synthetic rows, d={rows[0]['d']}, half pruned, {rows[0]['trials']} trials per point")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, "theory_crossover")


if __name__ == "__main__":
    main()
