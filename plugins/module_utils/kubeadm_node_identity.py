# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection-private: whether a kubeadm node's kubelet identity belongs to a cluster, read from its
files (the kubelet's kubeconfig, the node's CA certificate, the kubelet's client certificate).

Runs on the managed host: standard library only. PEM and the few DER fields needed (names, validity,
key identifiers) are read here; `cryptography`, when the host has it, also checks the client
certificate's signature. Files that exist but cannot be read or parsed raise IdentityError: a broken
file is a problem to look at, never taken for a lost identity. Nothing read from a file is quoted in
an error (the kubelet's client certificate file holds its private key).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import json
import os
import re
import time

try:
    import yaml
except ImportError:  # kubeconfigs written by kubeadm and the kubelet are read line by line then
    yaml = None

try:
    from cryptography import x509
except ImportError:  # the signature is then not checked; names and key identifiers still are
    x509 = None

KUBECONFIG = "/etc/kubernetes/kubelet.conf"
CA_CERT = "/etc/kubernetes/pki/ca.crt"
CLIENT_CERT = "/var/lib/kubelet/pki/kubelet-client-current.pem"

_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)
_NAMES = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU"}
_SUBJECT_KEY_ID = "2.5.29.14"
_AUTHORITY_KEY_ID = "2.5.29.35"
_KUBECONFIG_KEYS = (
    "certificate-authority-data",
    "certificate-authority",
    "client-certificate-data",
    "client-certificate",
)


class IdentityError(Exception):
    """A file (or parameter) that exists but cannot be read or is not what it should be."""

    def __init__(self, where, problem):
        super().__init__(f"{where}: {problem}")
        self.where = where


class _Malformed(ValueError):
    pass


def _tlv(data, pos, end=None):
    """(tag, value start, value end) of the DER element at pos."""
    end = len(data) if end is None else end
    if pos + 2 > end:
        raise _Malformed("truncated")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or pos + size > end:
            raise _Malformed("bad length")
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if pos + length > end:
        raise _Malformed("truncated")
    return tag, pos, pos + length


def _children(data, start, end):
    """[(tag, element start, value start, value end)] of the elements between start and end."""
    out = []
    while start < end:
        tag, value_start, value_end = _tlv(data, start, end)
        out.append((tag, start, value_start, value_end))
        start = value_end
    return out


def _oid(raw):
    numbers, value = [], 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            numbers.append(value)
            value = 0
    if not numbers:
        raise _Malformed("empty object identifier")
    first = numbers[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(n) for n in head + numbers[1:])


def _time(tag, raw):
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime, YYMMDDHHMMSSZ: years 1950-2049
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    elif tag != 0x18:  # GeneralizedTime, YYYYMMDDHHMMSSZ
        raise _Malformed("not a time")
    if len(text) != 15 or not text.endswith("Z"):
        raise _Malformed("time not in UTC")
    return calendar.timegm(time.strptime(text[:14], "%Y%m%d%H%M%S"))


def _name(data, start, end):
    """'CN=x, O=y' and the common name of a Name."""
    parts, common_name = [], None
    for rdn_tag, _s, rdn_start, rdn_end in _children(data, start, end):
        if rdn_tag != 0x31:
            raise _Malformed("bad name")
        for atv_tag, _s2, atv_start, atv_end in _children(data, rdn_start, rdn_end):
            fields = _children(data, atv_start, atv_end)
            if atv_tag != 0x30 or len(fields) != 2 or fields[0][0] != 0x06:
                raise _Malformed("bad name")
            oid = _oid(data[fields[0][2] : fields[0][3]])
            raw = data[fields[1][2] : fields[1][3]]
            value = raw.decode("utf-16-be" if fields[1][0] == 0x1E else "utf-8", errors="replace")
            key = _NAMES.get(oid, oid)
            parts.append(f"{key}={value}")
            if key == "CN":
                common_name = value
    return ", ".join(parts), common_name


class Certificate:
    """The fields of an X.509 certificate this module needs, read from its DER bytes."""

    def __init__(self, der):
        self.der = der
        tag, start, end = _tlv(der, 0)
        parts = _children(der, start, end) if tag == 0x30 and end == len(der) else []
        if [p[0] for p in parts] != [0x30, 0x30, 0x03]:
            raise _Malformed("not a certificate")
        fields = _children(der, parts[0][2], parts[0][3])
        if fields and fields[0][0] == 0xA0:  # version
            fields = fields[1:]
        if len(fields) < 6 or [f[0] for f in fields[:6]] != [0x02, 0x30, 0x30, 0x30, 0x30, 0x30]:
            raise _Malformed("not a certificate")
        _serial, _algorithm, issuer, validity, subject, _key = fields[:6]
        self.issuer_der = der[issuer[1] : issuer[3]]
        self.subject_der = der[subject[1] : subject[3]]
        self.issuer, _cn = _name(der, issuer[2], issuer[3])
        self.subject, self.common_name = _name(der, subject[2], subject[3])
        times = _children(der, validity[2], validity[3])
        if len(times) != 2:
            raise _Malformed("bad validity")
        self.not_before, self.not_after = (_time(t[0], der[t[2] : t[3]]) for t in times)
        self.subject_key_id = self.authority_key_id = None
        for extensions in (f for f in fields[6:] if f[0] == 0xA3):
            [(_seq, _s, list_start, list_end)] = _children(der, extensions[2], extensions[3])
            for _ext, _s, ext_start, ext_end in _children(der, list_start, list_end):
                ext = _children(der, ext_start, ext_end)
                oid, value = _oid(der[ext[0][2] : ext[0][3]]), ext[-1]
                if value[0] != 0x04:
                    raise _Malformed("bad extension")
                if oid == _SUBJECT_KEY_ID:
                    inner_tag, inner_start, inner_end = _tlv(der, value[2], value[3])
                    if inner_tag == 0x04:
                        self.subject_key_id = der[inner_start:inner_end]
                elif oid == _AUTHORITY_KEY_ID:
                    inner_tag, inner_start, inner_end = _tlv(der, value[2], value[3])
                    for part_tag, _p, part_start, part_end in _children(der, inner_start, inner_end):
                        if part_tag == 0x80:  # keyIdentifier [0]
                            self.authority_key_id = der[part_start:part_end]

    def summary(self, path):
        return {
            "path": path,
            "subject": self.subject,
            "issuer": self.issuer,
            "not_before": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.not_before)),
            "not_after": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.not_after)),
            "sha256": sha256_hex(self.der),
        }


