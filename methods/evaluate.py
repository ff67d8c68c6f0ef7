"""Evaluation: perplexity with the WikiText protocol of the Wanda/SparseGPT code.

ppl = exp( (1 / (n * (L-1))) * sum_windows sum_{t=1}^{L-1} -log p(x_t | x_<t) ) over n non-overlapping windows
of L tokens (each window starts a fresh context; the official code's mean-loss-times-L bookkeeping gives the same
value because every window has the same length).

Zero-shot: the stock lm-eval package (pinned) on the in-memory model, `HFLM(pretrained=model, tokenizer=...)`, no
vendored harness and no saving to disk. Task specs: "offline" (the suite of methods/tasks.py, generated from the
embedded evaluation corpus), "paper" (the seven tasks every seed paper reports; need the Hub), or a comma list.
The papers report plain accuracy (`acc`) for every task (the STADE code reads 'acc,none'; Wanda's numbers match
acc), so the tables use `acc`; `acc_norm` is recorded where a task has it.
"""
from __future__ import annotations

import difflib
import functools
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .offload import execution_device
from .stats import NonFiniteError


@dataclass(frozen=True)
class Perplexity:
    """Perplexity of a model on n windows, with every window's mean NLL and token count (so two methods can be
    compared pairwise on the same windows afterwards)."""

    ppl: float
    window_nll: list[float]
    window_tokens: list[int]


LOGITS_BUDGET = 2**29  # bytes of float32 logits per evaluation batch (Gemma's 262k vocabulary: one window)


