"""How far the engine's block inputs are from the model's own forward, per block (issue 18's Gemma-3 check).

For each block b: ||x_b - h_b|| / ||h_b||, x_b the input the engine gives block b (each block replayed with the
arguments the model passed it, or, with --block0-arguments, with block 0's, as the engine once did), h_b the
model's own `output_hidden_states[b]`. Random token ids, CPU, one thread.
    .venv/bin/python scripts/stream_drift.py --model gemma3-270m --lengths 128,600
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from methods.blocks import find_blocks  # noqa: E402
from methods.models import load_model  # noqa: E402
from methods.stream import block_input_errors  # noqa: E402


@torch.no_grad()
def drift(model: torch.nn.Module, ids: torch.Tensor, block0_arguments: bool) -> list[float]:
    """||engine input - model's own input|| / ||model's|| per block."""
    _, blocks = find_blocks(model)
    return block_input_errors(model, blocks, ids, torch.device("cpu"), metric="l2", replay_block0_args=block0_arguments)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gemma3-270m")
    p.add_argument("--lengths", default="128,600")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(args.model, device="cpu").model
    vocab = model.get_input_embeddings().num_embeddings
    for length in map(int, args.lengths.split(",")):
        ids = torch.randint(0, vocab, (1, length), generator=torch.Generator().manual_seed(0))
        for label, old in (("each block's own arguments", False), ("block 0's arguments", True)):
            print(f"{length} tokens, {label}: " + " ".join(f"{100 * e:.1f}%" for e in drift(model, ids, old)))


if __name__ == "__main__":
    main()
