"""Did you mean …?: the closest known names to a misspelt one (commands, flags, drugs, keys).

Pure functions over strings (difflib's similarity ratio), so every error message that names an
unknown thing offers the likely intended one the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, Protocol

#: How alike two names must be (difflib's ratio, 0–1) to be offered: difflib's own default,
#: which still catches a swapped pair of letters in a three-letter word (``rnu`` → ``run``).
CUTOFF = 0.6
#: Names this close to the best one are offered with it (``ASPIRINE`` → ``ASPIRIN``, and a
#: second name only when it is as likely).
TIE = 0.05


def closest(
    word: str, known: Iterable[str], *, cutoff: float = CUTOFF, limit: int = 3
) -> list[str]:
    """The names of ``known`` most like ``word`` (case-insensitive): the best one and those
    about as good, at most ``limit``, best first; none when nothing reaches ``cutoff``."""
    folded = word.casefold()
    scored: dict[str, float] = {}
    for name in known:
        matcher = difflib.SequenceMatcher(None, folded, name.casefold())
        if matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff:
            score = matcher.ratio()
            if score >= cutoff and score > scored.get(name, -1.0):
                scored[name] = score
    if not scored:
        return []
    ranked = sorted(scored.items(), key=lambda item: (-item[1], item[0]))
    best = ranked[0][1]
    return [name for name, score in ranked if score >= best - TIE][:limit]


def did_you_mean(word: str, known: Iterable[str], *, cutoff: float = CUTOFF) -> str:
    """``"; did you mean 'X'?"`` (or ``'X' or 'Y'``) for the names closest to ``word``, else
    ``""``: meant to end an error line (``unknown key 'sorce'; did you mean 'source'?``)."""
    found = closest(word, known, cutoff=cutoff)
    if not found:
        return ""
    return "; did you mean " + " or ".join(repr(name) for name in found) + "?"


class _HasDrugs(Protocol):
    def of_type(self, node_type: str) -> list[dict[str, Any]]: ...


def drug_suggestion(name: str, graph: _HasDrugs) -> str:
    """:func:`did_you_mean` over the names of the drug nodes of ``graph`` (a ``GraphView``)."""
    return did_you_mean(name, [str(n.get("name", "")) for n in graph.of_type("drug")])
