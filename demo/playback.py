"""Pause, resume, step and stop for a streaming run, shared by a session's events through gr.State.

Every wait is bounded. A pause ends the run after PAUSE_LIMIT_S, and a run ends after
RUN_LIMIT_S in all, keeping its steps either way. A run does not sleep itself: it yields `Wait`,
and `demo.serving.computes` sleeps outside the compute slot. While paused, each Wait carries a
no-op update that reaches Gradio every TICK_S, so a run whose page was closed is dropped at the
next tick; a run that blocked inside one step could not be.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Generator, TypeVar

from core.inner import diverged

MAX_DELAY_S = 1.0  # the longest wait between streamed steps
PAUSE_LIMIT_S = 120.0  # a run paused this long ends (its steps are kept, replay works)
RUN_LIMIT_S = 180.0  # a run ends after this long in all, pauses included
TICK_S = 0.25  # while paused, how often the run hands control back to the server

# why a run ended before its last step; None: it ran to the end
STOPPED, PAUSE_EXPIRED, TIME_LIMIT = "stopped", "pause_expired", "time_limit"
ENDINGS = {STOPPED: "Stopped.",
           PAUSE_EXPIRED: f"Paused for over {PAUSE_LIMIT_S:.0f} s, so the run ended here.",
           TIME_LIMIT: f"The run reached its time limit of {RUN_LIMIT_S:.0f} s and ended here."}

Tick = TypeVar("Tick")


@dataclass(frozen=True)
class Wait:
    """What a streaming handler yields to wait: sleep `seconds`, then send `tick` to the page (None: nothing)."""

    seconds: float
    tick: object = None


def divergence_note(records: list[dict], subject: str) -> str:
    """Why a trace (`AdaptationTrace.to_dict()` records) ended before step S on its own: it diverged."""
    done, start, last = records[-1]["step"], records[0]["support_loss"], records[-1]["support_loss"]
    if diverged(start, last):
        return (f"α is too large for {subject}: the support loss grew ×{last / max(start, 1e-12):.0e} in "
                f"{done} step(s), so the run stopped at step {done}. Try a smaller α.")
    return (f"α is too large for {subject}: step {done + 1} gave non-finite values, so the run stopped at "
            f"step {done}. Try a smaller α.")


@dataclass
class Playback:
    """A session's controls for its running adaptation (plain fields, so gr.State can copy the default)."""

    paused: bool = False  # hold before the next step
    step_budget: int = 0  # steps allowed while paused (the Step button adds one)
    stopped: bool = False  # finish now, keeping the steps so far
    started: float = 0.0  # time.monotonic() when the run began

    def start(self) -> None:
        self.paused, self.step_budget, self.stopped, self.started = False, 0, False, time.monotonic()

    def hold(self, delay: float, tick: Tick) -> Generator[Wait, None, str | None]:
        """Wait `delay`, then while paused, TICK_S at a time with `tick`; why the run ends, or None.

        Use as `ending = yield from playback.hold(delay, no_change)` inside a streaming handler
        wrapped by `demo.serving.computes`, which does the sleeping.
        """
        yield Wait(delay)
        paused_at = None
        while self.paused and self.step_budget == 0 and not self.stopped:
            now = time.monotonic()
            paused_at = paused_at or now
            if now - paused_at > PAUSE_LIMIT_S:
                return PAUSE_EXPIRED
            if now - self.started > RUN_LIMIT_S:
                return TIME_LIMIT
            yield Wait(TICK_S, tick)
        if self.paused and self.step_budget > 0:
            self.step_budget -= 1
        if self.stopped:
            return STOPPED
        return TIME_LIMIT if time.monotonic() - self.started > RUN_LIMIT_S else None


def toggle_pause(playback: Playback) -> str:
    """Pause a running adaptation, or resume a paused one; the button's new label."""
    playback.paused = not playback.paused
    return "Resume" if playback.paused else "Pause"


def step_once(playback: Playback) -> str:
    """Pause (if running) and let exactly one more step through."""
    playback.paused = True
    playback.step_budget += 1
    return "Resume"


def stop(playback: Playback) -> str:
    """Finish the run at the current step."""
    playback.stopped = True
    playback.paused = False
    return "Pause"
