"""The restic runner's pure helpers: URL masking, restic's JSON output and error lines."""

from __future__ import annotations

from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic import (
    error_messages,
    filter_args,
    mask_url,
    parse_json,
    parse_json_lines,
    url_passwords,
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
