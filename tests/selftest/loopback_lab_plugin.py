"""Loaded with `-p tests.selftest.loopback_lab_plugin` by the Vagrant progress self-test:
every "node" of the stand-in lab is the loopback host, so the node paths the backend reads
(completion markers, admin.conf, provisioning logs) are moved into the test's folder,
named by environment variables.  Nothing else of the backend changes."""
from __future__ import annotations

import os

from cilab.backends import vagrant

vagrant.MARKER_DIR = os.environ["CILAB_TEST_MARKER_DIR"]
vagrant.ADMIN_KUBECONFIG = os.environ["CILAB_TEST_ADMIN_CONF"]
vagrant.NODE_LOGS = os.environ["CILAB_TEST_NODE_LOGS"]
