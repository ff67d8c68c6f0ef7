"""What every experiment script shares: scale presets, the grid expander over experiments/specs.py, the resumable
grid runner, and the options that mean the same thing in every script.

Scales
  tiny     a tiny random Llama-style model (random:llama, byte tokenizer), 8 x 128 calibration tokens, 8 x 128
           evaluation windows: the plumbing of every script in seconds (tests, run_all.sh --scale tiny).
  default  the embedded SmolLM2-135M: 16 x 256 calibration tokens (enwiki_excerpt), 16 x 512 evaluation tokens
           (wiki_vital), each experiment's core grid, 3 calibration seeds where a claim's gap is small, one smoke
           cell per other family; every experiment in under 2 hours on 2 CPU cores.
  full     32 x 512 calibration and 80 x 512 evaluation tokens, every grid point, 5 seeds where a claim's gap is small,
           the core claims on Gemma-3-270M and Qwen2.5-0.5B: many CPU hours (stated per stage in the README).
  paper    the papers' protocol: 128 x 2048 C4 calibration (seed 0), full WikiText-2 test, float16 on a GPU, the
           papers' models from the Hub (needs --online, a GPU and disk).
Options every script takes: --dry-run prints the grid (done/todo per point) and runs nothing; --add-method puts a new
method beside every Wanda row (Wanda-sp for structured methods), or says that the experiment has no method axis;
--methods keeps only the named methods (unknown names are an error); --method-args METHOD:key=value sets a method's
hyper-parameters in every row that uses it.
A script writes rows to results/<name>.jsonl (default and paper scale), results/full/ or results/tiny/ (results/ can
be moved with $STADE_RESULTS_DIR), skips the rows it already has (same run key), and appends each finished row under
a lock, so an interrupted run resumes.
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
sys.path.insert(0, str(ROOT / "experiments"))

from methods import PruneConfig, run  # noqa: E402
from methods.results import (append_rows, done_keys, has_records, read_rows, results_root,  # noqa: E402
                            run_key)
from slicing import check_slice, in_slice, parse_where  # noqa: E402
from specs import BY_NAME, Block, Experiment  # noqa: E402

SCALES = {
    "tiny": dict(model="random:llama", calib="enwiki_excerpt", eval=("wiki_vital",), nsamples=8, seqlen=128,
                 eval_windows=8, batch_size=4, zero_shot_limit=20, threads=2),
    "default": dict(model="embedded", calib="enwiki_excerpt", eval=("wiki_vital",), nsamples=16, seqlen=256,
                    eval_seqlen=512, eval_windows=16, batch_size=4, threads=2),
    "full": dict(model="embedded", calib="enwiki_excerpt", eval=("wiki_vital",), nsamples=32, seqlen=512,
                 eval_windows=80, batch_size=4, threads=2),
    "paper": dict(model="huggyllama/llama-7b", calib="c4", eval=("wikitext2",), nsamples=128, seqlen=2048,
                  eval_windows=None, batch_size=1, dtype="float16", eval_bos="first"),
}
# NeuroAL's search set per scale: the official 8 sequences at paper scale (1/16 of the 128 calibration
# sequences); 4 x 512 tokens at full scale, 2 x 256 at default.
NEUROAL_ARGS = {"tiny": {"search_samples": 2}, "default": {"search_samples": 2}, "full": {"search_samples": 4},
                "paper": {"search_samples": 8}}
OWL_ARGS = {"M": 5.0, "lambda": 0.08}  # the OWL README's commands (LLaMA-7B, 70%)
ALPHA_ARGS = {"epsilon": 0.2, "mapping": "block_wise"}  # the official README's Wanda command at 70% (LLaMA-7B);
# its argparse default 0.3 (magnitude's command) is infeasible for SmolLM2 at 70%: some layers would exceed 100%
PROMPTS = {"tiny": "wiki_vital", "default": "wiki_vital", "full": "wiki_vital", "paper": "wikitext2"}


class GridError(ValueError):
    pass


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=sorted(SCALES), default="default")
    p.add_argument("--model", action="append", default=None,
                   help="override the scale's model(s); repeat for several")
    p.add_argument("--calib", default=None, help="override the calibration corpus")
    p.add_argument("--eval", default=None, help="override the evaluation corpora (comma-separated)")
    p.add_argument("--output", default=None, help="results file (default: results/[tiny/|full/]<name>.jsonl)")
    p.add_argument("--device", default="auto")
    p.add_argument("--online", action="store_true", help="allow Hub downloads (paper scale)")
    p.add_argument("--zero-shot", "--zero_shot", default=None,
                   help="also evaluate lm-eval zero-shot tasks on every row: offline | paper | task1,task2 | file.yaml")
    p.add_argument("--methods", default=None,
                   help="run only these methods of the grid (comma-separated; the dense row is always kept)")
    p.add_argument("--patterns", default=None,
                   help="run only the grid's rows with these patterns (comma-separated: unstructured,2:4,4:8)")
    p.add_argument("--sparsities", default=None,
                   help="run only the grid's rows at these target sparsities (comma-separated; an N:M row's is N/M)")
    p.add_argument("--where", action="append", default=[], metavar="FIELD=V1[,V2]",
                   help="run only the grid's rows whose config FIELD is one of the values (repeatable; e.g. "
                        "--where seed=0,1 --where layers=mlp.down_proj; 'none' matches an unset field)")
    p.add_argument("--add-method", "--add_method", default=None,
                   help="new methods in this grid: beside every Wanda row (Wanda-sp for structured methods) a row "
                        "with this method, same pattern, sparsity, allocator and calibration (comma-separated)")
    p.add_argument("--method-args", "--method_args", action="append", default=[],
                   help="METHOD:key=value[,key=value]: a method's hyper-parameters in every row that uses it")
    p.add_argument("--dry-run", action="store_true", help="print the grid (done/todo) and run nothing")
    p.add_argument("--no-progress", action="store_true")
    return p


def parse_args(p: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse, then check every method name the options give before any work (one line, exit status 2)."""
    from methods import ALLOCATORS, METHODS
    from methods.__main__ import parse_args_string, quiet_progress

    args = p.parse_args(argv)
    try:
        for name in [m for opt in (args.methods, args.add_method) if opt for m in opt.split(",") if m]:
            name, _, gram_dtype = name.partition(":")  # pruning_cost takes "method+allocator@offload:gram_dtype"
            if gram_dtype and gram_dtype not in ("float32", "float64"):
                raise ValueError(f"{name}:{gram_dtype}: the Gram precision after : must be float32 or float64")
            name, _, offload = name.partition("@")
            method, _, allocator = name.partition("+")
            METHODS[method]
            if allocator:
                ALLOCATORS[allocator]
            if offload and offload not in ("cpu", "disk"):
                raise ValueError(f"{name}@{offload}: the offload mode after @ must be cpu or disk")
        args.method_kwargs = {}
        for item in args.method_args:
            method, sep, rest = item.partition(":")
            if not sep:
                raise ValueError(f"--method-args {item!r} is not METHOD:key=value[,key=value]")
            METHODS[method].with_args(parse_args_string(rest))  # unknown keys and bad values fail here
            args.method_kwargs[method] = parse_args_string(rest)
        check_slice(args)
        args.where_fields = parse_where(args.where)
    except (KeyError, ValueError) as err:
        p.error(err.args[0] if isinstance(err, KeyError) else str(err))
    if not args.online:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    if args.no_progress:
        quiet_progress()
    return args


