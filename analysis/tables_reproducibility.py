"""The reproducibility tables: digits a rerun at 1 and 2 threads reproduces of the committed seed-0 rows, and what one
`bash run_all.sh` from a fresh clone reproduces of every committed default-scale row (and how long it took)."""
from __future__ import annotations

from tables_common import _emit, _finish, _header


def reproducibility_table(rows: list[dict]) -> tuple[str, str]:
    """Significant digits of the committed default rows a rerun reproduces, per method and thread count."""
    if not rows:
        return "", ""
    latest = {(r["method"], r["threads"]): r for r in rows}
    threads = sorted({t for _, t in latest})
    methods = list(dict.fromkeys(m for m, _ in latest))
    lines, tex = _header(["method", "committed ppl"] + [f"{t} thread{'s' if t > 1 else ''}" for t in threads])
    for m in methods:
        first = next(r for (mm, _), r in latest.items() if mm == m)
        cells = [f"{first['committed_ppl']:.6f}"]
        for t in threads:
            r = latest.get((m, t))
            cells.append(f"{r['ppl']:.6f} ({r['digits']} digits)" if r else "")
        _emit(lines, tex, m, cells)
    r0 = rows[0]
    old, new = r0["committed"], r0["provenance"]["machine"]
    caption = (f"Reruns of the committed default-scale rows (results/main_perplexity.jsonl, seed 0): committed on "
               f"{(old.get('machine') or {}).get('cpu', '?')} at {old.get('threads') or '?'} threads, rerun on "
               f"{new.get('cpu', '?')}; 16 digits = the same double (experiments/reproducibility.py).")
    return _finish(lines, tex, caption)


def fresh_clone_table(rows: list[dict]) -> tuple[str, str]:
    """Per results file of the latest fresh-clone run: rows compared, their digits, rows the clone did not produce."""
    summaries = [i for i, r in enumerate(rows) if r.get("file") is None]
    if not summaries:
        return "", ""
    last = summaries[-1]
    start = summaries[-2] + 1 if len(summaries) > 1 else 0
    files, summary = rows[start:last], rows[last]
    machine = (summary["provenance"].get("machine") or {}).get("cpu", "?")
    lines, tex = _header(["results file", "committed on", "rows compared", "digits: min", "median",
                          "rows below 4 digits", "committed rows it did not produce"])
    for r in files:
        groups = r.get("by_committed_cpu") or {"?": r}
        for i, (cpu, g) in enumerate(sorted(groups.items(), key=lambda item: item[0] != machine)):
            cells = [cpu if cpu != machine else f"{cpu} (same)", str(g["compared"]), _digits(g["digits_min"]),
                     _digits(g["digits_median"]), str(g["below_4_digits"]),
                     str(r["only_committed"]) if i == 0 else ""]
            _emit(lines, tex, f"`{r['file']}`" if i == 0 else "", cells)
    wall = summary.get("wall_s")
    took = f"took {wall / 60:.0f} min" if wall is not None else "was compared, not timed"
    changed, verdicts = summary.get("claims_changed"), summary.get("verdicts_changed")
    if summary["claims_block_identical"]:
        same = "equals the committed README's"
    elif changed is None:
        same = "differs from the committed README's"
    else:
        same = (f"differs from the committed README's in the estimates of {len(changed)} claim(s) and in "
                f"{len(verdicts)} default-scale verdict(s)" + (f" ({'; '.join(verdicts)})" if verdicts else ""))
    caption = (f"One `bash run_all.sh` from a fresh clone of {summary['clone_commit'][:7]} with an empty results "
               f"folder {took} on {machine} ({summary['provenance'].get('machine', {}).get('cpu_threads', '?')} "
               f"threads; set-up included, the asset and pip caches warm); its regenerated claims table {same}. "
               "Digits: the smallest number of significant digits on which a fresh row and the "
               "committed row of the same run agree over every float they hold (perplexities, per-window NLLs, "
               "zero-shot accuracies, allocations, theory statistics; timings left out), by the CPU model the "
               "committed row was computed on; 16 = the same doubles (experiments/fresh_clone.py).")
    return _finish(lines, tex, caption)


def _digits(value) -> str:
    if value is None:
        return ""
    return f"{value:g}"