def parse_certificate(der):
    try:
        return Certificate(der)
    except (_Malformed, IndexError, ValueError, UnicodeDecodeError) as exc:
        raise _Malformed(str(exc) or "not a certificate") from None


def sha256_hex(der):
    return hashlib.sha256(der).hexdigest()


def pem_certificates(data, where):
    """The DER bytes of every CERTIFICATE block in data, in order (other blocks, such as the key beside
    the kubelet's client certificate, are skipped); raises IdentityError naming `where`."""
    found = []
    for match in _PEM.finditer(data):
        if match.group(1) != b"CERTIFICATE":
            continue
        try:
            der = base64.b64decode(b"".join(match.group(2).split()), validate=True)
        except (binascii.Error, ValueError):
            raise IdentityError(where, "a CERTIFICATE block is not base64") from None
        try:
            parse_certificate(der)
        except _Malformed:
            raise IdentityError(where, "a CERTIFICATE block is not an X.509 certificate (garbled?)") from None
        found.append(der)
    if data.count(b"-----BEGIN CERTIFICATE-----") != len(found):
        raise IdentityError(where, "a CERTIFICATE block is incomplete (truncated file?)")
    if not found:
        raise IdentityError(where, "holds no PEM certificate")
    return found


def _b64(value, where, key):
    try:
        return base64.b64decode("".join(str(value).split()), validate=True)
    except (binascii.Error, ValueError):
        raise IdentityError(where, f"{key} is not base64") from None


def _source(entry, data_key, file_key, where, base_dir):
    if entry.get(data_key):
        return ("data", _b64(entry[data_key], where, data_key))
    if entry.get(file_key):
        return ("file", os.path.join(base_dir, str(entry[file_key])))
    return None