def base_config(args: argparse.Namespace, spec: Optional[Experiment] = None, **overrides) -> PruneConfig:
    """The scale's preset, the experiment's own base fields, then the command line's and the block's overrides."""
    preset = dict(SCALES[args.scale])
    if spec is not None:
        preset.update(spec.base.get(args.scale, {}))
    if args.calib:
        preset["calib"] = args.calib
    if args.eval:
        preset["eval"] = tuple(args.eval.split(","))
    if getattr(args, "zero_shot", None):
        preset["zero_shot"] = args.zero_shot
    preset.update(overrides)
    if not preset.get("zero_shot"):  # a limit without tasks would only change the run keys
        preset.pop("zero_shot_limit", None)
    return PruneConfig(device=args.device, **preset)


def models_for(args: argparse.Namespace, spec: Experiment, block_models: Optional[Iterable[str]] = None) -> list[str]:
    if block_models:
        return [] if args.model or args.scale in ("tiny", "paper") else list(block_models)
    if args.model:
        return args.model
    return list(spec.paper_models) if args.scale == "paper" else [SCALES[args.scale]["model"]]


def with_method(config: PruneConfig, method: str, pattern: str = "unstructured", sparsity: Optional[float] = 0.5,
                allocator: str = "uniform", allocator_args: Optional[dict] = None) -> PruneConfig:
    if method == "dense":
        sparsity, pattern, allocator, allocator_args = 0.0, "unstructured", "uniform", None
    return replace(config, method=method, pattern=pattern, sparsity=None if pattern != "unstructured" else sparsity,
                   allocator=allocator, allocator_args=allocator_args, method_args=None)


