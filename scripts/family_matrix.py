"""Which operation works on which decoder family: a markdown table, 'works' or the one-line refusal (issue 18).

Each cell is one CLI-equivalent run (`methods.run`) on a tiny random model of the family (methods/random_models.py),
4 x 32 calibration tokens, 2 evaluation windows, CPU, one thread; about 2 minutes for the 12 families.
    .venv/bin/python scripts/family_matrix.py [--families llama,gemma3]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from methods import PruneConfig, run  # noqa: E402
from methods.models import byte_tokenizer  # noqa: E402
from methods.random_models import RANDOM_FAMILIES, random_model  # noqa: E402

OPERATIONS = {  # column -> PruneConfig fields; "save" marks a run with --save
    "wanda 50%": dict(method="wanda", sparsity=0.5),
    "sparsegpt 2:4": dict(method="sparsegpt", pattern="2:4"),
    "stade 50%": dict(method="stade", sparsity=0.5),
    "wanda+owl 70%": dict(method="wanda", sparsity=0.7, allocator="owl"),
    "bip 20%": dict(method="bip", sparsity=0.2),
    "wanda --offload disk": dict(method="wanda", sparsity=0.5, offload="disk"),
    "stade --save": dict(method="stade", sparsity=0.5, save=True),
    "wanda --save": dict(method="wanda", sparsity=0.5, save=True)}


def cell(model_dir: Path, corpus: str, fields: dict, scratch: Path) -> str:
    fields = dict(fields)
    save = str(Path(tempfile.mkdtemp(dir=scratch)) / "saved") if fields.pop("save", False) else None
    config = PruneConfig(model=str(model_dir), calib=corpus, eval=(corpus,), nsamples=4, seqlen=32, batch_size=2,
                         eval_windows=2, device="cpu", **fields)
    try:
        run(config, save=save, progress=False)
        return "works"
    except Exception as err:  # noqa: BLE001  (the refusal's text is the cell)
        return "error: " + str(err).splitlines()[0][:120]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", default=",".join(RANDOM_FAMILIES))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    scratch = Path(tempfile.mkdtemp(prefix="family-matrix-"))
    corpus_file = scratch / "corpus.txt"
    corpus_file.write_text("The quick brown fox jumps over the lazy dog. " * 400)
    print("| family | " + " | ".join(OPERATIONS) + " |\n" + "|---" * (len(OPERATIONS) + 1) + "|")
    for family in args.families.split(","):
        model_dir = scratch / family
        random_model(family, seed=0).save_pretrained(model_dir)
        byte_tokenizer().save_pretrained(model_dir)
        cells = [cell(model_dir, f"text:{corpus_file}", fields, scratch) for fields in OPERATIONS.values()]
        print(f"| {family} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
