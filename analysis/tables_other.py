"""The other tables: structured pruning, STADE's studies, the pruning-cost and peer benchmarks, the corpora, zero-shot
accuracy and the time per stage. Every method list comes from the rows (a new method appears by itself)."""
from __future__ import annotations

import json

from evidence import bootstrap, make_cell, pct, seed_of
from paths import read_jsonl, read_results, results_root
from tables_common import METHOD_ORDER, _emit, _finish, _header, _tex, ordered_methods, paper_numbers
from tables_perplexity import _eval_text, _fmt, _model, _ppl, seed_means

STRUCTURED_ORDER = ["dense", "magnitude_sp", "wanda_sp", "flap", "bip", "bip_uniform", "bip_noprop"]


def bip_structured_table(rows: list[dict]) -> tuple[str, str]:
    """Structured methods x ratio: perplexity, zero-shot mean, parameters left, groups/channels removed; FLAP's
    published LLaMA-7B numbers."""
    if not rows:
        return "", ""
    corpus = next(iter(rows[0]["ppl"]))
    ratios = sorted({r["sparsity_target"] for r in rows if r["method"] != "dense"})
    paper = {(p["method"], float(p["sparsity"])): p["value"] for p in paper_numbers() if p["paper"] == "flap"}
    means = seed_means(rows, lambda r: (r["method"], r["sparsity_target"]))
    with_zs = any(r.get("zero_shot") for r in rows)  # the default scale runs no zero-shot: no empty columns
    columns = ("ppl", "0-shot", "params", "removed") if with_zs else ("ppl", "params", "removed")
    head = ["method"] + [f"{c} {x:.0%}" for x in ratios for c in columns]
    lines, tex = _header(head + [f"FLAP paper ppl {x:.0%}" for x in ratios])
    first = {}  # per cell, the first row with zero-shot records (the full scale evaluates them on one draw)
    for r in sorted(rows, key=lambda r: not r.get("zero_shot")):
        first.setdefault((r["method"], r["sparsity_target"]), r)
    for m in ordered_methods((k[0] for k in means), STRUCTURED_ORDER):
        cells = []
        for x in ([0.0] * len(ratios) if m == "dense" else ratios):
            r = first.get((m, x))
            zs = r and r.get("zero_shot")
            accs = [t["acc"] for t in zs["tasks"].values()] if zs else []
            s = (r or {}).get("structured") or {}
            cells.append(_fmt(means.get((m, x))))
            if with_zs:
                cells.append(f"{100 * sum(accs) / len(accs):.1f}" if accs else "")
            cells += [f"{s['params_after'] / 1e6:.1f}M" if s else ("dense" if r else ""),
                      f"{s['head_groups_removed']} groups, {s['channels_removed']} ch." if "head_groups_removed" in s
                      else ""]
        _emit(lines, tex, m, cells + [paper.get((m, 0.0 if m == "dense" else x), "") for x in ratios])
    zs_text = "offline zero-shot mean accuracy (%; of one calibration draw), " if with_zs else ""
    caption = (f"Perplexity on `{corpus}` in windows of {rows[0]['eval_sizes'][corpus]['seqlen']} tokens, {zs_text}"
               "attention+MLP parameters left, head groups and MLP channels removed over all blocks; model "
               f"`{_model(rows[0])}` ({rows[0].get('scale', '?')} scale), ratio = share of attention + MLP parameters "
               "removed, no fine-tuning; (n) = geometric mean over n calibration draws. Paper columns: FLAP's LLaMA-7B WikiText-2 numbers (copied "
               "in a third-party README; the LLM-BIP paper's tables could not be read offline).")
    return _finish(lines, tex, caption)


def structured_speedup_table(rows: list[dict]) -> tuple[str, str]:
    if not rows:
        return "", ""
    lines, tex = _header(["model", "method", "ratio", "params after", "prefill speed-up", "decode speed-up",
                          "dense prefill tok/s", "dense decode tok/s"])
    for r in rows:
        _emit(lines, tex, r["model"], [r["method"], f"{r['ratio']:.0%}", f"{r['model_params_after'] / 1e6:.1f}M",
                                       f"{r['speedup']['prefill_tokens_per_s']:.2f}x",
                                       f"{r['speedup']['decode_tokens_per_s']:.2f}x",
                                       f"{r['dense']['prefill_tokens_per_s']:.0f}",
                                       f"{r['dense']['decode_tokens_per_s']:.1f}"])
    machine = rows[0]["provenance"]["machine"]
    caption = (f"Tokens/s of the physically smaller model over the dense one, measured in the same process "
               f"({rows[0]['tokens']}-token prefill, {rows[0]['new_tokens']} greedy decode tokens, best of 3), "
               f"device `{rows[0]['device']}`, {machine['cpu_threads']} CPU threads.")
    return _finish(lines, tex, caption)