def allocator_args_for(allocator: str, scale: str) -> Optional[dict]:
    return {"owl": OWL_ARGS, "neuroal": NEUROAL_ARGS[scale], "alpha": ALPHA_ARGS}.get(allocator)


def with_source(config: PruneConfig, source: str, prompt_source: str) -> PruneConfig:
    if source == "synthetic":
        return replace(config, calib=source, calib_args={"prompt_source": prompt_source})
    return replace(config, calib=source, calib_args=None)


def block_linears(model_spec: str) -> list[str]:
    """The linears of one block of the model, in module order (a Hub model's structure from its config alone)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from methods.blocks import find_blocks, find_linears
    from methods.models import is_local_spec, load_model
    if is_local_spec(model_spec):
        return list(find_linears(find_blocks(load_model(model_spec, device="cpu").model)[1][0]))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_spec))
    return list(find_linears(find_blocks(model)[1][0]))


def expand(spec: Experiment, block: Block, args: argparse.Namespace) -> list[PruneConfig]:
    """Every config of one grid block (the product of its axes) for every model it names."""
    overrides = dict(block.overrides)
    prompt = args.calib if args.scale == "tiny" and args.calib else PROMPTS[args.scale]
    configs = []
    for model in models_for(args, spec, block.models):
        base = base_config(args, spec, model=model, **overrides)
        sources = block.sources or (base.calib,)
        if args.scale == "tiny" and block.sources and args.calib:
            sources = (args.calib,) + tuple(block.sources)  # the tiny corpus stands in for the real ones
        layers = block.layers
        if layers == ("each",):
            layers = tuple(block_linears(model))
        for sparsity in block.sparsities:
            for pattern in block.patterns:
                for method in block.methods:
                    for allocator in block.allocators:
                        for seed in block.seeds:
                            for source in sources:
                                for n in block.nsamples or (base.nsamples,):
                                    for layer in layers or (None,):
                                        cell = with_source(replace(base, seed=seed, nsamples=n, layers=layer), source,
                                                           prompt)
                                        configs.append(with_method(cell, method, pattern, sparsity, allocator,
                                                                   allocator_args_for(allocator, args.scale)))
    return configs


def with_added_methods(spec: Experiment, configs: list[PruneConfig], methods: list[str]) -> list[PruneConfig]:
    """The grid with each new method beside every row of its reference (Wanda for weight methods, Wanda-sp for
    structured ones)."""
    from methods import METHODS

    out = list(configs)
    for method in methods:
        reference = "wanda_sp" if METHODS[method].kind == "structured" else "wanda"
        added = [replace(c, method=method, method_args=None) for c in configs if c.method == reference]
        if not added:
            print(f"[{spec.name}] --add-method {method}: this grid has no {reference} rows to place it beside; "
                  "not added", flush=True)
        out += added
    return out


def grid(spec: Experiment, args: argparse.Namespace) -> list[tuple[str, PruneConfig]]:
    """The experiment's grid at the scale, with --add-method, --methods and --method-args applied, deduplicated."""
    return finalize(spec, args, [c for block in spec.blocks(args.scale) for c in expand(spec, block, args)])


def finalize(spec: Experiment, args: argparse.Namespace,
             configs: list[PruneConfig]) -> list[tuple[str, PruneConfig]]:
    """(run key, config) of every config once, after --add-method, --methods and --method-args."""
    if args.add_method:
        configs = with_added_methods(spec, configs, args.add_method.split(","))
    if args.methods:
        keep = set(args.methods.split(","))
        configs = [c for c in configs if c.method in keep or c.method == "dense"]
    configs = [c for c in configs if c.method == "dense" or in_slice(c, args)]
    configs = [replace(c, method_args=args.method_kwargs.get(c.method)) for c in configs]
    # a data-free method (magnitude, dense) gives the same row for every calibration seed: run it once
    configs = [c if c.needs_calibration else replace(c, seed=0) for c in configs]
    unique, seen = [], set()
    for config in configs:
        key = run_key(config.validate().defining_fields())
        if key not in seen:
            seen.add(key)
            unique.append((key, config))
    return unique


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


