"""Retry waits and circuit breakers as rules, on a fake clock: how long to wait before a retry,
and when a backend is let through (the behaviour against real upstreams is in test_resilience)."""

import pytest

from llm_proxy.resilience import CLOSED, HALF_OPEN, OPEN, Breaker, Breakers, RetryPolicy

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("retry_after, wait", [("2", 2.0), ("0.25", 0.25), ("600", 5.0), ("-3", 0.0)])
def test_retry_after_is_honoured_within_the_cap(retry_after, wait):
    assert RetryPolicy(retry_after_max=5.0).delay(1, retry_after) == wait


@pytest.mark.parametrize("retry_after", [None, "", "Wed, 21 Oct 2026 07:28:00 GMT"])
@pytest.mark.parametrize("retry", [1, 2, 3, 6])
def test_otherwise_the_backoff_doubles_per_retry_with_full_jitter_up_to_its_cap(retry, retry_after):
    policy = RetryPolicy(backoff=0.2, backoff_max=1.0)
    ceiling = min(1.0, 0.2 * 2 ** (retry - 1))
    waits = [policy.delay(retry, retry_after) for _ in range(200)]
    assert all(0.0 <= w <= ceiling for w in waits)
    assert max(waits) > ceiling / 2  # jittered across the range, not pinned to zero


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_breaker_opens_after_consecutive_failures_only():
    breaker = Breaker(threshold=3, cooldown=10, clock=FakeClock())
    breaker.failure()
    breaker.failure()
    breaker.success()  # a success in between starts the count again
    breaker.failure()
    breaker.failure()
    assert breaker.state == CLOSED and breaker.allow()
    breaker.failure()
    assert breaker.state == OPEN and not breaker.allow()


def test_after_the_cooldown_one_probe_goes_through_and_its_outcome_decides():
    clock = FakeClock()
    breaker = Breaker(threshold=1, cooldown=10, clock=clock)
    breaker.failure()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow() and breaker.state == HALF_OPEN
    assert not breaker.allow()  # only one probe at a time
    breaker.failure()  # the probe failed: open again, for a whole new cooldown
    assert breaker.state == OPEN
    clock.now += 10
    assert breaker.allow()
    breaker.success()
    assert breaker.state == CLOSED and breaker.allow() and breaker.allow()


def test_breakers_are_per_backend_and_report_each_change():
    changes: list[tuple[str, int]] = []
    breakers = Breakers(threshold=1, cooldown=0, on_change=lambda backend, state: changes.append((backend, state)))
    breakers.record("dead", ok=False)
    assert breakers.allow("alive") and changes == [("dead", OPEN)]
    assert breakers.allow("dead")  # cooldown 0: the probe goes at once
    breakers.record("dead", ok=True)
    assert changes == [("dead", OPEN), ("dead", HALF_OPEN), ("dead", CLOSED)]


@pytest.mark.parametrize("retry_after", ["nan", "inf", "-inf"])
def test_a_retry_after_that_is_not_a_finite_number_is_ignored(retry_after):
    wait = RetryPolicy(backoff=0.2, backoff_max=1.0).delay(1, retry_after)
    assert 0.0 <= wait <= 0.2  # our own backoff; `nan` used to reach uvloop's timer and raise


def test_a_probe_without_a_verdict_is_handed_back_and_the_next_request_probes():
    clock = FakeClock()
    breaker = Breaker(threshold=1, cooldown=10, clock=clock)
    breaker.failure()
    clock.now += 10
    assert breaker.allow() and not breaker.allow()
    breaker.release()  # the client went away, or the upstream refused our key: nothing learnt
    assert breaker.state == HALF_OPEN and breaker.allow()


def test_a_probe_that_never_settles_stops_holding_the_breaker_after_its_timeout():
    clock = FakeClock()
    breaker = Breaker(threshold=1, cooldown=10, clock=clock, probe_timeout=30)
    breaker.failure()
    clock.now += 10
    assert breaker.allow()
    clock.now += 29.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_release_of_a_closed_breaker_changes_nothing():
    breaker = Breaker(threshold=2, cooldown=10, clock=FakeClock())
    breaker.failure()
    breaker.release()
    assert breaker.state == CLOSED and breaker.failures == 1
