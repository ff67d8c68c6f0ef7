"""The embedded corpora, measured: documents, words and SmolLM2 tokens per split, and the dense default model's
perplexity on each (the numbers behind the README's choice of corpora).
  python experiments/corpora_stats.py          # writes results/corpora_stats.jsonl (rerun: --force)
"""
from __future__ import annotations

import json

from common import BY_NAME, SCALES, no_method_axis, output_path, parse_args, parser

NAME = "corpora_stats"
CORPORA = ("wiki_vital", "enwiki_excerpt")


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--force", action="store_true")
    args = parse_args(p, argv)
    no_method_axis(BY_NAME[NAME], args)
    from methods.assets import cache_dir, corpus_dir
    from methods.data import eval_windows
    from methods.evaluate import perplexity
    from methods.models import load_model
    from methods.results import append_rows, provenance, read_rows

    out = output_path(args, NAME)
    if args.dry_run:
        print(f"[{NAME}] {'done' if read_rows(out) else 'todo'}: documents, words and tokens of {CORPORA}, dense "
              "perplexity of each")
        return
    if read_rows(out) and not args.force:
        print(f"[{NAME}] already in {out}")
        return
    loaded = load_model(SCALES[args.scale]["model"], device=args.device)  # its tokenizer counts the tokens
    rows = []
    for name in CORPORA:
        row = {"experiment": NAME, "corpus": name, "splits": {}}
        for split in ("train", "test"):
            texts = [json.loads(line)["text"] for line in open(corpus_dir(name) / f"{split}.jsonl")]
            tokens = sum(len(ids) for ids in loaded.tokenizer(texts).input_ids)
            row["splits"][split] = {"documents": len(texts), "words": sum(len(t.split()) for t in texts),
                                    "tokens": tokens}
        n, length = (4, 256) if args.scale == "tiny" else (16, 512)
        key = f"dense_ppl_{n}x{length}"
        windows = eval_windows(name, loaded.tokenizer, length, max_windows=n)
        row[key] = perplexity(loaded.model, windows, 2, progress=not args.no_progress).ppl
        row["model"] = loaded.provenance
        row["provenance"] = provenance()
        rows.append(row)
        print(f"[{NAME}] {name}: {row['splits']} {key} {row[key]:.2f}", flush=True)
    from methods.atomic import read_json
    manifest = read_json(cache_dir() / "corpora" / "manifest.json") or {}
    rows[0]["removed_as_in_both"] = manifest.get("removed_from_wiki_vital_as_in_both")
    append_rows(out, rows)


if __name__ == "__main__":
    main()
