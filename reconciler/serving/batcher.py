"""Micro-batching: concurrent requests to one model version become one model call.

One batch runs at a time per loaded version. Requests that arrive while a
batch runs queue, and the next batch takes them all when it ends. A batch
waits (up to ``max_wait`` seconds) only while more requests are already on
their way, announced by :meth:`expect` when the server has routed a request
here and is still reading its body.

A request that finds the version idle, and nothing else on its way even
after the event loop has taken in what the sockets hold (two turns of the
loop), is a lone client's: when the model answers that many instances in
under ``INLINE_UNDER`` it is called on the event loop's own thread. Waking a
worker thread and then the loop again costs a lone client about as much as
the call itself on this 2-core machine (bench/serving.py); under load the
requests find the version busy or others on their way, and batch.

The model call's end is delivered by a callback the worker thread schedules
on the event loop, which answers each request of the batch and starts the
next: no task stands between the thread and the waiting requests, and a
request whose client has gone cannot strand its neighbours. A batch that
TensorFlow rejects is retried request by request, so one bad request never
fails its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reconciler.serving.signature import Columns, ServingSignature, concatenate

Outputs = dict[str, np.ndarray]

INLINE_UNDER = 0.001  # seconds: a model call this short may run on the event loop's thread


@dataclass
class _Request:
    columns: Columns
    count: int
    done: asyncio.Future[Outputs] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


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
        self._loop = asyncio.get_running_loop()
        self._pending: deque[_Request] = deque()
        self._pending_instances = 0  # of the requests in _pending
        self._expected = 0
        self._busy = False  # a batch runs, or is being gathered
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()  # gatherers and retries, kept alive
        # The most instances a call has answered in under INLINE_UNDER (none measured yet).
        self._fast_upto = 0

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
            return await self._loop.run_in_executor(self._executor, self.signature.run, columns)
        request = _Request(columns, count)
        self._pending.append(request)
        self._pending_instances += count
        if not self._busy:
            self._busy = True
            self._idle.clear()
            try:
                if count <= self._fast_upto and await self._alone(request):
                    self._take()  # it alone, as _alone found
                    self._call_inline(request)
            finally:
                self._next()
        return await request.done

    async def _alone(self, request: _Request) -> bool:
        """Whether ``request`` is still the only one, once the loop has read what came."""
        for _ in range(2):  # one turn reads the sockets, the next starts their handlers
            await asyncio.sleep(0)
        return self._expected == 0 and len(self._pending) == 1 and self._pending[0] is request

    def _call_inline(self, request: _Request) -> None:
        try:
            outputs = self._timed_run(request.columns, request.count)
        except Exception as exc:
            request.done.set_exception(exc)
        else:
            request.done.set_result(outputs)

    def _timed_run(self, columns: Columns, count: int) -> Outputs:
        started = time.perf_counter()
        outputs = self.signature.run(columns)
        if time.perf_counter() - started < INLINE_UNDER:
            self._fast_upto = max(self._fast_upto, count)
        else:
            self._fast_upto = min(self._fast_upto, count - 1)
        return outputs

    async def close(self) -> None:
        """Finish what is queued and running, then stop."""
        self._closed = True
        await self._idle.wait()

    def _next(self) -> None:
        """Start the next batch, or become idle; called while busy."""
        if not self._pending:
            self._busy = False
            self._idle.set()
        elif self._expected > 0 and self._pending_instances < self._max_batch:
            self._spawn(self._gather())  # wait briefly for the requests on their way
        else:
            self._start(self._take())

    async def _gather(self) -> None:
        deadline = time.monotonic() + self._max_wait
        while (
            self._expected > 0
            and self._pending_instances < self._max_batch
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0)  # let the requests on their way arrive
        self._start(self._take())

    def _take(self) -> list[_Request]:
        batch = [self._pending.popleft()]
        size = batch[0].count
        while self._pending and size < self._max_batch:
            batch.append(self._pending.popleft())
            size += batch[-1].count
        self._pending_instances -= size
        return batch

    def _start(self, batch: list[_Request]) -> None:
        size = sum(r.count for r in batch)
        if self._on_batch:
            self._on_batch(len(batch), size)
        try:
            columns = concatenate([r.columns for r in batch])
            call = self._executor.submit(self._timed_run, columns, size)
        except Exception as exc:  # shapes that do not stack; an executor shut down
            self._failed(batch, exc)
            return
        call.add_done_callback(lambda ended: self._from_thread(self._ended, batch, ended))

    def _from_thread(self, callback: Callable[..., None], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for answers
            self._loop.call_soon_threadsafe(callback, *args)

    def _ended(self, batch: list[_Request], call: Future[Outputs]) -> None:
        if call.cancelled():  # the server is stopping
            for request in batch:
                request.done.cancel()
            self._next()
            return
        error = call.exception()
        if error is not None:
            self._failed(batch, error)
            return
        outputs = call.result()
        start = 0
        for request in batch:
            stop = start + request.count
            if not request.done.done():
                request.done.set_result({k: v[start:stop] for k, v in outputs.items()})
            start = stop
        self._next()

    def _failed(self, batch: list[_Request], error: BaseException) -> None:
        if len(batch) > 1:
            self._spawn(self._one_by_one(batch))
            return
        if not batch[0].done.done():
            batch[0].done.set_exception(error)
        self._next()

    async def _one_by_one(self, batch: list[_Request]) -> None:
        for request in batch:
            try:
                outputs = await self._loop.run_in_executor(
                    self._executor, self.signature.run, request.columns
                )
            except Exception as exc:
                if not request.done.done():
                    request.done.set_exception(exc)
            else:
                if not request.done.done():
                    request.done.set_result(outputs)
        self._next()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