def _gain(a: float, b: float) -> str:
    return f"{100 * (a / b - 1):+.1f}%"


def _training_records(rows: list[dict]) -> dict[str, dict]:
    """Per recipe, the training rows of exactly the models the pruning rows used (an older budget's checkpoints of
    the same recipe have other names), averaged over training seeds: final loss and the non-norm-fed inputs'
    median mu^2/Var per layer."""
    used = {_model(r) for r in rows}
    by_recipe: dict[str, list[dict]] = {}
    for r in read_results("training_conditions_train"):
        if r["model"] in used:
            by_recipe.setdefault(r["recipe"], []).append(r)
    out = {}
    for recipe, records in by_recipe.items():
        layers = [k for k, v in records[0]["input_centring"].items() if not v["normalized_input"]]
        out[recipe] = {"final_loss": sum(t["final_loss"] for t in records) / len(records),
                       "centring": {k: sum(t["input_centring"][k]["median_mean2_over_var"] for t in records)
                                    / len(records) for k in layers}}
    return out


def training_conditions_table(rows: list[dict]) -> tuple[str, str]:
    """Recipe x method at 50% (mean over training seeds), STADE's change relative to Wanda, what pruning costs Wanda,
    and how centred the output projections' inputs are."""
    if not rows:
        return "", ""
    trained = _training_records(rows)
    recipe = lambda r: r.get("recipe") or _model(r).split(":")[1].rsplit("-", 1)[0]  # noqa: E731
    means = seed_means(rows, lambda r: (recipe(r), r["method"]))
    methods = ordered_methods(k[1] for k in means)
    lines, tex = _header(["model"] + methods + ["Wanda's cost", "stade_all vs wanda", "mu^2/Var of non-norm inputs",
                                                "final train loss"])
    for rec in dict.fromkeys(k[0] for k in means):
        get = lambda m: means.get((rec, m), (None, 0))[0]  # noqa: E731
        t = trained.get(rec, {})
        centring = ", ".join(f"{k.split('.')[-1]} {v:.2f}" for k, v in t.get("centring", {}).items())
        cells = [_fmt(means.get((rec, m))) for m in methods]
        cells += [_gain(get("wanda"), get("dense")) if get("wanda") and get("dense") else "",
                  _gain(get("stade_all"), get("wanda")) if get("stade_all") and get("wanda") else "",
                  centring, f"{t['final_loss']:.3f}" if t else ""]
        _emit(lines, tex, rec, cells)
    r0 = rows[0]
    caption = (f"Perplexity (byte-level) on `{next(iter(r0['ppl']))}` of small decoders trained from scratch under one "
               f"changed condition each (experiments/training_conditions.py), pruned at 50% ({r0['scale']} scale); "
               "(n) = mean over n training seeds. 'Wanda's cost': Wanda's perplexity over the dense model's; below "
               "+10% the models have not learned enough for a metric to matter, and the claims table says so.")
    return _finish(lines, tex, caption)


def stade_layer_study_table(rows: list[dict]) -> tuple[str, str]:
    """Family x layer pruned alone x method; STADE's change relative to Wanda per layer."""
    pruned = [r for r in rows if r["method"] != "dense"]
    if not pruned:
        return "", ""
    means = seed_means(pruned, lambda r: (_model(r), r["config"]["layers"], r["method"]))
    methods = [m for m in ("wanda", "stade_all", "stade_all_nocomp") if any(k[2] == m for k in means)]
    methods += [m for m in ordered_methods(k[2] for k in means) if m not in methods]
    lines, tex = _header(["model", "layer pruned alone"] + methods + [f"{m} vs wanda" for m in methods[1:]])
    # one layer order for every model: the order the layers first appear in the rows (rows carry no block
    # position), so the models' tables line up whatever order each one's rows landed in
    layer_rank = {layer: i for i, layer in enumerate(dict.fromkeys(k[1] for k in means))}
    model_rank = {model: i for i, model in enumerate(dict.fromkeys(k[0] for k in means))}
    cells = sorted(dict.fromkeys(k[:2] for k in means), key=lambda c: (model_rank[c[0]], layer_rank[c[1]]))
    for model, layer in cells:
        vals = [means.get((model, layer, m)) for m in methods]
        gains = [_gain(v[0], vals[0][0]) if v and vals[0] else "" for v in vals[1:]]
        _emit(lines, tex, model, [layer] + [_fmt(v) for v in vals] + gains)
    dense = {_model(r): _ppl(r) for r in rows if r["method"] == "dense"}
    caption = (_eval_text(pruned[0]) + f"; only the named linear of every block pruned at "
               f"{pruned[0]['sparsity_target']:.0%}; dense: " + ", ".join(f"{k} {v:.2f}" for k, v in dense.items())
               + ". The STADE paper's Fig. 1 does this for OPT-125m's fc1 and fc2.")
    return _finish(lines, tex, caption)


