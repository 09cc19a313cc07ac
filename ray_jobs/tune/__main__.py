"""``python -m ray_jobs.tune``: the command of :mod:`ray_jobs.tune`."""

import sys

from ray_jobs.tune import main

sys.exit(main())
