"""People and places of the synthetic practice from Faker: names, streets, towns with ZIP codes, employers,
phones and e-mail addresses.

Faker (locale ``FAKER_LOCALE``, seeded per instance with ``Faker.seed_instance(seed)``) fills fixed-size
pools once per seed (``faker_pools``, cached): names are drawn in bulk from the locale's frequency-weighted
name lists (``random_elements``), streets, towns and companies by Faker's own formats (about 450 calls),
about 0.1 s whatever the number of patients. The generator then samples the pools with its own numpy stream
(``Context.people_rng``), vectorised. Because Faker's own draws and the pool sampling use no other random
stream, the people and places can change (another Faker version, other pool sizes) without changing any
other value of the practice. Faker's output for a seed is stable within one Faker version only.

Nothing here reaches a real person:

- phone numbers are ``(AAA)555-01NN``: area codes of the practice's region, the 555 exchange and line
  numbers 0100-0199, the block the North American Numbering Plan reserves for fictional use;
- e-mail domains are ``example.com``, ``example.org`` and ``example.net`` (reserved by RFC 2606);
- names are Faker's (frequency-weighted US first and last names, combined at random); towns are Faker's
  invented town names; ZIP codes are real codes of the region (``reference.ZIP_PREFIX``), which identify an
  area, not a person; employers are Faker's invented company names.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from faker import Faker

from . import reference as ref
from .columns import strings

FAKER_LOCALE = "en_US"
FIRST_NAMES_PER_POOL = 2000  # Faker draws per gender (weighted by frequency: common names repeat)
NONBINARY_NAMES_IN_POOL = 200
LAST_NAMES_IN_POOL = 3000
STREETS_IN_POOL = 400  # street names with their suffix, e.g. "Keith Pines"
TOWN_COUNT = 14  # towns around the practice
ZIP_COUNT = 24  # ZIP codes of those towns (each town has a consecutive run of one or more)
EMPLOYER_COUNT = 20
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
EMAIL_NUMBER_RATE = 0.5  # share of e-mail addresses with a number 1-99 after the name
PHONE_EXCHANGE = "555"
FICTIONAL_LINES = (100, 199)  # 555-0100 .. 555-0199, reserved for fictional use
HOUSE_NUMBER_RANGE = (10, 9999)  # street numbers of home addresses


@dataclass(frozen=True)
class Pools:
    """Faker's values for one seed. ``zip_digits`` are sorted and distinct; ``zip_town`` is the index in
    ``towns`` of each ZIP code's town (consecutive ZIP codes share a town; every town has at least one)."""

    female: tuple[str, ...]
    male: tuple[str, ...]
    nonbinary: tuple[str, ...]
    last: tuple[str, ...]
    streets: tuple[str, ...]
    towns: tuple[str, ...]
    zip_digits: tuple[str, ...]
    zip_town: tuple[int, ...]
    employers: tuple[str, ...]

    def zip_city(self) -> list[str]:
        """The town of each ZIP code, in ``zip_digits`` order."""
        return [self.towns[t] for t in self.zip_town]

    def town_zip(self, town: int) -> int:
        """Index of the first ZIP code of town ``town``."""
        return self.zip_town.index(town)


@functools.lru_cache(maxsize=4)
def faker_pools(seed: int) -> Pools:
    """Draw the pools from Faker seeded with ``seed`` (always in this order, so a seed and a Faker version
    give the same pools). Cached: the generator asks once per stage. Reads the en_US person provider's
    weighted name lists (``first_names_female``, ``first_names_male``, ``first_names_nonbinary``,
    ``last_names``); a Faker without them raises AttributeError."""
    fake = Faker(FAKER_LOCALE)
    fake.seed_instance(seed)
    person = fake.provider("faker.providers.person")

    def names(weighted, size: int) -> tuple[str, ...]:
        # what first_name_female() etc. do, ``size`` draws in one call (one Faker call per name is ~50 us)
        return tuple(fake.random_elements(weighted, length=size, use_weighting=True))

    female = names(person.first_names_female, FIRST_NAMES_PER_POOL)
    male = names(person.first_names_male, FIRST_NAMES_PER_POOL)
    nonbinary = names(person.first_names_nonbinary, NONBINARY_NAMES_IN_POOL)
    last = names(person.last_names, LAST_NAMES_IN_POOL)
    streets = tuple(fake.street_name() for _ in range(STREETS_IN_POOL))
    towns = tuple(fake.unique.city() for _ in range(TOWN_COUNT))
    zips: set[str] = set()
    while len(zips) < ZIP_COUNT:
        digits = fake.numerify(ref.ZIP_PREFIX + "##")
        if not digits.endswith("00"):
            zips.add(digits)
    cuts = sorted(fake.random_sample(range(1, ZIP_COUNT), TOWN_COUNT - 1))
    zip_town = tuple(int(np.searchsorted(cuts, i, side="right")) for i in range(ZIP_COUNT))
    employers = tuple(fake.unique.company() for _ in range(EMPLOYER_COUNT))
    return Pools(female=female, male=male, nonbinary=nonbinary, last=last, streets=streets, towns=towns,
                 zip_digits=tuple(sorted(zips)), zip_town=zip_town, employers=employers)


