"""The local MiniLM on ONNX Runtime: the vectors sentence-transformers makes (fp32) or close to them (int8),
one export and one int8 copy made once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from app.core.errors import ConfigError
from app.embed import create_embedder, local
from app.embed.base import Embedder, model_dir
from app.settings import Settings
from tests.conftest import REPO

TEXTS = [
    "What is the main contribution of the paper?",
    "Revenue grew 12% year over year, driven by cloud services and advertising in North America.",
    "Überprüfung der Ergebnisse — 表 3 shows the ablation; see also §4.2 and Fig. 7(b).",
    " ".join(f"token{i} of a very long page that runs past the model's window" for i in range(120)),
    "x",
]


@pytest.fixture(scope="module")
def minilm_fp32() -> Embedder:
    embedder = local.local_minilm(Path(os.environ["MODEL_CACHE_DIR"]), precision="fp32")
    _ = embedder.model
    return embedder


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    vectors: np.ndarray = SentenceTransformer(str(model_dir()), device="cpu").encode(TEXTS, normalize_embeddings=True)
    return vectors


def test_questions_on_fp32_onnx_embed_like_chunks_on_torch(minilm_fp32: Embedder, reference: np.ndarray) -> None:
    questions = np.array(minilm_fp32.embed_queries(TEXTS))  # ONNX Runtime
    chunks = np.array(minilm_fp32.model.get_text_embedding_batch(TEXTS))  # torch
    assert questions.shape == chunks.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(questions, axis=1), 1.0, atol=1e-5)
    for vectors in (questions, chunks):
        cosines = (vectors * reference).sum(axis=1)
        assert cosines.min() >= 0.9999, cosines  # the long text is truncated at 256 tokens, as there
    assert minilm_fp32.model.get_query_embedding(TEXTS[1]) == minilm_fp32.embed_queries([TEXTS[1]])[0]


def test_questions_on_int8_stay_close_to_fp32(minilm: Embedder, reference: np.ndarray) -> None:
    assert minilm.model._precision == "int8", "int8 is the default"
    questions = np.array(minilm.embed_queries(TEXTS))
    assert questions.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(questions, axis=1), 1.0, atol=1e-5)
    cosines = (questions * reference).sum(axis=1)
    assert cosines.min() >= local.MIN_INT8_AGREEMENT, cosines
    assert cosines.mean() >= 0.985, cosines  # measured: 0.978 on "x", ~0.99 on the others
    assert cosines.max() < 0.9999, "these are not int8 vectors: they match fp32 exactly"
    assert minilm.model.get_query_embedding(TEXTS[1]) == minilm.embed_queries([TEXTS[1]])[0]


def test_precision_comes_from_settings(tmp_path: Path) -> None:
    for precision in ("int8", "fp32"):
        settings = Settings(data_dir=tmp_path, query_embedding_precision=precision)
        assert create_embedder(settings).model._precision == precision


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_batching_and_padding_do_not_change_a_vector(precision: str, minilm: Embedder, minilm_fp32: Embedder) -> None:
    embedder = minilm if precision == "int8" else minilm_fp32
    together = np.array(embedder.embed_queries(TEXTS))
    alone = np.array([embedder.embed_queries([text])[0] for text in TEXTS])
    # int8 quantises activations per input tensor: only one question per call keeps its vector its own
    tolerance = 0.0 if precision == "int8" else 1e-5
    assert np.allclose(together, alone, atol=tolerance, rtol=0), "a question's vector depends on its batch"
    assert embedder.embed_queries([]) == []


def test_exported_and_quantised_once_then_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Path] = []
    real_export, real_quantize = local.export_onnx, local.quantize_onnx

    def export(target: Path) -> None:
        made.append(target)
        real_export(target)

    def quantize(source: Path, target: Path) -> None:
        made.append(target)
        real_quantize(source, target)

    monkeypatch.setattr(local, "export_onnx", export)
    monkeypatch.setattr(local, "quantize_onnx", quantize)
    models = tmp_path / "models"
    found: list[Path] = []
    starts = [threading.Thread(target=lambda: found.append(local.ensure_onnx(models))) for _ in range(3)]
    for start in starts:
        start.start()
    for start in starts:
        start.join()
    assert made == [local.onnx_file(models), local.int8_file(models)], "concurrent starts made a graph twice"
    assert found == [local.int8_file(models)] * 3
    stamp = found[0].stat().st_mtime_ns
    assert local.ensure_onnx(models) == found[0]
    assert local.ensure_onnx(models, "fp32") == local.onnx_file(models)
    assert found[0].stat().st_mtime_ns == stamp, "the second start made the int8 copy again"
    assert [p.name for p in models.iterdir() if p.name.endswith(".partial")] == []
    assert found[0].stat().st_size < 0.75 * local.onnx_file(models).stat().st_size, "the int8 copy is not smaller"
    vector = local.MiniLMEmbedding(models).get_query_embedding(TEXTS[0])
    assert len(vector) == 384
    assert len(made) == 2


def test_an_int8_copy_that_disagrees_is_refused_and_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / local.onnx_file(models).name).symlink_to(local.ensure_onnx(Path(os.environ["MODEL_CACHE_DIR"]), "fp32"))
    monkeypatch.setattr(local, "MIN_INT8_AGREEMENT", 1.0001)  # no int8 copy can reach it
    with pytest.raises(ConfigError, match="QUERY_EMBEDDING_PRECISION=fp32"):
        local.ensure_onnx(models)
    assert not local.int8_file(models).exists()
    assert [p.name for p in models.iterdir() if p.name.endswith(".partial")] == []
    assert local.ensure_onnx(models, "fp32") == local.onnx_file(models), "fp32 still works"


def test_unwritable_cache_dir_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(ConfigError, match="MODEL_CACHE_DIR"):
        local.ensure_onnx(tmp_path / "a-file" / "models")


def test_answering_questions_does_not_load_torch() -> None:
    cache_dir = os.environ["MODEL_CACHE_DIR"]
    local.ensure_onnx(Path(cache_dir))  # made beforehand: the export needs torch, answering does not
    code = (
        "import sys; from pathlib import Path; from app.embed.local import local_minilm;"
        f"e = local_minilm(Path({cache_dir!r})); assert len(e.embed_queries(['hello'])[0]) == 384;"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "embedding a question imported torch (seconds and hundreds of MB)"
