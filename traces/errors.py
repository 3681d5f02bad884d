"""The project's error and warning types for bad input."""

from __future__ import annotations


class TraceError(Exception):
    """A trace (or a user's argument about one) cannot be used.

    The message is one line: the file, where in it (line or byte offset) and
    what was expected there. The command line prints it and exits with code 2.
    """

    def __init__(self, message: str, path: str | None = None, *,
                 line: int | None = None, offset: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.offset = offset
        self.detail = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.offset is not None:
            where.append(f"byte {self.offset}")
        return (": ".join(where) + ": " if where else "") + self.detail


class Warnings:
    """Counted warnings: each kind of problem is reported once, with its count
    and the first place it happened, so a damaged 10 GB trace gives a short
    list rather than millions of lines."""

    def __init__(self) -> None:
        self._first: dict[str, str] = {}
        self._count: dict[str, int] = {}

    def add(self, key: str, message: str, count: int = 1) -> None:
        """Count ``count`` occurrences of problem ``key``; ``message`` describes the first."""
        if count <= 0:
            return
        if key not in self._first:
            self._first[key] = message
            self._count[key] = 0
        self._count[key] += count

    def __contains__(self, key: str) -> bool:
        return key in self._first

    def as_list(self) -> list[str]:
        out = []
        for key, msg in self._first.items():
            n = self._count[key]
            out.append(msg if n == 1 else f"{msg} ({n} times in all)")
        return out

    def __len__(self) -> int:
        return len(self._first)
