"""The restic runner's pure helpers: URL masking, restic's JSON output and error lines, the version floor."""

from __future__ import annotations

from pathlib import Path

import yaml
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic import (
    MINIMUM,
    error_messages,
    filter_args,
    mask_url,
    parse_json,
    parse_json_lines,
    url_passwords,
    version_problem,
)


def test_mask_url_hides_only_the_password():
    assert mask_url("rest:https://user:s3cr%40t@host:8000/repo/") == "rest:https://user:********@host:8000/repo/"
    assert mask_url("s3:https://s3.example.com/bucket") == "s3:https://s3.example.com/bucket"
    assert mask_url("/srv/backup/restic") == "/srv/backup/restic"
    assert mask_url("sftp:user@host:/srv/restic") == "sftp:user@host:/srv/restic"
    assert mask_url("error at rest:https://u:p@h/ and rest:http://v:q@k/") == (
        "error at rest:https://u:********@h/ and rest:http://v:********@k/")


def test_url_passwords_raw_and_decoded():
    assert url_passwords("rest:https://user:s3cr%40t@host/") == {"s3cr%40t", "s3cr@t"}
    assert url_passwords("rest:https://host/") == set()


def test_error_messages_reads_restic_json_and_plain_lines():
    stderr = (
        "/nonexist does not exist, skipping\n"
        '{"message_type":"error","error":{"message":"open /x: permission denied"},'
        '"during":"archival","item":"/x"}\n'
        '{"message_type":"exit_error","code":3,'
        '"message":"Warning: at least one source file could not be read"}\n'
    )
    assert error_messages(stderr) == [
        "/nonexist does not exist, skipping",
        "/x: open /x: permission denied",
        "Warning: at least one source file could not be read",
    ]
    assert error_messages("") == []


def test_parse_json_whole_document_or_lines():
    assert parse_json('[{"id": "a"}]') == [{"id": "a"}]
    assert parse_json('{"a": 1}\n{"b": 2}\n') == {"a": 1}
    assert parse_json("not json") is None
    assert parse_json_lines('{"a": 1}\nnoise\n[1]\n{broken\n') == [{"a": 1}, [1]]


def test_filter_args_all_tags_in_one_option():
    assert filter_args("h", ["a", "b"], ["/p", "/q"]) == [
        "--host", "h", "--tag", "a,b", "--path", "/p", "--path", "/q"]
    assert filter_args() == []


def test_version_floor_and_pin():
    assert version_problem("/usr/bin/restic", "restic 0.19.1 compiled with go1.25 on linux/amd64") is None
    assert version_problem("/r", "restic 0.17.0 compiled with go1.22") is None
    pinned = version_problem("/r", "restic 0.18.0 compiled", pinned="0.19.1")
    assert pinned == "/r is restic 0.18.0, not 0.19.1"
    old = version_problem("/usr/bin/restic", "restic 0.14.0 compiled with go1.19.8 on linux/amd64")
    assert old.startswith("/usr/bin/restic is restic 0.14.0, older than 0.17.0")
    assert version_problem("/r", "rustic 1.0") == "/r does not report a restic version ('rustic 1.0')"


def test_the_restic_roles_floor_is_the_runners():
    role_vars = Path(__file__).resolve().parents[3] / "roles/restic/vars/main.yml"
    assert yaml.safe_load(role_vars.read_text())["_restic_minimum_version"] == MINIMUM