def _label(c: PruneConfig) -> str:
    extra = "".join([f" seed={c.seed}" if c.seed else "", f" zero-shot={c.zero_shot}" if c.zero_shot else "",
                     f" layers={c.layers}" if c.layers else "", f" args={c.method_args}" if c.method_args else ""])
    return (f"{c.model} {c.method}+{c.allocator} {c.pattern} s={c.sparsity} calib={c.calib} "
            f"{c.nsamples}x{c.seqlen}{extra}")


def run_grid(spec: Experiment, args: argparse.Namespace,
             configs: Optional[list[tuple[str, PruneConfig]]] = None, annotate=None) -> list[dict]:
    """Run every config not yet in the results file; return all rows of this grid (old and new). Rows with the same
    run key in the files of `spec.reuse_from` are copied (marked "reused_from"), not rerun."""
    out = output_path(args, spec.name)
    keyed = grid(spec, args) if configs is None else configs
    have = done_keys(out)
    if args.dry_run:
        done = sum(k in have for k, _ in keyed)
        print(f"[{spec.name}] {len(keyed)} runs, {done} already in {out}, {len(keyed) - done} to do")
        for key, config in keyed:
            print(("  done " if key in have else "  todo ") + _label(config))
        return []
    wanted = {k for k, _ in keyed}
    for other in spec.reuse_from:
        found = [dict(r, reused_from=other) for r in read_rows(sibling_path(args, other))
                 if r.get("key") in wanted - have and has_records(r)]
        if found:
            append_rows(out, found)
            have |= {r["key"] for r in found}
            print(f"[{spec.name}] reused {len(found)} rows from {other}", flush=True)
    todo = [(k, c) for k, c in keyed if k not in have]
    print(f"[{spec.name}] {len(keyed)} runs, {len(keyed) - len(todo)} already in {out}, {len(todo)} to do", flush=True)
    start = time.perf_counter()
    for i, (key, config) in enumerate(todo, 1):
        row = run(config, progress=not args.no_progress)
        row.update({"experiment": spec.name, "scale": args.scale, **(annotate(config) if annotate else {})})
        append_rows(out, [row])
        elapsed = time.perf_counter() - start
        ppl = ", ".join(f"{k}={v:.2f}" for k, v in row["ppl"].items())
        print(f"[{spec.name}] {i}/{len(todo)} {_label(config)}: {ppl} ({elapsed:.0f}s elapsed, "
              f"~{elapsed / i * (len(todo) - i):.0f}s left)", flush=True)
    return [r for r in read_rows(out) if r.get("key") in wanted]


def no_method_axis(spec: Experiment, args: argparse.Namespace) -> None:
    """--add-method on an experiment without a method axis says so instead of being ignored."""
    if args.add_method:
        print(f"[{spec.name}] --add-method {args.add_method}: this experiment has no method axis (it measures "
              "{spec.paper}); nothing added".replace("{spec.paper}", spec.paper), flush=True)


def pending(out: Path, fields: dict, label: str) -> Optional[str]:
    """For measurements that are not PruneConfig runs: the run key of `fields`, or None (and a message) when
    out already holds it."""
    key = run_key(fields)
    if key in done_keys(out):
        print(f"[{fields.get('experiment', '?')}] {label}: already in {out}")
        return None
    return key


def pattern_label(row: dict) -> str:
    """Column label of a row: "2:4", "50%", or "dense"."""
    if row["method"] == "dense":
        return "dense"
    return row["pattern"] if row["pattern"] not in ("unstructured", "structured") else format(row["sparsity_target"], ".0%")


def print_table(rows: list[dict], row_label=lambda r: r["method"]) -> None:
    """Markdown table: one line per row label, one column per (pattern) label, mean perplexity over seeds."""
    table: dict[str, dict[str, list[float]]] = {}
    columns: list[str] = []
    for r in rows:
        col = pattern_label(r)
        columns += [col] if col not in columns else []
        table.setdefault(row_label(r), {}).setdefault(col, []).append(next(iter(r["ppl"].values())))
    print("| method | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for label, cells in table.items():
        print(f"| {label} | " + " | ".join(f"{sum(v) / len(v):.2f}" + (f" (n={len(v)})" if len(v) > 1 else "")
                                          if (v := cells.get(c)) else "" for c in columns) + " |")


def main_for(name: str, argv=None, label=lambda r: r["method"]) -> list[dict]:
    """The whole script of a grid experiment: parse, run the grid, print its table."""
    spec = BY_NAME[name]
    args = parse_args(parser(__doc__ if spec is None else f"{spec.name}: {spec.paper}"), argv)
    rows = run_grid(spec, args)
    if rows:
        print_table(rows, label)
    return rows
