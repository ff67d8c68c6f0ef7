"""Calibration and evaluation data: the Wanda/SparseGPT sampling protocol, Hub loaders on local files, errors."""
import gzip
import json
import random

import pandas as pd
import pytest
import torch

from methods.data import CorpusError, calibration_samples, eval_windows, get_corpus

from conftest import make_text


def reference_sampler(docs, tokenizer, nsamples, seqlen, seed):
    """The reference loaders' loop, written out: redraw documents until one has > seqlen tokens."""
    random.seed(seed)
    out = []
    for _ in range(nsamples):
        while True:
            i = random.randint(0, len(docs) - 1)
            enc = tokenizer(docs[i], return_tensors="pt").input_ids
            if enc.shape[1] > seqlen:
                break
        start = random.randint(0, enc.shape[1] - seqlen - 1)
        out.append(enc[:, start:start + seqlen])
    return torch.cat(out)


def _write_c4(tmp_path, docs):
    paths = {}
    for split in ("train", "validation"):
        path = tmp_path / f"c4-{split}.json.gz"
        with gzip.open(path, "wt") as f:
            for d in docs:
                f.write(json.dumps({"text": d, "url": "x"}) + "\n")
        paths[split] = str(path)
    return paths


def test_c4_protocol_through_local_files(tmp_path, tokenizer):
    docs = make_text(n_docs=10, words=(5, 300), seed=3).split("\n\n")  # some shorter than seqlen
    files = _write_c4(tmp_path, docs)
    ours = calibration_samples("c4", tokenizer, 8, 64, seed=0, data_files=files)
    torch.testing.assert_close(ours, reference_sampler(docs, tokenizer, 8, 64, 0))
    # c4 evaluation: first 1100 validation docs joined with a space, at most 256 windows
    windows = eval_windows("c4", tokenizer, 64, data_files=files)
    stream = tokenizer(" ".join(docs), return_tensors="pt").input_ids[0]
    assert windows.shape == (min(len(stream) // 64, 256), 64)
    assert torch.equal(windows.flatten(), stream[: windows.numel()])


def test_wikitext_and_ptb_loaders_on_local_parquet(tmp_path, tokenizer):
    text = make_text(n_docs=6, seed=5).split("\n\n")
    for split in ("train", "test"):
        pd.DataFrame({"text": text}).to_parquet(tmp_path / f"wt-{split}.parquet")
        pd.DataFrame({"sentence": text}).to_parquet(tmp_path / f"ptb-{split}.parquet")
    wt = {s: str(tmp_path / f"wt-{s}.parquet") for s in ("train", "test")}
    ptb = {s: str(tmp_path / f"ptb-{s}.parquet") for s in ("train", "test")}
    windows = eval_windows("wikitext2", tokenizer, 50, data_files=wt)
    stream = tokenizer("\n\n".join(text), return_tensors="pt").input_ids[0]
    assert torch.equal(windows.flatten(), stream[: windows.numel()]) and windows.shape[0] == len(stream) // 50
    # WikiText-2 / PTB calibration samples windows from the joined training stream
    calib = calibration_samples("wikitext2", tokenizer, 4, 50, seed=0, data_files=wt)
    torch.testing.assert_close(calib, reference_sampler(["\n\n".join(text)], tokenizer, 4, 50, 0))
    ptb_windows = eval_windows("ptb", tokenizer, 50, data_files=ptb)
    ptb_stream = tokenizer(" ".join(text), return_tensors="pt").input_ids[0]
    assert torch.equal(ptb_windows.flatten(), ptb_stream[: ptb_windows.numel()])


def test_eval_windows_limit_and_non_overlap(corpus_file, tokenizer):
    spec = f"text:{corpus_file}"
    all_windows = eval_windows(spec, tokenizer, 40)
    few = eval_windows(spec, tokenizer, 40, max_windows=3)
    assert few.shape == (3, 40) and torch.equal(few, all_windows[:3])


def test_errors(tmp_path, tokenizer):
    with pytest.raises(KeyError, match="Did you mean 'wikitext2'"):
        get_corpus("wikitext")
    short = tmp_path / "short.txt"
    short.write_text("a few words\n\nand a few more")
    with pytest.raises(CorpusError, match="no document is longer"):
        calibration_samples(f"text:{short}", tokenizer, 2, 64)
    medium = tmp_path / "medium.txt"
    medium.write_text(make_text(n_docs=2, words=(30, 40)))
    with pytest.raises(CorpusError, match="too short"):
        calibration_samples(f"text:{medium}", tokenizer, 64, 64)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n")
    with pytest.raises(CorpusError, match="empty"):
        calibration_samples(f"text:{empty}", tokenizer, 1, 8)
    with pytest.raises(CorpusError, match="fewer than seqlen"):
        eval_windows(f"text:{short}", tokenizer, 500)
    with pytest.raises(CorpusError, match="not found"):
        get_corpus(f"text:{tmp_path / 'missing.txt'}")
    with pytest.raises(ValueError, match="nsamples"):
        calibration_samples(f"text:{medium}", tokenizer, 0, 8)
    with pytest.raises(CorpusError, match="no 'validation' split"):
        eval_windows("c4", tokenizer, 8, data_files={"train": str(short)})


def test_hub_corpus_offline_fails_fast(tokenizer, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(CorpusError, match="network access"):
        eval_windows("wikitext2", tokenizer, 64)
