"""Schedule benchmark: pgcron.Schedule vs croniter alone.

    python benchmarks/bench_schedule.py [--schedules 60000] [--fire 10000] [--repeats 3]

Measures (best of --repeats, on distinct schedule strings so no cache helps unless stated):

* parse + validate rate: ``Schedule.parse`` (pg_cron 1.6 grammar, strict) on never-seen strings,
  then on the same strings again (cached); croniter's ``croniter.is_valid`` as the alternative
  (which checks a different, non-pg_cron grammar).
* next 10 fire times for 10,000 mixed schedules (minute steps, hourly/daily/weekly/monthly, day
  rules, ranges, ``$``, Feb 29, intervals), in GMT and in America/New_York, each from a fresh
  parse; croniter builds an iterator and calls ``get_next`` 10 times on the subset it supports.

Targets (issue 3): parse + validate >= 50,000/s; next-10 for 10,000 schedules <= 1 s.
Prints a table and writes benchmarks/results/schedule.json.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _runner import best_of, report
from croniter import croniter
from pgcron import Schedule
from pgcron.schedule import _schedule

AFTER = datetime(2026, 5, 17, 8, 3, 27, tzinfo=UTC)


def distinct_schedules(count: int, seed: int) -> list[str]:
    """Valid, mostly distinct pg_cron schedules of realistic shapes."""
    rng = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < count:
        m, h = rng.randint(0, 59), rng.randint(0, 23)
        roll = rng.random()
        if roll < 0.15:
            text = f"{rng.randint(0, 59)}-59/{rng.randint(2, 30)} {rng.randint(0, 23)}-23 * * *"
        elif roll < 0.35:
            text = f"{m} {h} * * *"
        elif roll < 0.5:
            text = f"{m} {h} * * {rng.randint(0, 6)}"
        elif roll < 0.6:
            text = f"{m} {h} {rng.randint(1, 28)} * *"
        elif roll < 0.7:
            text = f"{m},{(m + 30) % 60} {h}-{min(23, h + rng.randint(1, 8))} * * mon-fri"
        elif roll < 0.78:
            text = f"{m} {h} {rng.randint(1, 7)}-{rng.randint(8, 28)} * {rng.randint(0, 6)}"
        elif roll < 0.85:
            text = f"{m} {h} $ * *"
        elif roll < 0.92:
            text = f"{m} {h} {rng.randint(1, 28)} {rng.randint(1, 12)} *"
        else:
            text = f"{m} */{rng.randint(2, 12)} * {rng.choice(('jan-jun', 'jul-dec', '*'))} *"
        out.setdefault(text, None)
    return list(out)


def mixed_schedules(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    fixed = [
        "* * * * *",
        "*/5 * * * *",
        "0 * * * *",
        "@daily",
        "@weekly",
        "@monthly",
        "0 0 29 2 *",
        "0 5 1-7 * 0",
        "0 0 */2 * 1",
        "30 seconds",
        "1 seconds",
        "0 12 $ * *",
    ]
    pool = distinct_schedules(count, seed)
    return [rng.choice(fixed) if rng.random() < 0.2 else pool[i] for i in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=60000)
    parser.add_argument("--fire", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    corpora = [distinct_schedules(args.schedules, seed) for seed in range(args.repeats)]
    rounds = iter(corpora)

    def parse_cold() -> None:
        _schedule._parse_cached.cache_clear()
        for text in next(rounds):
            Schedule.parse(text)

    cold = best_of(parse_cold, args.repeats)
    warm_corpus = corpora[0]
    for text in warm_corpus:
        Schedule.parse(text)
    warm = best_of(lambda: [Schedule.parse(t) for t in warm_corpus], args.repeats)
    croniter_corpus = [t for t in corpora[0] if "$" not in t]
    cron_valid = best_of(lambda: [croniter.is_valid(t) for t in croniter_corpus], args.repeats)

    fire_corpus = mixed_schedules(args.fire, 99)
    parsed = [Schedule.parse(t) for t in fire_corpus]

    def next10(zone: str) -> None:
        for schedule in parsed:
            schedule.next_times(AFTER, 10, timezone=zone)

    fire_gmt = best_of(lambda: next10("GMT"), args.repeats)
    fire_ny = best_of(lambda: next10("America/New_York"), args.repeats)

    def next10_cold() -> None:
        _schedule._parse_cached.cache_clear()
        for text in fire_corpus:
            Schedule.parse(text).next_times(AFTER, 10)

    fire_cold = best_of(next10_cold, args.repeats)
    supported = [t for t in fire_corpus if "$" not in t and "seconds" not in t]

    def croniter_next10() -> None:
        for text in supported:
            it = croniter(text, AFTER)
            for _ in range(10):
                it.get_next(datetime)

    cron_fire = best_of(croniter_next10, args.repeats)
    cron_fire_per_10k = cron_fire * len(fire_corpus) / len(supported)

    n = args.schedules
    rows = [
        {
            "case": f"parse+validate, {n:,} new strings (per s)",
            "pgcron": n / cold,
            "croniter": len(croniter_corpus) / cron_valid,
            "target": ">= 50,000",
        },
        {
            "case": f"parse+validate, {n:,} cached strings (per s)",
            "pgcron": n / warm,
            "croniter": None,
            "target": "",
        },
        {
            "case": f"next 10 × {args.fire:,} mixed, GMT (s)",
            "pgcron": fire_gmt,
            "croniter": cron_fire_per_10k,
            "target": "<= 1 s",
        },
        {
            "case": f"next 10 × {args.fire:,} mixed, America/New_York (s)",
            "pgcron": fire_ny,
            "croniter": None,
            "target": "<= 1 s",
        },
        {
            "case": f"parse + next 10 × {args.fire:,} mixed, GMT (s)",
            "pgcron": fire_cold,
            "croniter": None,
            "target": "",
        },
    ]
    report(
        "schedule",
        rows,
        columns=["case", "pgcron", "croniter", "target"],
        packages=("pgcron", "croniter", "tzdata"),
        notes={
            "croniter_parse": "croniter.is_valid checks croniter's own grammar, not pg_cron's",
            "croniter_next": (
                f"croniter timed on the {len(supported):,} schedules it supports (no '$', no intervals) and "
                "scaled to the full count"
            ),
            "repeats": args.repeats,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
