"""``python -m ray_jobs.runs``: the command of :mod:`ray_jobs.runs`."""

import sys

from ray_jobs.runs import main

sys.exit(main())
