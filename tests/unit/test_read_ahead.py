from __future__ import annotations

import threading

import pytest

from message_export.read_ahead import read_ahead


def test_yields_everything_in_order():
    assert list(read_ahead(iter(range(1000)), depth=3)) == list(range(1000))


def test_producer_runs_at_most_depth_items_ahead():
    produced: list[int] = []
    consumed = threading.Event()

    def source():
        for i in range(100):
            produced.append(i)
            yield i

    reader = read_ahead(source(), depth=2)
    assert next(reader) == 0
    consumed.wait(0.3)
    # one handed out, two buffered, at most one more blocked in put()
    assert len(produced) <= 4
    reader.close()


def test_producer_error_is_raised_in_consumer():
    def source():
        yield 1
        raise RuntimeError("page 2 failed")

    reader = read_ahead(source())
    assert next(reader) == 1
    with pytest.raises(RuntimeError, match="page 2 failed"):
        next(reader)


def test_stopping_early_stops_the_producer():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    reader = read_ahead(endless(), depth=1)
    assert next(reader) == 0
    reader.close()
    assert not [t for t in threading.enumerate() if t.name == "read-ahead" and t.is_alive()]
