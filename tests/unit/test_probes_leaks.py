from __future__ import annotations

import json

import pytest

from reliability.errors import UsageError
from reliability.probes import LEAK_KINDS, Leaks


def test_total_counts_leaks_but_not_noise() -> None:
    leaks = Leaks(processes=["process 1 (a) uid 0"], mounts=["mount tmpfs on /x"], noise=["cgroup /y: z"])
    assert leaks.total() == 2
    assert Leaks().total() == 0


def test_round_trip_through_json() -> None:
    leaks = Leaks(**{kind: [f"{kind} item"] for kind in LEAK_KINDS}, noise=["n: rule"])
    back = Leaks.from_dict(json.loads(json.dumps(leaks.to_dict())))
    assert back == leaks and back.total() == len(LEAK_KINDS)


def test_missing_kinds_read_as_empty() -> None:
    assert Leaks.from_dict({"fds": ["fd 3 -> /x (pid 1)"]}) == Leaks(fds=["fd 3 -> /x (pid 1)"])


@pytest.mark.parametrize(
    "doc, message",
    [
        ([], "leaks must be an object, not list"),
        ({"sockets": []}, "leaks: unknown field 'sockets'"),
        ({"mounts": "mount tmpfs on /x"}, "leaks: mounts must be a list of strings"),
        ({"fds": [3]}, "leaks: fds must be a list of strings"),
    ],
)
def test_bad_documents_are_one_line_usage_errors(doc, message: str) -> None:
    with pytest.raises(UsageError, match=f"^{message}$"):
        Leaks.from_dict(doc)
