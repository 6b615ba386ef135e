"""cilium-lab-conformance: executable checks of the Cilium/Hubble lab."""

__version__ = "0.1.0"
