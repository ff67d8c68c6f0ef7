"""Tables from results/ only (never reruns a model): Markdown + LaTeX into figures/, and the README's blocks.

  python analysis/tables.py            # write figures/*.md, figures/*.tex and refresh README.md's generated blocks
  STADE_ANALYSIS_SCALE=full python analysis/tables.py    # results/full/ -> figures/full/ (README untouched)
Which results file feeds which table is declared in experiments/specs.py (Experiment.tables); each table names the
model and scale of our numbers and prints the papers' numbers beside them, labelled.
"""
from __future__ import annotations

import sys

from paths import ROOT, figures_dir, read_results, scale, shown
from tables_common import not_run_yet, update_readme
from tables_other import (bip_structured_table, corpora_table, peer_benchmark_table, pruning_cost_table,
                          embedded_models_table,
                          run_times_table, stade_layer_study_table, structured_speedup_table,
                          training_conditions_table, zero_shot_table)
from tables_perplexity import (allocator_table, calibration_samples_table, calibration_source_table,
                               comparison_group_table, main_perplexity_table, new_baselines_table,
                               weight_update_table)
from noise_table import noise_table
from tables_reproducibility import fresh_clone_table, reproducibility_table
from theory_table import theory_table

sys.path.insert(0, str(ROOT / "experiments"))
from specs import EXPERIMENTS, stages  # noqa: E402

# table name (README block) -> builder; its rows come from the experiment that declares the table
BUILDERS = {"main_perplexity": main_perplexity_table, "new_baselines": new_baselines_table,
            "pruning_cost": pruning_cost_table, "owl_high_sparsity": allocator_table, "neuroal_topup": allocator_table,
            "zero_shot": zero_shot_table, "wanda_comparison_group": comparison_group_table,
            "wanda_weight_update": weight_update_table, "wanda_calibration_samples": calibration_samples_table,
            "calibration_source": calibration_source_table, "bip_structured": bip_structured_table,
            "structured_speedup": structured_speedup_table, "training_conditions": training_conditions_table,
            "stade_layer_study": stade_layer_study_table, "corpora_stats": corpora_table,
            "peer_benchmark": peer_benchmark_table, "reproducibility": reproducibility_table,
            "embedded_models": embedded_models_table, "noise": noise_table, "fresh_clone": fresh_clone_table}
SOURCES = {table: e.name for e in EXPERIMENTS for table in e.tables}
TABLES = {name: (lambda rows, b=builder: b(rows)) for name, builder in BUILDERS.items()}
TABLES["theory_verdicts"] = theory_table


def build(name: str) -> tuple[str, str]:
    if name == "theory_verdicts":
        return theory_table([])
    return BUILDERS[name](read_results(SOURCES[name]))


def main() -> None:
    out = figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    blocks = {}
    for name in list(BUILDERS) + ["theory_verdicts"]:
        md, tex = build(name)
        if md:
            (out / f"{name}.md").write_text(md)
            if tex:
                (out / f"{name}.tex").write_text(tex)
            print(f"wrote {shown(out / name)}.md" + (" and .tex" if tex else ""))
        blocks[name] = md or not_run_yet(SOURCES.get(name, "theory"))
    if scale() == "default":  # the README embeds the default scale, which run_all.sh reproduces
        md, tex = run_times_table(stages("default"))
        if md:
            (out / "run_times.md").write_text(md)
            (out / "run_times.tex").write_text(tex)
            blocks["run_times"] = md
        update_readme(blocks)


if __name__ == "__main__":
    main()
