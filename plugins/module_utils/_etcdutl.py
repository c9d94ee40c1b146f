# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection-private: find an etcdutl for this host, taking it from the etcd image when there is none.

Runs on the managed host: standard library and ansible.module_utils only.

On a kubeadm node etcdutl exists only inside the etcd image the kubelet runs. The node's containerd
holds that image, offline and in exactly the cluster's version, so the binary is read out of it: the
image's manifest and its layers come from `ctr content get` (read-only: no mount, no snapshot, no lease
left behind if the module is killed), and the static binary is written to a private tools directory
under a name that carries the image's digest, so each image is read once. Order of choice: a path the
caller gives, else the etcd image (the static pod manifest's, or one the caller names, or the only etcd
image containerd holds), else `etcdutl` on the PATH; the error names every place tried and the fixes.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile

from ansible_collections.kubedr.kubeadm.plugins.module_utils import bounded_run

DEFAULT_MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"
DEFAULT_TOOLS_DIR = "/var/lib/kubedr/tools"
DEFAULT_ADDRESS = "/run/containerd/containerd.sock"
DEFAULT_NAMESPACE = "k8s.io"  # the CRI plugin's namespace: the kubelet's images
IN_IMAGE = ("usr/local/bin/etcdutl", "bin/etcdutl", "usr/bin/etcdutl")  # etcd's image: /usr/local/bin
TIMEOUT = 120

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le",
        "s390x": "s390x", "riscv64": "riscv64"}

ARGUMENT_SPEC = dict(
    path=dict(type="path"),
    image=dict(type="str"),
    manifest=dict(type="path", default=DEFAULT_MANIFEST),
    tools_dir=dict(type="path", default=DEFAULT_TOOLS_DIR),
    containerd_address=dict(type="path", default=DEFAULT_ADDRESS),
    containerd_namespace=dict(type="str", default=DEFAULT_NAMESPACE),
    ctr_path=dict(type="path"),
    timeout=dict(type="int", default=TIMEOUT),
)


class EtcdutlError(Exception):
    pass


def manifest_image(text):
    """The first container image of a static pod manifest (etcd's has one container), or None."""
    match = re.search(r"""^\s*(?:-\s+)?image:\s*["']?([^\s"'#]+)""", text or "", re.MULTILINE)
    return match.group(1) if match else None


def tag_version(ref):
    """'3.6.16' of 'registry.k8s.io/etcd:3.6.16-0' (kubeadm's tags), or None."""
    last = ref.rsplit("/", 1)[-1].partition("@")[0]
    tag = last.rpartition(":")[2] if ":" in last else ""
    match = re.match(r"v?(\d+\.\d+\.\d+)", tag)
    return match.group(1) if match else None


def tool_version(text):
    """'3.6.16' of `etcdutl version` output, or None."""
    match = re.search(r"etcdutl version:\s*v?(\S+)", text or "")
    return match.group(1) if match else None


def etcd_images(listing):
    """[(ref, digest)] of `ctr images ls` output whose repository is etcd (…/etcd:tag)."""
    found = []
    for line in (listing or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) < 3 or not fields[2].startswith("sha256:"):
            continue
        name = fields[0].rsplit("/", 1)[-1]
        if name.partition(":")[0].partition("@")[0] == "etcd":
            found.append((fields[0], fields[2]))
    return found


