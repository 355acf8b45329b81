"""Pause, resume, step and stop for a streaming run, shared by a session's events through gr.State."""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Playback:
    """A session's controls for its running adaptation (plain fields, so gr.State can copy the default)."""

    paused: bool = False  # hold before the next step
    step_budget: int = 0  # steps allowed while paused (the Step button adds one)
    stopped: bool = False  # finish now, keeping the steps so far

    def start(self) -> None:
        self.paused, self.step_budget, self.stopped = False, 0, False

    def wait_for_next_step(self, delay: float, poll: float = 0.05) -> bool:
        """Sleep `delay`, then hold while paused; False when the run should stop."""
        time.sleep(delay)
        while self.paused and self.step_budget == 0 and not self.stopped:
            time.sleep(poll)
        if self.paused and self.step_budget > 0:
            self.step_budget -= 1
        return not self.stopped


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
