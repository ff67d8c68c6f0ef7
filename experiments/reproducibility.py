"""How many significant digits a rerun reproduces of the committed default-scale rows (issue 21).

Reruns the seed-0 main_perplexity rows of dense, magnitude, Wanda, STADE and SparseGPT (50%) with the default
preset at 1 and at 2 CPU threads, and compares each perplexity with the committed row of the same run key (the key
leaves out the thread count). digits = the log relative error -log10(|a - b| / |a|), rounded (35.53 against
35.12: 1.9 -> 2 digits), 16 when the doubles are equal. The committed
row's machine and thread count come from its provenance, so a row committed from another CPU model shows as such.
Float32 reductions change with the thread count and the BLAS kernel; the pruning masks then flip on near-ties of the
scores, which is what moves a pruned model's perplexity more than a dense one's.
An optional benchmark: `bash run_all.sh --only reproducibility` (~4 minutes); rows in results/reproducibility.jsonl.
  python experiments/reproducibility.py [--threads 1,2]
"""
from __future__ import annotations

import math
from dataclasses import replace

from common import base_config, output_path, parse_args, parser, with_method

NAME = "reproducibility"
METHODS = ("dense", "magnitude", "wanda", "stade", "sparsegpt")


def digits(a: float, b: float) -> int:
    """Significant digits on which a and b agree: the log relative error, rounded (16: identical doubles)."""
    if a == b:
        return 16
    return max(0, min(16, round(-math.log10(abs(a - b) / abs(a)))))


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--threads", default="1,2", help="thread counts to rerun at")
    args = parse_args(p, argv)
    from methods import run
    from methods.results import append_rows, read_rows, run_key

    committed = {r["key"]: r for r in read_rows(output_path(args, "main_perplexity")) if "key" in r}
    out = output_path(args, NAME)
    base = base_config(args)
    done = {(r["key"], r["threads"], r["committed_ppl"]) for r in read_rows(out) if "key" in r}
    plan = []
    for method in [m for m in METHODS if not args.methods or m in args.methods.split(",")]:
        config = with_method(base, method).validate()
        key = run_key(config.defining_fields())
        if key not in committed:
            print(f"[{NAME}] {method}: no committed main_perplexity row with this key; run main_perplexity first")
            continue
        old = committed[key]  # a rerun against the same committed row is done once (resumable)
        plan += [(method, config, old, int(t)) for t in args.threads.split(",")
                 if (key, int(t), next(iter(old["ppl"].values()))) not in done]
    if args.dry_run:
        for method, _, _, threads in plan:
            print(f"  todo {method} at {threads} thread(s)")
        return
    for method, config, old, threads in plan:
        row = run(replace(config, threads=threads), progress=not args.no_progress)
        (corpus, new), old_ppl = next(iter(row["ppl"].items())), old["ppl"][next(iter(row["ppl"]))]
        result = {"experiment": NAME, "method": method, "threads": threads, "ppl": new, "committed_ppl": old_ppl,
                  "digits": digits(old_ppl, new), "key": row["key"], "corpus": corpus,
                  "committed": {"machine": old["provenance"].get("machine"), "threads": old["config"].get("threads"),
                                "git": old["provenance"].get("git")},
                  "model": row["model"], "provenance": row["provenance"]}
        append_rows(out, [result])
        print(f"[{NAME}] {method} at {threads} thread(s): {new:.6f} vs committed {old_ppl:.6f}: "
              f"{result['digits']} digits", flush=True)


if __name__ == "__main__":
    main()
