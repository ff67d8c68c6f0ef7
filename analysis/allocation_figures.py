"""Figures from results/owl_high_sparsity.jsonl and results/neuroal_topup.jsonl (never reruns a model).

  allocation_ppl.png       perplexity vs sparsity, one panel per scorer, one line per allocator (log scale)
  allocation_profile.png   per-block sparsity at 70%: OWL (with each block's outlier ratio) and NeuroAL's choice
  python analysis/allocation_figures.py
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from plotting import read_results, save_figure

# figure -> the results files it is drawn from (tests/test_analysis.py checks figures are not older)
INPUTS = {"allocation_ppl": ["owl_high_sparsity", "neuroal_topup"],
          "allocation_profile": ["owl_high_sparsity", "neuroal_topup"]}
STYLE = {"uniform": ("tab:gray", "o"), "owl": ("tab:blue", "s"), "neuroal": ("tab:red", "^"),
         "alpha": ("tab:green", "D")}  # allocators without an entry get matplotlib's next colour


def _rows() -> list[dict]:
    """Rows of both experiments on the primary model, one per run key (NeuroAL's file reuses OWL's rows)."""
    by_key = {}
    for name in ("owl_high_sparsity", "neuroal_topup"):
        for row in read_results(name):
            by_key.setdefault(row["key"], row)
    rows = list(by_key.values())
    primary = rows[0]["model"]["model"] if rows else None
    return [r for r in rows if r["model"]["model"] == primary]


def _mean_points(rows: list[dict], corpus: str) -> list[tuple[float, float]]:
    """(sparsity, geometric mean perplexity over seeds) sorted by sparsity."""
    import math
    cells: dict[float, list[float]] = {}
    for r in rows:
        cells.setdefault(r["sparsity_target"], []).append(math.log(r["ppl"][corpus]))
    return sorted((s, math.exp(sum(v) / len(v))) for s, v in cells.items())


def ppl_figure(rows: list[dict]) -> None:
    from tables_common import ordered_methods
    pruned = [r for r in rows if r["method"] != "dense"]
    scorers = ordered_methods(r["method"] for r in pruned)
    if not scorers:
        print("skip allocation_ppl: no allocator results yet")
        return
    corpus = next(iter(pruned[0]["ppl"]))
    dense = next((r["ppl"][corpus] for r in rows if r["method"] == "dense"), None)
    fig, axes = plt.subplots(1, len(scorers), figsize=(3.2 * len(scorers), 3.4), sharey=True, squeeze=False)
    for ax, scorer in zip(axes[0], scorers):
        allocators = list(dict.fromkeys(r["allocator"] for r in pruned))
        for allocator in sorted(allocators, key=lambda a: list(STYLE).index(a) if a in STYLE else len(STYLE)):
            pts = _mean_points([r for r in pruned if r["method"] == scorer and r["allocator"] == allocator], corpus)
            color, marker = STYLE.get(allocator, (None, "x"))
            if pts:
                ax.plot(*zip(*pts), color=color, marker=marker, label=allocator)
        if dense:
            ax.axhline(dense, color="k", lw=0.8, ls=":", label="dense")
        ax.set_yscale("log")
        ax.set_xticks(sorted({r["sparsity_target"] for r in pruned}))  # the same sparsity axis in every panel
        ax.set_xlim(min(ax.get_xticks()) - 0.05, max(ax.get_xticks()) + 0.05)
        ax.set_title(scorer)
        ax.set_xlabel("sparsity")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"perplexity ({corpus})")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"Layer-wise sparsity allocators (mean over calibration seeds), {pruned[0]['model']['model']} "
                 f"({pruned[0].get('scale')} scale)",
                 fontsize=10)
    save_figure(fig, "allocation_ppl")


def profile_figure(rows: list[dict], sparsity: float = 0.7) -> None:
    at = [r for r in rows if r.get("allocation") and abs(r["sparsity_target"] - sparsity) < 1e-9]
    owl = next((r for r in at if r["allocator"] == "owl"), None)
    neuro = [r for r in at if r["allocator"] == "neuroal"]
    alpha = next((r for r in at if r["allocator"] == "alpha"), None)
    if owl is None and not neuro and alpha is None:
        print("skip allocation_profile: no OWL/NeuroAL rows at 70% yet")
        return
    fig, ax = plt.subplots(figsize=(7, 3.8))
    if owl:
        blocks = owl["allocation"]["block_sparsity"]
        ax.plot(range(len(blocks)), blocks, color=STYLE["owl"][0], marker="s", label="OWL (any scorer)")
        ax2 = ax.twinx()
        ax2.bar(range(len(blocks)), [100 * d for d in owl["allocation"]["outlier_ratios"]], color="tab:blue",
                alpha=0.15)
        ax2.set_ylabel("outlier ratio D_l (%)", color="tab:blue")
    if alpha:
        blocks = alpha["allocation"]["block_sparsity"]
        ax.plot(range(len(blocks)), blocks, color=STYLE["alpha"][0], marker="D", ms=3,
                label="AlphaPruning (any scorer)")
    for r in neuro:
        info = r["allocation"]
        ax.plot(range(len(info["block_sparsity"])), info["block_sparsity"], marker="^", ms=3,
                label=f"NeuroAL on {r['method']} (lambda {info['block_lambda']})")
    ax.axhline(sparsity, color="k", lw=0.8, ls=":", label="uniform")
    ax.set_xlabel("decoder block")
    ax.set_ylabel("block sparsity")
    ax.set_title(f"Per-block sparsity at {sparsity:.0%}")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    save_figure(fig, "allocation_profile")


def main() -> None:
    rows = _rows()
    ppl_figure(rows)
    profile_figure(rows)


if __name__ == "__main__":
    main()