def _offload_note(rows: list[dict]) -> str:
    """--offload rows: peak RSS above the process before the model loaded, against the model's float32 size."""
    parts = []
    for r in rows:
        if r.get("offload") and "rss_before_load_mb" in r:
            above = sorted(p - r["rss_before_load_mb"] for p in r.get("peak_rss_prune_mb_runs") or
                           [r["peak_rss_prune_mb"]])
            budget = 0.5 * r["model_fp32_mb"] + r["block_activations_mb"]
            span = (f"{above[0]:.0f} MB" if len(above) == 1 else f"{above[0]:.0f}-{above[-1]:.0f} MB over its "
                    f"{len(above)} runs")  # mapped checkpoint pages count while resident: the peak varies by run
            met = sum(a <= budget for a in above)
            parts.append(f"{r['method']}: peak RSS {span} above the process before loading = "
                         f"{above[0] / r['model_fp32_mb']:.0%}-{above[-1] / r['model_fp32_mb']:.0%} of the model's "
                         f"float32 size ({r['model_fp32_mb']:.0f} MB; target: half of it plus one block's activations, "
                         f"{budget:.0f} MB: met in {met} of {len(above)} runs)")
    in_memory = [r for r in rows if not r.get("offload") and r["method"] == "wanda" and "rss_before_load_mb" in r]
    if parts and in_memory:
        r = in_memory[0]
        parts.append(f"in memory, wanda: {r['peak_rss_prune_mb'] - r['rss_before_load_mb']:.0f} MB")
    return (" Offloading (--offload disk): " + "; ".join(parts) + ".") if parts else ""


