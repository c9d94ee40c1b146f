# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by the etcd modules (twin of doc_fragments/etcd_connection.py)."""

from __future__ import annotations

from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_client import (
    DEFAULT_MANIFEST,
    EtcdClient,
    EtcdError,
    kubeadm_defaults,
)

CONNECTION_OPTIONS = ("endpoint", "ca_cert", "client_cert", "client_key")


def etcd_argument_spec():
    """A fresh copy of the connection options; modules add their own options to it."""
    return dict(
        endpoint=dict(type="str"),
        ca_cert=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path"),
        manifest_path=dict(type="path", default=DEFAULT_MANIFEST),
        timeout=dict(type="int", default=10),
    )


def connection_settings(params):
    """endpoint/ca_cert/client_cert/client_key from the options, kubeadm's layout filling the gaps."""
    settings = {name: params.get(name) for name in CONNECTION_OPTIONS}
    if None in settings.values():
        defaults = kubeadm_defaults(params.get("manifest_path"))
        settings = {name: value or defaults[name] for name, value in settings.items()}
    return settings


def etcd_client(params):
    """An EtcdClient for `module.params`; raises EtcdError with the fix when the options are unusable."""
    timeout = params.get("timeout") or 10
    if timeout <= 0:
        raise EtcdError(f"timeout must be a positive number of seconds, got {timeout}")
    s = connection_settings(params)
    return EtcdClient(s["endpoint"], s["ca_cert"], s["client_cert"], s["client_key"], timeout)
