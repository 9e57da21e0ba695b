"""Loaders for the packaged research data (see ``detector/data/README.md`` for sources and citations)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources

from detector.core.events import Event
from detector.simulation.clock import time_of_day

BENIGN = 1
UNTRUSTWORTHY = -1
HUMAN_DATASETS = frozenset({"E13", "TFP"})
FAKE_DATASETS = frozenset({"INT", "FSF", "TWT"})


@dataclass(frozen=True)
class LabelledStream:
    """A time-ordered event stream with account labels (+1 benign, -1 untrustworthy; unlabelled accounts absent)."""

    events: tuple[Event, ...]
    labels: Mapping[str, int]

    @property
    def benign(self) -> frozenset[str]:
        return frozenset(a for a, label in self.labels.items() if label == BENIGN)


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """One real Twitter profile: creation time and the three counts the event contract carries."""

    created_ts: float
    followers: int
    following: int
    posts: int


@dataclass(frozen=True)
class CresciProfiles:
    humans: tuple[ProfileRow, ...]
    fakes: tuple[ProfileRow, ...]

    @property
    def reference_ts(self) -> float:
        """When the human accounts were observed (the newest creation among them), to turn creations into ages."""
        return max(row.created_ts for row in self.humans)


def _read_text(*parts: str) -> str:
    return resources.files("detector").joinpath("data", *parts).read_text(encoding="utf-8")


@cache
def load_bitcoin_alpha() -> LabelledStream:
    """The Bitcoin-Alpha ratings as ``rate`` events in time order, with the REV2 labels.

    Ratings carry only their day, so each day's ratings keep their file order (a stable sort) and are spread over
    the day along the daily activity cycle: the j-th of k ratings that day lands at the (j + 0.5) / k quantile of the
    day's activity, which gives distinct times. Event ids are ``ba-<position in time order>``. Cached: the result is
    immutable.

    >>> stream = load_bitcoin_alpha()
    >>> len(stream.events), stream.events[0].kind, len(stream.labels)
    (24186, 'rate', 237)
    >>> all(a.ts < b.ts for a, b in zip(stream.events, stream.events[1:]))
    True
    """
    rows = [
        tuple(int(v) for v in row) for row in csv.reader(io.StringIO(_read_text("bitcoin_alpha", "alpha_network.csv")))
    ]
    rows.sort(key=lambda row: row[3])  # stable: ties keep the file order
    per_day: dict[int, int] = {}
    for _, _, _, day in rows:
        per_day[day] = per_day.get(day, 0) + 1
    events = []
    seen_today: dict[int, int] = {}
    for n, (src, dst, rating, day) in enumerate(rows):
        j = seen_today.get(day, 0)
        seen_today[day] = j + 1
        # Whole seconds: at most 216 ratings share a day, so neighbours stay minutes apart.
        ts = float(day + round(time_of_day((j + 0.5) / per_day[day])))
        events.append(Event(ts=ts, kind="rate", actor=str(src), target=str(dst), id=f"ba-{n}", weight=float(rating)))
    labels = {
        str(node): int(label) for node, label in csv.reader(io.StringIO(_read_text("bitcoin_alpha", "alpha_gt.csv")))
    }
    return LabelledStream(tuple(events), labels)


@cache
def load_cresci_profiles() -> CresciProfiles:
    """Human and bought-fake profiles of Cresci et al. (2015), in file order.

    >>> profiles = load_cresci_profiles()
    >>> len(profiles.humans), len(profiles.fakes)
    (1950, 1950)
    """
    humans, fakes = [], []
    for row in csv.DictReader(io.StringIO(_read_text("cresci2015", "profiles.csv"))):
        created = datetime.strptime(row["created_at"], "%a %b %d %H:%M:%S %z %Y").timestamp()
        profile = ProfileRow(
            created, int(row["followers_count"]), int(row["friends_count"]), int(row["statuses_count"])
        )
        if row["dataset"] in HUMAN_DATASETS:
            humans.append(profile)
        elif row["dataset"] in FAKE_DATASETS:
            fakes.append(profile)
        else:
            raise ValueError(f"unknown Cresci dataset label {row['dataset']!r}")
    return CresciProfiles(tuple(humans), tuple(fakes))
