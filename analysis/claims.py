"""The claims table: every claim of analysis/claims_spec.py evaluated at the default and the full scale, from
results/ only: per cell an estimate with its 95% interval (windows x seeds, analysis/evidence.py) and a verdict
against the criterion fixed in the spec; per claim the verdict and the cell counts.

  python analysis/claims.py        # figures/claims.md, figures/claims_cells.md and the README's claims block
"""
from __future__ import annotations

from collections import Counter
from typing import Optional

from claims_spec import CLAIMS, Claim, Sel
from evidence import Interval, bootstrap, make_cell, pct, units_of, verdict
from paths import ROOT, SCALE_DIRS, read_jsonl, results_root, scale
from tables_common import update_readme

FIGURES = ROOT / "figures"
SCALES_SHOWN = ("default", "full")
ORDER = ("holds", "does not hold", "inconclusive", "not run")


def claim_rows(claim: Claim, at: str) -> list[dict]:
    folder = results_root() if claim.experiment.startswith("theory_") else results_root() / SCALE_DIRS[at]
    return read_jsonl(folder / f"{claim.experiment}.jsonl")


def matches(row: dict, sel: Sel) -> bool:
    calibration = row.get("calibration") or {}
    config = row.get("config") or {}
    model = (row.get("model") or {}).get("model")
    return (row.get("method") == sel.method and row.get("pattern") == sel.pattern
            and row.get("allocator", "uniform") == sel.allocator
            and (sel.sparsity is None or abs(row.get("sparsity_target", -1) - sel.sparsity) < 1e-9)
            and (sel.model == "*" or model == sel.model)
            and (sel.source is None or calibration.get("source") == sel.source)
            and (sel.nsamples is None or calibration.get("nsamples") == sel.nsamples)
            and config.get("layers") == sel.layers
            and (sel.recipe is None or row.get("recipe") == sel.recipe))


def _display(claim: Claim, value: float) -> str:
    return f"{value:+.1f} pt" if claim.kind == "zero_shot" else pct(value)


def same_windows(selected: dict[str, list[dict]], kind: str) -> dict[str, list[dict]]:
    """Each cell's rows restricted to the largest number of windows (items) that every cell has rows for: a pair is
    only compared on the same evaluation windows, so rows of another protocol (e.g. a preset's 80 windows beside a
    grid's 40) are left out rather than mixed; no common count leaves every cell empty ("not run")."""
    units = {name: [(r, units_of(r, kind)) for r in rs] for name, rs in selected.items()}
    common = set.intersection(*({u for _, u in pairs} - {None} for pairs in units.values())) if units else set()
    if not common:
        return {name: [] for name in selected}
    n = max(common)
    return {name: [r for r, u in pairs if u in (n, None)] for name, pairs in units.items()}


def evaluate_cell(claim: Claim, cell, rows: list[dict]) -> dict:
    selected = same_windows({name: [r for r in rows if matches(r, sel)] for name, sel in cell.select.items()},
                            claim.kind)
    cells = {name: make_cell(name, rs, claim.kind) for name, rs in selected.items()}
    out = {"label": cell.label, "threshold": cell.threshold, "sense": cell.sense}
    if any(c is None for c in cells.values()):
        return {**out, "verdict": "not run"}
    if claim.condition:
        reason = CONDITIONS[claim.condition](claim, cell, rows)
        if reason:
            return {**out, "verdict": "inconclusive", "note": reason}
    interval = bootstrap(cells, cell.statistic)
    return {**out, "verdict": verdict(interval, cell.threshold, cell.sense), "interval": interval}


def _learned_enough(claim: Claim, cell, rows: list[dict]) -> Optional[str]:
    """Training conditions: every trained model must lose >= 10% perplexity to Wanda at 50%, else no metric can
    matter and the comparison says nothing."""
    for sel in cell.select.values():
        for row in (r for r in rows if matches(r, sel)):
            dense = next((r for r in rows if r["method"] == "dense" and r["model"]["model"] == row["model"]["model"]),
                         None)
            wanda = next((r for r in rows if r["method"] == "wanda" and r["model"]["model"] == row["model"]["model"]),
                         None)
            if dense and wanda and next(iter(wanda["ppl"].values())) < 1.10 * next(iter(dense["ppl"].values())):
                return (f"{row.get('recipe')} seed {row.get('train_seed', 0)}: Wanda at 50% costs "
                        f"{next(iter(wanda['ppl'].values())) / next(iter(dense['ppl'].values())) - 1:.1%} (< 10%): "
                        "the model did not learn enough for a metric to matter")
    return None


