"""One llm-compressor run for experiments/peer_benchmark.py, inside llm-compressor's own virtual environment (it pins
transformers 5.15-5.17, so it never shares the project's): load the model, prune it on the given calibration ids with
llm-compressor's Wanda or SparseGPT modifier, save the pruned weights. Imports nothing from this project.

  <peer venv>/bin/python experiments/peer_llmcompressor_worker.py MODEL_DIR CALIB.safetensors METHOD PATTERN OUT_DIR THREADS [float64]
The optional last argument runs SparseGPT with llm-compressor's Hessian and sweep in float64 instead of its float32
(its module constant SGPT_PRECISION): the same algorithm at our CPU precision, to tell precision from method.
Prints one JSON line: the in-process pruning seconds and the library's version.
"""
from __future__ import annotations

import json
import sys
import time


def main() -> None:
    model_dir, calib_path, method, pattern, out_dir, threads = sys.argv[1:7]
    precision = sys.argv[7] if len(sys.argv) > 7 else "float32"
    import torch
    from datasets import Dataset
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import llmcompressor
    from llmcompressor import oneshot
    from llmcompressor.modifiers.pruning import SparseGPTModifier, WandaPruningModifier

    torch.set_num_threads(int(threads))
    if precision == "float64":
        from llmcompressor.modifiers.pruning.sparsegpt import sgpt_sparsify
        sgpt_sparsify.SGPT_PRECISION = torch.float64  # read at call time by the Hessian, the solve and the sweep
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids = load_file(calib_path)["input_ids"]
    calib = Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": torch.ones_like(ids).tolist()})
    structure = "0:0" if pattern == "unstructured" else pattern
    # the decoder layers as targets (llm-compressor's own sparsity examples): with targets=["Linear"] and
    # ignore=["lm_head"], 0.14 names the head "lm_head." and prunes it, and with it the tied embedding (measured:
    # perplexity 53.5 against 37.5 for SmolLM2 at 50%)
    where = {"targets": [r"re:model\.layers\.\d+$"], "ignore": ["re:.*lm_head"]}
    if method == "wanda":
        recipe = WandaPruningModifier(sparsity=0.5, mask_structure=structure, **where)
    elif method == "sparsegpt":
        recipe = SparseGPTModifier(sparsity=0.5, mask_structure=structure, block_size=128, dampening_frac=0.01,
                                   **where)
    else:
        sys.exit(f"no llm-compressor counterpart for {method!r}")
    t = time.perf_counter()
    oneshot(model=model, tokenizer=tokenizer, dataset=calib, recipe=recipe, num_calibration_samples=len(ids),
            max_seq_length=ids.shape[1], shuffle_calibration_samples=False, batch_size=4, pipeline="sequential")
    prune_s = time.perf_counter() - t
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    print(json.dumps({"prune_s": prune_s, "version": llmcompressor.__version__, "peak_rss_mb": own_peak_rss_mb(),
                      "precision": precision}))


def own_peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM of its address space), as methods.results.peak_rss_mb, restated because
    this worker imports nothing from the project. wait4's ru_maxrss is not that: Linux carries the parent's
    high-water mark into a child across fork/vfork + exec, so a parent that grew first floors it."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


if __name__ == "__main__":
    main()
