"""Prediction ids (issue 18): never one twice, in time order across calls and threads,
shown and read back as text, and nothing else read as one."""

import threading

import numpy as np
import pytest

from lib.monitoring.ids import IdAllocator, id_text, id_texts, made_at, parse_id


def test_ids_are_unique_and_increasing_across_threads_and_batches():
    allocator = IdAllocator(tag=5)
    taken: list[np.ndarray] = []

    def work() -> None:
        for size in (1, 3, 1000, 1):
            taken.append(allocator.many(size) if size > 1 else np.array([allocator.one()]))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = np.concatenate(taken)
    assert len(every) == 8 * 1005 == len(np.unique(every))
    assert all(np.all(np.diff(part) > 0) for part in taken)  # a batch's ids go up row by row
    assert (every & 1023 == 5).all() and (every > 0).all()  # the process's tag; positive 63-bit


def test_ids_follow_the_clock_and_never_go_back_when_it_does():
    now = [1_800_000_000.0]
    allocator = IdAllocator(tag=1, clock=lambda: now[0])
    first = allocator.one()
    assert made_at(first) == 1_800_000_000.0
    batch = allocator.many(1_000_000)  # takes the next 244 ms of slots (4,096 a millisecond)
    now[0] -= 60  # the clock goes back a minute
    after = allocator.one()
    assert first < batch[0] and batch[-1] < after and made_at(after) == pytest.approx(1_800_000_000.244, abs=0.002)
    now[0] += 3600
    assert made_at(allocator.one()) == pytest.approx(1_800_003_540.0)


def test_two_processes_tags_keep_their_ids_apart_in_the_same_millisecond():
    clock = lambda: 1_800_000_000.0  # noqa: E731
    one, other = IdAllocator(tag=1, clock=clock), IdAllocator(tag=2, clock=clock)
    assert not set(one.many(5000).tolist()) & set(other.many(5000).tolist())
    with pytest.raises(ValueError):
        IdAllocator(tag=1024)


def test_ids_are_shown_as_text_and_read_back():
    values = IdAllocator(tag=7).many(100)
    texts = id_texts(values)
    assert texts == [id_text(int(v)) for v in values]
    assert all(len(text) == 17 and text.startswith("p") for text in texts)
    assert [parse_id(text) for text in texts] == values.tolist()


@pytest.mark.parametrize(
    "text",
    ["", "p", "p123", "P0000000000000001", "p000000000000000g", "p00000000000000001", "pffffffffffffffff", 12, None],
)
def test_anything_else_is_not_an_id(text):
    assert parse_id(text) is None
