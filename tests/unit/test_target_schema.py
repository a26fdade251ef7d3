"""Target files: the schema and placeholder checks name the bad key; the CLI says so in one line, exit 2."""

from __future__ import annotations

import copy

import pytest
import yaml

from reliability import cli
from reliability.errors import UsageError
from reliability.targets.described import PROFILE_DIR, description_for
from reliability.targets.description import describe, problems

GOOD = {
    "format": 1,
    "name": "tiny",
    "options": {"root": "/tmp/tiny"},
    "commands": {
        "init": ["mkdir", "-p", "{box_dir}"],
        "run": ["sh", "-c", 'cd {work_dir} && exec "$0" "$@"', "{command}"],
        "cleanup": ["rm", "-rf", "{box_dir}"],
    },
    "files": {"copy_to": "{box_dir}/{name}"},
    "result": {"format": "exit_status"},
    "owns": {"box_root": "{root}", "box_dir": "{box_root}/{box}"},
}


def broken(path: str, value) -> dict:
    doc = copy.deepcopy(GOOD)
    *parents, last = path.split("/")
    node = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is None:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


def test_the_example_and_the_shipped_profiles_are_valid():
    assert problems(GOOD) == []
    for path in sorted(PROFILE_DIR.glob("*.yml")):
        assert description_for(path).name in ("isolate", "rustbox")


@pytest.mark.parametrize(
    "path, value, words",
    [
        ("commands/run", "sh -c x", "commands/run: 'sh -c x' is not of type 'array'"),
        ("commands/init", None, "commands: 'init' is a required property"),
        ("result/format", "xml", "result/format: 'xml' is not one of"),
        ("owns/box_dir", "/tmp/tiny/fixed", "owns/box_dir: '/tmp/tiny/fixed' does not match"),
        ("capabilities", ["teleport"], "capabilities/0: 'teleport' is not one of"),
        ("commands/cleanup/2", "{box_dri}", "commands/cleanup/2: unknown placeholder {box_dri}"),
        ("files/copy_to", "{box_dir}/{src}", "files/copy_to: unknown placeholder {src}"),
        ("commands/run/3", "{files}", "needs an element '{command}'"),
        ("commands/init/2", "{box_dir", "commands/init/2: expected '}'"),
        ("extra", 1, "Additional properties are not allowed ('extra' was unexpected)"),
    ],
)
def test_a_bad_key_is_named_with_what_was_expected(path, value, words):
    found = problems(broken(path, value))
    assert found and words in found[0], found


def test_json_results_need_fields_and_statuses():
    found = problems(broken("result/format", "json"))
    assert any("'fields' is a required property" in p for p in found)


def test_unknown_options_are_refused_with_the_known_ones():
    with pytest.raises(UsageError, match=r"unknown option\(s\) for target tiny: nope \(known: root\)"):
        describe(GOOD, "tiny.yml", {"nope": "1"})
    assert describe(GOOD, "tiny.yml", {"root": "/tmp/other"}).values()["box_root"] == "/tmp/other"


def _check(tmp_path, doc, capsys, *extra: str) -> tuple[int, str, str]:
    path = tmp_path / "target.yml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    code = cli.main(["target", "check", str(path), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_bad_file_is_one_line_and_exit_2(tmp_path, capsys):
    code, _, err = _check(tmp_path, broken("commands/run", "sh -c x"), capsys)
    assert code == 2
    assert err.count("\n") == 1 and "commands/run: 'sh -c x' is not of type 'array'" in err
    code, _, err = _check(tmp_path, "format: 1\nname: [unclosed\n", capsys)
    assert code == 2 and err.count("\n") == 1 and "not valid YAML" in err


def test_cli_missing_command_is_one_line_and_exit_2(tmp_path, capsys):
    doc = broken("commands/init/0", "/nonexistent/sandbox-tool")
    code, _, err = _check(tmp_path, doc, capsys)
    assert code == 2 and err.count("\n") == 1
    assert "/nonexistent/sandbox-tool (commands/init)" in err


def test_cli_no_run_validates_only(tmp_path, capsys):
    code, out, _ = _check(tmp_path, GOOD, capsys, "--no-run")
    assert code == 0 and "valid target file (tiny)" in out and "live run: skipped: --no-run" in out


@pytest.mark.parametrize("name", ["isolate", "rustbox"])
def test_cli_shipped_profiles_validate_and_skip_the_live_part_without_the_binary(name, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # the real binaries are not installed here anyway
    code = cli.main(["target", "check", name])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "valid target file (" + name + ")" in out
    assert f"live run: skipped: {name} is not on PATH" in out


def test_run_against_a_missing_sandbox_is_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert cli.main(["run", "stress", "--target", "isolate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "isolate is not on PATH" in err
