"""Small pieces every tab uses: sliders and input checks from the limits table, the device badge, the ZeroGPU
wrapper, and pictures written into Gradio's cache."""
from __future__ import annotations

import functools
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gradio as gr
from gradio.processing_utils import encode_pil_to_bytes, hash_bytes
from gradio.utils import get_upload_folder
from PIL import Image

import core
from core.registry import build_model
from demo.errors import excerpt
from demo.limits import LIMITS
from demo.messages import MESSAGES, Problem, text

# a Hugging Face ZeroGPU Space (the `spaces` package's own test of its variable); `spaces` is imported there alone
ZERO_GPU = os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")
if ZERO_GPU:  # run the computation (never the playback, which waits) on a borrowed GPU
    import spaces

    gpu = spaces.GPU
else:  # everywhere else it changes nothing
    def gpu(fn):
        return fn


def checked_number(value, key: str):
    """`value` as a number within LIMITS[key] (an int where it is integer), or a Problem that says what is wrong.

    `key` names the input: its label is the message `<key>.label`.
    """
    limit, name = LIMITS[key], text(f"{key}.label")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Problem("input.not_number", name=name, value=excerpt(value))
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise Problem("input.not_number", name=name, value=excerpt(value)) from None
    if not math.isfinite(number) or not limit.low <= number <= limit.high:
        shown = (lambda v: f"{int(v):,}") if limit.integer else (lambda v: f"{v:g}")
        raise Problem("input.out_of_range", name=name, low=shown(limit.low), high=shown(limit.high),
                      value=excerpt(value))
    if limit.integer:
        if number != int(number):
            raise Problem("input.not_whole", name=name, value=excerpt(value))
        return int(number)
    return number


def checked_numbers(prefix: str, **values) -> list:
    """`checked_number` of each value against LIMITS["<prefix>.<name>"], in the order given."""
    return [checked_number(value, f"{prefix}.{name}") for name, value in values.items()]


def slider(key: str, info: str | None = None, **options) -> gr.Slider:
    """The slider of LIMITS[key], labelled by the message `<key>.label` (and `<key>.info`, or `info`).

    Its elem_id is the key with dashes ('sinusoid-steps'), so a page test finds it.
    """
    limit = LIMITS[key]
    if info is None and f"{key}.info" in MESSAGES:
        info = text(f"{key}.info")
    return gr.Slider(limit.low, limit.high, **{"value": limit.value, **options}, step=limit.step,
                     label=text(f"{key}.label"), info=info, elem_id=key.replace(".", "-"))


def seed_box(key: str, **options) -> gr.Number:
    """A whole-number box for the seed LIMITS[key], labelled by the message `<key>.label` (and `<key>.info`)."""
    info = text(f"{key}.info") if f"{key}.info" in MESSAGES else None
    return gr.Number(LIMITS[key].value, precision=0, minimum=LIMITS[key].low, label=text(f"{key}.label"), info=info,
                     **options)


def trained_model(trained: dict | None, device, task: str) -> tuple:
    """(model, θ, algorithm) of the θ this session meta-trained in the page for `task` ('sinusoid' or
    'omniglot'), or a Problem when there is none or it was trained on the other task."""
    if not trained:
        raise Problem("gradients.no_trained")
    if trained["config"]["task"] != task:
        raise Problem(f"trained.{trained['config']['task']}_not_{task}")
    model = build_model(trained["config"]["model"]).to(device)
    theta = {key: value.to(device) for key, value in trained["theta"][trained["algorithm"]].items()}
    return model, theta, trained["algorithm"]


def mean_step_time(records: list[dict]) -> float | None:
    """The mean wall time of the inner steps among trace records (k = 0 took no step); None without one."""
    times = [record["wall_time_s"] for record in records if record["step"]]
    return sum(times) / len(times) if times else None


def badge(device, seconds_per_step: float | None = None) -> str:
    """'CUDA: <gpu>' or 'CPU', with the measured time per inner step."""
    name = f"**{core.device.describe_device(device)}**"
    if seconds_per_step is None:
        return name
    return text("badge.step_time", device=name, milliseconds=1000 * seconds_per_step)


