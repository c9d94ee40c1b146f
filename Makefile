# Entry points for newcomers and CI. Run as root on a Debian machine (the lab makes namespaces).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: venv deps binaries kube-binaries lint changelog-lint docs-lint docs release unit component integration \
	integration-extended molecule test lab lab-etcd lab-down clean

venv: $(VENV)/.installed  ## the project virtualenv, from pyproject.toml
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	mkdir -p .cache/collections/ansible_collections/kubedr
	ln -sfn ../../../.. .cache/collections/ansible_collections/kubedr/kubeadm
	touch $@

deps:  ## Debian packages the lab needs (openssh-server, iproute2, ...), and chromium for the docs test
	bash lab/install-packages.sh

binaries: venv  ## etcd 3.5/3.6, restic, rest-server built from pinned sources, cached
	$(PY) -m lab build

kube-binaries: venv  ## Kubernetes 1.36 from source for the kubeadm lab (about 6 min cold here), cached
	$(PY) -m lab build kubernetes

lint: venv changelog-lint docs-lint
	ruff check .
	ansible-lint
	bash tests/sanity/run.sh

changelog-lint: venv  ## the release notes' fragments and changelogs/changelog.yaml (antsibull-changelog)
	antsibull-changelog lint
	antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	$(PY) tools/release.py --check-only  # every module, plugin and role of galaxy.yml's version in its notes

docs-lint: venv  ## every module's, plugin's and role's documentation (antsibull-docs lint-collection-docs)
	$(PY) tools/docs.py lint

docs: venv  ## HTML site of every module, plugin and role with its options: build/docs/site/build/html/index.html
	$(PY) tools/docs.py build build/docs

release: venv changelog-lint  ## the tarball in build/release/, once galaxy.yml's version is the changelog's newest
	$(PY) tools/release.py

unit: venv  ## the fast tier: in-process Python, stubbed commands, nothing built (under 2 min)
	pytest -n auto tests/unit  # one worker per core (pytest-xdist)

# deps: chromium, which tests/component/test_docs_site.py opens the built docs in
component: venv deps binaries  ## real etcd, restic, rest-server on 127.0.0.1; roles run by ansible-playbook on localhost
	pytest -n auto tests/component

integration: venv deps binaries kube-binaries
	pytest tests/integration -m "not extended"

# Tests on kubeadm labs of their own that CI's time budget leaves out (see README).
integration-extended: venv deps binaries kube-binaries
	pytest tests/integration -m extended

# Molecule runs on a lab of its own, so a developer's lab survives `make test`.
molecule: export KUBEDR_LAB_SPEC = $(CURDIR)/molecule/lab_spec.toml
molecule: export KUBEDR_LAB_DIR = /var/lib/kubedr-molecule
molecule: export KUBEDR_LAB_INVENTORY = $(CURDIR)/.cache/molecule-inventory
molecule: export MOLECULE_GLOB = molecule/*/molecule.yml
molecule: venv deps binaries kube-binaries
	molecule destroy --all  # the lab down and molecule's state reset: a stale "created" would skip create
	molecule test --all

test: lint unit component integration molecule  ## the whole test suite

lab: deps binaries kube-binaries  ## the main job on the built-in lab: a kubeadm HA cluster, backed up
	$(PY) -m lab up --kube
	$(PY) -m lab status
	ansible-playbook playbooks/backup.yml -i inventories/lab

lab-etcd: deps binaries  ## a lighter lab: the hosts with a kubeadm-style TLS etcd cluster, no Kubernetes
	$(PY) -m lab up --etcd
	$(PY) -m lab status
	ansible-playbook playbooks/etcd_status.yml -i inventories/lab

lab-down: venv
	$(PY) -m lab down
