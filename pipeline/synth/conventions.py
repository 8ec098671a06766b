"""How one source system writes ids, category labels (case, variants), e-mail addresses and flags."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.synth.common import labels, row_hash
from pipeline.synth.vocab import US_STATES

# The generator's category codes, per table.column: code i means what DEFAULT_LABELS[column][i] says.
DEFAULT_LABELS: dict[str, tuple[str, ...]] = {
    "customers.gender": ("M", "F", "X"),
    "customers.state": US_STATES,
    "customers.customer_status": ("Active", "Inactive", "Suspended"),
    "customers.segment": ("Retail", "Premium", "Corporate", "SME"),
    "customers.referral_source": ("Online", "Agent", "Referral", "Partner", "Walk-in"),
    "customers.preferred_contact": ("Email", "Phone", "SMS", "Mail"),
    "policies.status": ("Active", "Expired", "Cancelled", "Pending", "Lapsed"),
    "policies.payment_frequency": ("Monthly", "Quarterly", "Semi-Annual", "Annual"),
    "claims.claim_type": ("Accident", "Medical", "Death", "Disability", "Property", "Theft", "Liability"),
    "claims.status": ("Submitted", "Under Review", "Approved", "Rejected", "Paid"),
    "claims.region": ("Northeast", "Midwest", "South", "West"),
    "payments.payment_gateway": ("Stripe", "PayPal", "Adyen", "Braintree", "Internal"),
}
# Labels the product's domain rules read (overlapping Active policies, payments for Cancelled ones): every
# convention keeps them as they are, with no case style and no variants.
DOMAIN_LABELS: dict[str, dict[int, str]] = {"policies.status": {0: "Active", 2: "Cancelled"}}
# Key columns of the four big tables (and the adjuster code); a foreign key column shares its key's format.
DEFAULT_IDS: dict[str, tuple[str, int]] = {
    "customer_id": ("CU", 7),
    "policy_id": ("PO", 8),
    "claim_id": ("CL", 8),
    "payment_id": ("PA", 9),
    "transaction_id": ("TX", 12),
    "approved_by": ("ADJ", 3),
}
DEFAULT_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
CASES = (None, "upper", "lower", "title")
_CASE = {None: lambda s: s, "upper": str.upper, "lower": str.lower, "title": str.title}


@dataclass(frozen=True)
class IdFormat:
    """prefix + the number zero-padded to at least `width` digits (a bigger number keeps all its digits)."""

    prefix: str
    width: int

    def __post_init__(self):
        if not isinstance(self.prefix, str) or not isinstance(self.width, int) or not 1 <= self.width <= 18:
            raise ValueError(f"an id format needs a text prefix and a width of 1 to 18 digits, got {self!r}")

    @property
    def pattern(self) -> str:
        """The regular expression every id of this format matches."""
        return f"{re.escape(self.prefix)}[0-9]{{{self.width},}}"


@dataclass(frozen=True)
class Category:
    """Labels by category code (codes may share a label), their case style, and the share of rows written in a
    case or whitespace variant of their label (as typed by hand: " approved", "APPROVED")."""

    labels: tuple[str, ...]
    case: str | None = None
    variants: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "labels", tuple(self.labels))
        if not self.labels or not all(isinstance(s, str) and s.strip() == s and s for s in self.labels):
            raise ValueError(f"labels must be non-empty texts without surrounding spaces, got {self.labels!r}")
        if self.case not in CASES:
            raise ValueError(f"case must be one of {CASES}, got {self.case!r}")
        if not 0.0 <= self.variants < 0.5:
            raise ValueError(f"the share of variants must be in [0, 0.5), got {self.variants!r}")

    @property
    def written(self) -> tuple[str, ...]:
        """The labels in the column's case style."""
        return tuple(_CASE[self.case](s) for s in self.labels)

    def variants_of(self, label: str) -> list[str]:
        """Case and whitespace variants of a written label, each different from it."""
        found = [label.upper(), label.lower(), label.title(), " " + label, label + " "]
        return [v for v in dict.fromkeys(found) if v != label]

    def write(self, codes: np.ndarray, keys: np.ndarray, salt: int) -> pa.Array:
        """The labels of the codes (negative: null); rows picked by a hash of their key get a variant, so a row
        and its exact copy (same key) are written alike."""
        out = labels(self.written, codes)
        if self.variants == 0:
            return out
        h = row_hash(keys, salt)
        idx = np.flatnonzero((codes >= 0) & (h % 1_000_000 < self.variants * 1_000_000))
        table = [self.variants_of(s) for s in self.written]
        count = np.array([len(v) for v in table])
        start = np.concatenate([[0], np.cumsum(count)[:-1]])
        code = codes[idx]
        pick = start[code] + (h[idx] // 1_000_000 % count[code]).astype(np.int64)
        mask = np.zeros(len(codes), bool)
        mask[idx] = True  # idx ascends, as replace_with_mask takes its values
        variants = pa.array([v for vs in table for v in vs], pa.string()).take(pa.array(pick))
        return pc.replace_with_mask(out, pa.array(mask), variants)


def _entry(where: str, kind, values):
    """kind(**values), or a ValueError that says where."""
    try:
        return kind(**values)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None


def _categories(changes: Mapping[str, Category] = MappingProxyType({})) -> dict[str, Category]:
    """The default category of every column, but where `changes` says otherwise."""
    return {c: changes.get(c, Category(v)) for c, v in DEFAULT_LABELS.items()}


@dataclass(frozen=True)
class Conventions:
    """How one source system writes its ids, categories, e-mail addresses and flags."""

    ids: Mapping[str, IdFormat] = field(default_factory=lambda: {k: IdFormat(*v) for k, v in DEFAULT_IDS.items()})
    categories: Mapping[str, Category] = field(default_factory=_categories)
    unicode_emails: bool = False  # names such as José, Zoë, Łukasz or 李 in e-mail local parts
    email_domains: tuple[str, ...] = DEFAULT_DOMAINS
    flags_as_int: bool = False  # claims.fraud_flag and payments.success_flag as 0/1 integers

    def __post_init__(self):
        if set(self.ids) != set(DEFAULT_IDS):
            raise ValueError(f"id formats are needed for exactly {sorted(DEFAULT_IDS)}, got {sorted(self.ids)}")
        if set(self.categories) != set(DEFAULT_LABELS):
            raise ValueError(
                f"categories are needed for exactly {sorted(DEFAULT_LABELS)}, got {sorted(self.categories)}"
            )
        for column, category in self.categories.items():
            if len(category.labels) != len(DEFAULT_LABELS[column]):
                raise ValueError(
                    f"{column}: {len(DEFAULT_LABELS[column])} labels are needed, one per code "
                    f"{list(DEFAULT_LABELS[column])}, got {list(category.labels)}"
                )
            for code, label in DOMAIN_LABELS.get(column, {}).items():
                if category.labels[code] != label or category.case or category.variants:
                    raise ValueError(
                        f"{column}: code {code} must stay {label!r} (domain rules read it), with no "
                        "case style and no variants"
                    )
        if not self.email_domains or not all(isinstance(d, str) and "." in d for d in self.email_domains):
            raise ValueError(f"email_domains must be domain names with a dot, got {self.email_domains!r}")
        object.__setattr__(self, "ids", MappingProxyType(dict(self.ids)))
        object.__setattr__(self, "categories", MappingProxyType(dict(self.categories)))
        object.__setattr__(self, "email_domains", tuple(self.email_domains))

    @property
    def states(self) -> tuple[str, ...]:
        return self.categories["customers.state"].labels

    @property
    def regions(self) -> tuple[str, ...]:
        return self.categories["claims.region"].labels

    def id_formats(self) -> dict[str, tuple[str, int]]:
        return {k: (f.prefix, f.width) for k, f in self.ids.items()}

    def of_table(self, table: str) -> dict[str, Category]:
        """The table's categorical columns (bare column names) and their conventions."""
        return {c.split(".", 1)[1]: v for c, v in self.categories.items() if c.startswith(table + ".")}

    # --- constructors ---------------------------------------------------------------------------------

    @classmethod
    def default(cls) -> Conventions:
        """Our own generator's conventions, as they have always been (CU0000001, 'Under Review', ASCII e-mail)."""
        return cls()

    @classmethod
    def foreign(cls) -> Conventions:
        """Another insurer's system: other id shapes and value lists, mixed case, non-ASCII e-mail, 0/1 flags."""
        c = Category
        return cls(
            ids={
                "customer_id": IdFormat("HC", 6),
                "policy_id": IdFormat("POL-", 7),
                "claim_id": IdFormat("CLM", 9),
                "payment_id": IdFormat("PAY-", 10),
                "transaction_id": IdFormat("T", 14),
                "approved_by": IdFormat("U", 5),
            },
            categories=_categories(
                {
                    "customers.gender": c(("Male", "Female", "Unknown")),
                    "customers.customer_status": c(("Active", "Dormant", "Blocked")),
                    "customers.segment": c(
                        ("Retail", "Private", "Business", "Small Business"), case="upper", variants=0.02
                    ),
                    "customers.referral_source": c(("Web", "Broker", "Referral", "Partner", "Branch"), variants=0.03),
                    "customers.preferred_contact": c(("E-mail", "Phone", "Text", "Post")),
                    "policies.status": c(("Active", "Matured", "Cancelled", "Pending", "Lapsed")),
                    "policies.payment_frequency": c(("Monthly", "Quarterly", "Half-Yearly", "Yearly"), case="lower"),
                    "claims.claim_type": c(
                        ("Accident", "Health", "Life", "Disability", "Property", "Theft", "Liability")
                    ),
                    "claims.status": c(("Pending", "Pending", "Approved", "Rejected", "Approved"), variants=0.03),
                    "claims.region": c(("East", "North", "South", "West"), variants=0.02),
                    "payments.payment_gateway": c(("Stripe", "PayPal", "Adyen", "Worldpay", "In-house")),
                }
            ),
            unicode_emails=True,
            email_domains=("post.example.com", "correo.example.es", "bücher.example.de", "例え.example.jp"),
            flags_as_int=True,
        )

    @classmethod
    def named(cls, name: str | Path) -> Conventions:
        """'default', 'foreign', or the path of a YAML file."""
        if str(name) in ("default", "foreign"):
            return getattr(cls, str(name))()
        return cls.from_yaml(name)

    @classmethod
    def random(cls, rng: np.random.Generator) -> Conventions:
        """Random id shapes, label sets, case styles and variant shares (for property tests)."""
        return random_conventions(cls, rng)

    # --- YAML ---------------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "ids": {k: {"prefix": f.prefix, "width": f.width} for k, f in self.ids.items()},
            "categories": {
                k: {"labels": list(c.labels), "case": c.case, "variants": c.variants}
                for k, c in self.categories.items()
            },
            "unicode_emails": self.unicode_emails,
            "email_domains": list(self.email_domains),
            "flags_as_int": self.flags_as_int,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Conventions:
        """Conventions from plain data; what it leaves out keeps the default."""
        unknown = set(data) - {"ids", "categories", "unicode_emails", "email_domains", "flags_as_int"}
        if unknown:
            raise ValueError(f"unknown conventions keys: {sorted(unknown)}")
        base = cls.default()
        ids, categories = dict(base.ids), dict(base.categories)
        for column, f in (data.get("ids") or {}).items():
            if column not in ids:
                raise ValueError(f"ids: unknown id column {column!r}; known: {sorted(ids)}")
            ids[column] = _entry(f"ids.{column}", IdFormat, f)
        for column, c in (data.get("categories") or {}).items():
            if column not in categories:
                raise ValueError(f"categories: unknown column {column!r}; known: {sorted(categories)}")
            categories[column] = _entry(
                f"categories.{column}", Category, {"labels": categories[column].labels, **(c or {})}
            )
        return cls(
            ids=ids,
            categories=categories,
            unicode_emails=bool(data.get("unicode_emails", base.unicode_emails)),
            email_domains=tuple(data.get("email_domains", base.email_domains)),
            flags_as_int=bool(data.get("flags_as_int", base.flags_as_int)),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> Conventions:
        import yaml  # only here: the generator itself needs no YAML

        try:
            return cls.from_dict(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})
        except (TypeError, ValueError, yaml.YAMLError) as e:
            raise ValueError(f"{path}: {e}") from None

    def to_yaml(self, path: str | Path) -> None:
        import yaml

        Path(path).write_text(yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False), encoding="utf-8")


__all__ = ["CASES", "DEFAULT_LABELS", "DOMAIN_LABELS", "US_STATES", "Category", "Conventions", "IdFormat"]


# ---------------------------------------------------------------- random conventions, for property tests

LETTERS = np.array(list("ABCDEFGHJKLMNPRSTUVWXYZ"))
SYLLABLES = (
    "ka ro mi ta ne lo su vi da pe zo ri ba ku fe go hi ja le mo nu sa te vo wi ya ze "
    "bran dol fin gar hel mar nor pol sten tor"
).split()
DOMAINS = (
    "example.com",
    "example.org",
    "mail.example.net",
    "post.example.de",
    "bücher.example.de",
    "例え.example.jp",
    "correo.example.es",
    "pochta.example.ru",
)


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
    return cls(
        ids=ids,
        categories=categories,
        unicode_emails=bool(rng.random() < 0.5),
        email_domains=domains,
        flags_as_int=bool(rng.random() < 0.5),
    )
