"""What every table builder shares: the papers' numbers, method order, the Markdown/LaTeX writers, and the
README's generated blocks. Pure Python (no torch)."""
from __future__ import annotations

import csv
import re

from paths import ROOT

METHOD_ORDER = ["dense", "magnitude", "magnitude_lsq", "magnitude_admm", "wanda", "wanda_lsq", "wanda_admm", "sparsegpt", "admm",
                "stade", "stade_nocomp",
                "stade_all", "stade_all_nocomp", "stade_star", "ria", "ria_row", "dsnot", "dsnot_stade", "pruner_zero"]


def ordered_methods(present, order: list[str] = METHOD_ORDER) -> list[str]:
    """The methods present, known ones in `order`, then any others (a newly added baseline) as they come."""
    seen = list(dict.fromkeys(present))
    return [m for m in order if m in seen] + [m for m in seen if m not in order]


def paper_numbers() -> list[dict]:
    with open(ROOT / "analysis" / "paper_numbers.csv") as f:
        return list(csv.DictReader(f))


def _tex(text: str) -> str:
    return text.replace("`", "").replace("_", "\\_").replace("%", "\\%")


def _header(head: list[str], tex_head: str | None = None, align: str | None = None) -> tuple[list[str], list[str]]:
    """Start a table: the Markdown header and separator, the LaTeX tabular and its header row."""
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    tex = [f"\\begin{{tabular}}{{{align or 'l' + 'r' * (len(head) - 1)}}}",
           (tex_head or " & ".join(_tex(h) for h in head)) + " \\\\ \\hline"]
    return lines, tex


def _finish(lines: list[str], tex: list[str], caption: str) -> tuple[str, str]:
    tex.append("\\end{tabular}")
    return "\n".join(lines) + "\n\n" + caption + "\n", "\n".join(tex) + "\n"


def _emit(lines: list[str], tex: list[str], label: str, cells: list[str]) -> None:
    """Append one table row to the Markdown and LaTeX versions."""
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
    tex.append(_tex(label) + " & " + " & ".join(
        re.sub(r"(\d)x$", r"\1$\\times$", c.replace("%", "\\%").replace(",", "{,}")) for c in cells) + " \\\\")


def _column(method: str, pattern: str, sparsity: float) -> str:
    if method == "dense":
        return "dense"
    return pattern if pattern != "unstructured" else f"{float(sparsity):.0%}"


def not_run_yet(name: str) -> str:
    """What a README block says while its experiment has no rows at this scale."""
    return f"_Not run yet at this scale: `bash run_all.sh --only {name}`._\n"


def update_readme(blocks: dict[str, str]) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    for name, body in blocks.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
        if body and pattern.search(text):
            text = pattern.sub(lambda m: m.group(1) + body + m.group(2), text)
    readme.write_text(text)


