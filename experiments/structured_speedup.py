"""Measured speed-up of structurally pruned models: tokens/s of the smaller model over the dense one, in one process.

For each ratio the dense model is timed, pruned (LLM-BIP by default; the speed depends on the sizes, not the
scorer), and timed again on the same inputs: prefill (one forward over `--tokens` tokens, best of 3) and greedy
decoding with the KV cache (`--new-tokens` tokens after a 16-token prompt, best of 3). The ratio is what the
benchmark reports; absolute tokens/s depend on the machine (recorded in the row's provenance). Run it on an
otherwise idle machine: other processes on the same cores distort both numbers of a pair.
  python experiments/structured_speedup.py --scale default                 # CPU; add --device cuda on a GPU
"""
from __future__ import annotations

import time

import torch

from common import BY_NAME, base_config, models_for, output_path, parse_args, parser, pending

NAME = "structured_speedup"
RATIOS = {"tiny": [0.2], "default": [0.2, 0.5], "full": [0.2, 0.5], "paper": [0.2, 0.5]}
PAPER_MODELS = ["huggyllama/llama-7b"]


def _best(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


@torch.no_grad()
def throughput(model, ids: torch.Tensor, new_tokens: int) -> dict[str, float]:
    prompt = ids[:, :16]
    prefill = _best(lambda: model(ids))
    decode = _best(lambda: model.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                          do_sample=False, pad_token_id=0))
    return {"prefill_tokens_per_s": ids.numel() / prefill, "decode_tokens_per_s": new_tokens / decode}


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--new-tokens", type=int, default=64)
    args = parse_args(p, argv)
    methods = (args.methods.split(",") if args.methods else ["bip"]) + [m for m in (args.add_method or "").split(",")
                                                                        if m]
    spec = BY_NAME[NAME]
    if args.dry_run:
        print(f"{NAME}: {methods} at {RATIOS[args.scale]} on {models_for(args, spec)}")
        return
    from methods.pipeline import calibration_ids
    from methods.models import load_model
    from methods.results import append_rows, provenance
    from methods import METHODS as STRUCTURED
    from methods.structured import prune_structured

    out = output_path(args, NAME)
    for ratio, method, model in ((r, m, mo) for r in RATIOS[args.scale] for m in methods for mo in models_for(args, spec)):
        if True:
            config = base_config(args, model=model, method=method, sparsity=ratio).validate()
            fields = {"experiment": NAME, "model": config.model, "method": method, "ratio": ratio,
                      "tokens": args.tokens, "new_tokens": args.new_tokens, "device": args.device}
            key = pending(out, fields, f"{config.model} {method} {ratio}")
            if key is None:
                continue
            loaded = load_model(config.model, device=args.device)
            ids = torch.randint(0, len(loaded.tokenizer), (1, args.tokens), generator=torch.Generator().manual_seed(0))
            ids = ids.to(next(loaded.model.parameters()).device)
            dense = throughput(loaded.model, ids, args.new_tokens)
            calib, _ = calibration_ids(config, loaded, progress=not args.no_progress)
            report = prune_structured(loaded.model, STRUCTURED[method], calib, ratio,
                                      batch_size=config.batch_size, device=ids.device, progress=not args.no_progress)
            pruned = throughput(loaded.model, ids, args.new_tokens)
            row = {"key": key, **fields, "params_before": report.params_before, "params_after": report.params_after,
                   "model_params_after": sum(p.numel() for p in loaded.model.parameters()),
                   "dense": dense, "pruned": pruned,
                   "speedup": {k: pruned[k] / dense[k] for k in dense}, "provenance": provenance()}
            append_rows(out, [row])
            print(f"[{NAME}] {config.model} {method} ratio {ratio}: prefill x{row['speedup']['prefill_tokens_per_s']:.2f}, "
                  f"decode x{row['speedup']['decode_tokens_per_s']:.2f}", flush=True)


if __name__ == "__main__":
    main()
