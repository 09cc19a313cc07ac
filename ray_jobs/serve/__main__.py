"""``python -m ray_jobs.serve``: the command of :mod:`ray_jobs.serve`."""

import sys

from ray_jobs.serve import main

sys.exit(main())
