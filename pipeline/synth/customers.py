"""Customers: unique people, then their defects and their duplicates under new ids."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.synth import vocab
from pipeline.synth.common import (
    AS_OF,
    AS_OF_TS,
    FIRST_DAY,
    Frame,
    before,
    choice,
    concat,
    days_between,
    duplicated,
    during,
    format_ids,
    money,
    numbered,
    put,
    seconds_between,
    shuffled,
    take,
    years_between,
)
from pipeline.synth.conventions import Conventions
from pipeline.synth.defects import Injector

# Codes: ASCII male names, ASCII female names, then (with unicode_emails) non-ASCII male and female names.
FIRST_NAMES = vocab.MALE_NAMES + vocab.FEMALE_NAMES + vocab.UNICODE_MALE_NAMES + vocab.UNICODE_FEMALE_NAMES
LAST_NAMES = vocab.LAST_NAMES + vocab.UNICODE_LAST_NAMES
UNICODE_SHARE = 0.3  # of first names, and of last names, where the system has non-ASCII names

# Word lists; the categorical columns' labels are conventions (Conventions.of_table("customers")).
VOCAB = {
    "first_name": FIRST_NAMES,
    "last_name": LAST_NAMES,
    "city": vocab.CITIES,
    "created_by": vocab.AUDIT_USERS,
    "updated_by": vocab.AUDIT_USERS,
}


def _distinct_people(first: np.ndarray, last: np.ndarray, dob: np.ndarray) -> np.ndarray:
    """Move birth dates back a day until no two people share first name, last name and birth date."""
    dob = dob.copy()
    while (clash := duplicated(first, last, dob)).any():
        dob[clash] -= 1
    return dob


def _phones(rng: np.random.Generator, n: int) -> pa.Array:
    parts = [format_ids("", rng.integers(lo, hi, n), w) for lo, hi, w in ((201, 990, 3), (200, 1000, 3), (0, 10000, 4))]
    phone = pc.binary_join_element_wise("(", parts[0], ") ", parts[1], "-", parts[2], "")
    return pc.if_else(pa.array(rng.random(n) < 0.07), pa.scalar(None, pa.string()), phone)


def _addresses(rng: np.random.Generator, n: int) -> pa.Array:
    number = pa.array(rng.integers(1, 10000, n)).cast(pa.string())
    street = pa.array(vocab.STREETS).take(pa.array(rng.integers(0, len(vocab.STREETS), n)))
    suffix = pa.array(vocab.STREET_SUFFIXES).take(pa.array(rng.integers(0, len(vocab.STREET_SUFFIXES), n)))
    return pc.binary_join_element_wise(number, street, suffix, " ")


def _names(rng: np.random.Generator, gender: np.ndarray, unicode: bool) -> tuple[np.ndarray, np.ndarray]:
    """First and last name codes; a first name follows the gender (any name for X)."""
    m = len(gender)
    male, female = len(vocab.MALE_NAMES), len(vocab.FEMALE_NAMES)
    first = np.select(
        [gender == 0, gender == 1],
        [rng.integers(0, male, m), rng.integers(male, male + female, m)],
        rng.integers(0, male + female, m),
    )
    last = rng.integers(0, len(vocab.LAST_NAMES), m)
    if unicode:
        u_male, u_female = len(vocab.UNICODE_MALE_NAMES), len(vocab.UNICODE_FEMALE_NAMES)
        base = male + female
        u_first = np.select(
            [gender == 0, gender == 1],
            [base + rng.integers(0, u_male, m), base + u_male + rng.integers(0, u_female, m)],
            base + rng.integers(0, u_male + u_female, m),
        )
        first = np.where(rng.random(m) < UNICODE_SHARE, u_first, first)
        u_last = len(vocab.LAST_NAMES) + rng.integers(0, len(vocab.UNICODE_LAST_NAMES), m)
        last = np.where(rng.random(m) < UNICODE_SHARE, u_last, last)
    return first, last


def _emails(
    rng: np.random.Generator, first: np.ndarray, last: np.ndarray, number: np.ndarray, domains: tuple[str, ...]
) -> pa.Array:
    """first.last<number>@domain (numbers distinct): unique by construction; the more common domains first."""
    lower = [pc.utf8_lower(pa.array(words)) for words in (FIRST_NAMES, LAST_NAMES)]
    domain = pa.array(domains).take(pa.array(choice(rng, len(number), 1 / (1 + np.arange(len(domains))) ** 1.3)))
    return pc.binary_join_element_wise(
        lower[0].take(pa.array(first)),
        ".",
        lower[1].take(pa.array(last)),
        pa.array(number).cast(pa.string()),
        "@",
        domain,
        "",
    )


def _malformed(rng: np.random.Generator, email: pa.Array) -> pa.Array:
    """Emails that fail the regex, each still distinct (the customer number stays in it)."""
    return pc.choose(
        pa.array(rng.integers(0, 4, len(email)), pa.int8()),
        pc.replace_substring(email, "@", "", max_replacements=1),
        pc.replace_substring(email, "@", "@@", max_replacements=1),
        pc.replace_substring_regex(email, "@.*$", "@localhost"),
        pc.replace_substring(email, ".", " ", max_replacements=1),
    )


def _restyled(rng: np.random.Generator, email: pa.Array) -> pa.Array:
    """The same address in other letter case, a third of them with surrounding spaces (as re-typed by hand)."""
    n = len(email)
    cased = pc.choose(
        pa.array(rng.integers(0, 3, n), pa.int8()),
        pc.utf8_upper(email),
        pc.utf8_title(email),
        pc.utf8_capitalize(email),
    )
    return pc.choose(
        pa.array(choice(rng, n, [4, 1, 1]), pa.int8()),
        cased,
        pc.binary_join_element_wise(" ", cased, ""),
        pc.binary_join_element_wise(cased, " ", ""),
    )


def customers(rng: np.random.Generator, inj: Injector, conventions: Conventions) -> Frame:
    m = inj.originals
    gender = choice(rng, m, [0.49, 0.49, 0.02])
    first, last = _names(rng, gender, conventions.unicode_emails)
    age = rng.normal(45, 14, m)
    age = np.where((age > 19.01) & (age < 85), age, rng.uniform(19.01, 85, m))
    dob = _distinct_people(first, last, AS_OF - (age * 365.25).astype(np.int64))
    # Customers sign up as adults, from 2015 on, and at least two months before the export.
    created = during(rng, days_between(rng, np.maximum(FIRST_DAY, dob + 6575), AS_OF - 60))
    last_login = seconds_between(rng, created, AS_OF_TS)
    last_login[rng.random(m) < 0.05] = np.datetime64("NaT")
    city = rng.integers(0, len(vocab.CITIES), m)
    f = {
        "first_name": first,
        "last_name": last,
        "gender": gender,
        "dob": dob,
        "age": years_between(dob, AS_OF),
        "phone": _phones(rng, m),
        "address": _addresses(rng, m),
        "city": city,
        "state": vocab.CITY_STATE[city],
        "zip": rng.integers(1001, 99951, m),
        "created_at": created,
        "last_login": last_login,
        "risk_score": money(rng.beta(2.2, 2.2, m) * 100),
        "customer_status": choice(rng, m, [0.8, 0.15, 0.05]),
        "segment": choice(rng, m, [0.6, 0.2, 0.08, 0.12]),
        "referral_source": choice(rng, m, [0.1, 0.35, 0.2, 0.15, 0.1, 0.1]) - 1,  # -1: not recorded
        "preferred_contact": choice(rng, m, [0.5, 0.25, 0.15, 0.1]),
        "updated_at": seconds_between(rng, created, AS_OF_TS),
        "created_by": choice(rng, m, vocab.AUDIT_WEIGHTS),
        "updated_by": choice(rng, m, vocab.AUDIT_WEIGHTS),
    }
    f["email"] = _emails(rng, f["first_name"], f["last_name"], np.arange(1, m + 1), conventions.email_domains)

    sources = inj.take(inj.count("duplicate_customer"))
    idx = inj.pick("malformed_email")
    put(f, "email", idx, _malformed(rng, f["email"].take(pa.array(idx))))
    idx = inj.pick("risk_score_out_of_range")
    put(
        f,
        "risk_score",
        idx,
        money(
            np.where(rng.random(len(idx)) < 0.5, rng.uniform(-50, -0.01, len(idx)), rng.uniform(100.01, 180, len(idx)))
        ),
    )
    idx = inj.pick("login_before_signup", ~np.isnat(f["last_login"]))
    put(f, "last_login", idx, before(rng, f["created_at"][idx]))
    idx = inj.pick("updated_before_created")
    put(f, "updated_at", idx, before(rng, f["created_at"][idx]))
    f["_defect"] = inj.code

    # The same person signs up again later under a new id, typing the email differently.
    dup = take(f, sources)
    k = len(sources)
    dup["created_at"] = seconds_between(rng, dup["created_at"] + 86_400, AS_OF_TS)
    dup["last_login"] = np.where(
        np.isnat(dup["last_login"]), dup["last_login"], seconds_between(rng, dup["created_at"], AS_OF_TS)
    )
    dup["updated_at"] = seconds_between(rng, dup["created_at"], AS_OF_TS)
    dup["email"] = _restyled(rng, dup["email"])
    dup["_defect"] = np.full(k, inj.kind_code("duplicate_customer"), np.int8)
    return shuffled(rng, numbered(rng, concat(f, dup), "customer_id"))
