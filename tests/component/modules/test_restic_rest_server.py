"""The restic modules against a real rest-server: TLS with a private CA, htpasswd authentication."""

from __future__ import annotations

import json
import uuid

import restic_fixtures
from ansible_collections.kubedr.kubeadm.plugins.modules import (
    restic_backup,
    restic_repository,
    restic_restore,
    restic_snapshots,
)
from restic_fixtures import PASSWORD, Repo, make_tree, tree_checksums

# shared fixtures, found by pytest as module globals
restic_bin = restic_fixtures.restic_bin
rest_server = restic_fixtures.rest_server


def repo_on(server, restic_bin, tmp_path, with_credentials=True) -> Repo:
    name = f"r-{uuid.uuid4().hex[:8]}"
    env = {}
    if not with_credentials:
        env = {"RESTIC_REST_USERNAME": server.user, "RESTIC_REST_PASSWORD": server.http_password}
    return Repo(restic_bin, server.url(name, with_credentials), env=env, cacert=server.cacert,
                cache_dir=str(tmp_path / "cache"))


def assert_secrets_hidden(result, server):
    text = json.dumps(result)
    assert PASSWORD not in text
    assert server.http_password not in text
    assert all(server.http_password not in c and PASSWORD not in c for c in result.get("commands", []))


def test_url_credentials_init_idempotent_and_masked(run_module, rest_server, restic_bin, tmp_path):
    repo = repo_on(rest_server, restic_bin, tmp_path)
    created = run_module(restic_repository, repo.args())
    assert created["changed"]
    masked = repo.repository.replace(f":{rest_server.http_password}@", ":********@")
    assert masked != repo.repository and created["repository"]["location"] == masked
    again = run_module(restic_repository, repo.args())
    assert not again["changed"]
    for result in (created, again):
        assert_secrets_hidden(result, rest_server)


def test_env_credentials_round_trip(run_module, rest_server, restic_bin, tmp_path):
    repo = repo_on(rest_server, restic_bin, tmp_path, with_credentials=False)
    assert run_module(restic_repository, repo.args())["changed"]
    src = make_tree(tmp_path / "src")
    backup = run_module(restic_backup, repo.args(paths=[str(src)], tags=["etcd"]))
    assert backup["changed"]
    listed = run_module(restic_snapshots, repo.args(tags=["etcd"]))
    assert [s["id"] for s in listed["snapshots"]] == [backup["snapshot_id"]]
    target = tmp_path / "restored"
    restored = run_module(restic_restore, repo.args(subpath=str(src), target=str(target)))
    assert restored["changed"] and tree_checksums(target) == tree_checksums(src)
    for result in (backup, listed, restored):
        assert_secrets_hidden(result, rest_server)


def test_wrong_http_password_is_masked_in_the_failure(run_module, rest_server, restic_bin, tmp_path):
    repo = repo_on(rest_server, restic_bin, tmp_path)
    run_module(restic_repository, repo.args())
    bad = Repo(restic_bin, repo.repository.replace(rest_server.http_password, "wrong-http-Pw-77"),
               cacert=rest_server.cacert)
    result = run_module(restic_repository, bad.args())
    assert result["failed"]
    assert "wrong-http-Pw-77" not in json.dumps(result)
    assert "********" in result["msg"]