def _structured(doc, where):
    """The cluster and user entries the kubeconfig's current context names."""
    if not isinstance(doc, dict):
        raise IdentityError(where, "is not a kubeconfig (no mapping at the top)")

    def named(key):
        items = doc.get(key) or []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise IdentityError(where, f"is not a kubeconfig ({key} is not a list)")
        return {str(i.get("name")): i for i in items}

    clusters, users, contexts = named("clusters"), named("users"), named("contexts")
    current = doc.get("current-context")
    if current:
        context = (contexts.get(str(current)) or {}).get("context")
        if not isinstance(context, dict):
            raise IdentityError(where, f"current-context {current} names no context in it")
        cluster = clusters.get(str(context.get("cluster")), {}).get("cluster")
        user = users.get(str(context.get("user")), {}).get("user")
    elif len(clusters) == 1 and len(users) == 1:
        cluster = next(iter(clusters.values())).get("cluster")
        user = next(iter(users.values())).get("user")
    else:
        raise IdentityError(where, "has no current-context and not exactly one cluster and one user")
    return (cluster if isinstance(cluster, dict) else {}), (user if isinstance(user, dict) else {})


def _line_by_line(text, where):
    """Without PyYAML: the four keys of the kubeconfigs kubeadm and the kubelet write (one cluster,
    one user), each of which must have one value."""
    values = {}
    for key, value in re.findall(r"(?m)^\s*(" + "|".join(_KUBECONFIG_KEYS) + r"):[ \t]*(\S.*?)\s*$", text):
        values.setdefault(key, set()).add(value.strip("'\""))
    several = sorted(k for k, v in values.items() if len(v) > 1)
    if several:
        raise IdentityError(
            where,
            f"names several values of {', '.join(several)} (several clusters or users); reading which one "
            "the kubelet uses needs PyYAML on this host (python3-yaml)",
        )
    if not values and not re.search(r"(?m)^(clusters|users):", text):
        raise IdentityError(where, "is not a kubeconfig (no clusters or users)")
    one = {k: next(iter(v)) for k, v in values.items()}
    return one, one


def kubeconfig_credentials(text, where):
    """{'ca': (kind, value), 'client': (kind, value)} of a kubeconfig: kind 'data' (bytes, PEM) or
    'file' (a path, relative ones from the kubeconfig's directory)."""
    try:
        doc = json.loads(text)
        cluster, user = _structured(doc, where)
    except ValueError:
        if yaml is not None:
            try:
                doc = yaml.safe_load(text)
            except yaml.YAMLError:
                raise IdentityError(where, "is not a kubeconfig (not YAML)") from None
            cluster, user = _structured(doc, where)
        else:
            cluster, user = _line_by_line(text, where)
    base_dir = os.path.dirname(where)
    ca = _source(cluster, "certificate-authority-data", "certificate-authority", where, base_dir)
    client = _source(user, "client-certificate-data", "client-certificate", where, base_dir)
    if ca is None:
        raise IdentityError(
            where, "names no certificate authority (certificate-authority-data or certificate-authority)"
        )
    if client is None:
        raise IdentityError(
            where, "names no client certificate (client-certificate-data or client-certificate)"
        )
    return {"ca": ca, "client": client}


