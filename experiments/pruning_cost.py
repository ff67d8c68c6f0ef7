"""Benchmark: pruning time and memory of each method, as ratios to a dense forward pass in the same process.

For each method a fresh worker process loads the model, draws the scale's calibration set (default: 16 x 256 tokens),
times one dense forward pass of the whole model over it (the reference), then prunes and records:
  time ratio   = wall time of pruning / dense forward time   (floor 2x for Wanda/STADE: one statistics pass and
                 one recompute pass per block; SparseGPT adds its Hessian solves)
  memory ratio = peak RSS while pruning / RSS with the model and calibration ids loaded
  solve seconds = time spent in score/mask/update alone (what the Wanda paper's Table 6 calls pruning time: it
                 excludes the forward passes)
A method may carry an allocator, "wanda+owl" or "wanda+neuroal": its search counts as pruning time, and the row
records the allocator's own seconds and extra forward passes (compare with the plain "wanda" row).
Rows go to results/pruning_cost.jsonl (one per method and scale; rerun with --force to measure again).
  python experiments/pruning_cost.py [--scale default] [--methods wanda,sparsegpt,wanda+neuroal]
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import psutil
import torch

from common import ROOT, SCALES, allocator_args_for, output_path, parser

NAME = "pruning_cost"
DEFAULT_METHODS = ["magnitude", "wanda", "stade", "sparsegpt", "wanda+owl", "wanda+neuroal"]


class RssSampler:
    """Peak resident memory of this process, sampled every 20 ms in a background thread."""

    def __init__(self) -> None:
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


def worker(spec: str, scale: str, model_spec: str | None, batch_size: int | None = None) -> dict:
    """Runs in its own process so that memory peaks of one method do not hide another's."""
    import methods
    from methods.data import calibration_samples
    from methods.models import load_model
    from methods.results import provenance

    preset = SCALES[scale]
    loaded = load_model(model_spec or preset["model"], device="auto")
    calib = calibration_samples(preset["calib"], loaded.tokenizer, preset["nsamples"], preset["seqlen"], seed=0)
    device = next(loaded.model.parameters()).device
    bs = batch_size or preset["batch_size"]
    # Weights loaded from safetensors are memory-mapped and only become resident when read: touch them all so
    # the baseline is the model really in memory.
    with torch.no_grad():
        sum(float(p.float().abs().sum()) for p in loaded.model.parameters())
    base_rss = psutil.Process().memory_info().rss

    def dense_forward(module):
        t = time.perf_counter()
        with torch.no_grad():
            for ids in calib.split(bs):
                module(input_ids=ids.to(device), use_cache=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    # Prune first, so the memory peak is pruning's own (a full-model forward with logits inflates the RSS
    # and the allocator keeps it); the reference forward runs afterwards on the same, now warm, process.
    method_name, _, allocator_name = spec.partition("+")
    method = methods.METHODS[method_name]
    allocator = methods.ALLOCATORS[allocator_name or "uniform"]
    sparsity = 0.7 if allocator.allocate else 0.5  # allocators are run at the papers' 70%
    allocation, allocate_s = None, 0.0
    with RssSampler() as rss:
        t = time.perf_counter()
        if allocator.allocate:
            args = allocator.resolve_args(allocator_args_for(allocator.name, scale))
            allocation = allocator.allocate(methods.AllocationContext(loaded.model, method, calib, sparsity, bs,
                                                                      device, args, progress=False))
            allocate_s = time.perf_counter() - t
        report = methods.prune_model(loaded.model, method, calib if method.uses_data else None, sparsity,
                                     batch_size=bs, device=device, plan=allocation, progress=False)
        prune_s = time.perf_counter() - t
    forward_full = dense_forward(loaded.model)  # zeros do not make dense matmuls cheaper: same cost as dense
    forward_body = dense_forward(loaded.model.get_decoder())  # what the engine runs (no lm_head)
    extra_passes = allocation.info.get("forward_passes", 0) if allocation else 0
    return {"experiment": NAME, "scale": scale, "method": spec, "sparsity": sparsity, "model": loaded.provenance,
            "allocate_s": allocate_s, "allocator_forward_passes": extra_passes,
            "allocation": {k: v for k, v in (allocation.info if allocation else {}).items()
                           if not k.endswith("objective")},
            "calibration": {"source": preset["calib"], "nsamples": preset["nsamples"], "seqlen": preset["seqlen"],
                            "seed": 0}, "batch_size": bs,
            "dense_forward_s": forward_full, "dense_forward_decoder_s": forward_body, "prune_s": prune_s,
            "time_ratio": prune_s / forward_full, "time_ratio_decoder": prune_s / forward_body,
            "solve_s": report.seconds["solve"], "phase_seconds": report.seconds,
            "forward_passes": report.forward_passes + extra_passes,
            "rss_model_mb": base_rss / 2**20, "peak_rss_prune_mb": rss.peak / 2**20,
            "memory_ratio": rss.peak / base_rss, "provenance": provenance()}


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--force", action="store_true", help="measure again even if rows exist")
    p.add_argument("--batch-size", type=int, default=None, help="calibration batch (default: the scale's)")
    p.add_argument("--worker", default=None, help=argparse_hidden())
    args = p.parse_args(argv)
    model = args.model[0] if args.model else None
    if args.worker:
        print(json.dumps(worker(args.worker, args.scale, model, args.batch_size)))
        return
    from methods.results import append_rows, read_rows

    out = output_path(args, NAME)
    have = {(r["method"], r["scale"]) for r in read_rows(out)}
    for method in (args.methods or ",".join(DEFAULT_METHODS)).split(","):
        if (method, args.scale) in have and not args.force:
            print(f"[{NAME}] {method}: already measured in {out}")
            continue
        cmd = [sys.executable, __file__, "--worker", method, "--scale", args.scale]
        if model:
            cmd += ["--model", model]
        if args.batch_size:
            cmd += ["--batch-size", str(args.batch_size)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT / "experiments")
        if proc.returncode:
            sys.exit(f"worker for {method} failed:\n{proc.stderr[-3000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        append_rows(out, [row])
        print(f"[{NAME}] {method}: prune {row['prune_s']:.1f}s = {row['time_ratio']:.2f}x dense forward "
              f"({row['time_ratio_decoder']:.2f}x decoder-only), solve {row['solve_s']:.2f}s, "
              f"peak RSS {row['memory_ratio']:.2f}x", flush=True)


def argparse_hidden():
    import argparse
    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
