"""NeuralForge for programs: ``neuralforge.client`` (the REST API's Python client; httpx and
websockets only) and ``neuralforge.integrations`` (connectors to compute platforms).

>>> from neuralforge import Client
>>> Client.__module__
'neuralforge.client'
"""

__all__ = ["APIError", "Client"]


def __getattr__(name: str):
    # lazy: `import neuralforge.integrations` does not pull in the HTTP client
    if name in __all__:
        from neuralforge import client

        return getattr(client, name)
    raise AttributeError(f"module 'neuralforge' has no attribute {name!r}")
