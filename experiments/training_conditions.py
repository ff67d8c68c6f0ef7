"""The STADE paper's training-conditions claim, as a controlled experiment: does Wanda's gap to STADE move with the
property the theory names?

Theory (STADE, Props. P1-P4; theory/): for a linear layer whose input features have means mu_j, the best score for
one weight is W^2 * Var(x_j) when the bias can absorb the removed mean (STADE) and W^2 * E[x_j^2] (Wanda's ranking)
when it cannot; the two agree when inputs are centred (mu_j = 0). How centred a layer's inputs are is set by how the
model was built and trained: the normalisation in front of it, the activation, and whether the layers carry biases.
The paper could only compare released models, which differ in many ways at once. Here small decoders are trained
from scratch that differ in ONE condition each, with the same seed, data, budget and tokenizer:
  llama_rms        Llama block: RMSNorm, no biases, SiLU-gated MLP (the Llama condition)
  llama_rms_bias   the same with biases on every projection (the model can absorb means while training)
  opt_relu         OPT block: LayerNorm, biases, ReLU MLP (down-projection inputs >= 0: far from centred)
  opt_tanh         the same with tanh (a zero-centred activation)
Then each is pruned at 50% with magnitude, Wanda, STADE (compensated, every layer and the paper's split), and
STADE without compensation; the input centring (median mu^2/Var per layer) is recorded beside. Prediction: STADE's
advantage over Wanda is largest where inputs are least centred (opt_relu's fc2) and shrinks toward zero where they
are centred (opt_tanh), and compensation is what carries it.
  default scale: byte-level tokenizer, 4 blocks of width 128, 256-token sequences from the calibration corpus's
                 train split, 600 AdamW steps, one training seed (checkpoints cached under the cache dir as
                 trained:<name>-<hash>, training curves in results/training_conditions_train.jsonl).
  full scale:    2,000 steps, training seeds 0-2; seed s also draws calibration sample s, so the spread over
                 seeds covers both the training run and the calibration draw.
  paper scale:   the released models themselves (LLaMA, OPT, Qwen) in main_perplexity.py.
  python experiments/training_conditions.py --scale default
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import replace

import torch
from tqdm import tqdm

from common import (BY_NAME, base_config, finalize, output_path, parse_args, parser, pending, run_grid, sibling_path,
                    with_method)

NAME = "training_conditions"
RECIPES = {
    "llama_rms": ("llama", {}),
    "llama_rms_bias": ("llama", {"attention_bias": True, "mlp_bias": True}),
    "opt_relu": ("opt", {"activation_function": "relu"}),
    "opt_tanh": ("opt", {"activation_function": "tanh"}),
}
SIZES = {
    "tiny": dict(hidden=32, layers=2, heads=2, ffn=64, seqlen=64, batch=4, steps=6, lr=3e-3, warmup=2),
    "default": dict(hidden=128, layers=4, heads=4, ffn=512, seqlen=256, batch=16, steps=600, lr=2e-3, warmup=20),
    # measured: 2000 steps (8M tokens, ~7 min per model on 2 cores) make Wanda at 50% cost llama_rms +19% and
    # opt_relu +31% perplexity: enough for a metric to matter (400 steps: < 1%)
    "full": dict(hidden=128, layers=4, heads=4, ffn=512, seqlen=256, batch=16, steps=2000, lr=2e-3, warmup=50),
}
TRAIN_SEEDS = {"tiny": (0,), "default": (0,), "full": (0, 1, 2)}
METHODS = ["dense", "magnitude", "wanda", "stade", "stade_all", "stade_all_nocomp"]
SPARSITIES = {"tiny": [0.5], "default": [0.5], "full": [0.5]}
EVAL_WINDOWS = {"tiny": 8, "default": 80, "full": 80}  # windows of the models' own sequence length
SEED = 0  # the centring measurement's draw (the calibration draw is the training seed's: see main)

def build_model(recipe: str, size: dict, vocab: int, eos: int, seed: int = 0) -> torch.nn.Module:
    """A fresh model of the recipe's family: stock Hugging Face configs, so the pipeline loads the checkpoint."""
    from transformers import LlamaConfig, LlamaForCausalLM, OPTConfig, OPTForCausalLM

    family, extra = RECIPES[recipe]
    common = dict(vocab_size=vocab, hidden_size=size["hidden"], num_hidden_layers=size["layers"],
                  num_attention_heads=size["heads"], max_position_embeddings=2 * size["seqlen"],
                  bos_token_id=eos, eos_token_id=eos, pad_token_id=eos, tie_word_embeddings=True)
    torch.manual_seed(seed)
    if family == "llama":
        return LlamaForCausalLM(LlamaConfig(intermediate_size=size["ffn"], num_key_value_heads=size["heads"],
                                            **common, **extra))
    return OPTForCausalLM(OPTConfig(ffn_dim=size["ffn"], word_embed_proj_dim=size["hidden"], do_layer_norm_before=True,
                                    enable_bias=True, dropout=0.0, attention_dropout=0.0, **common, **extra))


