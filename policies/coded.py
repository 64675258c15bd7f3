"""Base of the values of a closed vocabulary: equal, hashed and ordered by their code.

The code is rendered once, when the value is built: decisions hash, sort and serialise these
values on the hot path, and a code string hashes once where a nested dataclass hashes every time.
"""

from __future__ import annotations


class Coded:
    """A vocabulary value. Subclasses are frozen slotted dataclasses with ``eq=False`` that
    implement ``_render``; two values are equal when they are of one class with one code."""

    __slots__ = ("code",)
    code: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", self._render())

    def _render(self) -> str:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, Coded) and other.code == self.code

    def __hash__(self) -> int:
        return hash(self.code)

    def __lt__(self, other: Coded) -> bool:
        return self.code < other.code
