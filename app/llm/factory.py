"""Builds the router from settings: the chain in LLM_ORDER, each provider with its key, model and knobs."""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis

from app.core.errors import ConfigError
from app.llm.base import Provider, ProviderConfig
from app.llm.cooldown import Cooldowns, MemoryCooldowns, RedisCooldowns
from app.llm.router import CallRecord, Router
from app.settings import Settings

# env var that enables each provider, and its context window (tokens) when not overridden
KEY_VARS = {
    "gemini": "GOOGLE_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "groq": "GROQ_API_KEY",
    "openai": "OPENAI_API_KEY",
}
CONTEXT_WINDOWS = {"gemini": 1_000_000, "openrouter": 1_000_000, "groq": 131_072, "openai": 128_000}
_OVERRIDABLE = {"timeout", "retries", "cooldown", "context_window"}


def provider_config(settings: Settings, name: str, context_window: int) -> ProviderConfig:
    values: dict[str, float] = {
        "timeout": settings.llm_timeout,
        "retries": settings.llm_retries,
        "cooldown": settings.llm_cooldown,
        "context_window": context_window,
    }
    override = settings.llm_overrides.get(name, {})
    unknown = set(override) - _OVERRIDABLE
    if unknown:
        raise ConfigError(f"LLM_OVERRIDES[{name}] has unknown keys {sorted(unknown)}; allowed: {sorted(_OVERRIDABLE)}.")
    values.update(override)
    return ProviderConfig(
        timeout=float(values["timeout"]),
        retries=int(values["retries"]),
        cooldown=float(values["cooldown"]),
        context_window=int(values["context_window"]),
    )


def _secret(value: object) -> str | None:
    get = getattr(value, "get_secret_value", None)
    return get() if get else None


def build_provider(settings: Settings, name: str) -> Provider | None:
    """The provider called ``name``, or None when its key is not set."""
    if name == "local":
        from app.llm.providers.local import LocalGGUFProvider

        config = provider_config(settings, name, settings.local_n_ctx)
        if "timeout" not in settings.llm_overrides.get(name, {}):
            config = ProviderConfig(max(config.timeout, 120.0), config.retries, config.cooldown, config.context_window)
        return LocalGGUFProvider(
            path=settings.local_model_path,
            backend=settings.local_backend,
            n_ctx=settings.local_n_ctx,
            threads=settings.local_threads,
            config=config,
        )
    key = _secret(
        {
            "gemini": settings.google_api_key,
            "openrouter": settings.openrouter_api_key,
            "groq": settings.groq_api_key,
            "openai": settings.openai_api_key,
        }[name]
    )
    if not key:
        return None
    config = provider_config(settings, name, CONTEXT_WINDOWS[name])
    if name == "gemini":
        from app.llm.providers.gemini import GeminiProvider

        return GeminiProvider(name, settings.gemini_model, key, config, base_url=settings.gemini_base_url)
    if name == "openrouter":
        from app.llm.providers.openrouter import OpenRouterProvider

        return OpenRouterProvider(name, settings.openrouter_model, key, config, base_url=settings.openrouter_base_url)
    from app.llm.providers.openai_compat import OpenAICompatibleProvider

    if name == "groq":
        import groq

        groq_client = groq.AsyncGroq(
            api_key=key, base_url=settings.groq_base_url, max_retries=0, timeout=config.timeout
        )
        return OpenAICompatibleProvider(name, settings.groq_model, groq_client, groq, config, include_usage=False)
    import openai

    openai_client = openai.AsyncOpenAI(
        api_key=key, base_url=settings.openai_base_url, max_retries=0, timeout=config.timeout
    )
    return OpenAICompatibleProvider(name, settings.openai_model, openai_client, openai, config)


def build_router(
    settings: Settings, redis: Redis | None = None, *, on_call: Callable[[CallRecord], None] | None = None
) -> Router:
    """The chain of LLM_ORDER; cooldowns shared through Redis when there is one."""
    providers: list[Provider] = []
    disabled: dict[str, str] = {}
    for name in settings.llm_order:
        provider = build_provider(settings, name)
        if provider is None:
            disabled[name] = KEY_VARS[name]
        else:
            providers.append(provider)
    cooldowns: Cooldowns = RedisCooldowns(redis) if redis is not None else MemoryCooldowns()
    return Router(providers, cooldowns, disabled=disabled, on_call=on_call)