def read_file(path):
    """The file's bytes, or None when it does not exist (a dangling link included)."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise IdentityError(path, f"cannot be read ({exc.strerror or exc})") from None


def _signature_verifies(leaf, authority):
    """True or False when `cryptography` can tell, None when it is not there (or too old)."""
    if x509 is None:
        return None
    try:
        cert = x509.load_der_x509_certificate(leaf.der)
        issuer = x509.load_der_x509_certificate(authority.der)
        check = cert.verify_directly_issued_by
    except (AttributeError, ValueError):
        return None
    try:
        check(issuer)
    except Exception:  # InvalidSignature, ValueError, TypeError: any refusal is a no
        return False
    return True


def _may_have_issued(authority, leaf):
    """The issuer name is the authority's subject (bytes, not text: every kubeadm CA is CN=kubernetes)
    and the key identifiers agree where both certificates carry one."""
    if authority.subject_der != leaf.issuer_der:
        return False
    ids = (leaf.authority_key_id, authority.subject_key_id)
    return None in ids or ids[0] == ids[1]


def _kubeconfig_ca_where(kubeconfig, creds):
    kind, value = creds["ca"]
    if kind == "data":
        return f"{kubeconfig} (certificate-authority-data)"
    return f"{value} (named in {kubeconfig})"


def node_identity(
    cluster_ca, kubeconfig=KUBECONFIG, ca_path=CA_CERT, client_cert=None, node_name="", now=None
):
    """The verdict on a node's kubelet identity against the cluster CA certificate(s) (PEM bytes):
    match, mismatch (another cluster's CA, a client certificate the CA did not issue or for another
    node, one not yet valid), expired (the client certificate), or missing (an identity file is
    absent: a reinstalled node, or a join that did not finish). Raises IdentityError for a file that
    exists but cannot be read or parsed."""
    now = time.time() if now is None else now
    cluster = [parse_certificate(der) for der in pem_certificates(cluster_ca, "ca_cert")]
    cluster_der = {c.der for c in cluster}
    missing, reasons = [], []
    result = {
        "verdict": "match",
        "reasons": reasons,
        "missing": missing,
        "cluster_ca_sha256": [sha256_hex(c.der) for c in cluster],
        "client_certificate": None,
        "signature_checked": False,
    }

    def bundle(kind, value, where):
        if kind == "data":
            return pem_certificates(value, where)
        content = read_file(value)
        if content is None:
            if value not in missing:  # the kubeconfig may name the node's ca.crt itself
                missing.append(value)
            return None
        return pem_certificates(content, value)

    text = read_file(kubeconfig)
    if text is None:
        missing.append(kubeconfig)
        creds = {"ca": None, "client": ("file", client_cert or CLIENT_CERT)}
    else:
        creds = kubeconfig_credentials(text.decode("utf-8", errors="replace"), kubeconfig)
        if client_cert:
            creds["client"] = ("file", client_cert)
    node_ca = bundle("file", ca_path, ca_path)
    kubeconfig_ca = None
    if creds["ca"] is not None:
        kind, value = creds["ca"]
        kubeconfig_ca = bundle(kind, value, _kubeconfig_ca_where(kubeconfig, creds))
    kind, value = creds["client"]
    client_where = kubeconfig if kind == "data" else value
    client = bundle(kind, value, f"{kubeconfig} (client-certificate-data)" if kind == "data" else value)
    if missing:
        result["verdict"] = "missing"
        reasons.extend(f"{path} is missing" for path in missing)
        return result

    for where, certs in ((ca_path, node_ca), (_kubeconfig_ca_where(kubeconfig, creds), kubeconfig_ca)):
        if not cluster_der <= set(certs):
            reasons.append(
                f"{where} is not the cluster's CA (sha256 {', '.join(sha256_hex(c) for c in certs)}, "
                f"the cluster's {', '.join(result['cluster_ca_sha256'])})"
            )
    leaf = parse_certificate(client[0])
    result["client_certificate"] = leaf.summary(client_where)
    issuers = [c for c in cluster if _may_have_issued(c, leaf)]
    if not issuers:
        reasons.append(
            f"the client certificate {client_where} ({leaf.subject}) was not issued by the cluster CA"
        )
    else:
        verdicts = [_signature_verifies(leaf, c) for c in issuers]
        if True in verdicts:
            result["signature_checked"] = True
        elif False in verdicts:
            result["signature_checked"] = True
            reasons.append(
                f"the client certificate {client_where} names the cluster CA as its issuer but its signature "
                "does not verify with the cluster CA's key"
            )
    if node_name and leaf.common_name != f"system:node:{node_name}":
        reasons.append(
            f"the client certificate {client_where} is {leaf.subject}, not system:node:{node_name}'s"
        )
    if now < leaf.not_before:
        reasons.append(
            f"the client certificate {client_where} is not valid before "
            f"{result['client_certificate']['not_before']} (is this host's clock right?)"
        )
    if reasons:
        result["verdict"] = "mismatch"
    elif now > leaf.not_after:
        result["verdict"] = "expired"
        reasons.append(
            f"the client certificate {client_where} expired at {result['client_certificate']['not_after']}"
        )
    return result
