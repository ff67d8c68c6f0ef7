"""Benchmark: this project against llm-compressor 0.14 (vLLM's maintained pruning library) on the same model,
calibration ids, evaluator and machine, for Wanda 50%, SparseGPT 50% and SparseGPT 2:4.

llm-compressor runs in its own virtual environment under the cache (<cache>/peer/llmcompressor-0.14; created here
on first use from PyPI, with the project's torch pin), never in the project's: it pins transformers 5.15-5.17. Each
side runs in a fresh process that loads the model, reads the calibration ids, prunes and saves the pruned weights;
the sides alternate (ours, peer, ours, peer: drift of a shared machine hits both) and per side the minimum over runs
of the whole process's CPU seconds (wait4) and peak RSS (the child's own VmHWM) is kept, with the in-process
pruning seconds. Both pruned models are then evaluated by this project's evaluator on the scale's windows. Ratios
are ours / peer. For SparseGPT one more peer run uses float64 for its Hessian and sweep (ours is float64 on CPU, the
peer's float32): its perplexity separates what precision does from what the implementations do; it is not timed.
A benchmark, not a test: rows in results/peer_benchmark.jsonl; `bash run_all.sh --only peer_benchmark` runs it, and
if the peer cannot be installed (no PyPI) it is skipped with a message.
  python experiments/peer_benchmark.py [--repeat 2] [--force]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, base_config, output_path, parse_args, parser

NAME = "peer_benchmark"
PEER = ("llmcompressor", "0.14.0.1")
CASES = [("wanda", "unstructured"), ("sparsegpt", "unstructured"), ("sparsegpt", "2:4")]


def peer_python() -> Path | None:
    """The peer's interpreter, installing it on first use; None (with a message) if that fails."""
    from methods.paths import cache_dir

    venv = cache_dir() / "peer" / f"llmcompressor-{PEER[1]}"
    python = venv / "bin" / "python"
    if (venv / ".installed").is_file():
        return python
    print(f"[{NAME}] installing {PEER[0]}=={PEER[1]} into {venv} (once; ~1.5 GB)", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"{PEER[0]}=={PEER[1]}", "torch==2.13.0"],
                       check=True, timeout=1800)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
        print(f"[{NAME}] skipped: {PEER[0]} could not be installed ({err}); the benchmark needs PyPI once")
        return None
    (venv / ".installed").touch()
    return python


def _usage(usage) -> tuple[float, float]:
    return (usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024) if usage is not None else (float("nan"),) * 2


def run_child(cmd: list[str]) -> tuple[dict, float, float]:
    """(the JSON its last output line holds, CPU seconds user+system, peak RSS in MB) of exactly this child process
    (wait4 on its pid: its own rusage, not the maximum over all children)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=ROOT / "experiments")
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if proc.returncode:
            sys.exit(f"[{NAME}] {' '.join(map(str, cmd[:3]))} failed:\n{err.read()[-3000:]}")
        result = json.loads(out.read().strip().splitlines()[-1])
        cpu_s, wait4_rss = _usage(usage)
        # the child's own VmHWM: wait4's maxrss is floored by this (parent) process's high-water mark
        return result, cpu_s, result.get("peak_rss_mb", wait4_rss)


def ours_worker(args: argparse.Namespace) -> None:
    """One run of this project (prints JSON): load, prune with the pipeline's own prune step, save."""
    import time
    from dataclasses import replace

    from safetensors.torch import load_file

    from methods.models import load_model
    from methods.pipeline import cpu_threads, prune_loaded
    from methods.results import peak_rss_mb
    from methods.saving import save_model

    model_dir, calib_path, method, pattern, out_dir = args.worker
    config = replace(base_config(args), model=model_dir, method=method, pattern=pattern,
                     sparsity=None if pattern != "unstructured" else 0.5, eval=()).validate()
    with cpu_threads(config.threads):
        loaded = load_model(model_dir, device="cpu", dtype="float32")
        calib = load_file(calib_path)["input_ids"]
        t = time.perf_counter()
        prune_loaded(replace(config, batch_size=4), loaded, calib, progress=False)
        prune_s = time.perf_counter() - t
        save_model(loaded.model, loaded.tokenizer, out_dir)
    print(json.dumps({"prune_s": prune_s, "peak_rss_mb": peak_rss_mb()}))


def peer_command(peer: Path, common: list[str], threads: int, *extra: str) -> list[str]:
    """The llm-compressor worker's command line: MODEL_DIR CALIB METHOD PATTERN OUT_DIR THREADS [float64]."""
    return [str(peer), str(ROOT / "experiments" / "peer_llmcompressor_worker.py"), *common, str(threads), *extra]


def measure(case: tuple[str, str], model_dir: str, calib_path: str, peer: Path, args, tmp: Path) -> dict:
    method, pattern = case
    sides = {"ours": [], "peer": []}
    for run in range(args.repeat):
        for side in ("ours", "peer"):
            out = tmp / f"{side}-{method}-{pattern.replace(':', '_')}-{run}"
            common = [model_dir, calib_path, method, pattern, str(out)]
            cmd = ([sys.executable, __file__, "--scale", args.scale, "--worker", *common] if side == "ours" else
                   peer_command(peer, common, args.threads))
            info, cpu_s, rss_mb = run_child(cmd)
            sides[side].append({"cpu_s": cpu_s, "peak_rss_mb": rss_mb, "prune_s": info["prune_s"], "dir": str(out),
                                **({"version": info["version"]} if "version" in info else {})})
            print(f"[{NAME}] {method} {pattern} {side} run {run + 1}: {cpu_s:.1f} CPU s, {rss_mb:.0f} MB, "
                  f"prune {info['prune_s']:.1f}s", flush=True)
    return sides