def pick(rng: np.random.Generator, pool: tuple[str, ...], size: int) -> pa.Array:
    """``size`` values drawn uniformly (with replacement) from ``pool``, as an Arrow string array."""
    return strings(pool, rng.integers(0, len(pool), size=size))


def first_names(rng: np.random.Generator, pools: Pools, gender: np.ndarray) -> pa.Array:
    """A first name per person from the pool of their OpenDental Gender: 0 male, 1 female, any other
    code (2 Unknown) all three pools together (male, female, non-binary)."""
    gender = np.asarray(gender)
    n = len(gender)
    pool = pools.male + pools.female + pools.nonbinary
    n_m, n_f = len(pools.male), len(pools.female)
    any_idx = rng.integers(0, len(pool), size=n)
    idx = np.where(gender == 0, rng.integers(0, n_m, size=n),
                   np.where(gender == 1, n_m + rng.integers(0, n_f, size=n), any_idx))
    return strings(pool, idx)


def street_addresses(rng: np.random.Generator, pools: Pools, size: int) -> pa.Array:
    """``"<house number> <street>"``, e.g. ``"4821 Keith Pines"``."""
    numbers = pa.array(rng.integers(*HOUSE_NUMBER_RANGE, size=size)).cast(pa.string())
    return pc.binary_join_element_wise(numbers, pick(rng, pools.streets, size), " ")


def phone_digits(rng: np.random.Generator, area_codes: tuple[str, ...], size: int) -> tuple[pa.Array, pa.Array]:
    """(area code, line number as 4 digits) of ``size`` fictional numbers: the area code drawn from
    ``area_codes``, the line from ``FICTIONAL_LINES``."""
    area = strings(area_codes, rng.integers(0, len(area_codes), size=size))
    line = pc.utf8_lpad(pa.array(rng.integers(FICTIONAL_LINES[0], FICTIONAL_LINES[1] + 1, size=size))
                        .cast(pa.string()), 4, "0")
    return area, line


def patient_phones(rng: np.random.Generator, area_codes: tuple[str, ...], size: int) -> pa.Array:
    """Phones as OpenDental formats a patient's numbers: ``(541)555-0123``."""
    area, line = phone_digits(rng, area_codes, size)
    return pc.binary_join_element_wise("(", area, ")" + PHONE_EXCHANGE + "-", line, "")


def plain_phones(rng: np.random.Generator, area_codes: tuple[str, ...], size: int) -> list[str]:
    """Ten digits without punctuation (``5415550123``), as the set-up tables (clinic, employer, referral)
    store a phone."""
    area, line = phone_digits(rng, area_codes, size)
    return pc.binary_join_element_wise(area, PHONE_EXCHANGE, line, "").to_pylist()


EMAIL_FORMATS = ("first.last", "firstlast", "flast", "first_last")  # the local part, then 0-2 digits


def emails(rng: np.random.Generator, first: pa.Array, last: pa.Array) -> pa.Array:
    """An e-mail address per person derived from their names: one of ``EMAIL_FORMATS`` in lower case
    with letters only, half of them followed by a number 1-99, at one of ``EMAIL_DOMAINS``."""
    n = len(first)
    f = pc.replace_substring_regex(pc.utf8_lower(first), "[^a-z]", "")
    last_clean = pc.replace_substring_regex(pc.utf8_lower(last), "[^a-z]", "")
    variants = pa.concat_arrays([
        pc.binary_join_element_wise(f, last_clean, "."),
        pc.binary_join_element_wise(f, last_clean, ""),
        pc.binary_join_element_wise(pc.utf8_slice_codeunits(f, 0, 1), last_clean, ""),
        pc.binary_join_element_wise(f, last_clean, "_"),
    ])
    fmt = rng.integers(0, len(EMAIL_FORMATS), size=n)
    local = variants.take(pa.array(fmt * n + np.arange(n)))
    number = pa.array(rng.integers(1, 100, size=n)).cast(pa.string())
    number = pc.if_else(pa.array(rng.random(n) < EMAIL_NUMBER_RATE), number, "")
    domain = strings(EMAIL_DOMAINS, rng.integers(0, len(EMAIL_DOMAINS), size=n))
    return pc.binary_join_element_wise(local, number, "@", domain, "")
