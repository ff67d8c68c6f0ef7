"""Benchmark: pruning time and memory of each method, as ratios to a dense forward pass in the same process.

For each method a fresh worker process loads the model, draws the scale's calibration set (default: 16 x 256
tokens), prunes it with the pipeline's own prune step (methods.pipeline.prune_loaded: the allocator, if any, then the
engine) and records:
  time ratio (decoder only) = pruning wall time / one forward of the decoder body (embeddings + blocks + final norm,
                 what the engine runs) over the calibration set; the floor for Wanda/STADE is 2 (one statistics pass
                 and one recompute pass per block), SparseGPT adds its Hessian products and solves
  memory ratio = peak RSS while pruning / RSS with the model and calibration ids loaded
  phase seconds = capture / collect / solve / recompute (+ gradients, allocator): "solve" is what the Wanda paper's
                 pruning-time table counts (metric + mask + update, no forward passes)
  "wanda@disk":  Wanda with --offload disk (decoder blocks memory-mapped from a safetensors copy, one block in memory
                 at a time): its peak RSS above the process before loading, against half the model's float32 size
                 plus one block's calibration activations (the target of issue 20)
  "sparsegpt:float32": SparseGPT with its Hessian (Gram, Cholesky factors, sweep) in float32, the papers' and the
                 GPU path's precision, beside the CPU default float64 (digits independent of threads and BLAS)
The dense forward is timed twice after pruning (zeros do not make dense products cheaper) and the faster is kept.
Every method runs --repeat times (default 2), the methods alternating (A B C A B C: slow drift of a shared machine
hits all alike), and the fastest run is the row; all runs' times are kept in it.
Rows go to results/pruning_cost.jsonl (one per method and scale; rerun with --force to measure again).
  python experiments/pruning_cost.py [--scale default] [--methods wanda,sparsegpt] [--add-method ria] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time

from common import BY_NAME, ROOT, allocator_args_for, base_config, output_path, parse_args, parser

NAME = "pruning_cost"
METHODS = {"tiny": ["wanda", "wanda+owl"],
           "default": ["magnitude", "wanda", "stade", "sparsegpt", "sparsegpt:float32", "ria", "dsnot", "wanda+owl",
                       "wanda@disk"],
           "full": ["magnitude", "wanda", "stade", "sparsegpt", "ria", "dsnot", "pruner_zero", "wanda_admm", "admm",
                    "wanda+owl", "wanda+alpha", "wanda+neuroal", "wanda@disk", "sparsegpt@disk", "sparsegpt:float32"]}
METHODS["paper"] = METHODS["full"]


class RssSampler:
    """Peak resident memory of this process, sampled every 20 ms in a background thread."""

    def __init__(self) -> None:
        import psutil
        self.proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self):
        self.peak = self.proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _config(spec: str, args: argparse.Namespace):
    """"method[+allocator][@offload][:gram_dtype]" -> its validated PruneConfig ("sparsegpt:float32": SparseGPT
    with the papers' float32 Hessian instead of the CPU default float64)."""
    from dataclasses import replace
    from methods.config import split_method_spec
    method, allocator, offload, gram_dtype = split_method_spec(spec)
    allocator = allocator or "uniform"
    sparsity = 0.7 if allocator != "uniform" else 0.5  # allocators are run at the papers' 70%
    base = base_config(args, **({"model": args.model[0]} if args.model else {}))
    return replace(base, method=method, sparsity=sparsity, allocator=allocator, offload=offload,
                   allocator_args=allocator_args_for(allocator, args.scale), eval=(),
                   gram_dtype=gram_dtype).validate()


def worker(spec: str, args: argparse.Namespace) -> dict:
    """Runs in its own process so that memory peaks of one method do not hide another's."""
    import psutil
    import torch

    from methods.models import load_model
    from methods.pipeline import calibration_ids, cpu_threads, prune_loaded
    from methods.results import provenance

    from methods.offload import execution_device

    config = _config(spec, args)
    with cpu_threads(config.threads):
        # the baseline: libraries and the tokenizer (loaded once and dropped: load_model's own copy reuses its memory)
        from methods.models import load_tokenizer
        tokenizer = load_tokenizer(config.model)
        before_load_rss = psutil.Process().memory_info().rss
        del tokenizer
        loaded = load_model(config.model, device=config.device, offload=config.offload)
        calib, _ = calibration_ids(config, loaded, progress=False)
        device = execution_device(loaded.model)
        base_rss = psutil.Process().memory_info().rss
        seconds: dict = {}
        with RssSampler() as rss:
            t = time.perf_counter()
            pruned = prune_loaded(config, loaded, calib, progress=False, seconds=seconds)
            prune_s = time.perf_counter() - t

        def dense_forward(module) -> float:
            best = float("inf")
            for _ in range(2):
                t = time.perf_counter()
                with torch.no_grad():
                    for ids in calib.split(config.batch_size):
                        module(input_ids=ids.to(device), use_cache=False)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                best = min(best, time.perf_counter() - t)
            return best

        forward_full = dense_forward(loaded.model)
        forward_body = dense_forward(loaded.model.get_decoder())
        threads = torch.get_num_threads()
        floor = solver_floor(config, loaded.model, calib, device)
    allocation = pruned.get("allocation") or {}
    phases = {k.removeprefix("prune_"): v for k, v in seconds.items() if k.startswith("prune_")}
    passes = pruned["forward_passes"] + allocation.get("forward_passes", 0)
    floor_s = passes * forward_body + (floor["work_gflop"] / floor["gemm_gflops"] if floor else 0.0)
    return {"experiment": NAME, "scale": args.scale, "method": spec, "sparsity": config.sparsity,
            "model": loaded.provenance, "allocate_s": seconds.get("allocate", 0.0),
            "allocator_forward_passes": allocation.get("forward_passes", 0),
            "allocation": {k: v for k, v in allocation.items() if not k.endswith("objective")},
            "calibration": {"source": config.calib, "nsamples": config.nsamples, "seqlen": config.seqlen,
                            "seed": config.seed}, "batch_size": config.batch_size, "threads": threads,
            "dense_forward_s": forward_full, "dense_forward_decoder_s": forward_body, "prune_s": prune_s,
            "time_ratio": prune_s / forward_full, "time_ratio_decoder": prune_s / forward_body,
            "solve_s": phases.get("solve", 0.0), "phase_seconds": phases,
            "floor_s": floor_s, "floor_ratio_decoder": floor_s / forward_body, **floor,
            "forward_passes": passes,
            "rss_model_mb": base_rss / 2**20, "peak_rss_prune_mb": rss.peak / 2**20,
            "memory_ratio": rss.peak / base_rss, "offload": config.offload, "gram_dtype": config.gram_dtype,
            "rss_before_load_mb": before_load_rss / 2**20,  # libraries + tokenizer, no weights
            "model_fp32_mb": loaded.provenance["params"] * 4 / 2**20,
            "block_activations_mb": 2 * calib.numel() * loaded.model.config.hidden_size * 4 / 2**20,
            "provenance": provenance()}


def input_groups(model, calib, device) -> list[tuple[int, int]]:
    """(input width, stacked output rows) of every set of linears that read one tensor, in every block: what a
    solver factorises once (SparseGPT's Hessian), found by the engine's own collector on an 8-token probe."""
    from methods.stream import dense_statistics
    groups = []
    for _, _, collector in dense_statistics(model, calib[:1, :8], 1, device):
        for leader in dict.fromkeys(collector.leader[n] for n in collector.order):
            rows = sum(collector.linears[n].out_features for n in collector.order if collector.leader[n] == leader)
            groups.append((collector.stats[leader].width, rows))
    return groups


def gemm_rate(width: int, tokens: int, dtype, device) -> float:
    """Floating-point operations per second of X^T X for X (tokens x width) in `dtype` on `device`: the fastest of
    3, this machine's practical peak at the Gram's shape."""
    import torch
    x = torch.randn(tokens, width, dtype=dtype, device=device)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        torch.mm(x.T, x)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * tokens * width**2 / best


def solver_work(groups: list[tuple[int, int]], tokens: int, gram: bool, solve_flops) -> float:
    """Least arithmetic a method adds to its forward passes: the symmetric half of each Gram X^T X (tokens * w^2
    operations) if it needs one, and its solves' own (Method.solve_flops), summed over the input groups."""
    return sum((tokens * w * w if gram else 0.0) + (solve_flops(w, r) if solve_flops else 0.0) for w, r in groups)


def solver_floor(config, model, calib, device) -> dict:
    """The arithmetic beyond the forward passes and this machine's GEMM rate in the solver's precision ({} for a
    method with neither a Gram nor a solve_flops, and for --offload runs, whose bound is the disk, not arithmetic):
    floor = passes x forward + work / rate, a bound that counts selection, Python and memory traffic as overhead."""
    import torch
    from methods.stats import GRAM_DTYPES
    method = config.bound_method
    gram = "gram" in method.all_needs
    if config.offload or (not gram and method.solve_flops is None):
        return {}
    groups = input_groups(model, calib, device)
    dtype = GRAM_DTYPES[config.gram_dtype] or (torch.float64 if device.type == "cpu" else torch.float32)
    rate = gemm_rate(max(w for w, _ in groups), config.batch_size * config.seqlen, dtype, device)
    return {"work_gflop": solver_work(groups, calib.numel(), gram, method.solve_flops) / 1e9,
            "gemm_gflops": rate / 1e9,
            "floor_dtype": str(dtype).removeprefix("torch.")}


def method_list(args: argparse.Namespace) -> list[str]:
    specs = (args.methods.split(",") if args.methods else list(METHODS[args.scale]))
    specs += [m for m in (args.add_method or "").split(",") if m and m not in specs]
    return specs


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--force", action="store_true", help="measure again even if rows exist")
    p.add_argument("--repeat", type=int, default=2, help="runs per method, alternating; the fastest is the row")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parse_args(p, argv)
    if args.repeat < 1:
        p.error(f"--repeat must be >= 1, got {args.repeat}")
    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return
    from methods.results import append_rows, read_rows

    out = output_path(args, NAME)
    have = {(r["method"], r["scale"]) for r in read_rows(out)}
    for spec in method_list(args):
        _config(spec, args)  # a bad method or allocator fails here, before any worker starts
    if args.dry_run:
        for spec in method_list(args):
            print(f"  {'done' if (spec, args.scale) in have and not args.force else 'todo'} {spec}")
        return
    todo = [s for s in method_list(args) if (s, args.scale) not in have or args.force]
    for spec in method_list(args):
        if spec not in todo:
            print(f"[{NAME}] {spec}: already measured in {out}")
    _prepare_offload(todo, args)
    runs: dict[str, list[dict]] = {s: [] for s in todo}
    for round_ in range(args.repeat):
        for spec in todo:
            row = _measure(spec, args)
            runs[spec].append(row)
            print(f"[{NAME}] {spec} (run {round_ + 1}/{args.repeat}): prune {row['prune_s']:.1f}s = "
                  f"{row['time_ratio_decoder']:.2f}x a decoder forward, solve {row['solve_s']:.2f}s, peak RSS "
                  f"{row['memory_ratio']:.2f}x", flush=True)
            if round_ == args.repeat - 1:  # the spec's last run: its fastest run is the row
                best = min(runs[spec], key=lambda r: r["prune_s"])
                append_rows(out, [{**best, "repeats": args.repeat, "prune_s_runs": [r["prune_s"] for r in runs[spec]],
                                   "peak_rss_prune_mb_runs": [r["peak_rss_prune_mb"] for r in runs[spec]]}])


def _measure(spec: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", spec, "--scale", args.scale, "--device", args.device]
    for model in args.model or []:
        cmd += ["--model", model]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT / "experiments")
    if proc.returncode:
        sys.exit(f"worker for {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _prepare_offload(specs: list[str], args: argparse.Namespace) -> None:
    """The safetensors copy an --offload worker streams from is written here, once, so that no worker's peak memory
    includes the one-off conversion."""
    configs = [_config(s, args) for s in specs if "@" in s]
    if configs:
        from methods.models import offload_checkpoint
        for config in configs:
            offload_checkpoint(config.model, config.dtype, config.device)


assert NAME in BY_NAME

if __name__ == "__main__":
    main()
