"""How noisy one perplexity number is, measured on the committed rows (issue 21's noise figures).

Per method at 50% unstructured on the default model, from the per-window mean NLLs l_w (w = 1..n windows) of each
calibration seed's row:
  window interval   ppl's 95% interval from the windows alone: exp(mean(l) +/- 1.96 sd(l) / sqrt(n)), as +/-%
  seed spread       relative SD of ppl over the calibration seeds (what one calibration draw can move)
  paired SD         sd_w(l_w(method) - l_w(Wanda)) on the same windows and seed: the noise of a comparison
  resolved gap      1.96 * paired SD / sqrt(n): the smallest ppl ratio the windows can resolve, as %
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from evidence import seed_of, window_nll
from tables_common import _emit, _finish, _header, ordered_methods


def noise_table(rows: list[dict]) -> tuple[str, str]:
    rows = [r for r in rows if r.get("sparsity_target") == 0.5 and r.get("pattern") == "unstructured"
            and r.get("allocator") == "uniform" and r["model"].get("embedded") == "smollm2-135m"
            and r.get("ppl_windows")]
    by_method: dict[str, dict[tuple, np.ndarray]] = defaultdict(dict)
    for r in rows:
        by_method[r["method"]][seed_of(r)] = window_nll(r)
    wanda = by_method.get("wanda", {})
    if not wanda:
        return "", ""
    n = len(next(iter(wanda.values())))
    lines, tex = _header(["method", "seeds", "ppl (geometric mean over seeds)", "window interval (one run)",
                          "seed spread (SD)", "paired SD vs Wanda", "resolved gap at n windows"])
    for method in ordered_methods(by_method):
        seeds = by_method[method]
        means = np.array([v.mean() for v in seeds.values()])
        half = np.mean([1.96 * v.std(ddof=1) / math.sqrt(len(v)) for v in seeds.values()])
        spread = float(np.std(np.exp(means), ddof=1) / np.mean(np.exp(means))) if len(seeds) > 1 else None
        pairs = [seeds[s] - wanda[s] for s in seeds if s in wanda and method != "wanda"]
        paired = float(np.mean([d.std(ddof=1) for d in pairs])) if pairs else None
        _emit(lines, tex, method, [
            str(len(seeds)), f"{math.exp(means.mean()):.2f}", f"+/-{100 * (math.exp(half) - 1):.1f}%",
            "" if spread is None else f"{100 * spread:.1f}%", "" if paired is None else f"{paired:.3f}",
            "" if paired is None else f"{100 * (math.exp(1.96 * paired / math.sqrt(n)) - 1):.1f}%"])
    caption = (f"Default model at 50% unstructured, {n} evaluation windows per row (analysis/noise_table.py). "
               "Window interval: the 95% interval of one run's perplexity from its windows; seed spread: the "
               "relative SD over calibration seeds; paired SD: the SD over windows of the per-window NLL difference "
               "to Wanda with the same seed; resolved gap: the smallest perplexity ratio a paired comparison resolves "
               "at these windows (1.96 paired SD / sqrt(n)). The claims table combines both sources of noise.")
    return _finish(lines, tex, caption)
