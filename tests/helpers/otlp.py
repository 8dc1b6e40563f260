"""Decode the OTLP/HTTP protobuf exports Langfuse sends, as recorded by FakeServer."""

from __future__ import annotations

import gzip
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.helpers.fake_server import FakeServer, Recorded


def recording_langfuse(server: FakeServer) -> FakeServer:
    server.route("POST", r"/api/public/otel/v1/traces", lambda request, _: (200, b""))
    return server


def spans(requests: list[Recorded]) -> list[dict[str, Any]]:
    found = []
    for request in requests:
        if not request.path.startswith("/api/public/otel/v1/traces"):
            continue
        raw = request.body if isinstance(request.body, bytes) else b""
        if request.headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        for resource in ExportTraceServiceRequest.FromString(raw).resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: a.value.string_value or a.value.int_value for a in span.attributes}
                    found.append(
                        {
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_id": span.parent_span_id.hex(),
                            **attributes,
                        }
                    )
    return found
