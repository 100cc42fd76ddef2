"""How far along a class is: done, running and failed submissions, the rate and the expected finish.

    progress = Progress("lab1_convolution", total=200, every=15)
    if progress.due():                              # true at most every 15 s
        progress.show(done=37, running=2, failed=1)
    # lab1_convolution: 37/200 done, 2 running, 1 failed; 41.2 a minute; finish about 14:05:12 (in 3 min 58 s)

A plain line at a time, so that it reads the same in a terminal and in a log; quiet, it
prints nothing.
"""

from __future__ import annotations

import datetime
import sys
import time


class Progress:
    def __init__(self, lab: str, total: int, *, every: float = 15.0, quiet: bool = False, stream=None,
                 clock=time.monotonic):
        self.lab, self.total, self.every, self.quiet = lab, total, every, quiet
        self.stream, self.clock = stream, clock
        self.start = self.last = clock()

    def due(self) -> bool:
        """Whether a line is due: `every` seconds since the last (never, quiet)."""
        return not self.quiet and self.clock() - self.last >= self.every

    def show(self, done: int, running: int, failed: int) -> None:
        self.last = self.clock()
        print(self.line(done, running, failed), file=self.stream or sys.stdout, flush=True)

    def line(self, done: int, running: int, failed: int) -> str:
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = 60 * done / elapsed
        text = f"{self.lab}: {done}/{self.total} done, {running} running, {failed} failed; {rate:.1f} a minute"
        left = self.total - done
        if done and left:
            seconds = left / (done / elapsed)
            finish = datetime.datetime.now() + datetime.timedelta(seconds=seconds)
            text += f"; finish about {finish:%H:%M:%S} (in {_duration(seconds)})"
        return text


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
