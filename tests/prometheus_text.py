"""Prometheus text exposition, read with prometheus_client's own parser (tests and hack/)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample called ``name`` (the sample's own name, e.g. a counter's
    ``..._total`` or a histogram's ``..._bucket``), in the order they appear."""
    return [
        (dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def total(text: str, name: str) -> float:
    """The sum of the samples called ``name`` over all their label sets (0 when there are none)."""
    return sum(value for _, value in samples(text, name))
