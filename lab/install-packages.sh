#!/usr/bin/env bash
# Debian packages the lab (and the docs test) needs; installs only what is missing. Run as root.
set -euo pipefail
packages=(openssh-server openssh-client iproute2 util-linux openssl procps shellcheck python3 python3-venv
  # the kubeadm lab: a container runtime per host, pod networking, what kubeadm's preflight wants,
  # and a static busybox for the test workload's image
  containerd runc containernetworking-plugins conntrack iptables socat ethtool busybox-static
  # not the lab's: the headless browser that tests/component/test_docs_site.py opens the built docs in
  chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Every lab host runs a kubelet and a containerd, and all of them share the machine's inotify
# limits: the defaults (128 instances) stop the third kubelet with "inotify_init: too many open
# files". Raised as kubelet nodes usually are, never lowered.
raise_sysctl() {
  local current
  current=$(sysctl -n "$1")
  if [ "$current" -lt "$2" ]; then sysctl -qw "$1=$2"; fi
}
raise_sysctl fs.inotify.max_user_instances 8192
raise_sysctl fs.inotify.max_user_watches 1048576

# Debian 12's own restic (0.14.0, older than the collection's floor), unpacked beside the builds and never
# installed on the machine: tests/component/modules/test_restic_old_release.py shows it is refused clearly.
debian_restic=/var/cache/kubedr/debian-restic
if ! compgen -G "$debian_restic/*/usr/bin/restic" > /dev/null; then
  scratch=$(mktemp -d)
  get=(apt-get -qq -o APT::Sandbox::User=root download restic)  # root fetches into root's own temp dir
  (cd "$scratch" && { "${get[@]}" || { apt-get update -qq && "${get[@]}"; }; })
  deb=$(ls "$scratch"/restic_*.deb)
  version=$(dpkg-deb -f "$deb" Version)
  mkdir -p "$debian_restic/$version"
  dpkg-deb -x "$deb" "$debian_restic/$version"
  rm -rf "$scratch"
fi

[ ${#missing[@]} -eq 0 ] && exit 0
# Keep the packages' maintainer scripts from starting sshd or containerd on the machine itself.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