def pruning_cost_table(rows: list[dict]) -> tuple[str, str]:
    rows = list({r["method"]: r for r in rows}.values())  # a re-measurement (--force) replaces the method's row
    if not rows:
        return "", ""
    r0 = rows[0]
    lines, tex = _header(["method", "sparsity", "prune / decoder forward", "floor", "collect", "solve", "recompute",
                          "other", "peak RSS / model RSS"],
                         "method & sparsity & time ratio & floor & collect & solve & recompute & other & memory ratio")
    rank = lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER)  # noqa: E731
    from methods.config import split_method_spec  # lazy: only this table needs the engine's package
    base = lambda spec: split_method_spec(spec)[0]  # noqa: E731
    for r in sorted(rows, key=lambda r: (rank(base(r["method"])), r["method"])):
        f = r["dense_forward_decoder_s"]
        ph = r.get("phase_seconds", {})
        other = r["prune_s"] - sum(ph.get(k, 0.0) for k in ("collect", "solve", "recompute"))
        floor = f"{r['floor_ratio_decoder']:.2f}x" if "floor_ratio_decoder" in r else ""
        cells = [f"{r.get('sparsity', 0.5):.0%}", f"{r['time_ratio_decoder']:.2f}x", floor]
        cells += [f"{ph.get(k, 0.0) / f:.2f}x" for k in ("collect", "solve", "recompute")] + [f"{other / f:.2f}x",
                                                                                          f"{r['memory_ratio']:.2f}x"]
        _emit(lines, tex, r["method"], cells)
    machine = r0["provenance"]["machine"]
    paper = {p["method"]: p["value"] for p in paper_numbers() if p["table"] == "pruning time" and p["model"] == "LLaMA-7B"}
    solve = {r["method"]: r["solve_s"] for r in rows}
    ratio = f"{solve['sparsegpt'] / solve['wanda']:.0f}x" if "sparsegpt" in solve and solve.get("wanda") else "?"
    caption = (f"Model `{r0['model']['model']}`, calibration {r0['calibration']['nsamples']} x "
               f"{r0['calibration']['seqlen']} tokens, batches of {r0['batch_size']}, {r0.get('threads', '?')} CPU "
               f"threads{' (' + machine['cpu'] + ')' if machine.get('cpu') else ''}; every phase as a multiple of one "
               f"forward of the decoder body over the calibration set ({r0['dense_forward_decoder_s']:.1f} s): the floor "
               "for a sequential one-shot method is 2x (one statistics pass and one recompute pass per block). "
               "'other': capture, gradients (Pruner-Zero), allocator search. 'solve' is the Wanda paper's pruning "
               f"time (metric + mask + update): {paper.get('wanda', '?')} s (Wanda) vs {paper.get('sparsegpt', '?')} s "
               f"(SparseGPT) for LLaMA-7B on an A100 in the paper; SparseGPT/Wanda solve ratio {ratio} here. "
               f"Each row is the fastest of {_span(r.get('repeats', 1) for r in rows)} alternating runs. 'floor': the least time on this "
               "machine, as a multiple of the same forward: the method's forward passes, plus the arithmetic of its "
               "Gram matrices (symmetric half) and solves (SparseGPT: Cholesky factor, its inverse and the OBS "
               "updates) at the machine's measured GEMM rate in the solver's precision"
               + _rates(rows) + "; selection, Python and memory traffic count as overhead."
               + (" sparsegpt:float32: SparseGPT with its Hessian, Cholesky factors and sweep in float32 (the papers' "
                  "and the GPU path's precision); the CPU default is float64, whose digits do not depend on the thread "
                  "count or the BLAS kernel." if any(r.get("gram_dtype") == "float32" for r in rows) else "")
               + _offload_note(rows))
    return _finish(lines, tex, caption)


def _span(values) -> str:
    values = sorted(set(values))
    return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"


def _rates(rows: list[dict]) -> str:
    rates = {r["floor_dtype"]: r["gemm_gflops"] for r in rows if "gemm_gflops" in r}
    return f" ({', '.join(f'{d}: {g:.0f} GFLOP/s' for d, g in sorted(rates.items()))})" if rates else ""


def peer_benchmark_table(rows: list[dict]) -> tuple[str, str]:
    """Ours over llm-compressor: time, peak memory and perplexity ratios per method (min over alternating runs), the
    paired per-window interval of the perplexity ratio, and for SparseGPT the peer at float64."""
    latest = {r["method"]: r for r in rows if r.get("ratios")}  # --force appends: the last measurement per method
    rows = list(latest.values())
    if not rows:
        return "", ""
    lines, tex = _header(["method", "time ours/peer", "peak RSS ours/peer", "ppl ours", "ppl peer", "ours/peer (95%)",
                          "ppl peer, float64", "ours/peer float64 (95%)", "runs"])
    for r in rows:
        q, p64 = r["ratios"], r.get("peer_float64")
        _emit(lines, tex, r["method"], [f"{q['time']:.2f}x", f"{q['rss']:.2f}x", f"{r['ours']['ppl']:.2f}",
                                        f"{r['peer']['ppl']:.2f}", _paired(r["ours"], r["peer"]),
                                        f"{p64['ppl']:.2f}" if p64 else "", _paired(r["ours"], p64) if p64 else "",
                                        str(r["runs"])])
    r0 = rows[0]
    caption = (f"This project vs llm-compressor {r0['peer']['version']} (its own virtual environment) on the same model "
               f"({r0['model']}), calibration ids and evaluator, whole-process CPU seconds and peak RSS, the minimum "
               f"of {r0['runs']} alternating runs each; CPU: {r0['machine']}. Perplexity ratios with a 95% bootstrap "
               "interval over the evaluation windows (paired: the same windows on both sides). \"peer, float64\": "
               "one more llm-compressor SparseGPT run with its Hessian and sweep in float64, our CPU precision (not "
               "timed). A benchmark, not a test (experiments/peer_benchmark.py).")
    return _finish(lines, tex, caption)


