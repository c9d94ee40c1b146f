#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcdutl_binary
short_description: Make sure a kubeadm node has an etcdutl, read out of its own etcd image when needed
version_added: "0.1.0"
description:
  - Stock kubeadm nodes have no C(etcdutl); it exists only inside the etcd image the kubelet runs. This
    module finds one for the host and returns its path, for M(kubedr.kubeadm.etcd_restore) and the trial
    restore of M(kubedr.kubeadm.etcd_snapshot_info).
  - Order of choice - O(path) when given; else the etcd image (O(image), or the image of the etcd static
    pod manifest O(manifest), or the only etcd image containerd holds), read out of containerd offline and
    kept under O(tools_dir) by the image's digest, so that it is exactly the cluster's etcd version and each
    image is read once; else C(etcdutl) on the C(PATH).
  - The image is read with C(ctr content get) (the manifest and the layers, streamed), which mounts
    nothing and leaves nothing behind in containerd.
  - Fails naming every place it looked and the fixes when there is no etcdutl to be had.
author:
  - kubedr contributors (@kubedr)
options:
  path:
    description:
      - An etcdutl the site installed; it is only checked (C(etcdutl version)).
    type: path
  image:
    description:
      - The etcd image to read etcdutl from, as containerd names it (C(registry.k8s.io/etcd:3.6.4-0)).
      - Omitted - the image of O(manifest), else the only etcd image in containerd.
    type: str
  manifest:
    description: The etcd static pod manifest whose image is read when O(image) is omitted.
    type: path
    default: /etc/kubernetes/manifests/etcd.yaml
  tools_dir:
    description: Private directory (created 0700) where the binary read out of an image is kept.
    type: path
    default: /var/lib/kubedr/tools
  containerd_address:
    description: The containerd socket.
    type: path
    default: /run/containerd/containerd.sock
  containerd_namespace:
    description: The containerd namespace of the kubelet's images (the CRI plugin's).
    type: str
    default: k8s.io
  ctr_path:
    description: containerd's C(ctr) client; looked up on the C(PATH) when omitted.
    type: path
  timeout:
    description: Seconds each C(ctr) command may run before it is stopped and the module fails.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    description: Reports what it would read out of the image, and writes nothing.
  diff_mode:
    support: none
    description: The only change is a cached binary.
  idempotent:
    support: full
    description: A second run finds the binary it kept and changes nothing.
notes:
  - Needs root (or a user that may use the containerd socket and write O(tools_dir)); use C(become).
  - Layers compressed with zstd cannot be read (Python's tarfile has no zstd); registry.k8s.io's etcd images
    use gzip. Where containerd discards the layers it unpacked (C(discard_unpacked_layers)), set O(path).
seealso:
  - module: kubedr.kubeadm.etcd_restore
  - module: kubedr.kubeadm.etcd_snapshot_info
"""

EXAMPLES = r"""
- name: Find etcdutl on a control-plane node (from its etcd image)
  kubedr.kubeadm.etcdutl_binary:
  become: true
  register: etcdutl

- name: Restore with it
  kubedr.kubeadm.etcd_restore:
    snapshot: /var/backups/etcd/snapshot.db
    data_dir: /var/lib/etcd
    name: cp1
    initial_cluster: cp1=https://10.0.0.11:2380
    initial_advertise_peer_urls: [https://10.0.0.11:2380]
    etcdutl_path: "{{ etcdutl.etcdutl.path }}"
  become: true
"""

RETURN = r"""
etcdutl:
  description: The etcdutl to use.
  returned: success
  type: dict
  contains:
    path:
      description: Its path; in check mode, where it would be kept.
      type: str
      sample: /var/lib/kubedr/tools/etcdutl-5e6f0c1d2a3b4c5d
    version:
      description: What C(etcdutl version) printed (in check mode before a read-out, the image tag's version).
      type: str
      sample: 3.6.16
    source:
      description: V(path) (O(path)), V(image) (read out of the etcd image) or V(PATH).
      type: str
      sample: image
    image:
      description: The image it came from; null unless O(image) or the manifest's image was used.
      type: str
      sample: registry.k8s.io/etcd:3.6.16-0
    digest:
      description: That image's digest in containerd.
      type: str
      sample: sha256:5e6f0c1d2a3b4c5d...
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils import _etcdutl


def main():
    module = AnsibleModule(argument_spec=_etcdutl.ARGUMENT_SPEC, supports_check_mode=True)
    try:
        found = _etcdutl.locate(module.params, check_mode=module.check_mode, which=module.get_bin_path)
    except _etcdutl.EtcdutlError as e:
        module.fail_json(msg=str(e))
    changed = found.pop("changed")
    module.exit_json(changed=changed, etcdutl=found)


if __name__ == "__main__":
    main()
