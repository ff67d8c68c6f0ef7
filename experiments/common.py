"""What every experiment script shares: scale presets, the resumable grid runner, and a printed table.

Scales
  tiny     a tiny random Llama-style model (random:llama, byte tokenizer), 8 x 128 calibration tokens, 8 x 128
           evaluation windows: the plumbing of every script in seconds (tests, run_all.sh --scale tiny).
  default  the embedded SmolLM2-135M: 16 x 256 calibration tokens (enwiki_excerpt), 16 x 512 evaluation tokens
           (wiki_vital), each experiment's core grid; every experiment in under 2 hours on 2 CPU cores.
  full     the same model with 32 x 512 calibration and 80 x 512 evaluation tokens and every grid point (all
           sparsities, patterns, sources, sample counts, zero-shot on all examples): about 10 hours on 2 cores.
  paper    the papers' protocol: 128 x 2048 C4 calibration (seed 0), full WikiText-2 test, float16 on a GPU, the
           papers' models from the Hub (needs --online, a GPU and disk).
A script writes rows to results/<name>.jsonl (default and paper scale), results/full/ or results/tiny/ (results/ can
be moved with $STADE_RESULTS_DIR), skips the rows it already has (same run key), and appends each finished row
atomically, so an interrupted run resumes.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from methods import PruneConfig, run  # noqa: E402
from methods.results import append_rows, done_keys, read_rows, results_root, run_key  # noqa: E402

SCALES = {
    "tiny": dict(model="random:llama", calib="enwiki_excerpt", eval=("wiki_vital",), nsamples=8, seqlen=128,
                 eval_windows=8, batch_size=4, zero_shot_limit=20),
    "default": dict(model="embedded", calib="enwiki_excerpt", eval=("wiki_vital",), nsamples=16, seqlen=256,
                    eval_seqlen=512, eval_windows=16, batch_size=4, zero_shot_limit=50),
    "full": dict(model="embedded", calib="enwiki_excerpt", eval=("wiki_vital",), nsamples=32, seqlen=512,
                 eval_windows=80, batch_size=4),
    "paper": dict(model="huggyllama/llama-7b", calib="c4", eval=("wikitext2",), nsamples=128, seqlen=2048,
                  eval_windows=None, batch_size=1, dtype="float16"),
}


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=sorted(SCALES), default="default")
    p.add_argument("--model", action="append", default=None,
                   help="override the scale's model(s); repeat for several")
    p.add_argument("--calib", default=None, help="override the calibration corpus")
    p.add_argument("--eval", default=None, help="override the evaluation corpora (comma-separated)")
    p.add_argument("--output", default=None, help="results file (default: results/[tiny/]<name>.jsonl)")
    p.add_argument("--device", default="auto")
    p.add_argument("--online", action="store_true", help="allow Hub downloads (paper scale)")
    p.add_argument("--zero-shot", "--zero_shot", default=None,
                   help="also evaluate lm-eval zero-shot tasks on every row: offline | paper | task1,task2 | file.yaml "
                        "(scripts whose paper reports zero-shot default to 'paper' at paper scale)")
    p.add_argument("--methods", default=None,
                   help="run only these scorers of the grid (comma-separated; the dense row is always kept)")
    p.add_argument("--add-method", "--add_method", default=None,
                   help="a new baseline in this grid: beside every Wanda row (Wanda-sp for structured methods) a row "
                        "with this method, same pattern, sparsity, allocator and calibration (comma-separated)")
    p.add_argument("--dry-run", action="store_true", help="print the grid and exit")
    p.add_argument("--no-progress", action="store_true")
    return p


def base_config(args: argparse.Namespace, *, paper_zero_shot: bool = False, **overrides) -> PruneConfig:
    """The scale's preset with the command line's overrides. paper_zero_shot: the paper reports zero-shot accuracy
    beside this table, so paper-scale rows evaluate the papers' seven tasks unless --zero-shot says otherwise."""
    preset = dict(SCALES[args.scale])
    if args.calib:
        preset["calib"] = args.calib
    if args.eval:
        preset["eval"] = tuple(args.eval.split(","))
    zero_shot = getattr(args, "zero_shot", None) or ("paper" if paper_zero_shot and args.scale == "paper" else None)
    if zero_shot:
        preset["zero_shot"] = zero_shot
    preset.update(overrides)
    if not preset.get("zero_shot"):  # a limit without tasks would only change the run keys
        preset.pop("zero_shot_limit", None)
    return PruneConfig(device=args.device, **preset)


