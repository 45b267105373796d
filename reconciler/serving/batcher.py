"""Micro-batching: concurrent requests to one model version become one model call.

One worker per loaded version takes requests from a queue. It runs what
is queued at once; it waits (up to ``max_wait`` seconds) only while more
requests are already on their way to it, announced by :meth:`expect` when
the server has routed a request here and is still reading its body. So a
lone client pays no waiting, and under load batches fill while the previous
one runs. A batch that TensorFlow rejects is retried request by request, so
one bad request never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from reconciler.serving.signature import Columns, ServingSignature, concatenate

Outputs = dict[str, np.ndarray]


@dataclass
class _Request:
    columns: Columns
    count: int
    done: asyncio.Future[Outputs] = field(default_factory=lambda: _loop().create_future())


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


class Batcher:
    def __init__(
        self,
        signature: ServingSignature,
        executor: Executor,
        *,
        max_batch: int = 256,
        max_wait: float = 0.002,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self.signature = signature
        self._executor = executor
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Request | None] = asyncio.Queue()
        self._expected = 0
        self._closed = False
        self._worker = asyncio.create_task(self._work())

    def expect(self) -> None:
        """A request is on its way (routed here, its body not yet read)."""
        self._expected += 1

    def forget(self) -> None:
        """An announced request will not come (its body was bad)."""
        self._expected -= 1

    async def predict(self, columns: Columns, count: int) -> Outputs:
        """Predictions for one request; call :meth:`expect` first."""
        self._expected -= 1
        if self._closed:  # unloaded while this request was read: it still gets an answer
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.signature.run, columns)
        request = _Request(columns, count)
        self._queue.put_nowait(request)
        return await request.done

    async def close(self) -> None:
        """Finish what is queued, then stop."""
        self._closed = True
        self._queue.put_nowait(None)
        await self._worker

    async def _work(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            size = first.count
            deadline = time.monotonic() + self._max_wait
            closing = False
            while size < self._max_batch:
                if not self._queue.empty():
                    item = self._queue.get_nowait()
                    if item is None:
                        closing = True
                        break
                    batch.append(item)
                    size += item.count
                elif self._expected > 0 and time.monotonic() < deadline:
                    await asyncio.sleep(0)  # let the requests on their way arrive
                else:
                    break
            await self._run(batch)
            if closing:
                return

    async def _run(self, batch: list[_Request]) -> None:
        loop = asyncio.get_running_loop()
        if self._on_batch:
            self._on_batch(len(batch), sum(r.count for r in batch))
        try:
            columns = concatenate([r.columns for r in batch])
            outputs = await loop.run_in_executor(self._executor, self.signature.run, columns)
        except Exception as exc:
            if len(batch) > 1:
                for request in batch:
                    await self._run([request])
            elif not batch[0].done.done():
                batch[0].done.set_exception(exc)
            return
        start = 0
        for request in batch:
            stop = start + request.count
            if not request.done.done():
                request.done.set_result({k: v[start:stop] for k, v in outputs.items()})
            start = stop
