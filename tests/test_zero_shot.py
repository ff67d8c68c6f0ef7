"""Zero-shot through stock lm-eval on in-memory models: accuracies against hand-computed log-likelihoods,
the offline suite generator, and errors."""
import json
import math
import random
import re

import pytest
import torch

from conftest import make_text, requires_embedded, tiny_llama
from methods import tasks as suite
from methods.evaluate import check_tasks, resolve_tasks, task_manager, zero_shot

MC_ITEMS = [
    {"context": "the cat sat on the", "choices": ["mat", "dog", "a very long word", "x"], "answer": 0},
    {"context": "one two three", "choices": ["four", "five"], "answer": 1},
    {"context": "red green", "choices": ["blue", "qq", "zz"], "answer": 2},
    {"context": "alpha beta gamma", "choices": ["delta", "omega"], "answer": 0},
]
LL_ITEMS = [{"context": "aaaa aaaa aaaa", "target": " aaaa"}, {"context": "ab ab ab ab", "target": " ab"},
            {"context": "hello there", "target": " world"}]


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tasks")
    suite.write_task(d, "tiny_mc", MC_ITEMS, "multiple_choice")
    suite.write_task(d, "tiny_ll", LL_ITEMS, "loglikelihood")
    return d


def _continuation_logprob(model, tok, context, continuation):
    """sum_t log p(continuation token t | everything before it), and whether every token is the argmax."""
    ctx = tok(context, add_special_tokens=False)["input_ids"]
    whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([whole])).logits[0].double(), -1)
    targets = whole[len(ctx):]
    rows = logp[len(ctx) - 1: len(whole) - 1]
    picked = rows[torch.arange(len(targets)), torch.tensor(targets)]
    return float(picked.sum()), bool((rows.argmax(-1) == torch.tensor(targets)).all())


def test_accuracy_matches_hand_computed_loglikelihoods(task_dir, tokenizer):
    model = tiny_llama(seed=3)
    out = zero_shot(model, tokenizer, f"{task_dir}/tiny_mc.yaml,{task_dir}/tiny_ll.yaml", batch_size=2)
    acc = acc_norm = 0
    for item in MC_ITEMS:
        lls = [_continuation_logprob(model, tokenizer, item["context"], " " + c)[0] for c in item["choices"]]
        norm = [ll / len(c) for ll, c in zip(lls, item["choices"])]  # lm-eval: per character of the choice
        acc += max(range(len(lls)), key=lls.__getitem__) == item["answer"]
        acc_norm += max(range(len(norm)), key=norm.__getitem__) == item["answer"]
    greedy = sum(_continuation_logprob(model, tokenizer, i["context"], i["target"])[1] for i in LL_ITEMS)
    assert out["tasks"]["tiny_mc"]["acc"] == pytest.approx(acc / len(MC_ITEMS))
    assert out["tasks"]["tiny_mc"]["acc_norm"] == pytest.approx(acc_norm / len(MC_ITEMS))
    assert out["tasks"]["tiny_ll"]["acc"] == pytest.approx(greedy / len(LL_ITEMS))
    assert out["tasks"]["tiny_mc"]["n"] == 4 and out["lm_eval_version"] == "0.4.13" and out["metric"] == "acc"


def test_pruning_changes_what_lm_eval_sees(task_dir, tokenizer):
    """The in-memory model is evaluated, not a copy from disk."""
    model = tiny_llama(seed=3)
    before = _continuation_logprob(model, tokenizer, "the cat sat on the", " mat")[0]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear) and m is not model.lm_head:
                m.weight.mul_(0)
    after = _continuation_logprob(model, tokenizer, "the cat sat on the", " mat")[0]
    assert not math.isclose(before, after)
    out = zero_shot(model, tokenizer, f"{task_dir}/tiny_mc.yaml", batch_size=2)
    assert 0.0 <= out["tasks"]["tiny_mc"]["acc"] <= 1.0


def test_unknown_and_malformed_tasks(task_dir, tmp_path):
    spec = resolve_tasks(f"{task_dir}/tiny_mc.yaml")
    assert spec.tasks == ("tiny_mc",) and not spec.registry  # local files only: lm-eval's registry is not indexed
    with pytest.raises(ValueError, match="unknown lm-eval task 'tiny_mcc'. Did you mean 'tiny_mc'"):
        check_tasks(["tiny_mcc"], task_manager(spec.include, False))
    broken = tmp_path / "broken.yaml"
    broken.write_text("task: broken\ndataset_path: json\noutput_type: [unbalanced\n")
    with pytest.raises(ValueError, match="broken.yaml is not valid YAML"):
        resolve_tasks(str(broken))
    (tmp_path / "noname.yaml").write_text("dataset_path: json\n")
    with pytest.raises(ValueError, match="has no 'task:' name"):
        resolve_tasks(str(tmp_path / "noname.yaml"))
    with pytest.raises(ValueError, match="does not exist"):
        resolve_tasks(str(tmp_path / "missing.yaml"))
    with pytest.raises(ValueError, match="empty zero-shot task list"):
        resolve_tasks(" ")


