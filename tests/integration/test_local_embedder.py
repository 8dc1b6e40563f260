"""The local MiniLM on ONNX Runtime: the vectors sentence-transformers makes, an export made once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from app.core.errors import ConfigError
from app.embed import local
from app.embed.base import Embedder, model_dir
from tests.conftest import REPO

TEXTS = [
    "What is the main contribution of the paper?",
    "Revenue grew 12% year over year, driven by cloud services and advertising in North America.",
    "Überprüfung der Ergebnisse — 表 3 shows the ablation; see also §4.2 and Fig. 7(b).",
    " ".join(f"token{i} of a very long page that runs past the model's window" for i in range(120)),
    "x",
]


def test_questions_on_onnx_embed_like_chunks_on_torch(minilm: Embedder) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_dir()), device="cpu").encode(TEXTS, normalize_embeddings=True)
    questions = np.array(minilm.embed_queries(TEXTS))  # ONNX Runtime
    chunks = np.array(minilm.model.get_text_embedding_batch(TEXTS))  # torch
    assert questions.shape == chunks.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(questions, axis=1), 1.0, atol=1e-5)
    for vectors in (questions, chunks):
        cosines = (vectors * reference).sum(axis=1)
        assert cosines.min() >= 0.9999, cosines  # the long text is truncated at 256 tokens, as there
    assert minilm.model.get_query_embedding(TEXTS[1]) == minilm.embed_queries([TEXTS[1]])[0]


def test_batching_and_padding_do_not_change_a_vector(minilm: Embedder) -> None:
    together = np.array(minilm.embed_queries(TEXTS))
    alone = np.array([minilm.embed_queries([text])[0] for text in TEXTS])
    assert np.allclose(together, alone, atol=1e-5), "a question's vector depends on its batch (order or padding)"
    assert minilm.embed_queries([]) == []


def test_exported_once_then_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exports: list[Path] = []
    real_export = local.export_onnx

    def counted(target: Path) -> None:
        exports.append(target)
        real_export(target)

    monkeypatch.setattr(local, "export_onnx", counted)
    found: list[Path] = []
    starts = [threading.Thread(target=lambda: found.append(local.ensure_onnx(tmp_path / "models"))) for _ in range(3)]
    for start in starts:
        start.start()
    for start in starts:
        start.join()
    assert len(exports) == 1, "concurrent starts exported the model more than once"
    assert found == [local.onnx_file(tmp_path / "models")] * 3
    made = found[0].stat().st_mtime_ns
    assert local.ensure_onnx(tmp_path / "models") == found[0]
    assert found[0].stat().st_mtime_ns == made, "the second start exported again"
    assert [p.name for p in (tmp_path / "models").iterdir() if p.name.endswith(".partial")] == []
    vector = local.MiniLMEmbedding(tmp_path / "models").get_query_embedding(TEXTS[0])
    assert len(vector) == 384
    assert len(exports) == 1


def test_unwritable_cache_dir_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(ConfigError, match="MODEL_CACHE_DIR"):
        local.ensure_onnx(tmp_path / "a-file" / "models")


def test_answering_questions_does_not_load_torch() -> None:
    cache_dir = os.environ["MODEL_CACHE_DIR"]
    local.ensure_onnx(Path(cache_dir))
    code = (
        "import sys; from pathlib import Path; from app.embed.local import local_minilm;"
        f"e = local_minilm(Path({cache_dir!r})); assert len(e.embed_queries(['hello'])[0]) == 384;"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "embedding a question imported torch (seconds and hundreds of MB)"
