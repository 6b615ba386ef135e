"""Step definitions available to every chapter's scenarios."""
from tests.steps.common import *  # noqa: F401,F403
from tests.steps.hubble import *  # noqa: F401,F403
