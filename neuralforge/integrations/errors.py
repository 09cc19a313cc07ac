"""The errors every connector raises, so callers (and the contract suite) can tell them apart.

``ConnectorError`` is a :class:`~neural_engine.errors.NeuralForgeError`: the CLI and the REST API
print its message and hint without a traceback. Which of them a backend failure becomes is the
connector's decision; :func:`~neuralforge.integrations.retry.retry` retries only
:class:`TransientError` (unless a connector's ``is_transient`` says more).

>>> err = UnsupportedError("acme", "deploy_model")
>>> isinstance(err, NotImplementedError), str(err)
(True, 'the acme connector must support deploy_model to do this; it does not')
"""

from __future__ import annotations

from neural_engine.errors import NeuralForgeError


class ConnectorError(NeuralForgeError):
    """A backend refused or failed a request (permanent: retrying the same request will not help)."""


class TransientError(ConnectorError):
    """A failure that may pass: the backend was unreachable, overloaded or rate-limiting.

    ``retry_after`` (seconds), when the backend said it, is the least the retry helper waits.
    """

    def __init__(self, message: str, *, hint: str | None = None, retry_after: float | None = None):
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class ConnectorAuthError(ConnectorError):
    """The backend needs credentials: none were found, or the ones sent were refused."""


class CredentialsError(ConnectorError):
    """A credentials file is missing, unreadable, malformed or readable by others."""


class NotFoundError(ConnectorError):
    """The backend has no object (job, endpoint, file) by the name asked for."""


class JobNotFoundError(NotFoundError):
    """No job has the id asked for."""


class UnsupportedError(ConnectorError, NotImplementedError):
    """An optional capability this connector does not offer (see ``capabilities()``)."""

    def __init__(self, connector: str, capability: str):
        super().__init__(
            f"the {connector} connector must support {capability} to do this; it does not",
            hint=f"check `{capability}` in connector.capabilities() before calling it",
        )
        self.connector = connector
        self.capability = capability
