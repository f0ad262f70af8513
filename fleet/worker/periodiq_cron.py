"""Cron specs for periodiq, with day-of-week made to work (SPEC §11).

periodiq's ``CronSpec.validate`` compares ``isoweekday()`` (Sunday = 7) with
the parsed day-of-week set (Sunday = 0), so ``0``, ``sun`` and ``@weekly``
never fire, while its ``next_valid_date`` counts Sunday as 0. Parsing with
fleet's own parser and listing Sunday as both 0 and 7 satisfies both; the
"is day-of-week restricted" flag is then recomputed on real days, since the
extra 7 would otherwise make six days look like all seven.
"""

from __future__ import annotations

from typing import Any

from periodiq import CronSpec

from fleet.scheduling import cron


class FleetCronSpec(CronSpec):
    """periodiq's CronSpec whose day-of-week restriction counts Sunday once."""

    def setup(self, m: Any, h: Any, dom: Any, month: Any, dow: Any) -> None:
        super().setup(m, h, dom, month, dow)
        if dow is not None:
            self.is_dow_restricted = len({d % 7 for d in dow}) < 7


def normalize(spec: str) -> CronSpec:
    """periodiq's CronSpec for a five-field spec or macro, Sunday written both 0 and 7.

    Names, steps, ranges and wrap-around are parsed by :mod:`fleet.scheduling.cron`
    (InvalidInput for a bad spec). Specs are read in the scheduler process's
    local timezone, which ``schedules`` sets to UTC.
    """
    expr = cron.parse(spec, "UTC")
    weekdays = sorted(expr.weekdays | ({7} if 0 in expr.weekdays else set()))
    result = FleetCronSpec(
        m=list(expr.minutes), h=list(expr.hours), dom=sorted(expr.days),
        month=list(expr.months), dow=weekdays,
    )
    if expr.dom_star or expr.dow_star:
        # cron's rule: a starred day field means "both must match", which for
        # periodiq means the other field alone decides.
        if expr.dom_star:
            result.is_dom_restricted = False
        if expr.dow_star:
            result.is_dow_restricted = False
    result.parsed_from = spec
    return result
