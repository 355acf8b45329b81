"""Omniglot images for the page, found and loaded on first use, then shared read-only by every session.

The sources are the folders or .zip archives named in $MAML_PLAYGROUND_OMNIGLOT (separated by the
system's path separator, ':' on Linux), else torchvision's download into the user's cache: the
evaluation alphabets for episodes to compare on, the background alphabets to meta-train on.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import core
from demo.messages import Problem

if TYPE_CHECKING:
    from core.omniglot import DownloadFailed, OmniglotCharacters

OMNIGLOT_ENV = "MAML_PLAYGROUND_OMNIGLOT"
OMNIGLOT_CACHE = Path.home() / ".cache" / "maml-playground" / "omniglot"
SPLITS = ("evaluation", "background")  # keys: the alphabets to sample episodes from, and to meta-train on


def offline_reason(error: DownloadFailed) -> str:
    """The download's failure as a message key's ending: 'offline' when the network could not be reached
    (an OSError underneath, which urllib's URLError is), 'other' otherwise."""
    return "offline" if isinstance(error.__cause__, OSError) else "other"


class OmniglotImages:
    """`sources(split)` and `characters(split)`: where the images are and the preprocessed characters.

    Given `sources`, every split reads them; otherwise each split is downloaded once into `cache`.
    A failure is a Problem in one line ("omniglot.offline" or "omniglot.unavailable"), never a
    traceback, and is tried again on the next call (the machine may be online by then).
    """

    def __init__(self, sources: list[str | Path] | None = None, cache: Path = OMNIGLOT_CACHE):
        named = os.environ.get(OMNIGLOT_ENV, "")
        given = sources if sources is not None else [part for part in named.split(os.pathsep) if part]
        self.given = [Path(source) for source in given]
        self.cache = Path(cache)
        self._lock = threading.Lock()
        self._characters: dict[str, OmniglotCharacters] = {}

    def sources(self, split: str) -> list[Path]:
        """The folders or archives of `split` ('evaluation' or 'background'), downloading them if need be."""
        if split not in SPLITS:
            raise ValueError(f"unknown Omniglot split {split!r}; expected one of {', '.join(SPLITS)}")
        if self.given:
            missing = [path.name for path in self.given if not path.exists()]
            if missing:
                raise Problem("omniglot.missing", names=", ".join(missing), variable=OMNIGLOT_ENV)
            return self.given
        try:
            return [core.omniglot.download_omniglot(self.cache, background=split == "background")]
        except core.omniglot.DownloadFailed as error:
            raise Problem(f"omniglot.{offline_reason(error)}") from None

    def characters(self, split: str) -> OmniglotCharacters:
        """The characters of `split`, preprocessed once (and cached on disk beside the download)."""
        with self._lock:
            if split not in self._characters:
                sources = self.sources(split)  # a Problem when they cannot be had
                try:
                    preprocessed = self.cache / "preprocessed"
                    self._characters[split] = core.omniglot.load_omniglot(sources, cache_dir=preprocessed)
                except (OSError, ValueError) as error:
                    raise Problem("omniglot.unreadable", reason=type(error).__name__) from None
            return self._characters[split]
