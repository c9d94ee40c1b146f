"""Texts of kubeadm-written etcd files, for tests that parse them (no etcd needed)."""

from __future__ import annotations


def kubeadm_manifest(listen_client_urls: str, pki_dir: str = "/etc/kubernetes/pki/etcd",
                     name: str = "cp1", address: str = "10.0.0.10") -> str:
    """An etcd static pod manifest shaped like the one `kubeadm init` writes (v1.33)."""
    return f"""apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/etcd.advertise-client-urls: https://{address}:2379
  creationTimestamp: null
  labels:
    component: etcd
    tier: control-plane
  name: etcd
  namespace: kube-system
spec:
  containers:
  - command:
    - etcd
    - --advertise-client-urls=https://{address}:2379
    - --cert-file={pki_dir}/server.crt
    - --client-cert-auth=true
    - --data-dir=/var/lib/etcd
    - --feature-gates=InitialCorruptCheck=true
    - --initial-advertise-peer-urls=https://{address}:2380
    - --initial-cluster={name}=https://{address}:2380
    - --key-file={pki_dir}/server.key
    - --listen-client-urls={listen_client_urls}
    - --listen-metrics-urls=http://127.0.0.1:2381
    - --listen-peer-urls=https://{address}:2380
    - --name={name}
    - --peer-cert-file={pki_dir}/peer.crt
    - --peer-client-cert-auth=true
    - --peer-key-file={pki_dir}/peer.key
    - --peer-trusted-ca-file={pki_dir}/ca.crt
    - --snapshot-count=10000
    - --trusted-ca-file={pki_dir}/ca.crt
    image: registry.k8s.io/etcd:3.5.21-0
    imagePullPolicy: IfNotPresent
    livenessProbe:
      failureThreshold: 8
      httpGet:
        host: 127.0.0.1
        path: /livez
        port: 2381
        scheme: HTTP
    name: etcd
    resources:
      requests:
        cpu: 100m
        memory: 100Mi
    volumeMounts:
    - mountPath: /var/lib/etcd
      name: etcd-data
    - mountPath: {pki_dir}
      name: etcd-certs
  hostNetwork: true
  priority: 2000001000
  priorityClassName: system-node-critical
  volumes:
  - hostPath:
      path: {pki_dir}
      type: DirectoryOrCreate
    name: etcd-certs
  - hostPath:
      path: /var/lib/etcd
      type: DirectoryOrCreate
    name: etcd-data
status: {{}}
"""


# --- helpers for the etcd_member and etcd_restore tests: extra members, snapshots -------------------