def model_bases(args: argparse.Namespace, paper_models: Iterable[str], **overrides) -> list[PruneConfig]:
    """One base config per model of the scale; `overrides` replace preset fields (None values are ignored, so a
    per-scale table can leave a scale at its preset: eval_windows=EVAL_WINDOWS.get(args.scale))."""
    fixed = {k: v for k, v in overrides.items() if v is not None}
    return [base_config(args, model=model, **fixed) for model in models_for(args, paper_models)]


def pending(out: Path, fields: dict, label: str) -> Optional[str]:
    """For measurements that are not PruneConfig runs: the run key of `fields`, or None (and a message) when
    out already holds it."""
    key = run_key(fields)
    if key in done_keys(out):
        print(f"[{fields.get('experiment', '?')}] {label}: already in {out}")
        return None
    return key


def models_for(args: argparse.Namespace, paper_models: Iterable[str]) -> list[str]:
    if args.model:
        return args.model
    return list(paper_models) if args.scale == "paper" else [SCALES[args.scale]["model"]]


SCALE_DIRS = {"tiny": "tiny", "full": "full"}  # default and paper rows live in results/ itself


def output_path(args: argparse.Namespace, name: str) -> Path:
    if args.output:
        return Path(args.output)
    return results_root() / SCALE_DIRS.get(args.scale, "") / f"{name}.jsonl"


def sibling_path(args: argparse.Namespace, other: str) -> Path:
    """The results file of another experiment: beside --output when one is given, else the default place."""
    if args.output:
        return Path(args.output).parent / f"{other}.jsonl"
    return output_path(args, other)


def with_added_methods(name: str, configs: list[PruneConfig], methods: list[str]) -> list[PruneConfig]:
    """The grid with each new method placed beside every row of its reference: Wanda for weight scorers, Wanda-sp
    for structured ones (methods.STRUCTURED). Unknown names fail here, before any run."""
    from methods import METHODS

    out = list(configs)
    for method in methods:
        structured = METHODS[method].kind == "structured"  # unknown: a KeyError naming the closest method
        reference = "wanda_sp" if structured else "wanda"
        added = [replace(c, method=method) for c in configs if c.method == reference]
        if not added:
            print(f"[{name}] --add-method {method}: this grid has no {reference} rows to place it beside; not added",
                  flush=True)
        out += added
    return out


