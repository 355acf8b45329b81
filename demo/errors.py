"""One error boundary around every event: each failure reaches the user as a sentence in the app's words.

`Playground.process_api` is the single place Gradio runs an event through (preprocessing of the
inputs, the handler, postprocessing). Whatever is raised there becomes a `gr.Error` with a short
message: no traceback, no server path, no library internals, no echo longer than an excerpt.
The detail goes to the server log: one line for a user's mistake, a traceback only for a fault.
"""
from __future__ import annotations

import logging
import re
import reprlib
import sys
import uuid

import gradio as gr
from gradio.exceptions import ComponentProcessingError, InvalidPathError
from PIL import Image, UnidentifiedImageError
from pydantic import ValidationError

from demo.messages import MESSAGES, Problem, text

log = logging.getLogger("maml_playground")
MESSAGE_CHARS = 300  # the longest message a user sees
EXCERPT_CHARS = 40  # the longest piece of a user's own input echoed back
PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.\-~]+){2,}[\\/]?")  # a path of two or more parts
INDEX = re.compile(r"component at index (\d+)")  # how Gradio names the input it could not preprocess


SHORT = reprlib.Repr()  # Python 3.11's Repr takes its limits as attributes
SHORT.maxlevel, SHORT.maxlist, SHORT.maxdict, SHORT.maxstring, SHORT.maxother = 2, 4, 4, EXCERPT_CHARS, EXCERPT_CHARS


def excerpt(value, limit: int = EXCERPT_CHARS) -> str:
    """A short repr of value, at most `limit` characters: enough to recognise an input, never a 20 MB echo.

    reprlib stops early inside long strings, lists and dicts, so a huge input is never rendered whole.
    """
    text = SHORT.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def public_message(text: str) -> str:
    """A message fit to show: paths replaced, cut to MESSAGE_CHARS."""
    text = PATH.sub("<file>", str(text)).strip()
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def out_of_memory(error: Exception) -> bool:
    """Whether `error` is torch's out-of-memory error (there is none before the engine has loaded torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(error, torch.OutOfMemoryError)


def release_memory() -> None:
    """After an out-of-memory error: give cached GPU blocks back, so the next request can have them."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def expected(component) -> str:
    """What a component's input should be, in words."""
    key = f"expected.{type(component).__name__}"
    return text(key) if key in MESSAGES else text("expected.other")


def label_of(component, index: int) -> str:
    return getattr(component, "label", None) or text("error.input_index", index=index)


def input_problem(error: ComponentProcessingError, block_fn, inputs: list) -> str:
    """What was wrong with the input that Gradio could not preprocess, named by its label."""
    match = INDEX.search(str(error))
    index = int(match.group(1)) if match and int(match.group(1)) < len(block_fn.inputs) else None
    if index is None:
        return text("error.input_unreadable")
    component, cause = block_fn.inputs[index], error.__cause__
    if isinstance(cause, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        reason = text("error.image_pixels", pixels=Image.MAX_IMAGE_PIXELS)
    elif isinstance(cause, UnidentifiedImageError):
        reason = text("error.not_image")
    else:
        value = inputs[index] if index < len(inputs) else None
        reason = text("error.expected", expected=expected(component), value=excerpt(value))
    return text("error.input", label=label_of(component, index), reason=reason)


def malformed_input(block_fn, inputs: list) -> str:
    """Which input has a payload of the wrong form (it fails its component's data model)."""
    for index, (component, value) in enumerate(zip(block_fn.inputs, inputs)):
        model = getattr(component, "data_model", None)
        if model is None or value is None:
            continue
        try:
            model.model_validate(value, context={"validate_meta": True})
        except ValidationError:
            reason = text("error.expected", expected=expected(component), value=excerpt(value))
            return text("error.input", label=label_of(component, index), reason=reason)
    return text("error.malformed")


def unknown_choice(block_fn, inputs: list, state) -> gr.Error | None:
    """A gr.Error naming the first Radio or Dropdown input whose value is not one of its choices."""
    for index, (component, value) in enumerate(zip(block_fn.inputs, inputs)):
        if not isinstance(component, (gr.Radio, gr.Dropdown)) or value is None:
            continue
        if getattr(component, "multiselect", False) or getattr(component, "allow_custom_value", False):
            continue
        if state is not None and component._id in state:  # this session's own choices (set by an update)
            component = state[component._id]
        keys = [key for _, key in component.choices]
        if value not in keys:
            return gr.Error(text("error.unknown_choice", label=label_of(component, index), value=excerpt(value),
                                 choices=", ".join(map(str, keys))),
                            title=text("error.title.invalid"), print_exception=False)
    return None


def public_error(error: Exception, block_fn, inputs: list) -> gr.Error:
    """The gr.Error a user sees for `error`, logged as one line (their mistake) or a traceback (a fault)."""
    name = getattr(block_fn, "api_name", None) or getattr(block_fn, "name", "event")
    invalid = text("error.title.invalid")
    if isinstance(error, gr.Error):
        message, title = public_message(error.message), error.title
        log.info("%s: refused: %s", name, message)
    elif isinstance(error, Problem):  # a person's mistake, said in the catalogue's words
        message, title = public_message(text(error.key, **error.fields)), invalid
        log.info("%s: refused: %s", name, message)
    elif isinstance(error, ComponentProcessingError):
        message, title = public_message(input_problem(error, block_fn, inputs)), invalid
        log.info("%s: refused input: %s", name, message)
    elif out_of_memory(error):
        release_memory()
        log.error("%s: out of memory", name, exc_info=error)
        message, title = text("error.memory"), text("error.title.memory")
    elif isinstance(error, ValidationError):  # a payload of the wrong form
        message, title = public_message(malformed_input(block_fn, inputs)), invalid
        log.info("%s: refused payload: %s", name, message)
    elif isinstance(error, InvalidPathError):  # a file path that this server did not hand out
        message, title = text("error.foreign_file"), invalid
        log.info("%s: refused a file path", name)
    else:
        reference = uuid.uuid4().hex[:8]
        log.error("%s: fault %s", name, reference, exc_info=error)
        message, title = text("error.fault", reference=reference), text("error.title.server")
    return gr.Error(message, title=title, print_exception=False)


class Playground(gr.Blocks):
    """gr.Blocks whose every event runs inside the one error boundary (see the module docstring)."""

    async def process_api(self, block_fn, inputs, state=None, *args, **kwargs):
        fn = self.fns[block_fn] if isinstance(block_fn, int) else block_fn
        if isinstance(inputs, list) and len(inputs) < len(fn.inputs):
            log.info("%s: refused: %d inputs, needs %d", fn.api_name, len(inputs), len(fn.inputs))
            raise gr.Error(text("error.input_count", needed=len(fn.inputs), got=len(inputs)),
                           title=text("error.title.invalid"), print_exception=False)
        try:
            if fn.preprocess and isinstance(inputs, list) and (choice := unknown_choice(fn, inputs, state)):
                raise choice
            return await super().process_api(fn, inputs, state, *args, **kwargs)
        except Exception as error:  # noqa: BLE001 -- the boundary: every failure becomes a message
            raise public_error(error, fn, inputs) from None
