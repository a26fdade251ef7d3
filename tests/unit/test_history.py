from __future__ import annotations

import json
import threading

import pytest
from synthetic_history import HistoryBuilder, clean_runs

from reliability.errors import UsageError
from reliability.history import HistoryError, Journal, read


def _start(journal: Journal) -> None:
    journal.append(
        "stage_start",
        stage="stress",
        profile="smoke",
        seed=1,
        target="builtin",
        target_version="t",
        host="h",
        pipeline_version="0",
        pipeline_pid=1,
        owned={"box_root": "/b"},
        capabilities=[],
        config={},
    )


def test_events_from_many_threads_read_back_in_seq_order_all_there(tmp_path):
    path = tmp_path / "history.jsonl"
    journal = Journal(path)
    _start(journal)
    threads, per_thread = 8, 150

    def worker(n: int) -> None:
        for i in range(per_thread):
            journal.append("note", message=f"{n}:{i}")

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    journal.close()

    history = read(path)
    assert [e["seq"] for e in history.events] == list(range(1 + threads * per_thread))
    notes = [e["message"] for e in history.of_type("note")]
    assert sorted(notes) == sorted(f"{n}:{i}" for n in range(threads) for i in range(per_thread))
    for n in range(threads):  # each thread's own events keep their order
        mine = [int(m.split(":")[1]) for m in notes if m.startswith(f"{n}:")]
        assert mine == list(range(per_thread))
    assert history.truncated is False


def test_history_cut_mid_line_reads_the_rest_and_says_truncated(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.end()
    b.journal.close()
    path = b.run_dir / "history.jsonl"
    data = path.read_bytes()
    last_line_start = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[: last_line_start + 20])  # a crash in the middle of writing stage_end

    history = read(path)
    assert history.truncated is True
    assert history.stage_end is None
    assert len(history.events) == data.count(b"\n") - 1
    assert sorted(history.results) == [0, 1, 2]


def test_resuming_a_cut_history_drops_the_cut_line_and_continues_seq(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.journal.close()
    path = b.run_dir / "history.jsonl"
    data = path.read_bytes()
    path.write_bytes(data + b'{"seq":10,"t":1.0,"type":"no')  # cut mid-write

    journal = Journal(path)
    assert journal.resumed and journal.next_seq == 10
    journal.append("stage_end", executions=3, interrupted=False, duration_s=1.0)
    journal.close()
    history = read(path)
    assert history.truncated is False
    assert history.stage_end["seq"] == 10


def test_a_complete_last_line_missing_only_its_newline_is_kept(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.end()
    b.journal.close()
    path = b.run_dir / "history.jsonl"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    history = read(path)
    assert history.truncated is False and history.stage_end is not None
    journal = Journal(path)  # resuming must not glue the next line onto it
    journal.append("note", message="resumed")
    journal.close()
    assert read(path).events[-1]["message"] == "resumed"


def test_corrupt_middle_line_is_an_error_naming_the_line(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.end()
    b.journal.close()
    path = b.run_dir / "history.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"seq": 2, "t": 1.0, "type": "res\n'
    path.write_bytes(b"".join(lines))
    with pytest.raises(HistoryError, match="line 3 is corrupt") as err:
        read(path)
    assert "\n" not in str(err.value)
    with pytest.raises(HistoryError):  # nor may a run append to it
        Journal(path)


@pytest.mark.parametrize(
    "line, message",
    [
        (b'{"seq": 1, "t": 1.0, "type": "result", "index": 0}\n', "not a valid event"),
        (b'{"seq": 1, "t": 1.0, "type": "bogus"}\n', "not a valid event"),
        (b"[1, 2]\n", "not a valid event"),
        (b'{"seq": 5, "t": 1.0, "type": "note", "message": "x"}\n', "has seq 5, expected 1"),
    ],
)
def test_a_line_that_is_json_but_not_a_valid_event_is_an_error(tmp_path, line, message):
    b = HistoryBuilder(tmp_path)
    b.journal.close()
    path = b.run_dir / "history.jsonl"
    path.write_bytes(path.read_bytes() + line)
    with pytest.raises(HistoryError, match=message):
        read(path)


def test_missing_empty_and_headless_histories_are_errors(tmp_path):
    assert issubclass(HistoryError, UsageError)  # the CLI prints one line and exits 2
    with pytest.raises(HistoryError, match="no history at"):
        read(tmp_path / "nope.jsonl")
    with pytest.raises(HistoryError, match="no history.jsonl in"):
        read(tmp_path)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(HistoryError, match="is empty"):
        read(empty)
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b'{"seq":0,"t":1,"ty')
    with pytest.raises(HistoryError, match="only line was cut"):
        read(cut)
    headless = tmp_path / "headless.jsonl"
    with Journal(headless) as journal:
        journal.append("note", message="no stage_start before me")
    with pytest.raises(HistoryError, match="does not begin with stage_start"):
        read(headless)


def test_the_journal_refuses_invalid_events_instead_of_writing_them(tmp_path):
    with Journal(tmp_path / "h.jsonl") as journal:
        with pytest.raises(ValueError, match="invalid 'result' event"):
            journal.append("result", index=0)
        with pytest.raises(ValueError, match="set by the journal"):
            journal.append("note", message="x", seq=3)
        assert journal.next_seq == 0
    assert (tmp_path / "h.jsonl").read_bytes() == b""


def test_lookups_by_index_and_label(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path, seed=42))
    b.skip(3, "java", "javac not found")
    b.result(0, "OK")  # a doubled result: results keeps the first, count_by_index sees both
    b.snapshot("before", {"n": 1})
    b.snapshot("before", {"n": 2})
    b.snapshot("after", {"n": 3})
    b.end(interrupted=True)
    b.end(interrupted=False)
    history = b.read()

    assert history.seed == 42 and history.stage == "stress"
    assert history.run_dir == b.run_dir
    assert sorted(history.submissions) == [0, 1, 2]
    assert history.submissions[1].program == "java/tle_spin"
    assert history.results[0]["seq"] < history.results[1]["seq"]
    assert history.count_by_index("result")[0] == 2
    assert history.skips[3]["reason"] == "javac not found"
    assert len(history.cleanups) == 3
    assert history.snapshots == {"before": {"n": 1}, "after": {"n": 3}}
    assert history.stage_end["interrupted"] is False


def test_written_lines_are_compact_json_one_per_event(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.journal.close()
    lines = (b.run_dir / "history.jsonl").read_text().splitlines()
    assert len(lines) == 1 + 3 * 3
    assert all(json.loads(line)["seq"] == i for i, line in enumerate(lines))
