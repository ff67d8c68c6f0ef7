"""Connect the theory to a real model: are the inputs of each layer type centred per feature?

Wanda is optimal (P4) when every input feature has zero mean over tokens; STADE's first release applies its metric
only to the layers whose input is not a normalisation output (attention/MLP output projections). On the embedded
model (dense, calibration data of the default scale) this measures, for every linear layer, the per-channel ratio
mu_j^2 / Var(x_j) (0 = centred), and reports its median per layer and the share of channels with |mu|/sigma > 0.5.
Whether each layer's input is a norm output is detected in the forward pass (methods' engine), not from names.
  python theory/check_real_model.py [--model embedded] [--nsamples 8]
"""
from __future__ import annotations

from collections import defaultdict

import torch

from synthetic import ScaledParser, write_result

FAMILIES = "embedded,gemma3-270m,qwen2.5-0.5b"
PRESETS = {"tiny": dict(model="random:llama", nsamples=2, seqlen=64),
           "default": dict(model=FAMILIES, nsamples=8, seqlen=512),
           "paper": dict(model=FAMILIES, nsamples=8, seqlen=512)}


def layer_statistics(model_spec: str = "embedded", nsamples: int = 8, seqlen: int = 512, calib: str = "enwiki_excerpt",
                     device: str = "cpu") -> list[dict]:
    from methods.data import calibration_samples
    from methods.stream import dense_statistics
    from methods.models import load_model

    loaded = load_model(model_spec, device=device)
    ids = calibration_samples(calib, loaded.tokenizer, nsamples, seqlen, seed=0)
    rows = []
    with torch.no_grad():
        for b, _, collector in dense_statistics(loaded.model, ids, 4, device):
            for name, stats in collector.stats.items():
                rows.append({"block": b, "layer": name, "normalized_input": collector.normalized[name],
                             **stats.centring()})
    for r in rows:
        r.update({"model": model_spec, "nsamples": nsamples, "seqlen": seqlen, "calib": calib})
    return rows


def summarise(rows: list[dict]) -> dict[str, dict]:
    by_layer = defaultdict(list)
    for r in rows:
        by_layer[r["layer"]].append(r)
    return {name: {"normalized_input": rs[0]["normalized_input"],
                   "median_mean2_over_var": sorted(r["median_mean2_over_var"] for r in rs)[len(rs) // 2],
                   "share_abs_mean_over_std_gt_0.5": sum(r["share_abs_mean_over_std_gt_0.5"] for r in rs) / len(rs)}
            for name, rs in by_layer.items()}


def main() -> None:
    p = ScaledParser(__doc__, PRESETS)
    p.add_argument("--model", default=None, help="comma-separated models (default: the three embedded families; "
                                                  "tiny scale: random:llama)")
    p.add_argument("--nsamples", type=int, default=None, help="default 8 (tiny 2)")
    p.add_argument("--seqlen", type=int, default=None, help="default 512 (tiny 64)")
    args = p.parse_args()
    rows, summaries = [], {}
    for model in args.model.split(","):
        model_rows = layer_statistics(model, args.nsamples, args.seqlen)
        summaries[model] = summarise(model_rows)
        rows += model_rows
        print(f"\n{model}\n{'layer':22s} {'norm input':>10s} {'median mu^2/var':>16s} {'|mu|/sigma>0.5':>15s}")
        for name, s in summaries[model].items():
            print(f"{name:22s} {str(s['normalized_input']):>10s} {s['median_mean2_over_var']:>16.4f} "
                  f"{s['share_abs_mean_over_std_gt_0.5']:>15.1%}")
    write_result("real_model", rows + [{"summary": summaries}], args.out_dir)


if __name__ == "__main__":
    main()
