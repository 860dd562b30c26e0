import multiprocessing
import threading
import time
import uuid

import pytest

from integrations.opendental import (
    LocalPacer,
    NullPacer,
    RedisPacer,
    pacer_from_url,
    pacer_key_id,
    throttle_interval_s,
)

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.mark.parametrize(
    ("permissions", "mode", "expected"),
    [
        ({"ApiReadAll"}, "Remote", 5.0),
        (set(), "Remote", 5.0),
        ({"ApiReadAll", "ApiQueries"}, "Remote", 1.0),
        ({"ApiReadAll", "ApiQueries", "ApiEnterprise"}, "Remote", 0.5),
        ({"ApiReadAll", "ApiQueries"}, "Service", 0.0),
        ({"ApiReadAll"}, "Local", 0.0),
    ],
)
def test_throttle_interval_follows_the_documented_tiers(permissions, mode, expected):
    assert throttle_interval_s(permissions, mode) == expected


def test_pacer_key_id_is_stable_and_does_not_contain_the_key():
    key = "VzkmZEaUWOjnQX2z"
    # The same in every process and release (workers share their Redis slots by this id).
    assert pacer_key_id(key) == "883e0541b4171d35f8c271d7"
    assert pacer_key_id(key) != pacer_key_id(key[::-1])
    assert key not in pacer_key_id(key)
    assert len(pacer_key_id(key)) == 24


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_local_pacer_books_consecutive_slots_one_padded_interval_apart():
    clock = FakeClock()
    pacer = LocalPacer(clock=clock)
    padded = pacer.padded(1.0)
    assert padded == pytest.approx(1.0 * 1.02 + 0.025)
    assert pacer.reserve("k", 1.0) == 0
    assert pacer.reserve("k", 1.0) == pytest.approx(padded)
    assert pacer.reserve("k", 1.0) == pytest.approx(2 * padded)
    assert pacer.reserve("other", 1.0) == 0


def test_local_pacer_does_not_wait_once_the_interval_has_passed():
    clock = FakeClock()
    pacer = LocalPacer(clock=clock)
    pacer.reserve("k", 1.0)
    clock.now += 2
    assert pacer.reserve("k", 1.0) == 0


def test_try_reserve_books_nothing_when_the_slot_is_too_far_away():
    clock = FakeClock()
    pacer = LocalPacer(clock=clock)
    pacer.reserve("k", 5.0)
    booked, wait = pacer.try_reserve("k", 5.0, max_wait_s=1.0)
    assert not booked
    assert wait == pytest.approx(pacer.padded(5.0))
    clock.now += 4.5
    booked, wait = pacer.try_reserve("k", 5.0, max_wait_s=1.0)
    assert booked
    assert 0 < wait <= 1.0


def test_acquire_sleeps_for_the_reserved_wait():
    slept = []
    clock = FakeClock()
    pacer = LocalPacer(clock=clock, sleep=slept.append)
    pacer.acquire("k", 1.0)
    pacer.acquire("k", 1.0)
    assert slept == [pytest.approx(pacer.padded(1.0))]


def test_null_pacer_never_waits():
    pacer = NullPacer()
    assert [pacer.reserve("k", 5.0) for _ in range(3)] == [0, 0, 0]


def _assert_spaced(slots, interval):
    slots = sorted(slots)
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert min(gaps) >= interval, gaps


def _in_threads(work, threads=4):
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_local_pacer_threads_sharing_a_key_book_distinct_spaced_slots():
    pacer = LocalPacer(clock=lambda: 50.0)  # frozen clock: slot = 50 + wait, exactly
    slots = []

    def work():
        for _ in range(25):
            slots.append(50.0 + pacer.reserve("k", 1.0))

    _in_threads(work, threads=8)
    assert len(slots) == 200
    _assert_spaced(slots, 1.0)


@pytest.fixture
def redis_pacer():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running at " + REDIS_URL)
    prefix = f"test:pace:{uuid.uuid4().hex}:"
    yield RedisPacer(client, prefix=prefix)
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)


