"""Debian's real `vagrant` (2.3.4, with its vagrant-libvirt plugin; scripts/test installs
both) evaluates the real Vagrantfile on every run of the test command: `vagrant validate`
and `vagrant status --machine-readable` load the Vagrantfile, its helper library, the
provider blocks and the trigger through Vagrant's own API (a `ruby -c` syntax check sees
none of that), and the states it lists go through the adapter's parser.  Vagrant 2.3.4 is
older than the lab's floor (2.4.9), so these calls lower the floor with the Vagrantfile's
test knob CILAB_VAGRANT_FLOOR; without it, the suite names the version and the minimum.

The Vagrantfile runs in a copy of provisioning/ (it creates .vagrant/ with the lab's token
and CA next to itself) with VAGRANT_HOME in the test's folder; nothing reaches the network
(no box is fetched by validate or status).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from cilab.backends.vagrant import PROVISIONING_DIR
from cilab.errors import CallFailed, ConfigError
from cilab.vagrant_cli import MIN_VAGRANT, MachineStatus, VagrantCLI

DEBIAN_VAGRANT = "/usr/bin/vagrant"


@pytest.fixture
def real_vagrant() -> str:
    if not Path(DEBIAN_VAGRANT).exists():
        pytest.fail(f"{DEBIAN_VAGRANT} is missing: apt-get install vagrant vagrant-libvirt (scripts/test does)",
                    pytrace=False)
    return DEBIAN_VAGRANT


def lab_copy(tmp_path: Path) -> Path:
    root = tmp_path / "provisioning"
    shutil.copytree(PROVISIONING_DIR, root, ignore=shutil.ignore_patterns(".vagrant"))
    return root


def test_real_vagrant_validates_and_lists_the_real_vagrantfile(real_vagrant: str, tmp_path: Path) -> None:
    root = lab_copy(tmp_path)
    env = {"CILAB_VAGRANT_FLOOR": "2.3.4", "VAGRANT_HOME": str(tmp_path / "vagrant.d"),
           "VAGRANT_DEFAULT_PROVIDER": "libvirt"}
    cli = VagrantCLI(root, executable=real_vagrant, env=env)
    assert "Vagrantfile validated successfully" in cli.validate(timeout=300)
    assert cli.status(timeout=300) == [MachineStatus(n, "not_created", "libvirt")
                                       for n in ("k8s-ctr", "k8s-w1", "k8s-w2")]
    # the Vagrantfile made the lab's bootstrap token and CA next to itself, private
    secrets = root / ".vagrant" / "cilab"
    assert (secrets / "ca.crt").is_file() and (secrets.stat().st_mode & 0o077) == 0


def test_real_vagrant_without_the_knob_refuses_with_its_own_requirement(real_vagrant: str, tmp_path: Path) -> None:
    root = lab_copy(tmp_path)
    cli = VagrantCLI(root, executable=real_vagrant, env={"VAGRANT_HOME": str(tmp_path / "vagrant.d"),
                                                          "VAGRANT_DEFAULT_PROVIDER": "libvirt"})
    with pytest.raises(CallFailed, match=re.escape(f">= {MIN_VAGRANT}")):
        cli.status(timeout=300)


def test_real_vagrant_too_old_is_one_line_naming_both_versions(real_vagrant: str, tmp_path: Path) -> None:
    cli = VagrantCLI(tmp_path, executable=real_vagrant, env={"VAGRANT_HOME": str(tmp_path / "vagrant.d")})
    assert cli.version() == "2.3.4"
    with pytest.raises(ConfigError) as err:
        cli.check_version()
    assert str(err.value) == (f"Vagrant 2.3.4 found at {real_vagrant}; the lab needs Vagrant {MIN_VAGRANT} or newer "
                              "(VirtualBox 7.2 needs it): get it from https://developer.hashicorp.com/vagrant/install")