def test_suite_generator_is_deterministic_and_uses_only_given_docs(tmp_path):
    rng = random.Random(5)
    words = make_text(n_docs=1, seed=5).split()
    docs = [" ".join(" ".join(rng.sample(words, rng.randint(8, 14))).capitalize() + "." for _ in range(5))
            for _ in range(80)]
    m1 = suite.build_suite(tmp_path / "a", docs=docs)
    m2 = suite.build_suite(tmp_path / "b", docs=docs)
    assert m1 == m2 and m1["source"] == {"corpus": "wiki_vital", "role": "eval"}
    for task in suite.OFFLINE_TASKS:
        assert (tmp_path / "a" / f"{task}.jsonl").read_text() == (tmp_path / "b" / f"{task}.jsonl").read_text()
    joined = "\n".join(docs)
    for line in (tmp_path / "a" / "stade_nextsent.jsonl").read_text().splitlines():
        item = json.loads(line)
        assert item["context"] in joined and item["choices"][item["answer"]] in joined
        assert len(item["choices"]) == 4 and len(set(item["choices"])) == 4
    for line in (tmp_path / "a" / "stade_lastword.jsonl").read_text().splitlines():
        item = json.loads(line)
        word = item["target"].strip()
        assert item["target"] == " " + word and re.search(rf"\b{word}\b", item["context"])  # inferable
        assert item["context"] + item["target"] in joined


@requires_embedded
def test_offline_suite_never_uses_calibration_text():
    from methods.data import get_corpus

    manifest = suite.build_suite()
    assert manifest["source"]["role"] == "eval" and manifest["version"] == suite.VERSION
    assert all(t["items"] >= 100 for t in manifest["tasks"].values())
    def text(corpus, role):  # whitespace-normalised: the generator rejoins words with single spaces
        return " ".join(" ".join(get_corpus(corpus).documents(role)).split())

    eval_text, calib_text, calib_wiki = text("wiki_vital", "eval"), text("enwiki_excerpt", "calib"), text(
        "wiki_vital", "calib")
    for task in suite.OFFLINE_TASKS:
        for line in (suite.suite_dir() / f"{task}.jsonl").read_text().splitlines():
            context = " ".join(json.loads(line)["context"].split())
            assert context in eval_text and context not in calib_text and context not in calib_wiki


def test_cli_prune_with_zero_shot_and_bad_task(llama_dir, corpus_file, task_dir, tmp_path, capsys):
    from methods.__main__ import main

    spec, out = f"text:{corpus_file}", tmp_path / "rows.jsonl"
    args = ["--model", str(llama_dir), "--calib", spec, "--eval", spec, "--nsamples", "2", "--seqlen", "32",
            "--eval-windows", "2", "--device", "cpu", "--no-progress", "--output", str(out)]
    assert main(["prune", "--method", "wanda", "--sparsity", "0.5", *args,
                 "--zero-shot", f"{task_dir}/tiny_mc.yaml"]) == 0
    row = json.loads(out.read_text())
    assert row["zero_shot"]["tasks"]["tiny_mc"]["n"] == 4 and row["config"]["zero_shot"].endswith("tiny_mc.yaml")
    assert "tiny_mc=" in capsys.readouterr().out
    assert main(["prune", "--method", "wanda", "--sparsity", "0.5", *args,
                 "--zero-shot", f"{task_dir}/tiny_mcc.yaml"]) == 2  # checked before pruning
    assert "does not exist" in capsys.readouterr().err


def test_zero_shot_on_a_structurally_pruned_model(llama_dir, corpus_file, task_dir, tmp_path):
    """lm-eval runs on the physically smaller model (fewer heads and channels per block than the config's defaults),
    as bip_structured.py does at full and paper scale."""
    from methods.__main__ import main

    spec, out = f"text:{corpus_file}", tmp_path / "rows.jsonl"
    assert main(["prune", "--method", "bip", "--sparsity", "0.5", "--model", str(llama_dir), "--calib", spec,
                 "--eval", spec, "--nsamples", "2", "--seqlen", "32", "--eval-windows", "2", "--device", "cpu",
                 "--no-progress", "--output", str(out), "--zero-shot", f"{task_dir}/tiny_mc.yaml"]) == 0
    row = json.loads(out.read_text())
    assert row["structured"]["params_after"] < row["structured"]["params_before"]
    assert row["zero_shot"]["tasks"]["tiny_mc"]["n"] == 4 and 0.0 <= row["zero_shot"]["tasks"]["tiny_mc"]["acc"] <= 1
