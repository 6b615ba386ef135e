"""Prometheus / OpenMetrics exposition text (hubble-1.17-formats.md §5), parsed with
prometheus_client and flattened to samples.

The Hubble metrics server (:9965) answers OpenMetrics (ending in ``# EOF``, exemplars
``# {traceID="…"}``) only when asked for it, the classic text otherwise (§5.1);
cilium-agent (:9962) and the operator (:9963) serve the classic text (§5.2, §5.3).
Sample names are kept as emitted (``hubble_drop_total``, ``…_bucket``).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as _openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as _prometheus_families


@dataclass(frozen=True)
class Sample:
    """One sample line.  `labels` are sorted by name; `exemplar` holds the exemplar's
    labels (e.g. ``(("traceID", "4bf9…"),)``) when the OpenMetrics line carries one."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float
    exemplar: tuple[tuple[str, str], ...] = ()

    def label(self, name: str) -> str | None:
        """The value of label `name`, None when the sample does not carry it."""
        for key, value in self.labels:
            if key == name:
                return value
        return None


def parse_metrics(text: str, openmetrics: bool | None = None) -> list[Sample]:
    """All samples of an exposition, in order.  OpenMetrics parsing is used when
    `openmetrics` is True, or when it is None and the text ends with ``# EOF``.
    Unparsable text raises ValueError with a short reason."""
    if openmetrics is None:
        openmetrics = text.rstrip().endswith("# EOF")
    parse = _openmetrics_families if openmetrics else _prometheus_families
    samples: list[Sample] = []
    try:
        for family in parse(text):
            for s in family.samples:
                if s.value is None:  # native histogram sample: no scalar value
                    continue
                exemplar = tuple(sorted(s.exemplar.labels.items())) if s.exemplar else ()
                samples.append(Sample(name=s.name, labels=tuple(sorted(s.labels.items())),
                                      value=float(s.value), exemplar=exemplar))
    except Exception as exc:  # the parsers raise ValueError, but also e.g. IndexError
        kind = "OpenMetrics" if openmetrics else "Prometheus"
        raise ValueError(f"unparsable {kind} text: {exc}") from None
    return samples


def samples_named(samples: Iterable[Sample], name: str, /,
                  **label_filters: str) -> list[Sample]:
    """The samples called exactly `name` whose labels equal every given filter."""
    return [s for s in samples
            if s.name == name and all(s.label(k) == str(v) for k, v in label_filters.items())]


def metric_sum(samples: Iterable[Sample], name: str, /, **label_filters: str) -> float:
    """Sum of the values of `samples_named(samples, name, **label_filters)` (0.0 if none)."""
    return float(sum(s.value for s in samples_named(samples, name, **label_filters)))
