"""The shipped SmolLM2 GGUF answers in-process (xllamacpp and gpt4all), streams, and stops when asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import ConfigError, ContextTooLong
from app.llm.base import Delta, GenerationParams, Message
from app.llm.providers.local import LocalGGUFProvider, default_model_path

PASSAGE_QUESTION = [
    Message("system", "Answer the question using only the passage. Be brief."),
    Message("user", "Passage: The Eiffel Tower is in Paris, France.\n\nQuestion: In which city is the Eiffel Tower?"),
]


@pytest.fixture(scope="module")
def smollm() -> LocalGGUFProvider:
    return LocalGGUFProvider(n_ctx=2048)


async def test_smollm2_answers_from_the_passage(smollm: LocalGGUFProvider) -> None:
    deltas = [d async for d in smollm.stream(PASSAGE_QUESTION, GenerationParams(temperature=0.0, max_tokens=24))]
    text = "".join(d.text for d in deltas)
    assert "Paris" in text
    assert deltas[-1].finish_reason in ("stop", "length")
    assert smollm.model == "SmolLM2-135M-Instruct.Q4_1"


async def test_stop_sequences_end_the_local_answer(smollm: LocalGGUFProvider) -> None:
    count = [Message("user", "Count from 1 to 20, one number per line.")]
    free = "".join([d.text async for d in smollm.stream(count, GenerationParams(temperature=0.0, max_tokens=60))])
    assert "\n5" in free, free
    params = GenerationParams(temperature=0.0, max_tokens=60, stop=("\n5",))
    stopped = "".join([d.text async for d in smollm.stream(count, params)])
    assert "5" not in stopped
    assert stopped == free[: free.index("\n5")]


async def test_a_consumer_that_stops_reading_cancels_the_generation(smollm: LocalGGUFProvider) -> None:
    story = [Message("user", "Write a very long story about a cat who travels the world.")]
    before = smollm.tokens_generated
    stream = smollm.stream(story, GenerationParams(temperature=0.0, max_tokens=300))
    async for delta in stream:
        if delta.text:
            break
    await stream.aclose()
    follow_up = [d async for d in smollm.stream(PASSAGE_QUESTION, GenerationParams(temperature=0.0, max_tokens=8))]
    assert follow_up, "the model is free again for the next call"
    assert smollm.tokens_generated - before < 150, "the cancelled story did not run to 300 tokens"


async def test_a_prompt_beyond_the_context_is_context_too_long() -> None:
    small = LocalGGUFProvider(n_ctx=256)
    long_prompt = [Message("user", "word " * 2000)]
    with pytest.raises(ContextTooLong):
        async for _ in small.stream(long_prompt, GenerationParams(max_tokens=8)):
            pass


def smollm2_for_gpt4all(directory: Path) -> Path:
    """The shipped SmolLM2 GGUF with its pre-tokenizer name ("smollm", newer than gpt4all 2.8's llama.cpp)
    replaced in place by "llama3", a BPE pre-tokenizer it knows; same length, so no offset moves."""
    data = bytearray(default_model_path().read_bytes())
    key = b"tokenizer.ggml.pre\x08\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00smollm"
    at = data.find(key)
    assert at > 0, "the shipped GGUF changed; update this test"
    data[at + len(key) - 6 : at + len(key)] = b"llama3"
    target = directory / "smollm2-for-gpt4all.gguf"
    target.write_bytes(bytes(data))
    return target


async def test_gpt4all_backend_runs_a_real_gguf(tmp_path: Path) -> None:
    provider = LocalGGUFProvider(backend="gpt4all", path=smollm2_for_gpt4all(tmp_path), n_ctx=2048)
    deltas: list[Delta] = [
        d async for d in provider.stream(PASSAGE_QUESTION, GenerationParams(temperature=0.0, max_tokens=24))
    ]
    assert "Paris" in "".join(d.text for d in deltas)


def test_missing_model_file_and_unknown_backend_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="LOCAL_MODEL_PATH"):
        LocalGGUFProvider(path=default_model_path().with_name("missing.gguf"))
    with pytest.raises(ConfigError, match="LOCAL_BACKEND"):
        LocalGGUFProvider(backend="ollama")
