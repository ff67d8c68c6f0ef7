"""Tables from results/ only (never reruns a model): Markdown + LaTeX into figures/, and the README's blocks.

  python analysis/tables.py            # write figures/*.md, figures/*.tex and refresh README.md's generated blocks
Each table names the model and scale of our numbers and prints the papers' numbers beside them, labelled.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS, FIGURES = ROOT / "results", ROOT / "figures"
METHOD_ORDER = ["dense", "magnitude", "wanda", "sparsegpt", "stade", "stade_nocomp", "stade_all", "stade_all_nocomp",
                "stade_star"]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def paper_numbers() -> list[dict]:
    with open(ROOT / "analysis" / "paper_numbers.csv") as f:
        return list(csv.DictReader(f))


def _column(method: str, pattern: str, sparsity: float) -> str:
    if method == "dense":
        return "dense"
    return pattern if pattern != "unstructured" else f"{float(sparsity):.0%}"


def main_perplexity_table(rows: list[dict]) -> tuple[str, str]:
    """Methods x patterns; ours (SmolLM2 default scale) beside Wanda Table 3's LLaMA-7B."""
    if not rows:
        return "", ""
    model = rows[0]["model"]["model"]
    corpus = next(iter(rows[0]["ppl"]))
    calib = rows[0]["config"]
    ours = {(r["method"], _column(r["method"], r["pattern"], r["sparsity_target"])): r["ppl"][corpus] for r in rows}
    paper = {(p["method"], _column(p["method"], p["pattern"], p["sparsity"])): p["value"]
             for p in paper_numbers() if p["paper"] == "wanda" and p["model"] == "LLaMA-7B" and p["metric"] == "ppl"}
    cols = ["dense", "50%", "4:8", "2:4"]
    methods = [m for m in METHOD_ORDER if any(k[0] == m for k in ours)]
    head = "| method | " + " | ".join(f"ours {c}" for c in cols) + " | " + " | ".join(f"paper {c}" for c in cols) + " |"
    lines = [head, "|---" * (2 * len(cols) + 1) + "|"]
    tex = ["\\begin{tabular}{l" + "r" * 2 * len(cols) + "}", "method & " + " & ".join(
        [f"ours {c}" for c in cols] + [f"paper {c}" for c in cols]).replace("%", "\\%") + " \\\\ \\hline"]
    for m in methods:
        cells = [f"{ours[(m, c)]:.2f}" if (m, c) in ours else "" for c in cols]
        pcells = [paper.get((m, c), "") for c in cols]
        lines.append(f"| {m} | " + " | ".join(cells) + " | " + " | ".join(pcells) + " |")
        tex.append(m.replace("_", "\\_") + " & " + " & ".join(cells + pcells) + " \\\\")
    tex.append("\\end{tabular}")
    caption = (f"Perplexity on `{corpus}` ({rows[0]['eval_sizes'][corpus]['tokens']} tokens, windows of "
               f"{rows[0]['eval_sizes'][corpus]['seqlen']}), model `{model}` ({rows[0]['scale']} scale), calibration "
               f"{calib['nsamples']} x {calib['seqlen']} tokens of `{calib['calib']}`, seed {calib['seed']}. "
               "Paper columns: Wanda paper Table 3, LLaMA-7B on WikiText-2 (a different model and corpus: compare "
               "orderings, not values).")
    return "\n".join(lines) + "\n\n" + caption + "\n", "\n".join(tex) + "\n"


def pruning_cost_table(rows: list[dict]) -> tuple[str, str]:
    if not rows:
        return "", ""
    r0 = rows[0]
    lines = ["| method | prune time / dense forward | (decoder only) | solve s | forward passes | peak RSS / model RSS |",
             "|---|---|---|---|---|---|"]
    tex = ["\\begin{tabular}{lrrrrr}", "method & time ratio & decoder ratio & solve s & passes & memory ratio \\\\ \\hline"]
    for r in sorted(rows, key=lambda r: METHOD_ORDER.index(r["method"]) if r["method"] in METHOD_ORDER else 99):
        cells = [f"{r['time_ratio']:.2f}x", f"{r['time_ratio_decoder']:.2f}x", f"{r['solve_s']:.1f}",
                 str(r["forward_passes"]), f"{r['memory_ratio']:.2f}x"]
        lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
        tex.append(r["method"] + " & " + " & ".join(c.replace("x", "$\\times$") for c in cells) + " \\\\")
    tex.append("\\end{tabular}")
    machine = r0["provenance"]["machine"]
    caption = (f"Model `{r0['model']['model']}`, calibration {r0['calibration']['nsamples']} x "
               f"{r0['calibration']['seqlen']} tokens, batches of {r0['batch_size']}, {machine['cpu_threads']} CPU "
               f"threads{', GPU ' + machine['gpu'] if machine.get('gpu') else ''}; dense forward = "
               f"{r0['dense_forward_s']:.1f} s for the whole model. 'solve' is the Wanda paper's notion of pruning "
               "time (metric + mask + update, no forward passes); the paper reports 0.54 s (Wanda) vs 203.1 s "
               "(SparseGPT) for LLaMA-7B on an A100 (unverified transcription).")
    return "\n".join(lines) + "\n\n" + caption + "\n", "\n".join(tex) + "\n"


def corpora_table(rows: list[dict]) -> tuple[str, str]:
    if not rows:
        return "", ""
    lines = ["| corpus | split | documents | words | SmolLM2 tokens | dense ppl (16 x 512, eval split) |",
             "|---|---|---|---|---|---|"]
    tex = ["\\begin{tabular}{llrrrr}", "corpus & split & documents & words & tokens & dense ppl \\\\ \\hline"]
    for r in rows:
        for split, s in r["splits"].items():
            ppl = f"{r['dense_ppl_16x512']:.2f}" if split == "test" else ""
            cells = [str(s["documents"]), f"{s['words']:,}", f"{s['tokens']:,}", ppl]
            lines.append(f"| `{r['corpus']}` | {split} | " + " | ".join(cells) + " |")
            tex.append(r["corpus"].replace("_", "\\_") + f" & {split} & " + " & ".join(cells).replace(",", "{,}")
                       + " \\\\")
    tex.append("\\end{tabular}")
    removed = rows[0].get("removed_as_in_both")
    note = (f"{removed} vital articles that are also in the excerpt were removed from `wiki_vital`, so no article "
            "is in both corpora." if removed is not None else "")
    return "\n".join(lines) + "\n\n" + note + "\n", "\n".join(tex) + "\n"


def update_readme(blocks: dict[str, str]) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    for name, body in blocks.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
        if body and pattern.search(text):
            text = pattern.sub(lambda m: m.group(1) + body + m.group(2), text)
    readme.write_text(text)


def main() -> None:
    FIGURES.mkdir(exist_ok=True)
    blocks = {}
    for name, builder in (("main_perplexity", main_perplexity_table), ("pruning_cost", pruning_cost_table),
                          ("corpora_stats", corpora_table)):
        md, tex = builder(read_jsonl(RESULTS / f"{name}.jsonl"))
        if md:
            (FIGURES / f"{name}.md").write_text(md)
            (FIGURES / f"{name}.tex").write_text(tex)
            blocks[name] = md
            print(f"wrote figures/{name}.md and .tex")
    update_readme(blocks)


if __name__ == "__main__":
    main()
