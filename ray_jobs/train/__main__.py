"""``python -m ray_jobs.train``: the command of :mod:`ray_jobs.train`."""

import sys

from ray_jobs.train import main

sys.exit(main())