def training_stream(corpus: str, tokenizer) -> torch.Tensor:
    """The corpus's calibration split (never its evaluation split) as one token stream."""
    from methods.data import encode, get_corpus
    docs = get_corpus(corpus).documents("calib")
    return encode(tokenizer, "\n\n".join(docs))


def model_spec(recipe: str, size: dict, corpus: str, seed: int) -> tuple[dict, str]:
    """What defines a trained model, and its cache name (a hash of it: known before training)."""
    spec = {"recipe": recipe, "config": RECIPES[recipe], "size": size, "corpus": corpus, "seed": seed, "version": 1}
    return spec, f"{recipe}-{hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]}"


def train(recipe: str, size: dict, corpus: str, progress: bool = True, seed: int = 0) -> dict:
    """Train one model from scratch, or load its cached checkpoint; returns the training record."""
    from methods.assets import cache_dir
    from methods.models import TRAINED, byte_tokenizer

    tokenizer = byte_tokenizer()
    spec, name = model_spec(recipe, size, corpus, seed)
    path = cache_dir() / "trained" / name
    if (path / "training_log.json").exists():
        return json.loads((path / "training_log.json").read_text())
    stream = training_stream(corpus, tokenizer)
    if len(stream) <= size["seqlen"] + 1:
        raise ValueError(f"corpus {corpus!r} has {len(stream)} tokens, too few for sequences of {size['seqlen']}")
    model = build_model(recipe, size, len(tokenizer), tokenizer.eos_token_id, seed).train()
    opt = torch.optim.AdamW(model.parameters(), lr=size["lr"], betas=(0.9, 0.95), weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)  # the same batches, in the same order, for every recipe of a seed
    curve, t0 = [], time.perf_counter()
    for step in tqdm(range(size["steps"]), desc=f"training {recipe}", disable=not progress):
        lr = size["lr"] * min(1.0, (step + 1) / size["warmup"]) * 0.5 * (1 + math.cos(math.pi * step / size["steps"]))
        for group in opt.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, len(stream) - size["seqlen"] - 1, (size["batch"],), generator=g)
        batch = torch.stack([stream[s:s + size["seqlen"]] for s in starts])
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 10 == 0 or step == size["steps"] - 1:
            curve.append({"step": step, "loss": loss.item(), "lr": lr})
    record = {"model": TRAINED + name, "recipe": recipe, "train_seed": seed, "spec": spec, "curve": curve,
              "final_loss": curve[-1]["loss"], "train_seconds": time.perf_counter() - t0,
              "params": sum(p.numel() for p in model.parameters()),
              "tokens_seen": size["steps"] * size["batch"] * size["seqlen"]}
    model.eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "training_log.json").write_text(json.dumps(record))  # written last: marks a complete checkpoint
    return record


