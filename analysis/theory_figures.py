"""Figure from results/theory_crossover.jsonl: excess output error of each metric's mask over the best achievable
(the compensated exhaustive optimum) as the input means grow relative to their spread."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LABELS = {"magnitude": "magnitude |W|", "wanda": "Wanda |W|·‖x‖", "stade": "STADE W²Var + bias comp.",
          "stade_nocomp": "W²Var, no comp.", "stade_star": "STADE* W²(Var+μ²)"}


def real_model_figure() -> None:
    """Median mu^2/Var of each layer type's input channels, per block, on the embedded model."""
    path = ROOT / "results" / "theory_real_model.jsonl"
    if not path.exists():
        print(f"skip: {path} missing (run theory/check_real_model.py)")
        return
    rows = [json.loads(l) for l in path.read_text().splitlines() if l.strip() and '"block"' in l]
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
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(ROOT / "figures" / f"theory_real_model.{ext}", dpi=150)
    print("wrote figures/theory_real_model.png and .pdf")


def main() -> None:
    real_model_figure()
    path = ROOT / "results" / "theory_crossover.jsonl"
    if not path.exists():
        print(f"skip: {path} missing (run theory/check_crossover.py)")
        return
    rows = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
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
    fig.tight_layout()
    (ROOT / "figures").mkdir(exist_ok=True)
    for ext in ("png", "pdf"):
        fig.savefig(ROOT / "figures" / f"theory_crossover.{ext}", dpi=150)
    print("wrote figures/theory_crossover.png and .pdf")


if __name__ == "__main__":
    main()
