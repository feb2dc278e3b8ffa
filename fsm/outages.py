"""One log line per outage of a part the API depends on, not a traceback per request.

The first failure of a part is logged as a warning with its cause; later failures only count
until the part works again, and then one line says how long it was down and how many
requests were refused meanwhile.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

log = logging.getLogger("fsm.outages")


@dataclass
class OutageLog:
    """The state of one part (the database, the object store) as requests see it."""

    part: str
    down_since: float | None = None
    refused: int = 0
    last_reason: str = ""

    @property
    def is_down(self) -> bool:
        return self.down_since is not None

    def failed(self, reason: str) -> None:
        """A request could not use the part; log it only when the outage begins."""
        self.refused += 1
        self.last_reason = reason
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.refused = 1
            log.warning("%s unavailable: %s", self.part, reason)

    def recovered(self) -> None:
        """The part answered again; say so once, with what the outage cost."""
        if self.down_since is None:
            return
        lasted = time.monotonic() - self.down_since
        log.warning(
            "%s available again after %.1f s (%d requests refused)",
            self.part,
            lasted,
            self.refused,
        )
        self.down_since = None
        self.refused = 0


DATABASE = OutageLog("database")
OBJECT_STORE = OutageLog("object store")
PARTS = {"database": DATABASE, "object_store": OBJECT_STORE}
