"""The settings of a synthetic practice."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# AgingProcLifo is a YN preference; OpenDental 24.3 ages an unknown (0) value as on (YN_DEFAULT_TRUE)
AGING_PROC_LIFO_NO = 2


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate.

    - ``patients``: patient rows (families are formed from them; a few are merged duplicates).
    - ``seed``: the only source of randomness; the same config gives byte-identical tables.
    - ``as_of``: the last simulated day (its close of business). Nothing happens after it except
      appointments already booked; every DateTStamp/SecDateTEdit is on or before it.
    - ``start``: the first simulated day (default: ``as_of`` three years earlier).
    - ``insurance_rate``: share of families with dental insurance (0..1).
    - ``completion_rate``: share of past appointments that were completed (0..1).
    - ``broken_rate``: share of past appointments that were broken (0..1); the rest of the past
      appointments that were neither completed nor broken sit on the unscheduled list.
    - ``fee_match_rate``: share of procedures whose ProcFee equals the fee schedule's fee (0..1).

    The practice's OpenDental settings, written to the ``preference`` table as OpenDental stores them
    (defaults: OpenDental 24.3's; docs/opendental_aging.md section 1):

    - ``aging_proc_lifo``: AgingProcLifo's stored YN code: 0 unknown (OpenDental's default, aged as on),
      1 yes, 2 no.
    - ``pay_plans_version``: PayPlansVersion: 1 Do Not Age, 2 Age Credits and Debits (default),
      3 Age Credits Only, 4 No Charges to Account.
    - ``pay_plans_bill_in_advance_days``: PayPlansBillInAdvanceDays (default 10).
    - ``ppo_writeoff_date``: ReportsPPOwriteoffDefaultToProcDate: 0 insurance pay date (default),
      1 procedure date, 2 initial claim date / insurance pay date.
    - ``time_card_first_day_of_week``: TimeCardOvertimeFirstDayOfWeek, the day OpenDental's time card
      weeks (weekly overtime) start on, as .NET's DayOfWeek: 0 Sunday (default) .. 6 Saturday.
    """

    as_of: dt.date
    patients: int = 5000
    seed: int = 42
    start: dt.date | None = None
    insurance_rate: float = 0.6
    completion_rate: float = 0.85
    broken_rate: float = 0.08
    fee_match_rate: float = 0.9
    aging_proc_lifo: int = 0
    pay_plans_version: int = 2
    pay_plans_bill_in_advance_days: int = 10
    ppo_writeoff_date: int = 0
    time_card_first_day_of_week: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.as_of, dt.date) or isinstance(self.as_of, dt.datetime):
            raise TypeError("as_of must be a datetime.date")
        if self.start is None:
            object.__setattr__(self, "start", _years_before(self.as_of, 3))
        if self.start >= self.as_of:
            raise ValueError("start must be before as_of")
        if self.as_of.year < 1990:
            raise ValueError("as_of must be 1990 or later")
        if not 1 <= self.patients <= 5_000_000:
            raise ValueError("patients must be between 1 and 5,000,000")
        if self.seed < 0:
            raise ValueError("seed must be non-negative")
        for name in ("insurance_rate", "completion_rate", "broken_rate", "fee_match_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.aging_proc_lifo not in (0, 1, 2):
            raise ValueError("aging_proc_lifo must be 0 (unknown), 1 (yes) or 2 (no)")
        if self.pay_plans_version not in (1, 2, 3, 4):
            raise ValueError("pay_plans_version must be 1, 2, 3 or 4")
        if not 0 <= self.pay_plans_bill_in_advance_days <= 365:
            raise ValueError("pay_plans_bill_in_advance_days must be between 0 and 365")
        if self.ppo_writeoff_date not in (0, 1, 2):
            raise ValueError("ppo_writeoff_date must be 0, 1 or 2")
        if not 0 <= self.time_card_first_day_of_week <= 6:
            raise ValueError("time_card_first_day_of_week must be between 0 (Sunday) and 6 (Saturday)")
        if self.completion_rate + self.broken_rate > 1.0:
            raise ValueError("completion_rate + broken_rate must not exceed 1")

    @property
    def ages_by_procedure(self) -> bool:
        """AgingProcLifo as OpenDental 24.3 reads it: on unless stored as 2 (no)."""
        return self.aging_proc_lifo != AGING_PROC_LIFO_NO

    def preference_rows(self) -> list[tuple[str, str]]:
        """(PrefName, ValueString) of the preferences the aging and Production and Income reports and the
        time card read, as OpenDental 24.3 stores them (upgrade-script defaults, this practice's choices
        applied)."""
        return [
            ("AgingCalculatedMonthlyInsteadOfDaily", "0"),
            ("AgingIsEnterprise", "1"),
            ("AgingProcLifo", str(self.aging_proc_lifo)),
            ("AgingReportShowAgePatPayplanPayments", "0"),
            ("PayPlansBillInAdvanceDays", str(self.pay_plans_bill_in_advance_days)),
            ("PayPlansVersion", str(self.pay_plans_version)),
            ("ReportPandIschedProdSubtractsWO", "0"),
            ("ReportsPPOwriteoffDefaultToProcDate", str(self.ppo_writeoff_date)),
            ("TimeCardOvertimeFirstDayOfWeek", str(self.time_card_first_day_of_week)),
        ]