def image_digest(listing, ref):
    """The digest `ctr images ls` lists for ref, or None."""
    for line in (listing or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[0] == ref and fields[2].startswith("sha256:"):
            return fields[2]
    return None


def platform_manifest(index, arch):
    """The digest of the linux/<arch> manifest of an image index, or None."""
    for entry in index.get("manifests") or []:
        plat = entry.get("platform") or {}
        if plat.get("os", "linux") == "linux" and plat.get("architecture") == arch:
            return entry.get("digest")
    return None


def cached_name(digest):
    return "etcdutl-" + digest.partition(":")[2][:16]


def member_path(name):
    """A layer member's name as an image path: no leading './' or '/'."""
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def find_in_layer(tar):
    """(member, deleted) for etcdutl in one layer: the regular-file member, or whether the layer deletes
    it (an OCI whiteout), which hides it in every layer below."""
    for member in tar:
        name = member_path(member.name)
        head, base = name.rpartition("/")[::2]
        if base.startswith(".wh.") and f"{head}/{base[4:]}" in IN_IMAGE:
            return None, True
        if name in IN_IMAGE:
            if not member.isreg():
                raise EtcdutlError(f"{name} in the etcd image is not a regular file (a link):"
                                   " set etcdutl_path")
            return member, False
    return None, False


class Containerd:
    """`ctr` against one containerd socket and namespace, each call bounded by `timeout`."""

    def __init__(self, ctr, address, namespace, timeout=TIMEOUT):
        self.ctr, self.address, self.namespace, self.timeout = ctr, address, namespace, timeout

    def argv(self, *args):
        return [self.ctr, "--address", self.address, "--namespace", self.namespace, *args]

    def run(self, *args):
        argv = self.argv(*args)
        rc, out, err = bounded_run.run(argv, self.timeout)
        if rc != 0:
            why = "timed out" if rc == bounded_run.RC_TIMEOUT else f"rc {rc}: {err.strip() or out.strip()}"
            raise EtcdutlError(f"{' '.join(argv)} failed ({why})")
        return out

    def images(self):
        return self.run("images", "ls")

    def blob_json(self, digest):
        try:
            return json.loads(self.run("content", "get", digest))
        except ValueError as e:
            raise EtcdutlError(f"content {digest} of containerd is not JSON ({e})") from e

    def extract(self, layer, media_type, dest):
        """Write etcdutl of one layer blob to dest: 'found', 'deleted' or 'absent'."""
        if "zstd" in (media_type or ""):
            raise EtcdutlError(f"layer {layer} is zstd-compressed, which Python's tarfile cannot read:"
                               " set etcdutl_path to an etcdutl binary")
        proc = subprocess.Popen(self.argv("content", "get", layer), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
                member, deleted = find_in_layer(tar)
                if member is None:
                    return "deleted" if deleted else "absent"
                with tar.extractfile(member) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                    out.flush()
                    os.fsync(out.fileno())
                return "found"
        except tarfile.TarError as e:
            proc.kill()
            said = proc.stderr.read().decode("utf-8", "replace").strip() or "ctr printed nothing"
            raise EtcdutlError(f"layer {layer} of the etcd image could not be read as a tar"
                               f" ({e}; {said})") from e
        finally:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()


def read_out(ctr, digest, dest, arch):
    """Write the etcdutl of image `digest` to dest (a new file), or raise EtcdutlError."""
    manifest = ctr.blob_json(digest)
    if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
        chosen = platform_manifest(manifest, arch)
        if not chosen:
            raise EtcdutlError(f"the etcd image {digest} has no linux/{arch} manifest")
        manifest = ctr.blob_json(chosen)
    for layer in reversed(manifest.get("layers") or []):  # the top layer decides
        found = ctr.extract(layer["digest"], layer.get("mediaType"), dest)
        if found == "found":
            return
        if found == "deleted":
            break
    raise EtcdutlError(f"the etcd image {digest} holds no etcdutl (looked for /{', /'.join(IN_IMAGE)}):"
                       " etcd images before 3.5 have none; set etcdutl_path")


def run_version(path, timeout=30):
    """The version `path version` prints, or raise EtcdutlError."""
    try:
        rc, out, err = bounded_run.run([path, "version"], timeout)
    except OSError as e:
        raise EtcdutlError(f"{path} cannot be run ({e})") from e
    version = tool_version(out)
    if rc != 0 or not version:
        raise EtcdutlError(f"{path} version: rc {rc}, {(err or out).strip()[:200] or 'no output'}:"
                           " not an etcdutl binary for this host")
    return version


def locate(params, check_mode=False, which=shutil.which, arch=None):
    """{path, version, source, image, digest, changed} of the etcdutl to use, by the order in the
    module docstring; raises EtcdutlError naming what was tried and how to fix it."""
    arch = arch or ARCH.get(platform.machine(), platform.machine())
    if params.get("path"):
        path = params["path"]
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise EtcdutlError(f"etcdutl path {path} is not an executable file")
        return dict(path=path, version=run_version(path), source="path", image=None, digest=None,
                    changed=False)
    tried = []
    ref = params.get("image")
    manifest = params.get("manifest") or DEFAULT_MANIFEST
    if not ref and os.path.isfile(manifest):
        with open(manifest, encoding="utf-8", errors="replace") as fh:
            ref = manifest_image(fh.read())
        if not ref:
            tried.append(f"{manifest} names no image")
    elif not ref:
        tried.append(f"no {manifest}")
    ctr_path = params.get("ctr_path") or which("ctr")
    address = params.get("containerd_address") or DEFAULT_ADDRESS
    if not ctr_path:
        tried.append("no ctr (containerd's client) on the PATH to read the etcd image with")
    elif not os.path.exists(address):
        tried.append(f"no containerd socket {address}")
    else:
        ctr = Containerd(ctr_path, address, params.get("containerd_namespace") or DEFAULT_NAMESPACE,
                         params.get("timeout") or TIMEOUT)
        found = from_image(ctr, ref, params.get("tools_dir") or DEFAULT_TOOLS_DIR, check_mode, arch, tried)
        if found:
            return found
    on_path = which("etcdutl")
    if on_path:
        return dict(path=on_path, version=run_version(on_path), source="PATH", image=None, digest=None,
                    changed=False)
    tried.append("no etcdutl on the PATH")
    raise EtcdutlError("no etcdutl for this host (" + "; ".join(tried) + "). Fix: set etcdutl_path to an"
                       " etcdutl of the cluster's etcd version (in the roles etcd_backup_etcdutl_path,"
                       " etcd_restore_etcdutl_path, control_plane_rebuild_etcdutl_path), or make the etcd"
                       " image available to containerd (`kubeadm config images pull`, or"
                       " `ctr -n k8s.io images import`)")


def from_image(ctr, ref, tools_dir, check_mode, arch, tried):
    """The etcdutl of image `ref` (or of the only etcd image when ref is None), cached in tools_dir."""
    listing = ctr.images()
    if ref:
        digest = image_digest(listing, ref)
        if not digest:
            tried.append(f"the etcd image {ref} is not in containerd ({ctr.namespace})")
            return None
    else:
        images = etcd_images(listing)
        if len(images) != 1:
            named = ", ".join(image[0] for image in images)
            tried.append(f"{len(images)} etcd images in containerd ({ctr.namespace})"
                         + (f": {named}; name one with image" if images else ""))
            return None
        ref, digest = images[0]
    path = os.path.join(tools_dir, cached_name(digest))
    found = dict(path=path, version=tag_version(ref), source="image", image=ref, digest=digest, changed=False)
    if os.path.isfile(path) and os.access(path, os.X_OK):
        found["version"] = run_version(path)
        return found
    found["changed"] = True
    if check_mode:
        return found
    os.makedirs(tools_dir, mode=0o700, exist_ok=True)
    fd, part = tempfile.mkstemp(prefix=".etcdutl-", suffix=".part", dir=tools_dir)
    os.close(fd)
    try:
        read_out(ctr, digest, part, arch)
        os.chmod(part, 0o755)
        found["version"] = run_version(part)
        os.rename(part, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
    return found
