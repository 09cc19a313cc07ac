"""One settings object, read from the environment; the embedded defaults need no configuration.

| setting | environment | default (embedded) |
|---|---|---|
| home | ``NEURALFORGE_HOME`` | ``~/.neuralforge``: one data home per user, whatever the current folder |
| storage | ``NEURALFORGE_STORAGE`` | ``<home>`` (a local directory, or ``s3://bucket/prefix``) |
| s3_endpoint_url | ``NEURALFORGE_S3_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``) | AWS |
| mlflow_uri | ``MLFLOW_TRACKING_URI`` | ``sqlite:///<home>/mlflow.db`` |
| ray_address | ``RAY_ADDRESS`` | none: an embedded local Ray |
| max_upload_bytes | ``NEURALFORGE_MAX_UPLOAD_MB`` | 512 MiB |
| user | ``NEURALFORGE_USER`` | the login name (``getpass.getuser()``) |
| quota_gpu_hours | ``NEURALFORGE_QUOTA_GPU_HOURS`` | none: no monthly GPU-hour limit per user |
| quota_cpu_hours | ``NEURALFORGE_QUOTA_CPU_HOURS`` | none: no monthly CPU-hour limit per user |
| api_rate_limit | ``NEURALFORGE_API_RATE_LIMIT`` | ``120/minute`` per API key (``limits`` notation) |
| api_rate_limit_storage | ``NEURALFORGE_API_RATE_LIMIT_STORAGE`` | ``memory://`` (one API process; ``redis://…`` for several) |
| api_max_body_bytes | ``NEURALFORGE_API_MAX_BODY_MB`` | 10 MiB per request body |
| api_cors_origins | ``NEURALFORGE_API_CORS_ORIGINS`` | none (comma-separated origins, e.g. ``https://app.example.com``) |
| api_jwt_secret | ``NEURALFORGE_API_JWT_SECRET`` | none: JWT bearer tokens refused (HS256, at least 32 characters) |
| api_dev_key | ``NEURALFORGE_API_DEV_KEY`` | none: no development key (when set, this value is an admin key) |
| webhook_secret | ``NEURALFORGE_WEBHOOK_SECRET`` | none: generated once into ``<home>/api/webhook_secret`` |
| webhook_hosts | ``NEURALFORGE_WEBHOOK_HOSTS`` | none: any host (``hooks.example.com,.corp.example`` limits them) |
| device_data_share | ``NEURALFORGE_DEVICE_DATA_SHARE`` | 0.5: the share of free device memory training data may take on the device |

>>> s = Settings.from_env({"NEURALFORGE_HOME": "/tmp/nf"})
>>> s.storage, s.mlflow_uri
('/tmp/nf', 'sqlite:////tmp/nf/mlflow.db')
>>> from pathlib import Path  # the default does not follow the current folder
>>> Settings.from_env({}).home == Path.home() / ".neuralforge"
True
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    api_rate_limit: str = "120/minute"
    api_rate_limit_storage: str = "memory://"
    api_max_body_bytes: int = 10 * 2**20
    api_cors_origins: tuple[str, ...] = ()
    api_jwt_secret: str | None = field(default=None, repr=False)
    api_dev_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_hosts: tuple[str, ...] = ()  # empty: any host
    device_data_share: float = 0.5

    def __post_init__(self):
        if self.max_upload_bytes <= 0:
            raise ValidationError(
                f"NEURALFORGE_MAX_UPLOAD_MB must be positive; received {self.max_upload_bytes / 2**20:g}"
            )
        for var, value in (
            ("NEURALFORGE_QUOTA_GPU_HOURS", self.quota_gpu_hours),
            ("NEURALFORGE_QUOTA_CPU_HOURS", self.quota_cpu_hours),
        ):
            if value is not None and not value >= 0:
                raise ValidationError(f"{var} must be a number of hours >= 0; received {value:g}")
        if not 0 < self.device_data_share <= 1:
            raise ValidationError(
                "NEURALFORGE_DEVICE_DATA_SHARE must be a share of the free device memory in "
                f"(0, 1]; received {self.device_data_share:g}"
            )
        if self.api_max_body_bytes <= 0:
            raise ValidationError(
                f"NEURALFORGE_API_MAX_BODY_MB must be positive; received {self.api_max_body_bytes / 2**20:g}"
            )
        for var, value, least in (
            ("NEURALFORGE_API_JWT_SECRET", self.api_jwt_secret, 32),
            ("NEURALFORGE_API_DEV_KEY", self.api_dev_key, 16),
        ):
            if value is not None and len(value) < least:
                raise ValidationError(f"{var} must be at least {least} characters; received {len(value)}")

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("NEURALFORGE_HOME") or "~/.neuralforge").expanduser().absolute()
        try:
            max_mb = float(env.get("NEURALFORGE_MAX_UPLOAD_MB", "512"))
        except ValueError:
            raise ValidationError(
                "NEURALFORGE_MAX_UPLOAD_MB must be a number of megabytes; received "
                f"{env['NEURALFORGE_MAX_UPLOAD_MB']!r}"
            ) from None
        return Settings(
            home=home,
            storage=env.get("NEURALFORGE_STORAGE") or str(home),
            s3_endpoint_url=(
                env.get("NEURALFORGE_S3_ENDPOINT_URL")
                or env.get("AWS_ENDPOINT_URL_S3")
                or env.get("AWS_ENDPOINT_URL")
            ),
            mlflow_uri=env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home}/mlflow.db",
            ray_address=env.get("RAY_ADDRESS") or None,
            max_upload_bytes=int(max_mb * 2**20),
            user=env.get("NEURALFORGE_USER") or _login_name(),
            quota_gpu_hours=_hours(env, "NEURALFORGE_QUOTA_GPU_HOURS"),
            quota_cpu_hours=_hours(env, "NEURALFORGE_QUOTA_CPU_HOURS"),
            api_rate_limit=env.get("NEURALFORGE_API_RATE_LIMIT") or "120/minute",
            api_rate_limit_storage=env.get("NEURALFORGE_API_RATE_LIMIT_STORAGE") or "memory://",
            api_max_body_bytes=int(_number(env, "NEURALFORGE_API_MAX_BODY_MB", 10, "megabytes") * 2**20),
            api_cors_origins=tuple(
                o.strip() for o in env.get("NEURALFORGE_API_CORS_ORIGINS", "").split(",") if o.strip()
            ),
            api_jwt_secret=env.get("NEURALFORGE_API_JWT_SECRET") or None,
            api_dev_key=env.get("NEURALFORGE_API_DEV_KEY") or None,
            webhook_secret=env.get("NEURALFORGE_WEBHOOK_SECRET") or None,
            webhook_hosts=tuple(
                h.strip().lower() for h in env.get("NEURALFORGE_WEBHOOK_HOSTS", "").split(",") if h.strip()
            ),
            device_data_share=_share(env, "NEURALFORGE_DEVICE_DATA_SHARE", 0.5),
        )

    def s3_client_env(self) -> dict[str, str]:
        """The one S3 endpoint under every name the clients read: NeuralForge's own (datasets, serving,
        and jobs, which re-export it), boto3's S3-only variable, and MLflow's artifact store. Empty
        when no endpoint is set (AWS itself).

        >>> Settings.from_env({"NEURALFORGE_S3_ENDPOINT_URL": "http://minio:9000"}).s3_client_env()["MLFLOW_S3_ENDPOINT_URL"]
        'http://minio:9000'
        """
        if not self.s3_endpoint_url:
            return {}
        return dict.fromkeys(S3_ENDPOINT_VARIABLES, self.s3_endpoint_url)

    def store_env(self) -> dict[str, str]:
        """Where this process records and stores, as absolute values another process (a Ray job, a
        worker, the head of ``neuralforge cluster up``) can take whatever its working directory.

        >>> Settings.from_env({"NEURALFORGE_HOME": "/tmp/nf"}).store_env()["MLFLOW_TRACKING_URI"]
        'sqlite:////tmp/nf/mlflow.db'
        """
        return {
            "NEURALFORGE_HOME": str(self.home),
            "NEURALFORGE_STORAGE": absolute_storage(self.storage),
            "MLFLOW_TRACKING_URI": absolute_tracking_uri(self.mlflow_uri),
            **self.s3_client_env(),
        }


# boto3 reads AWS_ENDPOINT_URL_S3 for S3 clients only (AWS_ENDPOINT_URL would redirect every AWS
# service); MLflow's S3 artifact store reads MLFLOW_S3_ENDPOINT_URL; Ray's pyarrow filesystem is
# given the endpoint explicitly (``ray_jobs.train.setup.ray_storage``).
S3_ENDPOINT_VARIABLES = ("NEURALFORGE_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "MLFLOW_S3_ENDPOINT_URL")


def apply_s3_endpoint(s: Settings | None = None, environ: dict | None = None) -> None:
    """Export the S3 endpoint setting to this process's S3 clients (see :meth:`Settings.s3_client_env`).
    Every command, job, worker, the dashboard and the API call it first."""
    environ = os.environ if environ is None else environ
    environ.update((s or settings()).s3_client_env())


def absolute_storage(storage: str) -> str:
    """A storage location that means the same from any folder (``s3://…`` stays as is).

    >>> absolute_storage("s3://bucket/prefix"), absolute_storage("/data/store")
    ('s3://bucket/prefix', '/data/store')
    """
    if "://" in storage and not storage.startswith("file://"):
        return storage
    return str(Path(storage.removeprefix("file://")).expanduser().absolute())


def absolute_tracking_uri(uri: str) -> str:
    """An MLflow tracking URI that means the same from any folder: a relative SQLite file or
    directory store made absolute; servers and absolute paths unchanged.

    >>> absolute_tracking_uri("http://mlflow:5000"), absolute_tracking_uri("sqlite:////data/mlflow.db")
    ('http://mlflow:5000', 'sqlite:////data/mlflow.db')
    >>> absolute_tracking_uri("sqlite:///runs.db") == f"sqlite:///{Path('runs.db').absolute()}"
    True
    """
    if uri.startswith("sqlite:///"):
        path = uri.removeprefix("sqlite:///")
        return uri if path.startswith("/") or path == ":memory:" else f"sqlite:///{Path(path).absolute()}"
    if "://" not in uri:  # a directory store ("mlruns")
        return str(Path(uri).expanduser().absolute())
    return uri


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return "unknown"


def _number(env: Mapping[str, str], var: str, default: float, unit: str) -> float:
    try:
        return float(env.get(var) or default)
    except ValueError:
        raise ValidationError(f"{var} must be a number of {unit}; received {env[var]!r}") from None


def _share(env: Mapping[str, str], var: str, default: float) -> float:
    try:
        return float(env.get(var) or default)
    except ValueError:
        raise ValidationError(f"{var} must be a share in (0, 1]; received {env[var]!r}") from None


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