def _paired(ours: dict, peer: dict) -> str:
    """ppl ours / ppl peer as a signed percentage with its paired window-bootstrap interval."""
    cells = {"a": make_cell("ours", [ours]), "b": make_cell("peer", [peer])}
    if None in cells.values():
        return ""
    iv = bootstrap(cells, lambda v: v["a"] - v["b"])
    return f"{pct(iv.estimate)} [{pct(iv.low)}, {pct(iv.high)}]"


def corpora_table(rows: list[dict]) -> tuple[str, str]:
    if not rows:
        return "", ""
    key = next((k for k in rows[0] if k.startswith("dense_ppl_")), "dense_ppl")
    lines, tex = _header(["corpus", "split", "documents", "words", "SmolLM2 tokens", f"dense ppl ({key[10:]}, eval)"],
                         "corpus & split & documents & words & tokens & dense ppl", "llrrrr")
    for r in rows:
        for split, s in r["splits"].items():
            ppl = f"{r[key]:.2f}" if split == "test" and key in r else ""
            _emit(lines, tex, f"`{r['corpus']}`", [split, str(s["documents"]), f"{s['words']:,}", f"{s['tokens']:,}",
                                                   ppl])
    removed = rows[0].get("removed_as_in_both")
    note = (f"{removed} vital articles that are also in the excerpt were removed from `wiki_vital`, so no article "
            "is in both corpora." if removed is not None else "")
    return _finish(lines, tex, note)


def _zero_shot_label(r: dict) -> str:
    if r["method"] == "dense":
        return "dense"
    shape = r["pattern"] if r["pattern"] != "unstructured" else format(r["sparsity_target"], ".0%")
    return f"{r['method']} {shape}" + (f" + {r['allocator']}" if r["allocator"] != "uniform" else "")


def zero_shot_table(rows: list[dict]) -> tuple[str, str]:
    """One line per pruned model: perplexity, accuracy (lm-eval `acc`) per task and their mean, averaged over the
    calibration seeds, with items per task; the Wanda paper's LLaMA-7B 7-task mean beside it (ordering only)."""
    rows = [r for r in rows if r.get("zero_shot")]
    if not rows:
        return "", ""
    corpus = next(iter(rows[0]["ppl"]))
    tasks = sorted(rows[0]["zero_shot"]["tasks"])
    paper = {p["method"]: p["value"] for p in paper_numbers() if p["paper"] == "wanda" and p["table"] == "Table 2"}
    per_seed = {(_zero_shot_label(r), seed_of(r)): r for r in rows}  # a re-run of a seed replaces it
    ppl = seed_means(list(per_seed.values()), _zero_shot_label)
    lines, tex = _header(["model", f"ppl {corpus}"] + tasks + ["mean", "Wanda paper mean (LLaMA-7B, 7 tasks)"])
    for label in dict.fromkeys(lab for lab, _ in per_seed):
        group = [r for (lab, _), r in per_seed.items() if lab == label]
        accs = [sum(r["zero_shot"]["tasks"][t]["acc"] for r in group) / len(group) for t in tasks]
        r = group[0]
        ref = paper.get(r["method"], "") if r["pattern"] == "unstructured" and r["allocator"] == "uniform" and \
            r["sparsity_target"] in (0.0, 0.5) else ""
        _emit(lines, tex, label, [_fmt(ppl[label])] + [f"{100 * a:.1f}" for a in accs]
              + [f"{100 * sum(accs) / len(accs):.1f}", ref])
    zs = rows[0]["zero_shot"]
    n = {t: zs["tasks"][t].get("n") for t in tasks}
    caption = (f"Accuracy in % (lm-eval {zs['lm_eval_version']}, 0-shot, metric `{zs['metric']}`), tasks "
               f"`{zs.get('spec', '')}` ({', '.join(f'{t}: {v} items' for t, v in n.items())}); model "
               f"`{_model(rows[0])}` ({rows[0].get('scale', '?')} scale); (n) = mean over n calibration seeds "
               "(perplexity: geometric). Chance: stade_lastword ~0, stade_nextsent 25%. Differences between models, "
               "paired per item with intervals: the claims table. The paper column is the Wanda paper's LLaMA-7B mean "
               "over its 7 tasks (unverified; ordering only)." + _paired_se(rows))
    return _finish(lines, tex, caption)