def input_centring(model_spec: str, corpus: str, seqlen: int) -> dict[str, dict]:
    """Per layer (name within a block): the median over blocks of its inputs' centring (methods.stats)."""
    from methods.data import calibration_samples
    from methods.stream import dense_statistics
    from methods.models import load_model

    loaded = load_model(model_spec, device="cpu")
    ids = calibration_samples(corpus, loaded.tokenizer, 8, seqlen, seed=SEED)
    per_layer: dict[str, list[dict]] = {}
    with torch.no_grad():
        for _, _, collector in dense_statistics(loaded.model, ids, 4, "cpu"):
            for name, stats in collector.stats.items():
                per_layer.setdefault(name, []).append({**stats.centring(),
                                                       "normalized_input": collector.normalized[name]})
    return {name: {"normalized_input": rs[0]["normalized_input"],
                   "median_mean2_over_var": sorted(r["median_mean2_over_var"] for r in rs)[len(rs) // 2]}
            for name, rs in per_layer.items()}


def record_training(recipe: str, size: dict, corpus: str, seed: int, train_out, progress: bool = True) -> None:
    """Train (or load) one model and append its training row (curve, input centring) once."""
    from methods.results import append_rows, provenance

    record = train(recipe, size, corpus, progress=progress, seed=seed)
    key = pending(train_out, {"experiment": f"{NAME}_train", **record["spec"]}, f"{recipe} seed {seed}")
    if key is not None:
        centring = input_centring(record["model"], corpus, size["seqlen"])
        append_rows(train_out, [{"key": key, **record, "input_centring": centring, "provenance": provenance()}])
        print(f"[{NAME}] {recipe} seed {seed}: final loss {record['final_loss']:.3f} after "
              f"{record['train_seconds']:.0f}s", flush=True)


def _seed_finished(args, grid, size: dict, corpus: str, seed: int, train_out) -> bool:
    """Whether a training seed's pruning rows and training rows are all recorded: then its models need not be
    trained again (on a fresh machine the checkpoints are not cached, and training is most of the cost)."""
    from methods.results import done_keys, run_key

    trained = done_keys(train_out)
    return (all(key in done_keys(output_path(args, NAME)) for key, _ in grid)
            and all(run_key({"experiment": f"{NAME}_train", **model_spec(r, size, corpus, seed)[0]}) in trained
                    for r in RECIPES))


def main(argv=None):
    args = parse_args(parser(__doc__), argv)
    if args.scale == "paper":
        print(f"[{NAME}] paper scale compares the released models: run main_perplexity.py --scale paper")
        return
    from methods.models import TRAINED

    size, spec = SIZES[args.scale], BY_NAME[NAME]
    corpus = args.calib or base_config(args).calib
    train_out = sibling_path(args, f"{NAME}_train")
    who, plan = {}, {}
    for seed in TRAIN_SEEDS[args.scale]:
        configs = []
        for recipe in RECIPES:
            model = TRAINED + model_spec(recipe, size, corpus, seed)[1]  # the name is known before training
            who[model] = {"recipe": recipe, "train_seed": seed}
            # the models' own sequence length for calibration and evaluation, whatever the scale's preset says
            base = replace(base_config(args, model=model), seqlen=size["seqlen"], nsamples=16, device="cpu",
                           eval_seqlen=None, eval_windows=EVAL_WINDOWS[args.scale], seed=seed)
            configs.append(with_method(base, "dense"))
            configs += [with_method(base, m, sparsity=s) for s in SPARSITIES[args.scale] for m in METHODS[1:]]
        plan[seed] = finalize(spec, args, configs)  # every seed's grid validated before any model trains
    if args.dry_run:
        print(f"[{NAME}] train {len(who)} models ({size['steps']} steps of {size['batch']}x{size['seqlen']} tokens of "
              f"{corpus}), then:")
    rows = []
    for seed, grid in plan.items():  # one training seed at a time: its rows land before the next seed trains
        if not args.dry_run and not _seed_finished(args, grid, size, corpus, seed, train_out):
            for recipe in RECIPES:
                record_training(recipe, size, corpus, seed, train_out, progress=not args.no_progress)
        rows += run_grid(spec, args, grid, annotate=lambda c: who[c.model])
    for r in rows:
        print(f"{r.get('recipe', '?'):16s} seed {r.get('train_seed', 0)} {r['method']:18s} "
              f"{next(iter(r['ppl'].values())):.3f}")


if __name__ == "__main__":
    main()
