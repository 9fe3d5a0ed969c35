"""tests/prometheus_text.py reads what prometheus_client writes (and the API server's format)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tests.prometheus_text import samples, total


def test_samples_by_name_with_labels() -> None:
    registry = CollectorRegistry()
    writes = Counter("w", "writes", ["verb", "resource"], registry=registry)
    writes.labels("POST", "jobs").inc(3)
    writes.labels("PATCH", 'odd "quoted" ,name}').inc(2)
    Gauge("up", "up", registry=registry).set(1)
    Histogram("d", "duration", registry=registry, buckets=(1,)).observe(0.5)
    text = generate_latest(registry).decode()
    assert samples(text, "w_total") == [
        ({"verb": "POST", "resource": "jobs"}, 3.0),
        ({"verb": "PATCH", "resource": 'odd "quoted" ,name}'}, 2.0),
    ]
    assert total(text, "w_total") == 5
    assert samples(text, "up") == [({}, 1.0)]
    assert total(text, "d_count") == 1
    assert samples(text, "d_bucket")[0] == ({"le": "1.0"}, 1.0)
    assert samples(text, "missing") == [] and total(text, "missing") == 0


def test_apiserver_style_text() -> None:
    text = (
        "# HELP apiserver_request_total [STABLE] Counter of apiserver requests.\n"
        "# TYPE apiserver_request_total counter\n"
        'apiserver_request_total{code="201",resource="jobs",verb="POST"} 7\n'
        'apiserver_request_total{code="200",resource="pods",subresource="status",verb="PATCH"} 2\n'
    )
    assert total(text, "apiserver_request_total") == 9
    assert samples(text, "apiserver_request_total")[1][0]["subresource"] == "status"
