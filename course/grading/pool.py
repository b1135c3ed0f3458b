"""Grading kernels started ahead of demand, so their warm-up overlaps with grading.

Example::

    pool = KernelPool(KernelSettings(config=config), warm=2)
    pool.expect([plan] * 30)                 # 30 notebooks will need this kind of kernel
    kernel = await pool.take(plan)           # warm when it was started in time
    ...
    await pool.close()
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Iterable

from course.grading.kernel import GradingKernel
from course.grading.settings import KernelSettings
from course.grading.warmup import WarmKernelPlan

# ------------------------------------------------------------------------------- pool


class KernelPool:
    """Keeps kernels started ahead of demand, so warm-up overlaps with grading.

    Callers announce the notebooks to come with :meth:`expect` (in grading order), then
    :meth:`take` one kernel per notebook (or :meth:`forget` a notebook that will not run).
    The pool keeps ``warm`` kernels starting or ready for the next expected notebooks and
    never more than the remaining demand; ``warm=0`` starts each kernel on demand (cold).
    """

    def __init__(self, settings: KernelSettings, warm: int) -> None:
        self.settings = settings
        self.warm = max(0, warm)
        self._demand: list[WarmKernelPlan] = []
        self._spares: dict[WarmKernelPlan, collections.deque[asyncio.Future]] = (
            collections.defaultdict(collections.deque)
        )
        self.started = 0

    def expect(self, plans: Iterable[WarmKernelPlan]) -> None:
        """Announce notebooks that will need a kernel, in the order they will be taken."""
        self._demand.extend(plans)
        self._refill()

    def forget(self, plan: WarmKernelPlan) -> None:
        """One expected notebook will not run after all."""
        with contextlib.suppress(ValueError):
            self._demand.remove(plan)
        self._refill()

    async def take(self, plan: WarmKernelPlan) -> GradingKernel:
        """A started, warmed-up kernel for ``plan`` (raises KernelStartError)."""
        with contextlib.suppress(ValueError):
            self._demand.remove(plan)
        spares = self._spares.get(plan)
        future = spares.popleft() if spares else self._start(plan)
        self._refill()
        return await future

    def _start(self, plan: WarmKernelPlan) -> asyncio.Future:
        self.started += 1
        return asyncio.ensure_future(GradingKernel.start(plan, self.settings))

    def _refill(self) -> None:
        wanted = collections.Counter(self._demand[: self.warm])
        for plan, count in wanted.items():
            while len(self._spares[plan]) < count:
                self._spares[plan].append(self._start(plan))
        remaining = collections.Counter(self._demand)
        for plan, spares in self._spares.items():
            while len(spares) > remaining[plan]:
                asyncio.ensure_future(_discard(spares.pop()))

    async def close(self) -> None:
        """Shut down every spare kernel (started or still starting)."""
        futures = [future for spares in self._spares.values() for future in spares]
        self._spares.clear()
        self._demand.clear()
        await asyncio.gather(*(_discard(future) for future in futures))


async def _discard(future: asyncio.Future) -> None:
    """Shut down the kernel a start future gives, whether it is ready yet or not."""
    try:
        kernel = await future
    except BaseException:  # a failed or cancelled start cleaned up after itself
        return
    await kernel.shutdown()