@dataclass(frozen=True)
class DeviceView:
    """What a tab shows of the server's device: its components, and their values for a device.

    A page fills them once it has loaded (demo.build_app), so the app is built and served before torch,
    which knows the device, has loaded.
    """

    outputs: list[gr.components.Component]
    values: Callable  # device → a tuple of one value or update per output


def picture_file(image: Image.Image, format: str = "webp") -> str:
    """`image` saved in Gradio's cache under the hash of its bytes, written once; its path, for a gr.Image output.

    Returned as a PIL image, Gradio would save the same-named file afresh for every output, in place,
    so two sessions that show the same picture at once (the same drawings, say) could each be sent
    the other's half-written file, and a client then read 0 bytes. Here the file is written under
    a temporary name and renamed into place, and an existing one is only touched (the cache sweep
    ages files by their ctime).
    """
    data = encode_pil_to_bytes(image, format)
    folder = Path(get_upload_folder()) / hash_bytes(data)
    path = folder / f"image.{format}"
    try:
        os.utime(path)  # there already, and kept from the sweep a while longer
        return str(path)
    except OSError:  # not there (or just swept): write it
        pass
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, delete=False) as handle:
        handle.write(data)
    try:
        os.replace(handle.name, path)
    finally:
        Path(handle.name).unlink(missing_ok=True)
    return str(path)


def playback_buttons(tab: str, min_width: int) -> tuple[gr.Button, gr.Button, gr.Button, gr.Button]:
    """Adapt, Pause, Step and Stop in one row, their elem_ids '<tab>-adapt', '<tab>-pause', … (for page tests)."""
    with gr.Row():
        return (gr.Button(text("control.adapt"), variant="primary", elem_id=f"{tab}-adapt", min_width=min_width),
                gr.Button(text("control.pause"), elem_id=f"{tab}-pause", min_width=min_width),
                gr.Button(text("control.step"), elem_id=f"{tab}-step", min_width=min_width),
                gr.Button(text("control.stop"), variant="stop", elem_id=f"{tab}-stop", min_width=min_width))


def replay_range(last: int) -> dict:
    """The replay slider at step 0 of 0 … last, not draggable: as a run starts to stream (until it is over), and
    with last = 0 where there is no run to replay.

    Sent once per run; the frames that follow send only the step, since Gradio builds a component
    afresh for each update of its settings, on its event loop.
    """
    return gr.update(maximum=max(last, 1), value=0, interactive=False)


def at_once(control):
    """`control` (a function that only flips a flag in a session's state) as a coroutine function.

    Gradio runs a coroutine function on its event loop, where a plain one first waits for one of
    its worker threads. A server busy computing then answers Pause, Step and Stop without that hop.
    """
    @functools.wraps(control)
    async def at_once_control(*args):
        return control(*args)
    return at_once_control


def wire_playback(run, playback: gr.State, pause: gr.Button, step_button: gr.Button, stop_button: gr.Button,
                  status: gr.Markdown, run_state: gr.State) -> None:
    """Pause, Step and Stop act on the running stream at once (outside the queue; Stop also says where it
    stopped), and a run that is over, however it ended, leaves the button reading Pause.

    Stop's answer and the run's stream reach the page by two ways, in no set order: under load the
    answer was seen to land after the run's last update and leave "Stopped at step k." in place of
    the run's last line. So once a run has ended well, its last line (kept in `run_state`) is shown
    again, by a request the page sends only after the run is over.
    """
    from demo.session import last_line, step_once, stop, toggle_pause

    pause.click(at_once(toggle_pause), playback, pause, api_name=False, queue=False)
    step_button.click(at_once(step_once), playback, pause, api_name=False, queue=False)
    stop_button.click(at_once(stop), playback, [pause, status], api_name=False, queue=False)
    run.then(lambda: text("control.pause"), None, pause, api_name=False, queue=False)
    run.success(at_once(last_line), run_state, status, api_name=False, queue=False)
