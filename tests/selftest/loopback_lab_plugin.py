"""Loaded with `-p tests.selftest.loopback_lab_plugin` by the self-tests that run the suite
on the stand-in `vagrant` and the loopback sshd: every "node" of the stand-in lab is the
loopback host, so the node paths the backend reads (completion markers, admin.conf,
provisioning logs) are moved into the test's folder, named by environment variables.

Optional, for a run against the fake API server (tests/unit/fake_apiserver.py):
CILAB_TEST_API_SERVER is the URL the kubeconfig read from "k8s-ctr" is pointed at (instead
of https://<CTR_IP>:6443: the fake server is plain HTTP on 127.0.0.1); CILAB_TEST_HELM,
CILAB_TEST_HELM_VALUES_DIR and CILAB_TEST_KUBECTL name the stand-in helm and kubectl run
on "k8s-ctr" (absolute paths: sudo resets PATH) and where the helm values go.  Nothing else
of the backend changes."""
from __future__ import annotations

import os

from cilab import monitoring
from cilab.backends import vagrant

vagrant.MARKER_DIR = os.environ["CILAB_TEST_MARKER_DIR"]
vagrant.ADMIN_KUBECONFIG = os.environ["CILAB_TEST_ADMIN_CONF"]
vagrant.NODE_LOGS = os.environ["CILAB_TEST_NODE_LOGS"]
if os.environ.get("CILAB_TEST_API_SERVER"):
    _point = vagrant._point_kubeconfig_at
    vagrant._point_kubeconfig_at = lambda text, server: _point(text, os.environ["CILAB_TEST_API_SERVER"])
if os.environ.get("CILAB_TEST_HELM"):
    vagrant.HELM = os.environ["CILAB_TEST_HELM"]
    vagrant.HELM_VALUES_DIR = os.environ["CILAB_TEST_HELM_VALUES_DIR"]
if os.environ.get("CILAB_TEST_KUBECTL"):
    monitoring.KUBECTL = os.environ["CILAB_TEST_KUBECTL"]
    monitoring.KUBECONFIG = os.environ["CILAB_TEST_ADMIN_CONF"]
