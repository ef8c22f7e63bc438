"""harness.peaks: the largest value seen of each figure while a block runs, and the idle one."""

from __future__ import annotations

import threading

from harness.peaks import PeakWatch


class Readings:
    """Figures handed out one reading at a time; the last is repeated once they run out."""

    def __init__(self, *readings: tuple[int, int] | Exception):
        self.readings = list(readings)
        self.taken = 0
        self.enough = threading.Event()

    def __call__(self) -> tuple[int, int]:
        reading = self.readings[min(self.taken, len(self.readings) - 1)]
        self.taken += 1
        if self.taken >= len(self.readings):
            self.enough.set()
        if isinstance(reading, Exception):
            raise reading
        return reading


def test_each_figure_keeps_its_own_peak_and_the_first_reading_is_the_idle_one():
    read = Readings((1, 50), (4, 10), (2, 70), (3, 20))
    with PeakWatch(read, interval_s=0.001) as watch:
        assert read.enough.wait(10)
    assert watch.first == (1, 50)
    assert watch.peaks == [4, 70]


def test_a_reading_that_fails_as_told_is_left_out():
    read = Readings((1, 1), TimeoutError("no answer"), (2, 3), (2, 3))
    with PeakWatch(read, interval_s=0.001, skip=(TimeoutError,)) as watch:
        assert read.enough.wait(10)
    assert watch.peaks == [2, 3]


def test_given_first_figures_are_not_read():
    read = Readings((5, 5))
    watch = PeakWatch(read, interval_s=60, first=(0, 0))
    assert read.taken == 0 and watch.first == (0, 0) and watch.peaks == [0, 0]


def test_the_watch_thread_has_ended_when_the_block_ends():
    with PeakWatch(Readings((1, 1)), interval_s=0.001, name="peaks-under-test"):
        assert any(t.name == "peaks-under-test" for t in threading.enumerate())
    assert not any(t.name == "peaks-under-test" for t in threading.enumerate())
