"""A service as BentoML's examples write it, none of the project's fixes applied: what the
guards in `test_framework.py` serve to see how BentoML itself behaves."""

from __future__ import annotations

import asyncio

import bentoml


@bentoml.service(name="framework_guard_probe", metrics={"enabled": False})
class Probe:
    @bentoml.api
    async def echo(self, value: int) -> int:
        return value

    @bentoml.task
    async def slow(self, value: int) -> int:
        await asyncio.sleep(30)
        return value

    async def __is_ready__(self) -> bool:
        return False
