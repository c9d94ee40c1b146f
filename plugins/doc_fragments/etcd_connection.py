# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the etcd connection options (twin of module_utils/etcd_common.etcd_argument_spec)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  endpoint:
    description:
      - etcd client URL to talk to, for example V(https://127.0.0.1:2379).
      - Only C(https) URLs are supported; etcd must require client certificates as kubeadm sets it up.
      - When omitted, the first C(https) URL of C(--listen-client-urls) in O(manifest_path), preferring
        the loopback address; V(https://127.0.0.1:2379) when that manifest does not exist.
    type: str
  ca_cert:
    description:
      - CA certificate that signed etcd's server certificate.
      - When omitted, C(--trusted-ca-file) from O(manifest_path), else V(/etc/kubernetes/pki/etcd/ca.crt).
    type: path
  client_cert:
    description:
      - Client certificate presented to etcd.
      - When omitted, C(healthcheck-client.crt) in the directory of the CA certificate, which is
        V(/etc/kubernetes/pki/etcd/healthcheck-client.crt) on a default kubeadm control plane.
    type: path
  client_key:
    description:
      - Private key of O(client_cert).
      - When omitted, C(healthcheck-client.key) next to the default client certificate.
    type: path
  manifest_path:
    description:
      - kubeadm's etcd static pod manifest, read to fill in O(endpoint) and O(ca_cert) when they are omitted.
      - A missing file is not an error; kubeadm's default locations are used instead.
    type: path
    default: /etc/kubernetes/manifests/etcd.yaml
  timeout:
    description:
      - Seconds to wait for each request to etcd.
    type: int
    default: 10
"""
