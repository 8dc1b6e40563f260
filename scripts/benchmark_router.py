"""Router overhead, failover cost and cooldown skip cost, side by side with LiteLLM's Router.

- overhead: a call through the router to a zero-latency provider (ours: an in-process provider;
  LiteLLM: ``mock_response``, its whole pipeline without the network). Median of many calls.
- failover: two fake OpenAI-compatible servers on 127.0.0.1, the first answering 500; the extra
  time is the routed call minus (the failing call + the successful call, each made directly).
- skip: the cost of passing over a provider that is cooling down.

    python scripts/benchmark_router.py [--quick] [--json]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import
os.environ.setdefault("LITELLM_TELEMETRY", "False")

from benchlib import emit, parser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import openai

from app.llm.base import Delta, GenerationParams, Message, ProviderConfig, Usage
from app.llm.cooldown import MemoryCooldowns
from app.llm.providers.openai_compat import OpenAICompatibleProvider
from app.llm.router import Router
from tests.helpers.fake_server import FakeServer, Fault, openai_chat_server

MESSAGES = [Message("user", "Which page holds the answer?")]
PARAMS = GenerationParams(temperature=0.0, max_tokens=16)


class ZeroLatency:
    """Answers at once: what the router itself costs is all that is measured."""

    def __init__(self, name: str) -> None:
        self.name, self.model, self.config = name, "zero", ProviderConfig()

    async def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncGenerator[Delta, None]:
        yield Delta(text="answer")
        yield Delta(usage=Usage(5, 1), finish_reason="stop")


async def timed(call: object, n: int) -> list[float]:
    seconds = []
    for _ in range(n):
        started = time.perf_counter()
        await call()  # type: ignore[operator]
        seconds.append(time.perf_counter() - started)
    return seconds


def ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 4)


async def overhead(n: int) -> dict[str, float]:
    from litellm import Router as LiteRouter

    ours = Router([ZeroLatency("primary"), ZeroLatency("secondary")], MemoryCooldowns())
    lite = LiteRouter(
        model_list=[
            {
                "model_name": "chat",
                "litellm_params": {"model": "openai/zero", "api_key": "sk-x", "mock_response": "answer"},
            }
        ],
        num_retries=0,
    )

    async def ours_call() -> None:
        await ours.complete(MESSAGES, PARAMS)

    async def lite_call() -> None:
        await lite.acompletion(model="chat", messages=[{"role": "user", "content": MESSAGES[0].content}], max_tokens=16)

    await timed(ours_call, 50)
    await timed(lite_call, 50)
    ours_s, lite_s = await timed(ours_call, n), await timed(lite_call, n)
    return {"ours_ms": ms(ours_s), "litellm_ms": ms(lite_s), "ratio": round(ms(ours_s) / ms(lite_s), 4)}


async def failover(n: int) -> dict[str, float]:
    from litellm import Router as LiteRouter

    with FakeServer() as bad, FakeServer() as good:
        openai_chat_server(bad)
        openai_chat_server(good)

        def client(server: FakeServer) -> openai.AsyncOpenAI:
            return openai.AsyncOpenAI(api_key="sk-x", base_url=server.url + "/v1", max_retries=0)

        config = ProviderConfig(timeout=5, retries=0, cooldown=0)
        primary = OpenAICompatibleProvider("primary", "m", client(bad), openai, config)
        secondary = OpenAICompatibleProvider("secondary", "m", client(good), openai, config)
        ours = Router([primary, secondary], MemoryCooldowns(), retry_backoff=0)
        lite = LiteRouter(
            model_list=[
                {
                    "model_name": "primary",
                    "litellm_params": {"model": "openai/m", "api_key": "sk-x", "api_base": bad.url + "/v1"},
                },
                {
                    "model_name": "secondary",
                    "litellm_params": {"model": "openai/m", "api_key": "sk-x", "api_base": good.url + "/v1"},
                },
            ],
            fallbacks=[{"primary": ["secondary"]}],
            num_retries=0,
            allowed_fails=10**9,  # never cool down here: every call must fail over
        )

        async def direct(provider: OpenAICompatibleProvider, fail: bool) -> None:
            if fail:
                bad.fail(Fault(status=500))
            try:
                async for _ in provider.stream(MESSAGES, PARAMS):
                    pass
            except Exception:  # the failing call's cost is what is measured
                return

        async def ours_call() -> None:
            bad.fail(Fault(status=500))
            await ours.complete(MESSAGES, PARAMS)

        async def lite_call() -> None:
            bad.fail(*[Fault(status=500)] * 1)
            await lite.acompletion(
                model="primary",
                messages=[{"role": "user", "content": MESSAGES[0].content}],
                max_tokens=16,
                stream=False,
            )

        fail_s = await timed(lambda: direct(primary, True), n)
        ok_s = await timed(lambda: direct(secondary, False), n)
        ours_s = await timed(ours_call, n)
        lite_s = await timed(lite_call, n)
        bad.faults.clear()
        await ours.aclose()
        baseline = ms(fail_s) + ms(ok_s)
        return {
            "failing_call_ms": ms(fail_s),
            "ok_call_ms": ms(ok_s),
            "ours_total_ms": ms(ours_s),
            "litellm_total_ms": ms(lite_s),
            "ours_added_ms": round(ms(ours_s) - baseline, 3),
            "litellm_added_ms": round(ms(lite_s) - baseline, 3),
        }


async def skip_cost(n: int) -> dict[str, float]:
    cooldowns = MemoryCooldowns()
    await cooldowns.trip("primary", 3600)
    started = time.perf_counter()
    for _ in range(n):
        await cooldowns.admit("primary")
    admit_ms = (time.perf_counter() - started) / n * 1000
    ours = Router([ZeroLatency("primary"), ZeroLatency("secondary")], cooldowns)
    healthy = Router([ZeroLatency("secondary")], MemoryCooldowns())
    skipped = await timed(lambda: ours.complete(MESSAGES, PARAMS), n)
    plain = await timed(lambda: healthy.complete(MESSAGES, PARAMS), n)
    return {"admit_blocked_ms": round(admit_ms, 5), "call_with_skip_minus_plain_ms": round(ms(skipped) - ms(plain), 4)}


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    n = 200 if args.quick else 2000
    results = {
        "overhead": asyncio.run(overhead(n)),
        "failover": asyncio.run(failover(50 if args.quick else 300)),
        "skip": asyncio.run(skip_cost(n)),
    }
    results["overhead_ratio_vs_litellm"] = results["overhead"]["ratio"]
    o, f, s = results["overhead"], results["failover"], results["skip"]
    table = "\n".join(
        [
            f"{'':<34} {'ours':>10} {'LiteLLM':>10}",
            f"{'overhead per call, median (ms)':<34} {o['ours_ms']:>10.4f} {o['litellm_ms']:>10.4f}   ratio {o['ratio']:.4f} (target <= 0.5)",
            f"{'failover total, median (ms)':<34} {f['ours_total_ms']:>10.3f} {f['litellm_total_ms']:>10.3f}",
            f"{'failover added beyond the calls':<34} {f['ours_added_ms']:>10.3f} {f['litellm_added_ms']:>10.3f}   (failing {f['failing_call_ms']} + ok {f['ok_call_ms']} ms; target <= 5)",
            f"{'skip a cooled-down provider (ms)':<34} {s['admit_blocked_ms']:>10.5f} {'':>10}   whole call with a skip vs without: +{s['call_with_skip_minus_plain_ms']} ms (target <= 0.1)",
        ]
    )
    emit(args, results, table)


if __name__ == "__main__":
    main()
