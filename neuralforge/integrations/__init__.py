"""Platform connectors: run NeuralForge jobs, deployments and file transfers on a compute backend.

``base`` is the interface every connector implements (``BaseConnector``, ``JobSpec``,
``ResourceConfig``, ``JobStatus``, ``JobResult``, …); ``ray`` the real one (Ray Jobs and Ray
Serve); ``contract`` the test suite any connector runs to show it keeps the interface's promises;
``credentials`` and ``retry`` the helpers connectors share.
"""

from neuralforge.integrations.base import (
    BaseConnector,
    Endpoint,
    JobInfo,
    JobResult,
    JobSpec,
    JobStatus,
    ResourceConfig,
    ResourceUsage,
)
from neuralforge.integrations.credentials import credentials_path, load_credentials, save_credentials
from neuralforge.integrations.errors import (
    ConnectorAuthError,
    ConnectorError,
    CredentialsError,
    JobNotFoundError,
    NotFoundError,
    TransientError,
    UnsupportedError,
)
from neuralforge.integrations.retry import RetryPolicy, retry

__all__ = [
    "BaseConnector",
    "ConnectorAuthError",
    "ConnectorError",
    "CredentialsError",
    "Endpoint",
    "JobInfo",
    "JobNotFoundError",
    "JobResult",
    "JobSpec",
    "JobStatus",
    "NotFoundError",
    "ResourceConfig",
    "ResourceUsage",
    "RetryPolicy",
    "TransientError",
    "UnsupportedError",
    "credentials_path",
    "load_credentials",
    "retry",
    "save_credentials",
]
