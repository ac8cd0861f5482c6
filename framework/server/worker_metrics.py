"""A worker's side of the whole server's /metrics: how often it reports, and its scrapes.

A worker reports its snapshot to the master every REPORT_EVERY seconds (and when it stops,
and when asked); a GET of metrics_path in a worker asks the master for the whole server's
text over the pipe (``scrape``) and waits up to ANSWER_TIMEOUT for it (``scraped``). The
master's side, which sums, is master/metrics.py.
"""

from __future__ import annotations

import asyncio
import itertools

from framework.broker.channel import Channel
from framework.metrics_sum import MetricsUnavailable
from framework.server.messages import CONTROL, Scrape, Scraped

__all__ = ["ANSWER_TIMEOUT", "REPORT_EVERY", "MasterScrapes"]

REPORT_EVERY = 5.0      # seconds between two unasked reports of a worker's snapshot
ANSWER_TIMEOUT = 5.0    # how long a worker waits for the master's text


class MasterScrapes:
    """A worker's /metrics requests waiting for the master (``scrape``, answered ``scraped``)."""

    def __init__(self) -> None:
        self._waiting: dict[int, asyncio.Future[Scraped]] = {}
        self._ids = itertools.count(1)

    async def ask(self, channel: Channel | None) -> bytes:
        """The whole server's text; MetricsUnavailable when the master cannot give it."""
        if channel is None or channel.is_closing:
            raise MetricsUnavailable("metrics: this worker has no master to ask")
        request_id = next(self._ids)
        answer = self._waiting[request_id] = asyncio.get_running_loop().create_future()
        try:
            channel.write(Scrape(k=CONTROL, op="scrape", id=request_id))
            reply = await asyncio.wait_for(answer, ANSWER_TIMEOUT)
        except TimeoutError:
            raise MetricsUnavailable(f"metrics: the master did not answer within "
                                     f"{ANSWER_TIMEOUT:g} s") from None
        finally:
            self._waiting.pop(request_id, None)
        text = reply.get("text")
        if not isinstance(text, str):
            raise MetricsUnavailable(f"metrics: the master could not gather them "
                                     f"({reply.get('error')})")
        return text.encode()

    def answered(self, message: Scraped) -> None:
        """The master's ``scraped`` frame: it wakes the request of its id, if still waiting."""
        waiting = self._waiting.get(message["id"])
        if waiting is not None and not waiting.done():
            waiting.set_result(message)
