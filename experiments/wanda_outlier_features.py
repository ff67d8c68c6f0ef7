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

from common import BY_NAME, base_config, models_for, output_path, parse_args, parser, pending

NAME = "wanda_outlier_features"
THRESHOLDS = (3, 5, 10, 20)


def channel_profile(weight: torch.Tensor, norms: torch.Tensor, stats=None, others: tuple[str, ...] = ()) -> dict:
    """Outlier statistics of one layer's input-channel norms, and how far Wanda's 50% mask is from magnitude's (and,
    for each method added with --add-method, how far its mask is: the same share for that method)."""
    from methods import get_method
    from methods.masks import row_mask
    ratio = norms / norms.median()
    wanda = row_mask(weight.abs().double() * norms[None, :], 0.5)
    magnitude = row_mask(weight.abs(), 0.5)
    top = torch.topk(ratio, k=min(3, len(ratio)))
    out = {
        "width": len(norms),
        "share_above": {str(k): float((ratio > k).double().mean()) for k in THRESHOLDS},
        "max_over_median": float(top.values[0]),
        "top_channels": top.indices.tolist(),
        "wanda_prunes_magnitude_keeps": float((wanda & ~magnitude).sum() / max(int(wanda.sum()), 1)),
    }
    for name in others:
        mask = row_mask(get_method(name).call_score(weight, stats).cpu(), 0.5)
        out[f"{name}_prunes_magnitude_keeps"] = float((mask & ~magnitude).sum() / max(int(mask.sum()), 1))
    return out


def run_fields(config, others: tuple[str, ...] = ()) -> dict:
    """What defines a measurement (its resume key)."""
    fields = {"experiment": NAME, "model": config.model, "calib": config.calib, "nsamples": config.nsamples,
              "seqlen": config.seqlen, "seed": config.seed}
    return {**fields, "compared": list(others)} if others else fields


@torch.no_grad()
def measure(config, progress: bool, others: tuple[str, ...] = ()) -> dict:
    from methods.data import calibration_samples
    from methods.stream import dense_statistics
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
            profile = channel_profile(layer.weight.data.float().cpu(), collector.stats[name].norm.cpu(),
                                      collector.stats[name], others)
            layers.append({"block": b, "layer": name, "normalized_input": collector.normalized[name], **profile})
    fields = run_fields(config, others)
    return {"key": run_key(fields), **fields, "model_info": loaded.provenance, "thresholds": list(THRESHOLDS),
            "layers": layers, "seconds": time.perf_counter() - t, "provenance": provenance()}


def main(argv=None):
    args = parse_args(parser(__doc__), argv)
    from methods import METHODS
    others = tuple(m for m in (args.add_method or "").split(",") if m)
    for name in others:
        if METHODS[name].score is None or "grad" in METHODS[name].all_needs:
            raise SystemExit(f"error: --add-method {name}: the outlier study compares masks of score-based methods "
                             "computed from input statistics; {name} has no such score".replace("{name}", name))
    spec = BY_NAME[NAME]
    if args.dry_run:
        print(f"{NAME}: dense channel norms of {models_for(args, spec)}" + (f", masks of {others}" if others else ""))
        return
    from methods.results import append_rows
    out = output_path(args, NAME)
    for model in models_for(args, spec):
        config = base_config(args, model=model).validate()
        if pending(out, run_fields(config, others), config.model) is None:
            continue
        row = measure(config, progress=not args.no_progress, others=others)
        append_rows(out, [row])
        worst = max(row["layers"], key=lambda l: l["max_over_median"])
        print(f"[{NAME}] {config.model}: {len(row['layers'])} layers in {row['seconds']:.0f}s; largest channel "
              f"{worst['max_over_median']:.0f}x the median ({worst['block']}.{worst['layer']})")
        for l in row["layers"]:
            print(f"  {l['block']:2d}.{l['layer']:18s} >5x median: {l['share_above']['5']:.4f}  "
                  f"max {l['max_over_median']:8.1f}x  wanda-vs-magnitude {l['wanda_prunes_magnitude_keeps']:.3f}")


if __name__ == "__main__":
    main()
