"""scripts/gpu_check.sh, the prepared GPU check (issue 20), runs its whole code path on tiny shapes here (--smoke):
every part writes rows naming the device, and the offloaded run's masks equal the in-memory ones."""
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_gpu_check_smoke_writes_every_part(tmp_path):
    env = dict(os.environ, STADE_RESULTS_DIR=str(tmp_path), OMP_NUM_THREADS="1")
    proc = subprocess.run(["bash", "scripts/gpu_check.sh", "--smoke"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    timing = _rows(tmp_path / "gpu_pruning_time.jsonl")
    assert [r["method"] for r in timing] == ["wanda", "sparsegpt"]
    assert all(r["device"] and r["solve_s"] > 0 and r["layers"] == 14 for r in timing)
    offload = _rows(tmp_path / "gpu_offload.jsonl")
    assert offload[0]["masks_equal_in_memory"] is True and offload[0]["offload"] == "disk"
    gemm = _rows(tmp_path / "gpu_sparse_gemm.jsonl")
    assert gemm and all(r["level"] == "kernel only" for r in gemm)
    if not torch.cuda.is_available():
        assert all("skipped" in r for r in gemm)  # 2:4 kernels are CUDA-only: said, not faked


def test_gpu_check_full_size_refuses_without_a_gpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the full check would run")
    proc = subprocess.run(["bash", "scripts/gpu_check.sh"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, STADE_RESULTS_DIR=str(tmp_path)))
    assert proc.returncode != 0 and "needs a CUDA GPU" in proc.stderr
    assert not list(tmp_path.glob("gpu_*.jsonl"))
