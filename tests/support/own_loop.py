"""Running a coroutine from a synchronous test, whatever ran before it on the worker."""

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def run_in_own_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run the coroutine to its end in an event loop of its own, on a thread of its own.

    A browser test run earlier on the same worker may have left its event loop running on the
    main thread, where `asyncio.run` refuses to start another.
    """
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()
