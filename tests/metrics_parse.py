#!/usr/bin/python3
"""Parses an OpenMetrics exposition (stdin) with the Prometheus Python client's own
OpenMetrics parser (with --classic: a text format 0.0.4 exposition, with its parser for
that format) and prints its families as JSON, for tests/metrics.rs.

Run with /usr/bin/python3 (Debian's python3-prometheus-client). On a parse error, or a
series repeated in the exposition, it prints the reason on stderr and exits 1. (That
parser drops a series repeated right after itself without a word, so repeats are
looked for in the text too, and every sample line must come out as a sample.)
"""
import collections
import json
import sys

from prometheus_client import parser as classic_parser
from prometheus_client.openmetrics import parser as openmetrics_parser


def main():
    classic = sys.argv[1:] == ["--classic"]
    text_string_to_metric_families = (classic_parser if classic else openmetrics_parser) \
        .text_string_to_metric_families
    text = sys.stdin.read()
    families = []
    seen = set()
    try:
        for fam in text_string_to_metric_families(text):
            samples = []
            for s in fam.samples:
                series = (s.name, tuple(sorted(s.labels.items())))
                if series in seen:
                    raise ValueError("repeated series: %s %s" % series)
                seen.add(series)
                samples.append({"name": s.name, "labels": s.labels, "value": s.value})
            families.append({"name": fam.name, "type": fam.type, "unit": fam.unit,
                             "help": fam.documentation, "samples": samples})
        lines = [l for l in text.split("\n") if l and not l.startswith("#")]
        counts = collections.Counter(l.rsplit(" ", 1)[0] for l in lines)
        repeated = [s for s, n in counts.items() if n > 1]
        if repeated:
            raise ValueError("repeated series: %s" % repeated[:3])
        parsed = sum(len(f["samples"]) for f in families)
        if parsed != len(lines):
            raise ValueError("%d sample lines, %d samples parsed" % (len(lines), parsed))
    except ValueError as e:
        sys.exit("not a valid %s exposition: %s" % ("0.0.4" if classic else "OpenMetrics", e))
    json.dump(families, sys.stdout)


if __name__ == "__main__":
    main()
