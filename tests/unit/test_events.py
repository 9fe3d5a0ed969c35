"""operator/events.py: repeated Events are counted into one, as Kubernetes does (item 10)."""

from __future__ import annotations

from pf_operator.events import EventCorrelator, event_key, event_name

KEY = event_key("uid-1", "DesignPipeline", "ns", "p", "Warning", "JobCreateFailed", "quota")


def test_first_occurrence_is_written() -> None:
    c = EventCorrelator()
    assert c.repeat(KEY, 0.0) is None


def test_repeats_count_into_the_written_event() -> None:
    c = EventCorrelator()
    c.written(KEY, "ns", "p.1", "t0", 0.0)
    counts = []
    for i in range(1, 9):
        seen = c.repeat(KEY, float(i))
        assert seen is not None and seen.name == "p.1" and seen.first == "t0"
        counts.append(seen.count)
    assert counts == list(range(2, 10))  # 9 occurrences, one Event


def test_a_different_message_or_object_is_another_event() -> None:
    c = EventCorrelator()
    c.written(KEY, "ns", "p.1", "t0", 0.0)
    other = event_key("uid-1", "DesignPipeline", "ns", "p", "Warning", "JobCreateFailed", "x")
    assert c.repeat(other, 1.0) is None
    assert c.repeat(event_key("uid-2", *KEY[1:3], "p", *KEY[4:]), 1.0) is None


def test_after_the_window_a_new_event_is_written() -> None:
    c = EventCorrelator(window=600)
    c.written(KEY, "ns", "p.1", "t0", 0.0)
    assert c.repeat(KEY, 599.0) is not None
    assert c.repeat(KEY, 599.0 + 601) is None


def test_bounded_memory() -> None:
    c = EventCorrelator(max_entries=3)
    for i in range(5):
        c.written(("k", i), "ns", f"e{i}", "t", float(i))
    assert c.repeat(("k", 0), 5.0) is None and c.repeat(("k", 4), 5.0) is not None


def test_forget() -> None:
    c = EventCorrelator()
    c.written(KEY, "ns", "p.1", "t0", 0.0)
    c.forget(KEY)
    assert c.repeat(KEY, 1.0) is None


def test_event_names_are_unique_and_valid() -> None:
    assert event_name("p", 255) == "p.ff"
    assert len(event_name("x" * 300, 2**63)) <= 253
