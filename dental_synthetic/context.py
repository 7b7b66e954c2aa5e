"""State shared by the generation stages: the config, the random generators, the key dates, and the
column values of every table as the stages produce them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import SyntheticConfig
from .util import DAY, SETUP_SECOND, day_number

HORIZON_DAYS = 120  # appointments are booked up to this many days after as_of
YEARS_BEFORE_START = 10  # the practice has used OpenDental this long before ``start``
PEOPLE_STREAM = 0xFA  # second word of the seed of ``people_rng``


@dataclass
class Context:
    """Generation state. Day numbers are days since 1970-01-01; ``last_ts`` is the latest moment any
    row may carry in a timestamp column (19:00 on as_of, after the clinics close).

    ``rng`` draws everything that shapes the practice (families, visits, money); ``people_rng`` (seeded
    with ``[seed, PEOPLE_STREAM]``) only the people and places sampled from the Faker pools (names,
    addresses, phones, e-mails; ``dental_synthetic.identity``), which no other value depends on. So the
    pools can change without changing anything else."""

    config: SyntheticConfig
    rng: np.random.Generator
    people_rng: np.random.Generator
    start: int
    as_of: int
    horizon: int
    opened: int
    last_ts: int
    values: dict[str, tuple[int, dict[str, object]]] = field(default_factory=dict)
    truth: dict[str, object] = field(default_factory=dict)  # later stages' ground truth (Practice.ledger)

    @classmethod
    def create(cls, config: SyntheticConfig) -> Context:
        start = day_number(config.start)
        as_of = day_number(config.as_of)
        return cls(
            config=config,
            rng=np.random.Generator(np.random.PCG64(config.seed)),
            people_rng=np.random.Generator(np.random.PCG64([config.seed, PEOPLE_STREAM])),
            start=start,
            as_of=as_of,
            horizon=as_of + HORIZON_DAYS,
            opened=start - YEARS_BEFORE_START * 365,
            last_ts=as_of * DAY + 19 * 3600,
        )

    @property
    def setup_ts(self) -> int:
        """When the practice's set-up rows and lists were entered (seconds since 1970): ``SETUP_SECOND``
        of its opening day."""
        return self.opened * DAY + SETUP_SECOND

    def stream(self, offset: int) -> np.random.Generator:
        """A random stream of its own, seeded with ``seed + offset``: draws from it leave every draw of
        ``rng`` (and so every other row) as it was."""
        return np.random.Generator(np.random.PCG64(self.config.seed + offset))

    def put(self, table: str, n: int, values: dict[str, object]) -> None:
        """Record the column values of ``table`` (``n`` rows); later stages may amend them."""
        if table in self.values:
            raise ValueError(f"table {table} was produced twice")
        self.values[table] = (n, values)

    def stamp(self, seconds: np.ndarray) -> np.ndarray:
        """Clamp timestamps to ``last_ts`` (nothing is edited after as_of)."""
        return np.minimum(np.asarray(seconds, dtype=np.int64), self.last_ts)

    def clock(self, days: np.ndarray, lo_hour: int = 8, hi_hour: int = 17) -> np.ndarray:
        """Random moments during office hours on the given days (seconds since epoch)."""
        days = np.asarray(days, dtype=np.int64)
        secs = self.rng.integers(lo_hour * 3600, hi_hour * 3600, size=len(days))
        return days * DAY + secs
