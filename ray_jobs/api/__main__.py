"""``python -m ray_jobs.api``: the same as ``neuralforge api``."""

import sys

from ray_jobs.api.cli import __doc__ as doc
from ray_jobs.api.cli import add_arguments, run
from ray_jobs.entry import module_main

if __name__ == "__main__":
    sys.exit(module_main("python -m ray_jobs.api", doc, add_arguments, run))
