"""A lease in the store: which one of several API processes acts for a job (delivers its webhooks).

Any :class:`~neural_engine.data.storage.Storage` the processes share will do (a directory on one
host, ``s3://`` across hosts): the lease needs only its create-if-absent write, list, read and
delete.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from neural_engine.data.storage import Storage
from neural_engine.errors import NeuralForgeError

log = logging.getLogger("neuralforge.api.lease")
CLOCK_SKEW = 2.0  # seconds two API hosts' clocks may differ by: a lease is taken over this much late


class Lease:
    """The right to deliver one job's webhooks, held by at most one API process at a time.

    The lease is a sequence of generations in the store, ``api/webhooks/<job>/lease/<n>.json``,
    each ``{"owner", "expires"}`` and each made by the store's create-if-absent write (a hard link
    on disk, ``If-None-Match: *`` on S3), so exactly one process makes generation ``n``. The latest
    generation says who holds the lease. No generation is ever rewritten, so there is no
    read-check-write race anywhere:

    - take it (:meth:`acquire`): when there is none, or the latest expired ``CLOCK_SKEW`` seconds
      ago, create the next generation; of several processes racing for it, one wins.
    - keep it (:meth:`renew`, every third of the term): the holder creates the next generation too.
      A process that took the lease over (only possible once the term ran out) made that number
      first, so the holder's create fails and it knows it lost.
    - act on it (:meth:`remaining`): the holder starts a delivery only while the term it last
      created, counted on its own clock from before the create, has longer to run than the
      delivery may take; so it has finished before another process may take over.
    - hand it back (:meth:`release`, on shutdown): a generation that has already expired, so
      another process takes over at once rather than after the term.

    Old generations are deleted (all but the last two). A process working from a listing that old
    could create a deleted number again; its claim counts only if that number is still the latest
    afterwards. Delivery stays at-least-once at one edge: a holder killed after the receiver took
    an event but before recording it leaves that event to the next holder.

    >>> import tempfile
    >>> from neural_engine.data.storage import open_storage
    >>> store = open_storage(tempfile.mkdtemp())
    >>> a, b = Lease(store, "job-1", "a", seconds=30), Lease(store, "job-1", "b", seconds=30)
    >>> a.acquire(), b.acquire(), a.renew(), a.generation
    (True, False, True, 2)
    >>> a.release(); b.acquire(), b.generation
    (True, 4)
    """

    def __init__(self, store: Storage, job_id: str, owner: str, seconds: float = 30.0):
        self.store, self.owner, self.seconds = store, owner, seconds
        self.prefix = f"api/webhooks/{job_id}/lease/"
        self.generation, self.deadline = 0, 0.0  # ours while held; the term's end (time.monotonic)
        self._lock = threading.Lock()
        self._renewing = False

    @property
    def held(self) -> bool:
        return self.remaining() > 0

    def remaining(self) -> float:
        """Seconds of the term left to this process (0: not held)."""
        return max(0.0, self.deadline - time.monotonic()) if self.generation else 0.0

    def generations(self) -> list[int]:
        names = (k.rsplit("/", 1)[-1].removesuffix(".json") for k in self.store.list(self.prefix))
        return sorted(int(n) for n in names if n.isdigit())

    def acquire(self) -> bool:
        """Take the lease if it is free (no generation yet, or the latest expired); whether held."""
        with self._lock:
            if self.held:
                return True
            found = self.generations()
            if found:
                latest = json.loads(self.store.read(f"{self.prefix}{found[-1]}.json"))
                if time.time() < latest["expires"] + CLOCK_SKEW:
                    return False
            return self._claim((found[-1] if found else 0) + 1, self.seconds)

    def renew(self) -> bool:
        """Extend the term by creating the next generation; False: the lease was lost (or not held)."""
        with self._lock:
            return self.held and self._claim(self.generation + 1, self.seconds)

    def release(self) -> None:
        """Hand the lease back (a generation that expired already), so another process takes it now."""
        with self._lock:
            try:
                if self.held:
                    self._claim(self.generation + 1, 0.0)
            finally:
                self.generation = 0

    def keep(self, stop: threading.Event) -> None:
        """Renew the lease every third of its term in a background thread, until it is lost or
        released, or ``stop`` is set."""
        with self._lock:
            if self._renewing:
                return
            self._renewing = True
        renewer = threading.Thread(
            target=self._renew_until, args=(stop,), name=f"lease-{self.prefix}", daemon=True
        )
        renewer.start()

    def _renew_until(self, stop: threading.Event) -> None:
        while not stop.wait(self.seconds / 3):
            with self._lock:
                if not self.generation:  # lost or released: acquire() and keep() start again
                    self._renewing = False
                    return
            try:
                self.renew()
            except (NeuralForgeError, OSError) as e:  # the store: try again while the term lasts
                log.warning("renewing the webhook lease %s: %s", self.prefix, getattr(e, "message", e))
        with self._lock:
            self._renewing = False

    def _claim(self, n: int, seconds: float) -> bool:
        start = time.monotonic()
        doc = {"owner": self.owner, "expires": time.time() + seconds if seconds else 0.0}
        if not self.store.create(f"{self.prefix}{n}.json", json.dumps(doc).encode()):
            self.generation = 0
            return False
        found = self.generations()
        if found[-1] != n:  # a number freed by the cleanup below, created from a stale listing
            self.generation = 0
            return False
        self.generation, self.deadline = n, start + seconds
        for old in found[:-2]:
            self.store.delete(f"{self.prefix}{old}.json")
        return True
