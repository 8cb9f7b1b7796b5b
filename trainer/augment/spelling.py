"""Additive spelling augmentation: extra, noised copies of training queries with the same grades.

Each noised copy applies ``edits`` random edits to one query, drawn from:

* ``keyboard``: replace a letter by a neighbour on a QWERTY keyboard (Latin letters only; other
  scripts fall back to the edits below, so nothing here assumes English);
* ``drop``: delete a character;
* ``swap``: swap two adjacent characters;
* ``double``: repeat a character;
* ``split``: insert a space inside a word (``cordless`` -> ``cord less``);
* ``merge``: remove the space between two words (``deck stain`` -> ``deckstain``).

Words shorter than ``min_word_length`` and digits are left alone (model numbers and sizes carry
meaning). Everything is driven by a seeded ``random.Random``, so the same seed gives the same
copies. Augmentation is *additive*: the original queries stay, noised copies are added for a
``fraction`` of the training queries, with all of their judged products and grades.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pandas as pd

QWERTY_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]


def _keyboard_neighbours() -> dict[str, str]:
    pos = {ch: (r, c) for r, row in enumerate(QWERTY_ROWS) for c, ch in enumerate(row)}
    out = {}
    for ch, (r, c) in pos.items():
        near = [o for o, (r2, c2) in pos.items() if o != ch and abs(r2 - r) <= 1 and abs(c2 - c) <= 1]
        out[ch] = "".join(sorted(near))
    return out


NEIGHBOURS = _keyboard_neighbours()
EDITS = ("keyboard", "drop", "swap", "double", "split", "merge")


@dataclass
class SpellingNoise:
    edits: int = 1
    min_word_length: int = 4
    kinds: tuple[str, ...] = EDITS

    def _positions(self, text: str) -> list[int]:
        """Character positions inside words long enough to edit (letters only, no digits)."""
        positions, start = [], None
        for i, ch in enumerate(text + " "):
            if ch.isalpha() and start is None:
                start = i
            elif not ch.isalpha() and start is not None:
                if i - start >= self.min_word_length:
                    positions.extend(range(start, i))
                start = None
        return positions

    def apply_one(self, text: str, rng: random.Random) -> str:
        kinds = list(self.kinds)
        rng.shuffle(kinds)
        for kind in kinds:
            positions = self._positions(text)
            if kind == "merge":
                spaces = [i for i, ch in enumerate(text) if ch == " " and 0 < i < len(text) - 1]
                if spaces:
                    i = rng.choice(spaces)
                    return text[:i] + text[i + 1 :]
                continue
            if not positions:
                continue
            i = rng.choice(positions)
            ch = text[i]
            if kind == "keyboard":
                near = NEIGHBOURS.get(ch.lower())
                if not near:
                    continue
                new = rng.choice(near)
                return text[:i] + (new.upper() if ch.isupper() else new) + text[i + 1 :]
            if kind == "drop":
                return text[:i] + text[i + 1 :]
            if kind == "swap" and i + 1 < len(text) and text[i + 1].isalpha():
                return text[:i] + text[i + 1] + ch + text[i + 2 :]
            if kind == "double":
                return text[:i] + ch + text[i:]
            if kind == "split" and i > 0 and text[i - 1].isalpha():
                return text[:i] + " " + text[i:]
        return text

    def __call__(self, text: str, rng: random.Random) -> str:
        for _ in range(self.edits):
            text = self.apply_one(text, rng)
        return text


def augment_judgments(frame: pd.DataFrame, fraction: float = 0.3, copies: int = 1, seed: int = 0,
                      noise: SpellingNoise | None = None) -> pd.DataFrame:
    """Return ``frame`` plus noised copies of a ``fraction`` of its queries (all their rows, same
    grades), with a column ``augmented`` (False for originals) and ``source_query``."""
    noise = noise or SpellingNoise()
    rng = random.Random(seed)
    queries = sorted(frame["query"].unique())
    chosen = [q for q in queries if rng.random() < fraction]
    existing = set(queries)
    extra = []
    for query in chosen:
        for _ in range(copies):
            noised = noise(query, rng)
            if noised == query or noised in existing:
                continue
            existing.add(noised)
            rows = frame[frame["query"] == query].copy()
            rows["source_query"] = query
            rows["query"] = noised
            extra.append(rows)
    base = frame.copy()
    base["source_query"] = base["query"]
    base["augmented"] = False
    if not extra:
        return base
    added = pd.concat(extra, ignore_index=True)
    added["augmented"] = True
    return pd.concat([base, added], ignore_index=True)
