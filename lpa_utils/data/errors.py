"""Errors of the data layer: each names the file (and line) and says what to do."""

from __future__ import annotations

import os


class DataError(ValueError):
    """Bad input data: a malformed file, an empty overlap, a checksum mismatch ...

    ``path`` and ``line`` (1-based, or ``None``) are kept as attributes; the message starts with
    ``"<path>, line <n>: "`` so that it can be found in a log.
    """

    def __init__(
        self, message: str, path: str | os.PathLike | None = None, line: int | None = None, hint: str | None = None
    ):
        self.path = None if path is None else str(path)
        self.line = line
        self.hint = hint
        where = ""
        if self.path is not None:
            where = self.path + (f", line {line}" if line is not None else "") + ": "
        elif line is not None:
            where = f"line {line}: "
        super().__init__(where + message + (f" -- {hint}" if hint else ""))


class ChecksumError(DataError):
    """A downloaded file does not have the checksum recorded for it."""


class CacheError(DataError):
    """The data cache (``$LPA_DATA`` or ``data/cache``) cannot be written: a file, a read-only folder, a full disk."""


class DataUnavailableError(RuntimeError):
    """Data that cannot be had here: no network, a missing tool (apt-get), a file to download by hand."""
