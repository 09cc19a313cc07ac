"""API keys: created once (the text is shown only then), stored hashed in ``<home>/api/keys.json``.

Every change (create, revoke) reads, edits and rewrites the file under ``keys.json.lock`` (a
:class:`filelock.FileLock`), so the CLI and several API processes changing keys at once lose none;
the new file is written beside it and renamed into place, so a reader sees the old or the new one.

A key reads ``nf_<id>_<secret>``: the id finds the record, the 256-bit secret is checked against
``sha256(salt + secret)`` with :func:`hmac.compare_digest`. A fast salted hash is right for random
secrets of this length (nothing to brute-force, unlike passwords) and keeps every request cheap.
Scopes nest: ``read`` < ``submit`` < ``admin``.

>>> store = KeyStore(Path(tempfile.mkdtemp()) / "keys.json")
>>> record, text = store.create("ci", "submit")
>>> store.verify(text) == record, store.verify(text + "x"), record.allows("read"), record.allows("admin")
(True, None, True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from neural_engine.errors import ValidationError

SCOPES = ("read", "submit", "admin")  # each includes the ones before it
PREFIX = "nf_"
LOCK_TIMEOUT = 30.0  # seconds a change waits for another process's


def scope_allows(held: str, needed: str) -> bool:
    return SCOPES.index(held) >= SCOPES.index(needed)


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ValidationError(f"the scope must be one of {', '.join(SCOPES)}; received {scope!r}")
    return scope


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """One key's record (never its text)."""

    id: str
    name: str
    scope: str
    salt: str
    hash: str
    created: float
    rate_limit: str | None = None  # overrides the settings' limit for this key, e.g. "10/minute"

    def allows(self, needed: str) -> bool:
        return scope_allows(self.scope, needed)

    def public(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope,
            "created": self.created,
            "rate_limit": self.rate_limit,
        }


class KeyStore:
    """The keys file; re-read when it changes, so `keys revoke` takes effect on a running server."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._cache: tuple[tuple[int, int], dict[str, ApiKey]] | None = None

    def _load(self) -> dict[str, ApiKey]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size)
        if self._cache is None or self._cache[0] != stamp:
            try:
                rows = json.loads(self.path.read_text())["keys"]
                keys = {r["id"]: ApiKey(**r) for r in rows}
            except (ValueError, KeyError, TypeError) as e:
                raise ValidationError(
                    f"{self.path} must be the keys file `neuralforge api keys` writes; it is unreadable ({e})"
                ) from None
            self._cache = (stamp, keys)
        return self._cache[1]

    @contextmanager
    def _update(self) -> Iterator[dict[str, ApiKey]]:
        """The keys as the file holds them now, to edit in place; saved when the block ends, all under
        the file's lock (read-modify-write by one process at a time)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(f"{self.path}.lock", timeout=LOCK_TIMEOUT)
        try:
            lock.acquire()
        except Timeout:
            raise ValidationError(
                f"changing the keys must take {lock.lock_file} within {LOCK_TIMEOUT:g} s; another process "
                "held it all that time",
                hint="try again; a lock held by a process that died is released with it",
            ) from None
        try:
            self._cache = None  # another process may have written within our cache's mtime tick
            keys = dict(self._load())
            yield keys
            self._save(keys)
        finally:
            lock.release()

    def _save(self, keys: dict[str, ApiKey]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        try:
            with os.fdopen(fd, "w") as f:  # mkstemp: mode 0600
                json.dump({"keys": [asdict(k) for k in keys.values()]}, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            Path(tmp).unlink(missing_ok=True)  # gone already after os.replace
        self._cache = None

    def list(self) -> list[ApiKey]:
        return sorted(self._load().values(), key=lambda k: k.created)

    def create(self, name: str, scope: str, rate_limit: str | None = None) -> tuple[ApiKey, str]:
        """A new key: its record and its text (shown once; only the hash is kept)."""
        check_scope(scope)
        if not name or not name.strip():
            raise ValidationError("a key needs a --name (who or what uses it); received none")
        with self._update() as keys:
            key_id = secrets.token_hex(6)
            while key_id in keys:
                key_id = secrets.token_hex(6)
            secret, salt = secrets.token_urlsafe(32), secrets.token_hex(16)
            record = ApiKey(key_id, name.strip(), scope, salt, _digest(salt, secret), time.time(), rate_limit)
            keys[key_id] = record
        return record, f"{PREFIX}{key_id}_{secret}"

    def revoke(self, id_or_name: str) -> ApiKey:
        with self._update() as keys:
            found = [k for k in keys.values() if id_or_name in (k.id, k.name)]
            if len(found) != 1:
                raise ValidationError(
                    f"revoke needs the id or the unique name of a key; {id_or_name!r} matches "
                    f"{len(found)} keys",
                    hint="`neuralforge api keys list` shows them",
                )
            del keys[found[0].id]
        return found[0]

    def verify(self, text: str) -> ApiKey | None:
        """The key's record when ``text`` is a valid key, else None (constant-time comparison)."""
        key_id, _, secret = text.removeprefix(PREFIX).partition("_")
        record = self._load().get(key_id) if text.startswith(PREFIX) else None
        salt, expected = (record.salt, record.hash) if record else ("00" * 16, "0" * 64)
        ok = hmac.compare_digest(_digest(salt, secret), expected)
        return record if ok and record is not None else None
