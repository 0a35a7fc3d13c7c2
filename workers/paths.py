"""Checks of the files a user names, cheap enough to run before anything heavy is imported."""

from __future__ import annotations

from pathlib import Path

from models.choices import is_sequence_name
from models.errors import InputError


def check_source_path(path: str) -> None:
    """Check that a source video's path names a file; messages name the file only (never a
    server's folders).

    Raises:
        InputError: the path is a folder or does not exist.
    """
    name = Path(path).name or path
    if is_sequence_name(path):  # an image sequence: its files are checked when it is probed
        if not Path(path).parent.is_dir():
            raise InputError(f"the folder of the image sequence {name} does not exist", "check the sequence's path")
        return
    if Path(path).is_dir():
        raise InputError(f"{name} is a folder, not a video file", "pass the path of a video file")
    if not Path(path).is_file():
        raise InputError(f"{name} does not exist", "check the path of the video")