CONDITIONS = {"learned_enough": _learned_enough}


# ------------------------------------------------------------------------------------------ measured claims
def _speed(claim: Claim, rows: list[dict]) -> Optional[dict]:
    solve = {r["method"]: r["solve_s"] for r in rows}
    if "wanda" not in solve or "sparsegpt" not in solve:
        return None
    ratio = solve["sparsegpt"] / solve["wanda"]
    return {"label": "solve time", "verdict": "holds" if ratio >= 100 else "does not hold",
            "text": f"SparseGPT {ratio:.0f}x Wanda"}


def _theory(claim: Claim, _rows: list[dict]) -> Optional[dict]:
    from theory_table import predictions
    checks = predictions()
    if not checks:
        return None
    held = sum(c["holds"] for c in checks)
    return {"label": "predictions", "verdict": "holds" if held == len(checks) else "does not hold",
            "text": f"{held}/{len(checks)} predictions"}


def _centring(claim: Claim, rows: list[dict]) -> Optional[dict]:
    by_model: dict[str, list] = {}
    for r in rows:
        if "normalized_input" in r and "median_mean2_over_var" in r:
            by_model.setdefault(r["model"], []).append(r)
    if not by_model:
        return None
    parts, ok = [], True
    for model, layers in by_model.items():
        norm = sorted(l["median_mean2_over_var"] for l in layers if l["normalized_input"])
        other = sorted(l["median_mean2_over_var"] for l in layers if not l["normalized_input"])
        if not norm or not other:
            continue
        a, b = other[len(other) // 2], norm[len(norm) // 2]
        ok &= a > b
        parts.append(f"{model}: {a:.2f} vs {b:.2f}")
    return {"label": "per family", "verdict": "holds" if ok else "does not hold", "text": "; ".join(parts)}


def _bip_bound(claim: Claim, rows: list[dict]) -> Optional[dict]:
    if not rows:
        return None
    s = rows[-1]["summary"]["bip"]
    holds = s["bound_holds_groups"] == 1.0 and s["bound_holds_channels"] == 1.0
    return {"label": "units", "verdict": "holds" if holds else "does not hold",
            "text": f"groups {100 * s['bound_holds_groups']:.0f}%, channels {100 * s['bound_holds_channels']:.0f}%"}


MEASURED = {"speed": _speed, "theory": _theory, "centring": _centring, "bip_bound": _bip_bound}


# ------------------------------------------------------------------------------------------ claims
def aggregate(cells: list[dict]) -> str:
    run = [c["verdict"] for c in cells if c["verdict"] != "not run"]
    if not run:
        return "not run"
    if all(v == "holds" for v in run):
        return "holds"
    if any(v == "does not hold" for v in run):
        return "does not hold"
    return "inconclusive"


def evaluate(claim: Claim, at: str) -> dict:
    rows = claim_rows(claim, at)
    if claim.kind == "measured":
        result = MEASURED[claim.measured](claim, rows)
        cells = [result] if result else []
    else:
        cells = [evaluate_cell(claim, cell, rows) for cell in claim.cells]
    return {"claim": claim, "scale": at, "cells": cells, "verdict": aggregate(cells)}


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (a criterion such as |log ratio| must not split the row)."""
    return text.replace("|", "\\|")


def _counts(cells: list[dict]) -> str:
    """Every cell's verdict counted, the cells that did not run included (a verdict on 2 of 5 cells says so)."""
    counts = Counter(c["verdict"] for c in cells)
    if set(counts) <= {"not run"}:
        return ""
    return ", ".join(f"{counts[v]} {v}" for v in ORDER if counts.get(v))


def _headline(result: dict) -> str:
    claim = result["claim"]
    for cell in result["cells"]:
        if "interval" in cell:
            i: Interval = cell["interval"]
            return (f"{cell['label']}: {_display(claim, i.estimate)} [{_display(claim, i.low)}, "
                    f"{_display(claim, i.high)}]")
        if "text" in cell:
            return cell["text"]
        if "note" in cell:
            return cell["note"]
    return ""


def claims_table() -> str:
    lines = ["| paper | claim | criterion (fixed in analysis/claims_spec.py) | default scale | verdict | full scale | "
             "verdict | paper |", "|---|---|---|---|---|---|---|---|"]
    for claim in CLAIMS:
        cells = []
        for at in SCALES_SHOWN:
            result = evaluate(claim, at)
            counts = _counts(result["cells"])
            verdict_text = result["verdict"] + (f" ({counts})" if counts and len(result["cells"]) > 1 else "")
            cells += [_headline(result), verdict_text]
        lines.append(f"| {claim.paper} | {_cell(claim.statement)} | {_cell(claim.criterion)} | " + " | ".join(cells)
                     + f" | {_cell(claim.paper_value)} |")
    return "\n".join(lines) + (
        "\n\nGenerated by analysis/claims.py from results/, results/full/ and analysis/claims_spec.py. Estimates are "
        "the change of perplexity of the claim's method relative to its comparison (or the accuracy difference in "
        "points), with the 95% bootstrap interval over evaluation windows and calibration seeds, in the first cell "
        "that ran; every cell is in figures/claims_cells.md. A claim holds only if every cell that ran holds; the "
        "counts in brackets cover all the cells the claim names, those a scale's grid does not run included. Ours: "
        "SmolLM2-135M (embedded), and Gemma-3-270M and Qwen2.5-0.5B where a cell names them; the papers' numbers "
        "are their models (mostly LLaMA-7B).\n")


def cells_table() -> str:
    lines = ["| claim | cell | scale | estimate | 95% interval | seeds | windows/items | criterion | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for claim in CLAIMS:
        for at in SCALES_SHOWN:
            for cell in evaluate(claim, at)["cells"]:
                if "interval" in cell:
                    i = cell["interval"]
                    shown = (_display(claim, i.estimate), f"[{_display(claim, i.low)}, {_display(claim, i.high)}]",
                             str(i.seeds), str(i.units))
                else:
                    shown = (cell.get("text", cell.get("note", "")), "", "", "")
                criterion = (f"{cell['sense']} {_display(claim, cell['threshold'])}" if "threshold" in cell else "")
                lines.append(f"| {claim.id} | {cell['label']} | {at} | " + " | ".join(shown)
                             + f" | {criterion} | {cell['verdict']} |")
    return "\n".join(lines) + "\n"


def _family_of(cell_spec) -> Optional[str]:
    models = {sel.model for sel in cell_spec.select.values()}
    return next(iter(models)) if len(models) == 1 and "*" not in models else None


def families_table() -> str:
    """Per claim whose cells name a family: the verdict (and cell counts) of each family's cells, per scale."""
    from claims_spec import FAMILIES
    head = ["claim"] + [f"{m} ({at})" for at in SCALES_SHOWN for m in FAMILIES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for claim in CLAIMS:
        fams = [_family_of(c) for c in claim.cells]
        if claim.kind == "measured" or len({f for f in fams if f}) < 2:
            continue
        cells = []
        for at in SCALES_SHOWN:
            result = evaluate(claim, at)
            for m in FAMILIES:
                mine = [c for c, f in zip(result["cells"], fams) if f == m]
                verdict = aggregate(mine) if mine else "–"
                counts = _counts(mine)
                cells.append(verdict + (f" ({counts})" if counts and len(mine) > 1 else ""))
        lines.append(f"| {claim.paper}: {claim.statement} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + (
        "\n\nThe claims whose cells cover the three families, one column per family and scale (analysis/claims.py); "
        "at the default scale Gemma-3 and Qwen2.5 hold the cells of two claims (magnitude vs Wanda, STADE vs Wanda "
        "at 50%, 3 seeds), the full scale all of them.\n")


def summary() -> str:
    """One line per claim and the verdict counts at the analysed scale: what run_all.sh prints at the end."""
    verdicts, lines = Counter(), []
    for claim in CLAIMS:
        result = evaluate(claim, scale())
        verdicts[result["verdict"]] += 1
        lines.append(f"  [{result['verdict']}] {claim.paper}: {claim.statement} {_headline(result)}")
    counts = ", ".join(f"{verdicts[v]} {v}" for v in ORDER if verdicts.get(v))
    return f"claims checked at the {scale()} scale: {counts}\n" + "\n".join(lines)


def main() -> None:
    FIGURES.mkdir(exist_ok=True)
    table, cells, families = claims_table(), cells_table(), families_table()
    (FIGURES / "claims.md").write_text(table)
    (FIGURES / "claims_cells.md").write_text(cells)
    (FIGURES / "claims_families.md").write_text(families)
    update_readme({"claims": table, "claims_families": families})
    print("wrote figures/claims.md and figures/claims_cells.md")
    print(summary())


if __name__ == "__main__":
    main()

