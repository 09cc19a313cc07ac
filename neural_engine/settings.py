"""One settings object, read from the environment; the embedded defaults need no configuration.

| setting | environment | default (embedded) |
|---|---|---|
| home | ``NEURALFORGE_HOME`` | ``./.neuralforge`` |
| storage | ``NEURALFORGE_STORAGE`` | ``<home>`` (a local directory, or ``s3://bucket/prefix``) |
| s3_endpoint_url | ``NEURALFORGE_S3_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL``) | AWS |
| mlflow_uri | ``MLFLOW_TRACKING_URI`` | ``sqlite:///<home>/mlflow.db`` |
| ray_address | ``RAY_ADDRESS`` | none: an embedded local Ray |
| max_upload_bytes | ``NEURALFORGE_MAX_UPLOAD_MB`` | 512 MiB |
| user | ``NEURALFORGE_USER`` | the login name (``getpass.getuser()``) |
| quota_gpu_hours | ``NEURALFORGE_QUOTA_GPU_HOURS`` | none: no monthly GPU-hour limit per user |
| quota_cpu_hours | ``NEURALFORGE_QUOTA_CPU_HOURS`` | none: no monthly CPU-hour limit per user |

>>> s = Settings.from_env({"NEURALFORGE_HOME": "/tmp/nf"})
>>> s.storage, s.mlflow_uri
('/tmp/nf', 'sqlite:////tmp/nf/mlflow.db')
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from neural_engine.errors import ValidationError


@dataclass(frozen=True)
class Settings:
    home: Path
    storage: str
    s3_endpoint_url: str | None
    mlflow_uri: str
    ray_address: str | None
    max_upload_bytes: int
    user: str = "unknown"
    quota_gpu_hours: float | None = None
    quota_cpu_hours: float | None = None

    def __post_init__(self):
        if self.max_upload_bytes <= 0:
            raise ValidationError(f"NEURALFORGE_MAX_UPLOAD_MB must be positive; received "
                                  f"{self.max_upload_bytes / 2**20:g}")
        for var, value in (("NEURALFORGE_QUOTA_GPU_HOURS", self.quota_gpu_hours),
                           ("NEURALFORGE_QUOTA_CPU_HOURS", self.quota_cpu_hours)):
            if value is not None and not value >= 0:
                raise ValidationError(f"{var} must be a number of hours >= 0; received {value:g}")

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("NEURALFORGE_HOME", ".neuralforge")).expanduser().absolute()
        try:
            max_mb = float(env.get("NEURALFORGE_MAX_UPLOAD_MB", "512"))
        except ValueError:
            raise ValidationError("NEURALFORGE_MAX_UPLOAD_MB must be a number of megabytes; received "
                                  f"{env['NEURALFORGE_MAX_UPLOAD_MB']!r}") from None
        return Settings(
            home=home,
            storage=env.get("NEURALFORGE_STORAGE") or str(home),
            s3_endpoint_url=env.get("NEURALFORGE_S3_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL"),
            mlflow_uri=env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home}/mlflow.db",
            ray_address=env.get("RAY_ADDRESS") or None,
            max_upload_bytes=int(max_mb * 2**20),
            user=env.get("NEURALFORGE_USER") or _login_name(),
            quota_gpu_hours=_hours(env, "NEURALFORGE_QUOTA_GPU_HOURS"),
            quota_cpu_hours=_hours(env, "NEURALFORGE_QUOTA_CPU_HOURS"),
        )


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return "unknown"


def _hours(env: Mapping[str, str], var: str) -> float | None:
    if not env.get(var):
        return None
    try:
        return float(env[var])
    except ValueError:
        raise ValidationError(f"{var} must be a number of hours; received {env[var]!r}") from None


def settings() -> Settings:
    """The settings of this process's environment (read each call, so tests can change it)."""
    return Settings.from_env()