def eval_batch_size(model: nn.Module, seqlen: int, requested: int) -> int:
    """The requested batch, reduced so one batch's logits stay within LOGITS_BUDGET (large vocabularies)."""
    vocab = getattr(model.config, "vocab_size", 0) or 1
    return max(1, min(requested, LOGITS_BUDGET // (4 * seqlen * vocab)))


@torch.no_grad()
def perplexity(model: nn.Module, windows: torch.Tensor, batch_size: int = 4, device: str | torch.device = "cpu",
               progress: bool = True, desc: str = "perplexity", allow_nonfinite: bool = False) -> Perplexity:
    """Perplexity of `model` on [n, L] token windows; a non-finite loss is an error naming its window."""
    nll, tokens = [], []
    batch_size = eval_batch_size(model, windows.shape[1], batch_size)
    for batch in tqdm(windows.split(batch_size), desc=desc, disable=not progress):
        batch = batch.to(device)
        logits = model(input_ids=batch, use_cache=False).logits[:, :-1].float()
        targets = batch[:, 1:]
        per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
        per_window = per_token.view(targets.shape).double().mean(dim=1)
        for value in per_window.tolist():
            if not math.isfinite(value) and not allow_nonfinite:
                raise NonFiniteError(f"{desc}: the loss of evaluation window {len(nll)} is not finite (the pruned "
                                     "model produces NaN/inf logits); --allow-nonfinite records it instead")
            nll.append(value)
            tokens.append(targets.shape[1])
    mean = sum(n * t for n, t in zip(nll, tokens)) / sum(tokens)
    return Perplexity(math.exp(mean) if math.isfinite(mean) else float("nan"), nll, tokens)


PAPER_TASKS = ("boolq", "rte", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "openbookqa")
TABLE_METRIC = "acc"


@dataclass(frozen=True)
class TaskSpec:
    """Resolved zero-shot tasks: names, extra task folders, and whether lm-eval's own registry is needed."""

    tasks: tuple[str, ...]
    include: tuple[str, ...] = ()
    registry: bool = True


def resolve_tasks(spec: str) -> TaskSpec:
    """'offline' | 'paper' | comma list of lm-eval task names and/or paths to task YAML files."""
    from .tasks import OFFLINE_TASKS, build_suite, suite_dir

    items = [t.strip() for t in spec.split(",") if t.strip()]
    if not items:
        raise ValueError("empty zero-shot task list")
    tasks, include, local = [], [], set(OFFLINE_TASKS)
    for item in items:
        if item == "offline":
            tasks += OFFLINE_TASKS
        elif item == "paper":
            tasks += PAPER_TASKS
        elif item.endswith((".yaml", ".yml")):
            path = Path(item)
            if not path.is_file():
                raise ValueError(f"zero-shot task file {item} does not exist")
            import yaml

            try:
                config = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as err:
                raise ValueError(f"zero-shot task file {item} is not valid YAML: {err}") from None
            name = config.get("task") if isinstance(config, dict) else None
            if not isinstance(name, str):
                raise ValueError(f"zero-shot task file {item} has no 'task:' name")
            tasks.append(name)
            local.add(name)
            include.append(str(path.resolve().parent))
        else:
            tasks.append(item)
    if any(t in OFFLINE_TASKS for t in tasks):
        build_suite()  # idempotent; generated from the embedded evaluation corpus
        include.append(str(suite_dir()))
    registry = any(t not in local for t in tasks)
    return TaskSpec(tuple(dict.fromkeys(tasks)), tuple(dict.fromkeys(include)), registry)


@functools.lru_cache(maxsize=4)
def task_manager(include: tuple[str, ...] = (), registry: bool = True):
    """lm-eval's task index, cached. Indexing lm-eval's own registry reads every bundled YAML (~10 s), so it is
    skipped when only local tasks (the offline suite, YAML files) are asked for."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=list(include) or None, include_defaults=registry)


def check_tasks(tasks: Sequence[str], manager) -> None:
    known = set(manager.all_tasks)
    for task in tasks:
        if task not in known:
            close = difflib.get_close_matches(task, sorted(known), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown lm-eval task {task!r}.{hint}")


def check_zero_shot_spec(spec: str) -> TaskSpec:
    """Resolve a spec and check every task exists, before any pruning is spent."""
    resolved = resolve_tasks(spec)
    check_tasks(resolved.tasks, task_manager(resolved.include, resolved.registry))
    return resolved


def item_scores(samples: list[dict], metric_names: list[str]) -> dict[str, list]:
    """Per-item results of one task in document order: {"doc_id": [...], metric: [value per item]}, so that two
    models can be compared item by item (a paired test) afterwards."""
    ordered = sorted(samples, key=lambda s: s["doc_id"])
    out: dict[str, list] = {"doc_id": [int(s["doc_id"]) for s in ordered]}
    for name in metric_names:
        if ordered and name in ordered[0]:
            out[name] = [float(s[name]) for s in ordered]
    return out


def zero_shot(model: nn.Module, tokenizer, spec: str, *, batch_size: int = 16, limit: Optional[int] = None) -> dict:
    """0-shot accuracy of an in-memory model on lm-eval tasks (`spec`: see resolve_tasks).

    Returns {"tasks": {task: {"acc": ..., "acc_norm": ..., "n": ...}}, "metric": "acc", "lm_eval_version": ...,
    "seconds": ...}."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    t = time.perf_counter()
    resolved = check_zero_shot_spec(spec)
    tasks = list(resolved.tasks)
    manager = task_manager(resolved.include, resolved.registry)
    device = execution_device(model)
    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=str(device))
    out = lm_eval.simple_evaluate(model=lm, tasks=list(tasks), task_manager=manager, num_fewshot=0,
                                  limit=limit, bootstrap_iters=0, log_samples=True)
    results = {}
    for task in tasks:
        raw = out["results"][task]
        metrics = {k.split(",")[0]: float(v) for k, v in raw.items()
                   if "," in k and not k.split(",")[0].endswith("_stderr") and isinstance(v, (int, float))}
        metrics["n"] = int(out.get("n-samples", {}).get(task, {}).get("effective", 0))
        metrics["items"] = item_scores(out.get("samples", {}).get(task, []), [m for m in metrics if m != "n"])
        results[task] = metrics
    return {"spec": spec, "tasks": results, "metric": TABLE_METRIC, "lm_eval_version": lm_eval.__version__,
            "seconds": time.perf_counter() - t}