def test_redis_pacer_books_consecutive_slots_and_sets_a_ttl(redis_pacer):
    started = time.monotonic()
    assert redis_pacer.reserve("k", 1.0) == 0
    second = redis_pacer.reserve("k", 1.0)
    elapsed = time.monotonic() - started
    # One padded interval after the first slot, less the time between the two calls (which
    # a busy machine can stretch to tens of milliseconds).
    padded = redis_pacer.padded(1.0)
    assert padded - elapsed - 0.002 <= second <= padded + 0.002
    ttl_ms = redis_pacer.redis.pttl(redis_pacer.prefix + "k")
    assert 0 < ttl_ms <= 4000


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_book_many_books_in_order_as_reserve_would(kind, request):
    pacer = LocalPacer() if kind == "local" else request.getfixturevalue("redis_pacer")
    started = time.monotonic()
    pacer.reserve("a", 1.0)
    slots = pacer.book_many([("a", 1.0), ("b", 0.5), ("a", 1.0), ("c", 5.0)])
    assert all(slot.booked for slot in slots)
    waits = [slot.wait for slot in slots]
    elapsed = time.monotonic() - started
    padded = pacer.padded(1.0)
    # "a" already had a slot: the next two follow it, one padded interval apart.
    assert padded - elapsed - 0.002 <= waits[0] <= padded + 0.002
    assert 2 * padded - elapsed - 0.002 <= waits[2] <= 2 * padded + 0.002
    assert waits[1] == waits[3] == 0  # keys of their own: now
    assert pacer.reserve("c", 5.0) == pytest.approx(pacer.padded(5.0), abs=elapsed + 0.01)
    assert pacer.book_many([]) == []


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_a_late_slot_no_one_booked_after_is_moved_to_now(kind, request):
    pacer = LocalPacer() if kind == "local" else request.getfixturevalue("redis_pacer")
    first = pacer.book("k", 0.2)
    time.sleep(0.1)  # used late, by 0.1 s
    confirmed = pacer.confirm("k", first, 0.2)
    assert confirmed.booked and confirmed.wait == 0
    # The next booking is spaced from the real send, not from the slot that went unused.
    assert pacer.reserve("k", 0.2) == pytest.approx(pacer.padded(0.2), abs=0.01)


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_a_late_slot_someone_booked_after_is_booked_again_behind_theirs(kind, request):
    pacer = LocalPacer() if kind == "local" else request.getfixturevalue("redis_pacer")
    mine = pacer.book("k", 0.2)
    theirs = pacer.book("k", 0.2)  # another client's, one padded interval after mine
    time.sleep(0.05)
    again = pacer.confirm("k", mine, 0.2)
    assert again.due - theirs.due == pytest.approx(pacer.padded(0.2), abs=0.01)
    # and whoever books next follows the new slot
    assert pacer.book("k", 0.2).due - again.due == pytest.approx(pacer.padded(0.2), abs=0.01)


def test_redis_pacer_try_reserve_books_nothing_when_too_far(redis_pacer):
    started = time.monotonic()
    redis_pacer.reserve("k", 5.0)
    booked, wait = redis_pacer.try_reserve("k", 5.0, max_wait_s=0.5)
    assert not booked
    assert wait > 4.5
    booked, _ = redis_pacer.try_reserve("k", 5.0, max_wait_s=10)
    assert booked
    third = redis_pacer.reserve("k", 5.0)  # the refused try booked nothing: slot 3, not 4
    elapsed = time.monotonic() - started
    padded = redis_pacer.padded(5.0)
    assert 2 * padded - elapsed - 0.002 <= third <= 2 * padded + 0.002


def _book_slots(pacer, count, interval_s):
    """Book through the pacer's Lua script and return the absolute slots (Redis microseconds)."""
    interval_us = round(pacer.padded(interval_s) * 1_000_000)
    return [
        pacer._script(keys=[pacer.prefix + "shared"], args=[interval_us, -1])[2]
        for _ in range(count)
    ]


def test_redis_pacer_threads_sharing_a_key_book_distinct_spaced_slots(redis_pacer):
    slots = []

    def work():
        slots.extend(_book_slots(redis_pacer, 25, 0.01))

    _in_threads(work, threads=8)
    assert len(slots) == 200
    _assert_spaced(slots, round(redis_pacer.padded(0.01) * 1_000_000))


def _process_worker(prefix, queue, count, interval):
    import redis

    pacer = RedisPacer(redis.Redis.from_url(REDIS_URL), prefix=prefix)
    queue.put(_book_slots(pacer, count, interval))


def test_redis_pacer_processes_sharing_a_key_book_distinct_spaced_slots(redis_pacer):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(redis_pacer.prefix, queue, 50, 0.01))
        for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    slots = [slot for _ in procs for slot in queue.get(timeout=30)]
    for proc in procs:
        proc.join(timeout=30)
    assert len(slots) == 200
    _assert_spaced(slots, round(redis_pacer.padded(0.01) * 1_000_000))


def test_redis_pacer_acquire_really_waits_between_calls(redis_pacer):
    started = time.monotonic()
    for _ in range(4):
        redis_pacer.acquire("k", 0.05)
    assert time.monotonic() - started >= 3 * 0.05


def test_pacer_from_url_picks_redis_or_local():
    assert isinstance(pacer_from_url(None), LocalPacer)
    assert pacer_from_url(None) is pacer_from_url("")
    assert isinstance(pacer_from_url(REDIS_URL), RedisPacer)