def evaluate(saved: str, args) -> dict:
    from methods.pipeline import eval_only

    config = base_config(args)
    row = eval_only(saved, config.eval, seqlen=config.eval_seqlen or config.seqlen, max_windows=config.eval_windows,
                    device="cpu", progress=False, bos=config.eval_bos, threads=config.threads)
    return {"ppl": next(iter(row["ppl"].values())), "ppl_windows": row.get("ppl_windows"),
            "sparsity_achieved": row["sparsity_achieved"]}


def summary(case, sides: dict, ours_eval: dict, peer_eval: dict, args) -> dict:
    from methods.results import machine, provenance

    best = {side: {k: min(r[k] for r in runs) for k in ("cpu_s", "peak_rss_mb", "prune_s")}
            for side, runs in sides.items()}
    method, pattern = case
    return {"experiment": NAME, "scale": args.scale, "method": method if pattern == "unstructured"
            else f"{method} {pattern}", "pattern": pattern, "model": args.model_name, "runs": args.repeat,
            "ours": {**best["ours"], **ours_eval}, "machine": machine().get("cpu"),
            "peer": {**best["peer"], **peer_eval, "library": PEER[0], "version": sides["peer"][0].get("version")},
            "ratios": {"time": best["ours"]["cpu_s"] / best["peer"]["cpu_s"],
                       "rss": best["ours"]["peak_rss_mb"] / best["peer"]["peak_rss_mb"],
                       "prune_wall": best["ours"]["prune_s"] / best["peer"]["prune_s"],
                       "ppl": ours_eval["ppl"] / peer_eval["ppl"]},
            "all_runs": {side: [{k: v for k, v in r.items() if k != "dir"} for r in runs]
                         for side, runs in sides.items()}, "provenance": provenance()}


def _case_name(case: tuple[str, str]) -> str:
    return case[0] if case[1] == "unstructured" else f"{case[0]}:{case[1]}"


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--repeat", type=int, default=2, help="alternating runs per side; the minimum is kept")
    p.add_argument("--force", action="store_true", help="measure again even if rows exist")
    p.add_argument("--cases", default=None, help="some of: wanda, sparsegpt, sparsegpt:2:4 (default: all)")
    p.add_argument("--worker", nargs=5, default=None, help=argparse.SUPPRESS)
    args = parse_args(p, argv)
    if args.worker:
        return ours_worker(args)
    from safetensors.torch import save_file

    from methods.models import load_tokenizer, offload_checkpoint
    from methods.data import calibration_samples
    from methods.results import append_rows, read_rows

    out = output_path(args, NAME)
    config = base_config(args)
    args.model_name, args.threads = config.model, config.threads or 2
    have = {r["method"] for r in read_rows(out)}
    cases = [c for c in CASES if args.cases is None or _case_name(c) in args.cases.split(",")]
    todo = [c for c in cases if args.force or (c[0] if c[1] == "unstructured" else f"{c[0]} {c[1]}") not in have]
    if args.dry_run or not todo:
        print(f"[{NAME}] {len(todo)} of {len(CASES)} cases to measure")
        return
    peer = peer_python()
    if peer is None:
        return
    model_dir = offload_checkpoint(config.model)  # a safetensors copy both libraries load identically
    calib = calibration_samples(config.calib, load_tokenizer(config.model), config.nsamples, config.seqlen,
                                config.seed, bos=config.eval_bos)
    with tempfile.TemporaryDirectory() as tmp:
        calib_path = str(Path(tmp) / "calib.safetensors")  # no pickle: a tensor file both sides read
        save_file({"input_ids": calib.contiguous()}, calib_path)
        for case in todo:
            sides = measure(case, model_dir, calib_path, peer, args, Path(tmp))
            row = summary(case, sides, evaluate(sides["ours"][0]["dir"], args), evaluate(sides["peer"][0]["dir"], args),
                          args)
            if case[0] == "sparsegpt":  # the peer at our precision: same algorithm, float64
                out64 = Path(tmp) / f"peer64-{_case_name(case).replace(':', '_')}"
                info, cpu_s, _ = run_child(peer_command(peer, [model_dir, calib_path, *case, str(out64)], args.threads,
                                                        "float64"))
                row["peer_float64"] = {**evaluate(str(out64), args), "cpu_s": cpu_s, "precision": info["precision"]}
            append_rows(out, [row])
            q = row["ratios"]
            print(f"[{NAME}] {row['method']}: ours/peer time {q['time']:.2f}x, RSS {q['rss']:.2f}x, ppl "
                  f"{row['ours']['ppl']:.2f} vs {row['peer']['ppl']:.2f}", flush=True)


if __name__ == "__main__":
    main()
