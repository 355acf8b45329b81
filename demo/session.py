"""The one streaming helper: any tab's records played to the page with delay, pause, step and stop.

A tab computes its records first (on the GPU where there is one: `demo.common.gpu` wraps only that
computation), then `play` streams them: one update per record when the delay is FRAME_S or more,
and when steps come faster, one update per FRAME_S showing the latest step, so a page never gets
more updates than it can draw. `Playback` (in the session's gr.State) carries the Pause, Step and
Stop buttons' wishes to the running stream.

Every wait is bounded. A pause ends the run after PAUSE_LIMIT_S, and a run ends after
RUN_LIMIT_S in all, keeping its steps either way. A run does not sleep itself: it yields `Wait`,
and `demo.serving.computes` sleeps outside the compute slot. While paused, the run checks Resume,
Step and Stop every STOP_CHECK_S, and every TICK_S a Wait carries a no-op update that reaches
Gradio, so a run whose page was closed is dropped at the next tick; a run that blocked inside one
step could not be. (Gradio builds each output's component afresh for a no-op update, about 5 ms of
its event loop per tick, so ticks are rare.)
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Generator, Sequence, TypeVar

import core
from demo.messages import power_of_ten, text
from demo.plots import stills

PAUSE_LIMIT_S = 120.0  # a run paused this long ends (its steps are kept, replay works)
RUN_LIMIT_S = 180.0  # a run ends after this long in all, pauses included
TICK_S = 2.0  # while paused, how often the run hands control back to the server
STOP_CHECK_S = 0.05  # a delay is slept in slices this long, checking Stop between them
MIN_STEP_S = 0.02  # a delay of 0 still plays at most 50 steps a second, so the steps can be seen going by
FRAME_S = 0.2  # frames at least this far apart: a page redraws its plots in about 0.1–0.2 s

# why a run ended before its last step; None: it ran to the end
STOPPED, PAUSE_EXPIRED, TIME_LIMIT = "stopped", "pause_expired", "time_limit"
ENDINGS = (STOPPED, PAUSE_EXPIRED, TIME_LIMIT)


def ending_text(ending: str) -> str:
    """Why the run ended early, in words."""
    return {STOPPED: lambda: text("run.stopped"),
            PAUSE_EXPIRED: lambda: text("run.pause_expired", seconds=PAUSE_LIMIT_S),
            TIME_LIMIT: lambda: text("run.time_limit", seconds=RUN_LIMIT_S)}[ending]()

Tick = TypeVar("Tick")


@dataclass(frozen=True)
class Wait:
    """What a streaming handler yields to wait: sleep `seconds`, then send `tick` to the page (None: nothing)."""

    seconds: float
    tick: object = None


def divergence_note(records: list[dict], subject: str) -> str:
    """Why a trace (`AdaptationTrace.to_dict()` records) ended before step S on its own: it diverged."""
    done, start, last = records[-1]["step"], records[0]["support_loss"], records[-1]["support_loss"]
    if core.inner.diverged(start, last):
        return text("run.diverged", subject=subject, factor=power_of_ten(last / max(start, 1e-12)), steps=done)
    return text("run.not_finite", subject=subject, next=done + 1, steps=done)


@dataclass
class Playback:
    """A session's controls for its running adaptation (plain fields, so gr.State can copy the default)."""

    paused: bool = False  # hold before the next step
    step_budget: int = 0  # steps allowed while paused (the Step button adds one)
    stopped: bool = False  # finish now, keeping the steps so far
    started: float = 0.0  # time.monotonic() when the run began
    shown: int = 0  # the last step the run has streamed

    def start(self) -> None:
        self.paused, self.step_budget, self.stopped, self.started = False, 0, False, time.monotonic()
        self.shown = 0

    def hold(self, delay: float, tick: Tick, on_pause: Callable[[], Tick | None] = lambda: None
             ) -> Generator[Wait, None, str | None]:
        """Wait `delay`, then while paused, STOP_CHECK_S at a time with `tick` every TICK_S; why the run ends, or
        None. As a pause begins, on_pause() (when not None) is sent once.

        Use as `ending = yield from playback.hold(delay, no_change)` inside a streaming handler
        wrapped by `demo.serving.computes`, which does the sleeping.
        """
        until = time.monotonic() + delay
        while not self.stopped and (left := until - time.monotonic()) > 0:  # in slices, so Stop acts at once
            yield Wait(min(left, STOP_CHECK_S))
        paused_at = ticked_at = None
        while self.paused and self.step_budget == 0 and not self.stopped:
            now = time.monotonic()
            if paused_at is None:
                paused_at = ticked_at = now
                yield Wait(0.0, on_pause())
                continue
            if now - paused_at > PAUSE_LIMIT_S:
                return PAUSE_EXPIRED
            if now - self.started > RUN_LIMIT_S:
                return TIME_LIMIT
            due = now - ticked_at >= TICK_S
            ticked_at = now if due else ticked_at
            yield Wait(STOP_CHECK_S, tick if due else None)
        if self.paused and self.step_budget > 0:
            self.step_budget -= 1
        if self.stopped:
            return STOPPED
        return TIME_LIMIT if time.monotonic() - self.started > RUN_LIMIT_S else None