def run_grid(name: str, args: argparse.Namespace, configs: list[PruneConfig],
             reuse_from: Iterable[str] = ()) -> list[dict]:
    """Run every config not yet in the results file; return all rows of this grid (old and new).

    reuse_from: other experiments whose results file may already hold a row with the same run key (e.g. the
    uniform and OWL rows NeuroAL's table shares with OWL's); such a row is copied, marked "reused_from"."""
    if not args.online:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    out = output_path(args, name)
    if getattr(args, "add_method", None):
        configs = with_added_methods(name, configs, args.add_method.split(","))
    if getattr(args, "methods", None):
        keep = set(args.methods.split(","))
        configs = [c for c in configs if c.method in keep or c.method == "dense"]
    have = done_keys(out)
    keys = [run_key(c.validate().defining_fields()) for c in configs]
    if args.dry_run:
        done = sum(k in have for k in keys)
        print(f"[{name}] {len(configs)} runs, {done} already in {out}, {len(configs) - done} to do")
        for k, c in zip(keys, configs):
            print(("  done " if k in have else "  todo ")
                  + f"{c.model} {c.method}+{c.allocator} {c.pattern} s={c.sparsity} calib={c.calib} {c.nsamples}x{c.seqlen}"
                  + (f" seed={c.seed}" if c.seed else "")
                  + (f" zero-shot={c.zero_shot}" if c.zero_shot else ""))
        return []
    wanted = set(keys)
    for other in reuse_from:
        found = [dict(r, reused_from=other) for r in read_rows(sibling_path(args, other))
                 if r.get("key") in wanted - have]
        if found:
            append_rows(out, found)
            have |= {r["key"] for r in found}
            print(f"[{name}] reused {len(found)} rows from {other}", flush=True)
    todo = [(k, c) for k, c in zip(keys, configs) if k not in have]
    print(f"[{name}] {len(configs)} runs, {len(configs) - len(todo)} already in {out}, {len(todo)} to do",
          flush=True)
    start = time.perf_counter()
    for i, (key, config) in enumerate(todo, 1):
        row = run(config, progress=not args.no_progress)
        row.update({"experiment": name, "scale": args.scale})
        append_rows(out, [row])
        elapsed = time.perf_counter() - start
        ppl = ", ".join(f"{k}={v:.2f}" for k, v in row["ppl"].items())
        print(f"[{name}] {i}/{len(todo)} {config.method}+{config.allocator} {row['pattern']} s={config.sparsity}: {ppl} "
              f"({elapsed:.0f}s elapsed, ~{elapsed / i * (len(todo) - i):.0f}s left)", flush=True)
    return [r for r in read_rows(out) if r.get("key") in wanted]


def pattern_label(row: dict) -> str:
    """Column label of a row: "2:4", "50%", or "dense"."""
    if row["method"] == "dense":
        return "dense"
    return row["pattern"] if row["pattern"] != "unstructured" else format(row["sparsity_target"], ".0%")


def print_table(rows: list[dict], columns: list[str], row_label=lambda r: r["method"]) -> None:
    """Markdown table: one line per row label, one column per (pattern) label, perplexity cells."""
    table: dict[str, dict[str, str]] = {}
    for r in rows:
        for corpus, value in r["ppl"].items():
            col = pattern_label(r)
            table.setdefault(row_label(r), {})[col] = f"{value:.2f}"
    print("| method | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for label, cells in table.items():
        print(f"| {label} | " + " | ".join(cells.get(c, "") for c in columns) + " |")


def with_method(config: PruneConfig, method: str, pattern: str = "unstructured", sparsity: Optional[float] = 0.5,
                allocator: str = "uniform", allocator_args: Optional[dict] = None) -> PruneConfig:
    if method == "dense":
        sparsity, pattern, allocator, allocator_args = 0.0, "unstructured", "uniform", None
    return replace(config, method=method, pattern=pattern, sparsity=None if pattern != "unstructured" else sparsity,
                   allocator=allocator, allocator_args=allocator_args)


# NeuroAL's search set per scale: the official 8 sequences at paper scale (1/16 of the 128 calibration
# sequences); 4 x 512 tokens at full scale (1/8 of 32, ~8 minutes per run on 2 cores), 2 x 256 at default.
NEUROAL_ARGS = {"tiny": {"search_samples": 2}, "default": {"search_samples": 2}, "full": {"search_samples": 4},
                "paper": {"search_samples": 8}}
OWL_ARGS = {"M": 5.0, "lambda": 0.08}  # the OWL README's commands (LLaMA-7B, 70%)


def allocator_args_for(allocator: str, scale: str) -> Optional[dict]:
    return {"owl": OWL_ARGS, "neuroal": NEUROAL_ARGS[scale]}.get(allocator)


def allocator_grid(args: argparse.Namespace, paper_models: Iterable[str], scorers: list[str],
                   sparsities: list[float], allocators: list[str]) -> list[PruneConfig]:
    """dense, then sparsity-major: every scorer x allocator at the first sparsity before the next sparsity."""
    configs = []
    for model in models_for(args, paper_models):
        base = base_config(args, model=model, paper_zero_shot=True)
        configs.append(with_method(base, "dense"))
        for s in sparsities:
            for scorer in scorers:
                configs += [with_method(base, scorer, sparsity=s, allocator=a,
                                        allocator_args=allocator_args_for(a, args.scale)) for a in allocators]
    return configs
