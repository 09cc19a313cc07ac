"""Credential files: JSON objects of strings, private to their owner.

Written atomically with mode 0600 (a temporary file in the same folder, made 0600 before a byte is
written, then renamed over the old one), in a folder made 0700. Read only when the file belongs to
this user and no one else may read or write it — as ``ssh`` treats private keys; otherwise a
:class:`CredentialsError` says how to fix it.

>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "credentials" / "acme.json"
>>> oct(save_credentials(path, {"token": "s3cret"}).stat().st_mode & 0o777)
'0o600'
>>> load_credentials(path)
{'token': 's3cret'}
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from neural_engine.settings import settings
from neuralforge.integrations.errors import CredentialsError

PRIVATE = 0o600


def credentials_path(connector: str, home: Path | None = None) -> Path:
    """Where ``connector`` keeps its credentials by default: ``<home>/credentials/<connector>.json``."""
    return (home or settings().home) / "credentials" / f"{connector}.json"


def save_credentials(path: str | Path, data: Mapping[str, str]) -> Path:
    """Write ``data`` to ``path`` (mode 0600, atomically); the path."""
    bad = [k for k, v in data.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise CredentialsError(f"credentials must map names to strings; received non-strings for {bad}")
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # created 0600
    try:
        os.fchmod(fd, PRIVATE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(dict(data), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_credentials(path: str | Path) -> dict[str, str]:
    """The credentials in ``path``; refused unless the file is this user's and private (0600 or 0400)."""
    path = Path(path).expanduser()
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise CredentialsError(
            f"a credentials file must exist at {path}; there is none",
            hint="save one first (the connector's save_credentials)",
        ) from None
    except OSError as e:
        raise CredentialsError(
            f"the credentials file {path} must be readable; it is not ({e.strerror})"
        ) from None
    with os.fdopen(fd, encoding="utf-8") as f:
        st = os.fstat(f.fileno())  # of the file opened, so a swap after the check cannot slip through
        _check_private(path, st)
        try:
            data = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CredentialsError(
                f"the credentials file {path} must hold a JSON object; it does not ({e})"
            ) from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise CredentialsError(
            f"the credentials file {path} must hold a JSON object of strings; received {type(data).__name__}"
        )
    return data


def _check_private(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise CredentialsError(f"the credentials file {path} must be a regular file; it is not")
    if st.st_uid != os.getuid():
        raise CredentialsError(
            f"the credentials file {path} must belong to this user (uid {os.getuid()}); "
            f"it belongs to uid {st.st_uid}",
            hint=f"save the credentials again as this user, or chown it: chown {os.getuid()} {path}",
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        who = "everyone" if mode & 0o007 else "its group"
        raise CredentialsError(
            f"the credentials file {path} must be private to its owner (mode 0600); it is "
            f"{mode:04o}, so {who} may read or change it",
            hint=f"chmod 600 {path} — and replace the secret if others could have read it",
        )