def _paired_se(rows: list[dict]) -> str:
    """The standard error of the paired per-item difference Wanda - SparseGPT (50%, calibration seed 0), the noise
    of that claim's cell on one draw."""
    import numpy as np

    from evidence import item_scores

    pick = {r["method"]: r for r in rows if r["method"] in ("wanda", "sparsegpt") and r["sparsity_target"] == 0.5
            and r["pattern"] == "unstructured" and r["allocator"] == "uniform" and seed_of(r)[0] == 0}
    if len(pick) < 2 or any("items" not in next(iter(r["zero_shot"]["tasks"].values())) for r in pick.values()):
        return ""
    diff = item_scores(pick["wanda"])[0] - item_scores(pick["sparsegpt"])[0]
    se = float(np.std(diff, ddof=1) / np.sqrt(len(diff)))
    return (f" Paired standard error of Wanda - SparseGPT (item mean, seed 0): {se:.1f} points over {len(diff)} "
            f"items ({100 * float(np.mean(diff != 0)):.0f}% of items differ).")


STAGE_ORDER_EXTRA = ["setup", "theory"]


def _row_compute_seconds(rows: list[dict]) -> float:
    total = 0.0
    for r in rows:
        if r.get("reused_from"):
            continue
        seconds = r.get("seconds")
        if isinstance(seconds, dict):
            total += sum(seconds.get(k, 0.0) for k in ("load", "calibration_data", "prune", "eval"))
        total += r.get("train_seconds", 0.0)
    return total


def run_times_table(stages: list[str]) -> tuple[str, str]:
    """Time per stage: the default scale's measured wall time (run_all.sh) beside the full scale's compute recorded in
    its rows (results/full/, run stage by stage, possibly resumed)."""
    order = ["setup"] + stages + ["theory"]
    times_file = results_root() / "run_all_times_default.json"
    default = json.loads(times_file.read_text()) if times_file.is_file() else {"stages": {}}
    full = {s: _row_compute_seconds(read_jsonl(results_root() / "full" / f"{s}.jsonl")
                                    + read_jsonl(results_root() / "full" / f"{s}_train.jsonl")) for s in order}
    if not default["stages"] and not any(full.values()):
        return "", ""
    lines, tex = _header(["stage", "default: wall minutes (run_all.sh)", "full: compute minutes in its rows"])
    for stage in order:
        d, f = default["stages"].get(stage), full.get(stage)
        cells = [f"{d / 60:.1f}" if d is not None else "", f"{f / 60:.1f}" if f else ""]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
        tex.append(f"{_tex(stage)} & " + " & ".join(cells) + " \\\\")
    listed = sum(default["stages"].get(s, 0.0) for s in order)  # the optional benchmarks are not in the 2 hours
    lines.append(f"| **total** | {listed / 60:.0f} | {sum(full.values()) / 60:.0f} |")
    machine = default.get("machine") or {}
    caption = (f"Default scale: wall time of each stage of one `bash run_all.sh` on {machine.get('cpu', '?')} "
               f"({machine.get('cores', '?')} cores, no GPU), {default.get('date', '?')}, from a fresh clone with an "
               "empty results folder (the optional benchmarks, run with --only, are not included). Full scale: the "
               "load, calibration, pruning, evaluation and training seconds recorded in `results/full/` rows (run "
               "stage by stage, 2 threads).")
    return _finish(lines, tex, caption)


def embedded_models_table(rows: list[dict]) -> tuple[str, str]:
    """The models of the default scale, measured on their dense rows: size, load and evaluation time, perplexity."""
    dense = [r for r in rows if r["method"] == "dense"]
    if not dense:
        return "", ""
    lines, tex = _header(["model", "class", "parameters", "float32 MB", "load s", "eval s", "BOS per window",
                          "dense ppl"])
    for r in dense:
        m, sizes = r["model"], next(iter((r.get("eval_sizes") or {}).values()), {})
        _emit(lines, tex, f"`{m['model']}`", [m.get("class", "?"), f"{m['params'] / 1e6:.0f}M",
                                              f"{m['params'] * 4 / 2**20:.0f}", f"{r['seconds']['load']:.1f}",
                                              f"{r['seconds']['eval']:.1f}", sizes.get("bos", "?"),
                                              f"{_ppl(r):.2f}"])
    caption = (_eval_text(dense[0]) + "; the dense rows of results/main_perplexity.jsonl (load: from the cached "
               "safetensors; eval: the windows above, on this machine's CPU threads). 'BOS per window': whether each "
               "evaluation window starts with the tokenizer's BOS (tokenizers that add one, such as Gemma's).")
    return _finish(lines, tex, caption)
