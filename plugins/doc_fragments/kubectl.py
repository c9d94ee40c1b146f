# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the kubectl options (twin of _kubectl.kubectl_argument_spec)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - The kubeconfig kubectl uses, on the host the module runs on; V("") leaves kubectl's default.
    type: path
    default: /etc/kubernetes/admin.conf
  kubectl_path:
    description:
      - The kubectl binary, a path or a name looked up in E(PATH).
    type: str
    default: kubectl
  timeout:
    description:
      - Seconds each kubectl request may take (C(--request-timeout)); the process is stopped a little
        after. V(0) means no limit.
    type: int
    default: 60
  context:
    description:
      - The kubeconfig context (C(--context)); kubectl's current context when not given or empty.
    type: str
"""
