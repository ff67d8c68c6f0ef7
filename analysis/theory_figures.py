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


def main() -> None:
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
