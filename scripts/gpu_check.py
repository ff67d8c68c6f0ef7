"""The GPU path in one prepared run (issue 20): what only a GPU can show, measured with no network in under 8 minutes.

  1. pruning time: the engine on a random-weight model with LLaMA-2-7B's shapes (no download: timing does not depend
     on the weights), float16 weights, statistics in float32/float64; Wanda's and SparseGPT's solve time (metric +
     mask + update, no forward passes), as in the Wanda paper's table (0.54 s vs 203.1 s on an A100, LLaMA-7B).
  2. --offload disk on the same model: decoder blocks memory-mapped from a safetensors copy, one block on the GPU at
     a time; its GPU peak against the in-memory run's, and its masks against the in-memory Wanda masks.
  3. a 2:4 GEMM micro-benchmark (torch.sparse.to_sparse_semi_structured) at LLaMA-7B's linear shapes: kernel level
     only; no end-to-end 2:4 speed-up is claimed (vLLM and llm-compressor dropped 2:4 sparse serving in 2026).
Rows go to results/gpu_pruning_time.jsonl, gpu_offload.jsonl, gpu_sparse_gemm.jsonl ($STADE_RESULTS_DIR moves
them); every row names the device. `--smoke` runs the same code on tiny shapes on any device (the tests use it).

  bash scripts/gpu_check.sh            # on a CUDA machine
  bash scripts/gpu_check.sh --smoke    # anywhere, seconds
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

try:
    import torch
except ImportError:
    sys.exit("gpu_check: torch is not installed; run `bash scripts/setup_env.sh` first (this check needs a CUDA GPU)")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from methods import get_method, prune_model  # noqa: E402
from methods.masks import Pattern  # noqa: E402
from methods.results import append_rows, provenance  # noqa: E402

SHAPES = {  # LlamaConfig fields
    "llama2-7b": dict(hidden_size=4096, intermediate_size=11008, num_attention_heads=32, num_key_value_heads=32,
                      num_hidden_layers=32, vocab_size=32000, max_position_embeddings=4096),
    "smoke": dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=4,
                  num_hidden_layers=2, vocab_size=300, max_position_embeddings=256)}
CALIBRATION = {"llama2-7b": (128, 2048), "smoke": (4, 64)}  # (sequences, tokens): the papers' 128 x 2048
GEMM_SHAPES = {"llama2-7b": [(4096, 4096), (11008, 4096), (4096, 11008)], "smoke": [(128, 64)]}
GEMM_TOKENS = {"llama2-7b": [2048, 16384], "smoke": [64]}


def results_dir() -> Path:
    return Path(os.environ.get("STADE_RESULTS_DIR", ROOT / "results"))


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_llama(shape: str, device: torch.device, dtype: torch.dtype, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(**SHAPES[shape], tie_word_embeddings=False)
    with torch.device(device):
        model = LlamaForCausalLM._from_config(config, dtype=dtype)
    return model.eval()


def mask_digest(model) -> str:
    """A hash over every prunable linear's zero pattern: per layer the count, sum and sum of squares of the zeros'
    flat positions, computed where the weights are (a 7B model's masks never cross to the host)."""
    from methods.models import prunable_linears
    from methods.offload import stored_tensor

    h = hashlib.sha256()
    for name, layer in sorted(prunable_linears(model).items()):
        where = torch.nonzero(stored_tensor(layer, "weight").flatten() == 0).flatten()
        h.update(f"{name}:{where.numel()}:{int(where.sum())}:{int((where * where).sum())}".encode())
    return h.hexdigest()


def peak_gpu_gb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def prune_timed(model, method: str, calib: torch.Tensor, device: torch.device, batch: int) -> dict:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    t = time.perf_counter()
    report = prune_model(model, get_method(method), calib, 0.5, Pattern(), batch_size=batch, device=device,
                         progress=False)
    sync(device)
    return {"prune_s": time.perf_counter() - t, "phase_seconds": report.seconds, "solve_s": report.seconds["solve"],
            "layers": len(report.layers), "peak_gpu_gb": peak_gpu_gb(device)}


def check_pruning_and_offload(args, device: torch.device, dtype: torch.dtype, common: dict) -> None:
    from methods.models import byte_tokenizer, load_model

    n, seqlen = CALIBRATION[args.shape]
    calib = torch.randint(0, SHAPES[args.shape]["vocab_size"], (n, seqlen), generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory(dir=args.scratch) as tmp:
        model = random_llama(args.shape, device, dtype)
        if not args.skip_offload:  # the dense weights the offloaded run will stream from
            model.save_pretrained(tmp)
            byte_tokenizer().save_pretrained(tmp)
        rows, digests = [], {}
        for method in ("wanda", "sparsegpt"):
            if method != "wanda":
                model = random_llama(args.shape, device, dtype)  # the same seed: the same dense weights
            row = prune_timed(model, method, calib, device, args.batch_size)
            digests[method] = mask_digest(model)
            rows.append({**common, "method": method, "calibration": [n, seqlen], **row,
                         "paper_solve_s_a100_llama7b": {"wanda": 0.54, "sparsegpt": 203.1}[method]})
            print(f"[gpu_check] {method}: solve {row['solve_s']:.2f}s, prune {row['prune_s']:.1f}s", flush=True)
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()
        append_rows(results_dir() / "gpu_pruning_time.jsonl", rows)
        if args.skip_offload:
            return
        offloaded = load_model(tmp, device=str(device), dtype=str(dtype).replace("torch.", ""), offload="disk",
                               offload_folder=str(Path(tmp) / "offload"))
        row = prune_timed(offloaded.model, "wanda", calib, device, args.batch_size)
        same = mask_digest(offloaded.model) == digests["wanda"]
        append_rows(results_dir() / "gpu_offload.jsonl", [{
            **common, "method": "wanda", "offload": "disk", **row, "masks_equal_in_memory": same,
            "in_memory_peak_gpu_gb": rows[0]["peak_gpu_gb"], "in_memory_prune_s": rows[0]["prune_s"]}])
        print(f"[gpu_check] wanda --offload disk: prune {row['prune_s']:.1f}s, masks equal in-memory: {same}")


def time_op(fn, device: torch.device, repeats: int = 20) -> float:
    for _ in range(3):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def check_sparse_gemm(args, device: torch.device, dtype: torch.dtype, common: dict) -> None:
    rows = []
    for out_f, in_f in GEMM_SHAPES[args.shape]:
        for tokens in GEMM_TOKENS[args.shape]:
            row = {**common, "weight": [out_f, in_f], "tokens": tokens, "dtype": str(dtype), "level": "kernel only"}
            w = torch.randn(out_f, in_f, device=device, dtype=dtype)
            w = w * torch.tensor([1, 1, 0, 0], device=device, dtype=dtype).repeat(out_f, in_f // 4)  # 2:4
            x = torch.randn(in_f, tokens, device=device, dtype=dtype)
            dense_s = time_op(lambda: w @ x, device)
            try:
                from torch.sparse import to_sparse_semi_structured
                sparse_w = to_sparse_semi_structured(w)
                sparse_s = time_op(lambda: sparse_w @ x, device)
                error = float((sparse_w @ x - w @ x).abs().max())
                row.update(dense_s=dense_s, sparse_s=sparse_s, speedup=dense_s / sparse_s, max_abs_error=error)
            except (RuntimeError, ValueError, NotImplementedError) as err:  # CPU, old GPUs, unsupported shapes
                row.update(dense_s=dense_s, skipped=f"{type(err).__name__}: {str(err).splitlines()[0][:160]}")
            rows.append(row)
            print(f"[gpu_check] 2:4 GEMM {out_f}x{in_f} @ {tokens} tokens: "
                  + (f"{row['speedup']:.2f}x dense" if "speedup" in row else row["skipped"]), flush=True)
    append_rows(results_dir() / "gpu_sparse_gemm.jsonl", rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny shapes on any device (seconds): the code path only")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--skip-offload", action="store_true")
    p.add_argument("--scratch", default=None, help="where the offload copy is written (needs ~14 GB at full size)")
    args = p.parse_args(argv)
    args.shape = "smoke" if args.smoke else "llama2-7b"
    device = torch.device(args.device)
    if device.type != "cuda" and not args.smoke:
        sys.exit("error: the full check needs a CUDA GPU; use --smoke to run the code path on this device")
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    common = {"shape": args.shape, "device": device_name(device), "dtype": str(dtype).replace("torch.", ""),
              "smoke": args.smoke, "provenance": provenance()}
    t = time.perf_counter()
    check_pruning_and_offload(args, device, dtype, common)
    check_sparse_gemm(args, device, dtype, common)
    print(f"[gpu_check] done in {time.perf_counter() - t:.0f}s; rows in {results_dir()}/gpu_*.jsonl")


if __name__ == "__main__":
    main()
