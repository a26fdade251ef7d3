"""The read-only state file probe judges each file by the rule its own target gives it: a described
sandbox's lock by that sandbox's schema, never by the refbox's, and a file with no schema only by its
layout."""

from __future__ import annotations

import json

from reliability.probes import state_files
from reliability.refbox.state import encode, idle
from reliability.sandbox_values import Owned
from reliability.targets.command import CommandTarget
from reliability.targets.described import PROFILE_DIR, description_for

RUSTBOX_LOCK = {"pid": 4242, "box_id": 7, "created_at": "2026-01-02T03:04:05Z", "rustbox_version": "0.9"}
REFBOX_LOCK = {"version": 1, "box": 7, "holder": None}


def rustbox_owned(tmp_path) -> Owned:
    values = {"lock_root": str(tmp_path / "locks"), "state_root": str(tmp_path / "lib")}
    return CommandTarget(description_for(PROFILE_DIR / "rustbox.yml", values)).owned()


def write(path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def test_a_described_sandboxs_lock_is_held_to_its_own_schema(tmp_path):
    owned = rustbox_owned(tmp_path)
    lock = tmp_path / "locks" / "box-7.lock"
    write(lock, json.dumps(RUSTBOX_LOCK).encode() + b"\n")
    assert state_files.problems(owned) == []
    write(lock, b"")  # released
    assert state_files.problems(owned) == []
    write(lock, json.dumps(REFBOX_LOCK).encode())  # a good refbox lock is a bad rustbox one
    [problem] = state_files.problems(owned)
    assert problem.startswith(f"{lock}: schema-invalid (rustbox/lock): ")
    write(lock, json.dumps(RUSTBOX_LOCK).encode() + b"\n" + json.dumps(RUSTBOX_LOCK).encode())
    assert state_files.problems(owned) == [f"{lock}: not valid (2 lines, one expected)"]
    write(lock, b'{"pid": 42')
    [problem] = state_files.problems(owned)
    assert problem.startswith(f"{lock}: not valid (")


def test_a_state_json_is_judged_by_the_schema_its_target_names_not_by_its_name(tmp_path):
    pattern = f"{tmp_path}/*/state.json"
    path = write(tmp_path / "3" / "state.json", b'{"anything": 1}')
    assert state_files.problems(Owned(str(tmp_path), state_files=[pattern])) == []  # no rule: it parses
    refbox = Owned(
        str(tmp_path), state_files=[pattern], file_rules={pattern: {"schema": "box-state", "format": "json"}}
    )
    [problem] = state_files.problems(refbox)
    assert problem.startswith(f"{path}: schema-invalid (box-state): ")
    write(tmp_path / "3" / "state.json", encode(idle(3)))
    assert state_files.problems(refbox) == []


def test_a_record_log_is_checked_line_by_line(tmp_path):
    pattern = f"{tmp_path}/audit.jsonl"
    owned = Owned(
        str(tmp_path),
        state_files=[pattern],
        file_rules={pattern: {"schema": "audit-record", "format": "jsonl"}},
    )
    write(tmp_path / "audit.jsonl", b'{"no": "such record"}\n')
    [problem] = state_files.problems(owned)
    assert problem.startswith(f"{pattern}: schema-invalid (audit-record): ")
    bare = Owned(str(tmp_path), state_files=[pattern])  # no rule: judged by its name, one document per line
    assert state_files.problems(bare) == []
    write(tmp_path / "audit.jsonl", b'{"a": 1}\n{"a"\n')
    [problem] = state_files.problems(bare)
    assert problem.startswith(f"{pattern}: not valid (")


def test_an_unreadable_file_is_named(tmp_path):
    pattern = f"{tmp_path}/gone.json"
    assert state_files.problems(Owned(str(tmp_path), state_files=[pattern]), [pattern]) == [
        f"{pattern}: unreadable: No such file or directory"
    ]
