"""The Wanda paper's motivation (Sec. 2-3): emergent large-magnitude input features in LLMs.

On the dense model, every prunable linear layer's input channels are measured over the calibration set
(dense stream, block by block, the engine's BlockRunner): ||X_j||_2 per channel, its ratio to the layer's median
channel norm, the share of channels above k x the median (k = 3, 5, 10, 20), the largest ratio and the channels
that reach it. Where a few channels are far above the rest, |W| alone misjudges importance: the last column
measures that directly, as the share of the weights Wanda prunes at 50% (per output row) that magnitude would
have kept.
  scientific: layer, depth.   fixed: calibration set (the scale's, seed 0), dense model.
  python experiments/wanda_outlier_features.py --scale default     # one dense pass, ~1 min on 2 CPU cores
"""
from __future__ import annotations

import time

import torch

from common import model_bases, models_for, output_path, parser, pending

NAME = "wanda_outlier_features"
THRESHOLDS = (3, 5, 10, 20)
PAPER_MODELS = ["huggyllama/llama-7b"]


def channel_profile(weight: torch.Tensor, norms: torch.Tensor) -> dict:
    """Outlier statistics of one layer's input-channel norms, and how far Wanda's 50% mask is from magnitude's."""
    from methods.masks import row_mask
    ratio = norms / norms.median()
    wanda = row_mask(weight.abs().double() * norms[None, :], 0.5)
    magnitude = row_mask(weight.abs(), 0.5)
    top = torch.topk(ratio, k=min(3, len(ratio)))
    return {
        "width": len(norms),
        "share_above": {str(k): float((ratio > k).double().mean()) for k in THRESHOLDS},
        "max_over_median": float(top.values[0]),
        "top_channels": top.indices.tolist(),
        "wanda_prunes_magnitude_keeps": float((wanda & ~magnitude).sum() / max(int(wanda.sum()), 1)),
    }


def run_fields(config) -> dict:
    """What defines a measurement (its resume key)."""
    return {"experiment": NAME, "model": config.model, "calib": config.calib, "nsamples": config.nsamples,
            "seqlen": config.seqlen, "seed": config.seed}


@torch.no_grad()
def measure(config, progress: bool) -> dict:
    from methods.data import calibration_samples
    from methods.engine import dense_statistics
    from methods.models import load_model
    from methods.results import provenance, run_key

    t = time.perf_counter()
    loaded = load_model(config.model, device=config.device, dtype=config.dtype, revision=config.revision)
    calib = calibration_samples(config.calib, loaded.tokenizer, config.nsamples, config.seqlen, config.seed,
                                config.calib_data_files)
    device = next(loaded.model.parameters()).device
    layers = []
    for b, _, collector in dense_statistics(loaded.model, calib, config.batch_size, device, progress,
                                            desc="channel norms"):
        for name, layer in collector.linears.items():
            profile = channel_profile(layer.weight.data.float().cpu(), collector.stats[name].norm.cpu())
            layers.append({"block": b, "layer": name, "normalized_input": collector.normalized[name], **profile})
    fields = run_fields(config)
    return {"key": run_key(fields), **fields, "model_info": loaded.provenance, "thresholds": list(THRESHOLDS),
            "layers": layers, "seconds": time.perf_counter() - t, "provenance": provenance()}


def main(argv=None):
    args = parser(__doc__).parse_args(argv)
    if args.dry_run:
        print(f"{NAME}: dense channel norms of {models_for(args, PAPER_MODELS)}")
        return
    from methods.results import append_rows
    out = output_path(args, NAME)
    for config in model_bases(args, PAPER_MODELS):
        config.validate()
        if pending(out, run_fields(config), config.model) is None:
            continue
        row = measure(config, progress=not args.no_progress)
        append_rows(out, [row])
        worst = max(row["layers"], key=lambda l: l["max_over_median"])
        print(f"[{NAME}] {config.model}: {len(row['layers'])} layers in {row['seconds']:.0f}s; largest channel "
              f"{worst['max_over_median']:.0f}x the median ({worst['block']}.{worst['layer']})")
        for l in row["layers"]:
            print(f"  {l['block']:2d}.{l['layer']:18s} >5x median: {l['share_above']['5']:.4f}  "
                  f"max {l['max_over_median']:8.1f}x  wanda-vs-magnitude {l['wanda_prunes_magnitude_keeps']:.3f}")


if __name__ == "__main__":
    main()
