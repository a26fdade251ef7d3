"""Threads of one pipeline race to init one box: exactly one wins, as between processes.

A pipeline runs its boxes from many threads of one process (and the `locks` stage points several workers
at one box): init claims exclusively, so a loser is told "busy" and touches nothing of the winner's (it
once quarantined the box, or released the winner's lock, or crashed half-way through creating it).
"""

from __future__ import annotations

import threading

from refbox_fixtures import BOX_B, LIMITS, refbox  # noqa: F401 - fixtures

from reliability.targets.base import TargetError

THREADS = 4
RACES = 10


def _claimant(sandbox, start: threading.Barrier, outcomes: list[str], winners: list[int], n: int) -> None:
    start.wait()
    try:
        sandbox.init(BOX_B)
    except TargetError as e:
        outcomes.append(f"refused: {e}")
        return
    except Exception as e:  # anything else is the bug this test exists for
        outcomes.append(f"crashed: {e!r}")
        return
    winners.append(n)
    result = sandbox.run(BOX_B, ["/bin/echo", "alone"], LIMITS)
    outcomes.append(f"ran: {result.verdict} {result.message}")
    cleaned = sandbox.cleanup(BOX_B)
    outcomes.append(f"cleaned: {cleaned.ok} {cleaned.error}")


def test_exactly_one_thread_wins_each_race_and_the_losers_break_nothing(refbox):  # noqa: F811
    for race in range(RACES):
        start = threading.Barrier(THREADS)
        outcomes: list[str] = []
        winners: list[int] = []
        threads = [
            threading.Thread(target=_claimant, args=(refbox, start, outcomes, winners, n))
            for n in range(THREADS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(winners) == 1, (race, outcomes)
        refused = [o for o in outcomes if o.startswith("refused")]
        assert len(refused) == THREADS - 1 and all("busy" in o for o in refused), (race, outcomes)
        assert "ran: OK " in outcomes and "cleaned: True " in outcomes, (race, outcomes)
        assert refbox.status(BOX_B)["status"] == "idle", (race, refbox.status(BOX_B))
