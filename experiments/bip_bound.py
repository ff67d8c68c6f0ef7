"""How good is LLM-BIP's bound? Scores against the measured block-output change of removing each unit.

On the dense model, for a few blocks: remove (mask) each head group and a sample of MLP channels one at a time,
measure the mean L1 change of the block output over the calibration tokens, and compare with each scorer's
score: does BIP's value upper-bound the change (it must for channels, where it is exact, and should for heads if
the MLP's Lipschitz estimate holds), and how well does each scorer rank the units (Spearman)?
  python experiments/bip_bound.py --scale default       # 4 blocks, all head groups, 64 channels each; ~5 min
"""
from __future__ import annotations

import torch

from common import BY_NAME, base_config, models_for, output_path, parse_args, parser, pending

NAME = "bip_bound"
SCORERS = ("bip", "bip_noprop", "wanda_sp", "flap", "magnitude_sp")
BLOCKS = {"tiny": [0, 1], "default": [0, 10, 20, 29], "full": [0, 10, 20, 29], "paper": [0, 8, 16, 24, 31]}
CHANNELS = {"tiny": 16, "default": 64, "full": 64, "paper": 64}
NSAMPLES = {"tiny": 4, "default": 8, "full": 8, "paper": 32}
PAPER_MODELS = ["huggyllama/llama-7b"]


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra, rb = a.argsort().argsort().double(), b.argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1]) if len(a) > 2 else float("nan")


@torch.no_grad()
def measure_block(runner, block, units, stats, channels: torch.Tensor, scorers=SCORERS) -> dict:
    from methods import METHODS as STRUCTURED
    from methods.structured import block_output_change, score_block

    _, outs = runner.run(block, keep=True)
    dense = torch.cat(outs)

    def change(groups, chans):
        return block_output_change(runner, block, units, dense, groups, chans)

    scores = {name: score_block(block, units, STRUCTURED[name].structured, stats) for name in scorers}
    n_groups = len(scores["bip"].groups)
    measured_groups = torch.tensor([change([g], []) for g in range(n_groups)], dtype=torch.float64)
    measured_channels = torch.tensor([change([], [int(j)]) for j in channels], dtype=torch.float64)
    return {"groups": measured_groups.tolist(), "channels": measured_channels.tolist(),
            "scores": {n: {"groups": s.groups.tolist(), "channels": s.channels[channels].tolist()}
                       for n, s in scores.items()}}


def summarize(blocks: list[dict], scorers=SCORERS) -> dict:
    """Per scorer: Spearman over channels (mean over blocks) and over all head groups pooled; for BIP the share
    of units whose score is at least the measured change (the bound holding)."""
    out = {}
    for name in scorers:
        ch = [spearman(torch.tensor(b["scores"][name]["channels"]), torch.tensor(b["channels"])) for b in blocks]
        groups_s = torch.tensor([v for b in blocks for v in b["scores"][name]["groups"]])
        groups_m = torch.tensor([v for b in blocks for v in b["groups"]])
        out[name] = {"spearman_channels": sum(ch) / len(ch), "spearman_groups_pooled": spearman(groups_s, groups_m)}
    for kind in ("groups", "channels"):
        pairs = [(s, m) for b in blocks for s, m in zip(b["scores"]["bip"][kind], b[kind])]
        out["bip"][f"bound_holds_{kind}"] = sum(s >= m * (1 - 1e-6) for s, m in pairs) / len(pairs)
    return out


def main(argv=None):
    args = parse_args(parser(__doc__), argv)
    scorers = SCORERS + tuple(m for m in (args.add_method or "").split(",") if m and m not in SCORERS)
    from methods import METHODS
    for name in scorers:
        if METHODS[name].kind != "structured":
            raise SystemExit(f"error: --add-method {name}: bip_bound compares structured scorers; {name} is not one")
    if args.dry_run:
        print(f"{NAME}: blocks {BLOCKS[args.scale]}, {CHANNELS[args.scale]} channels, scorers {scorers}")
        return
    from methods.stream import BlockRunner
    from methods.models import load_model
    from methods.pipeline import calibration_ids
    from methods.results import append_rows, provenance
    from methods.structured import discover_units, head_dim_of

    out = output_path(args, NAME)
    for model in models_for(args, BY_NAME[NAME]):
        config = base_config(args, model=model, method="bip", sparsity=0.2, nsamples=NSAMPLES[args.scale]).validate()
        fields = {"experiment": NAME, "model": config.model, "blocks": BLOCKS[args.scale],
                  "channels": CHANNELS[args.scale], "calib": config.calib, "nsamples": config.nsamples,
                  "seqlen": config.seqlen, "seed": config.seed, "scorers": list(scorers)}
        key = pending(out, fields, config.model)
        if key is None:
            continue
        loaded = load_model(config.model, device=args.device)
        calib, _ = calibration_ids(config, loaded, progress=False)
        runner = BlockRunner(loaded.model, calib, config.batch_size, next(loaded.model.parameters()).device)
        wanted, blocks = set(BLOCKS[args.scale]), []
        for b, block in enumerate(runner.blocks):
            if b > max(wanted):
                break
            collector, outs = runner.run(block, collect=True, keep=True, needs={"abs_mean"})
            if b in wanted:
                units = discover_units(collector, head_dim_of(loaded.model.config))
                width = block.get_submodule(units.mlp_consumer).in_features
                channels = torch.randperm(width, generator=torch.Generator().manual_seed(b))[:CHANNELS[args.scale]]
                blocks.append({"block": b, **measure_block(runner, block, units, collector.stats, channels, scorers)})
                print(f"[{NAME}] block {b} measured", flush=True)
            runner.advance(outs)
        row = {"key": key, **fields, "summary": summarize(blocks, scorers), "per_block": blocks,
               "provenance": provenance()}
        append_rows(out, [row])
        for name, s in row["summary"].items():
            print(f"  {name:12s} " + ", ".join(f"{k}={v:.3f}" for k, v in s.items()))


if __name__ == "__main__":
    main()
