"""Random conventions for property tests: id shapes, label sets, case styles, variant shares, e-mail and flags."""
from __future__ import annotations

import numpy as np

from pipeline.synth.conventions import CASES, DEFAULT_IDS, DEFAULT_LABELS, DOMAIN_LABELS, Category, IdFormat

LETTERS = np.array(list("ABCDEFGHJKLMNPRSTUVWXYZ"))
SYLLABLES = ("ka ro mi ta ne lo su vi da pe zo ri ba ku fe go hi ja le mo nu sa te vo wi ya ze "
             "bran dol fin gar hel mar nor pol sten tor").split()
DOMAINS = ("example.com", "example.org", "mail.example.net", "post.example.de", "bücher.example.de",
           "例え.example.jp", "correo.example.es", "pochta.example.ru")


def _prefix(rng: np.random.Generator) -> str:
    letters = "".join(rng.choice(LETTERS, rng.integers(0, 5)))
    return letters + (str(rng.choice(["", "", "-", "_"])) if letters else "")


def _word(rng: np.random.Generator) -> str:
    word = "".join(rng.choice(SYLLABLES, rng.integers(1, 4))).capitalize()
    return word if rng.random() < 0.8 else f"{word} {_word(rng).lower()}"


def _labels(rng: np.random.Generator, n: int, fixed: dict[int, str], taken: set[str]) -> tuple[str, ...]:
    """n labels by code: `fixed` codes keep theirs; the others draw from 1..n new words (codes may share one)."""
    free = [i for i in range(n) if i not in fixed]
    words: list[str] = []
    wanted = int(rng.integers(min(len(free), 2), len(free) + 1))
    while len(words) < wanted:
        w = _word(rng)
        if w.casefold() not in taken:  # distinct after folding case, so a variant never equals another label
            taken.add(w.casefold())
            words.append(w)
    # Every word used at least once, the rest of the codes spread over them.
    picks = np.concatenate([np.arange(len(words)), rng.integers(0, len(words), len(free) - len(words))])
    out = dict(fixed)
    out.update(zip(free, (words[i] for i in rng.permutation(picks)), strict=True))
    return tuple(out[i] for i in range(n))


def random_conventions(cls, rng: np.random.Generator):
    ids = {k: IdFormat(_prefix(rng), int(rng.integers(3, 13))) for k in DEFAULT_IDS}
    categories = {}
    for column, default in DEFAULT_LABELS.items():
        fixed = DOMAIN_LABELS.get(column, {})
        taken = {s.casefold() for s in fixed.values()}
        labels = _labels(rng, len(default), fixed, taken)
        if fixed:
            categories[column] = Category(labels)
        else:
            variants = 0.0 if rng.random() < 0.4 else float(np.round(rng.uniform(0.005, 0.05), 3))
            categories[column] = Category(labels, CASES[rng.integers(0, len(CASES))], variants)
    domains = tuple(str(d) for d in rng.choice(DOMAINS, rng.integers(1, 5), replace=False))
    return cls(ids=ids, categories=categories, unicode_emails=bool(rng.random() < 0.5),
               email_domains=domains, flags_as_int=bool(rng.random() < 0.5))
