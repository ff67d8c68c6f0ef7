"""Figures of the Wanda paper's analyses, from results/ only (never reruns a model).

  calibration_samples.png   perplexity vs number of calibration sequences, one line per method, min-max over draws
  outlier_features.png      per layer and depth: largest input-channel norm / median, share of channels > 5x the
                            median, and the share of Wanda's pruned weights that magnitude would keep
  python analysis/wanda_figures.py
"""
from __future__ import annotations

from collections import Counter

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter, ScalarFormatter

from plotting import read_results, save_figure

# figure -> the results files it is drawn from (tests/test_analysis.py checks figures are not older)
INPUTS = {"calibration_samples": ["wanda_calibration_samples"], "outlier_features": ["wanda_outlier_features"]}
METHOD_STYLE = {"wanda": ("tab:blue", "o"), "sparsegpt": ("tab:green", "s"), "stade": ("tab:red", "^")}
GROUP_NAMES = ("attention input", "attention output projection input", "MLP input", "MLP output projection input")


def input_groups(layers: list[dict]) -> dict[str, str]:
    """The four inputs of a block, found from block 0's layers by what reads a norm output (no layer names): the
    first norm-fed layer (q/k/v share its input), the first layer after it that does not read a norm output, then
    the next of each (gate/up; down_proj)."""
    block0 = [l for l in layers if l["block"] == 0]
    out, want = {}, [True, False, True, False]
    for name, normalized in zip(GROUP_NAMES, want):
        start = 0 if not out else block0.index(next(l for l in block0 if l["layer"] == list(out.values())[-1])) + 1
        hit = next((l for l in block0[start:] if l["normalized_input"] == normalized), None)
        if hit:
            out[name] = hit["layer"]
    return out


def calibration_samples_figure(rows: list[dict]) -> None:
    pruned = [r for r in rows if r["method"] != "dense"]
    if not pruned:
        print("skip calibration_samples: no results yet")
        return
    corpus = next(iter(pruned[0]["ppl"]))
    from tables_common import ordered_methods
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for method in ordered_methods(r["method"] for r in pruned):
        color, marker = METHOD_STYLE.get(method, (None, "x"))
        cells: dict[int, list[float]] = {}
        for r in pruned:
            if r["method"] == method:
                cells.setdefault(r["calibration"]["nsamples"], []).append(r["ppl"][corpus])
        if not cells:
            continue
        counts = sorted(cells)
        means = [sum(cells[n]) / len(cells[n]) for n in counts]
        low = [m - min(cells[n]) for m, n in zip(means, counts)]
        high = [max(cells[n]) - m for m, n in zip(means, counts)]
        ax.errorbar(counts, means, yerr=[low, high], color=color, marker=marker, capsize=3, label=method)
    dense = next((r["ppl"][corpus] for r in rows if r["method"] == "dense"), None)
    if dense:
        ax.axhline(dense, color="k", lw=0.8, ls=":", label="dense")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    ax.set_yticks([t for t in (10, 15, 20, 30, 40, 60, 80, 100, 150, 200, 300, 500, 1000) if low <= t <= high])
    ax.yaxis.set_major_formatter(ScalarFormatter())  # plain perplexities, not 6x10^1
    ax.yaxis.set_minor_formatter(NullFormatter())
    counts = sorted({r["calibration"]["nsamples"] for r in pruned})
    ax.set_xticks(counts, [str(n) for n in counts])
    ax.set_xlabel(f"calibration sequences ({pruned[0]['calibration']['seqlen']} tokens each)")
    ax.set_ylabel(f"perplexity on {corpus} (log)")
    ax.set_title(f"50% unstructured, {pruned[0]['model']['model']} ({pruned[0]['scale']} scale)\n"
                 "mean over calibration draws, bars = min-max", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    save_figure(fig, "calibration_samples")


def outlier_features_figure(rows: list[dict]) -> None:
    if not rows:
        print("skip outlier_features: no results yet")
        return
    row = rows[0]
    panels = [("max_over_median", "largest channel norm / median (log)"),
              ("share_above", "share of channels > 5x median"),
              ("wanda_prunes_magnitude_keeps", "Wanda-pruned weights\nthat magnitude keeps (50%)")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    groups = input_groups(row["layers"])
    for label, layer in groups.items():
        points = sorted((l["block"], l) for l in row["layers"] if l["layer"] == layer)
        blocks = [b for b, _ in points]
        for ax, (field, _) in zip(axes, panels):
            values = [l[field]["5"] if field == "share_above" else l[field] for _, l in points]
            ax.plot(blocks, values, marker=".", label=label)
    for ax, (field, ylabel) in zip(axes, panels):
        ax.set_xlabel("block")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=7)
    residual = [l["top_channels"][0] for l in row["layers"] if l["layer"] == groups["attention input"]]
    channel, times = Counter(residual).most_common(1)[0]
    fig.suptitle(f"Input-channel norms of the dense {row['model']} model over {row['nsamples']} x {row['seqlen']} calibration "
                 f"tokens: channel {channel} is the largest attention input in {times} of {len(residual)} blocks",
                 fontsize=10)
    save_figure(fig, "outlier_features")


def main() -> None:
    calibration_samples_figure(read_results("wanda_calibration_samples"))
    outlier_features_figure(read_results("wanda_outlier_features"))


if __name__ == "__main__":
    main()