def play(playback: Playback, count: int, frame: Callable[[int], Sequence], delay: float, no_change: Sequence
         ) -> Generator[Sequence | Wait, None, tuple[int, str | None]]:
    """Stream frame(k) for k = 0 … count − 1, one step every max(delay, MIN_STEP_S), as Pause, Step and Stop say.

    Frames are at least FRAME_S apart: when steps come faster, a frame shows the latest step reached
    (the frames draw every step's loss and the recent curves, so none is lost from view). Step 0, the
    last step and a step taken with Step always get their own frame. While the run plays, its
    figures are still pictures (`demo.plots.still`: the page draws them sooner); the last step's
    frame and a paused run's (as the pause begins, and each Step) are interactive. A run that ends
    early (Stop, an expired pause, the time limit) gets no last frame here, so that nothing is drawn
    before the page shows that it stopped: the handler's own last update shows that step.
    Returns (the last step reached, why the run ended early or None). `no_change` is the update a
    paused run sends while it waits. Use as `done, ending = yield from play(...)` inside a handler
    wrapped by `demo.serving.computes`, which does the sleeping.
    """
    playback.start()
    still_shown = False  # the step shown is a still picture

    def show(step: int, still: bool) -> Sequence:
        nonlocal still_shown
        still_shown = still
        return stills(frame(step)) if still else frame(step)

    def on_pause() -> Sequence | None:  # the step shown, interactive, unless it already is
        return show(playback.shown, still=False) if still_shown else None

    yield show(0, still=count > 1)
    shown_at = time.monotonic()
    for k in range(1, count):
        ending = yield from playback.hold(max(delay, MIN_STEP_S), no_change, on_pause)
        if ending:
            return k - 1, ending  # an ending keeps the step reached before it
        last = k == count - 1
        if last or playback.paused or time.monotonic() - shown_at >= FRAME_S:
            yield show(k, still=not (last or playback.paused))
            playback.shown, shown_at = k, time.monotonic()
    return count - 1, None


def toggle_pause(playback: Playback) -> str:
    """Pause a running adaptation, or resume a paused one; the button's new label."""
    playback.paused = not playback.paused
    return text("control.resume") if playback.paused else text("control.pause")


def step_once(playback: Playback) -> str:
    """Pause (if running) and let exactly one more step through."""
    playback.paused = True
    playback.step_budget += 1
    return text("control.resume")


def stop(playback: Playback) -> tuple[str, str]:
    """Finish the run at the current step: the Pause button's label, and the status to show at once.

    Stop answers outside the queue, so this shows even while others compute; the run's own updates
    follow (see `demo.common.wire_playback` for why its last line cannot be lost to this answer).
    """
    playback.stopped = True
    playback.paused = False
    return text("control.pause"), text("run.stopping", step=playback.shown)


def last_line(state: dict | None):
    """The status a finished run ended with (its state's 'status'), to show once more after it is over."""
    return state["status"] if state and "status" in state else None
