"""The gateway's asyncio Redis client under more concurrent commands than its pool holds connections for."""

from __future__ import annotations

import asyncio

from shared.redis_client import connect_async


def test_a_burst_past_the_pool_size_waits_for_connections_instead_of_failing(redis_server) -> None:
    _, url = redis_server

    async def burst() -> list[object]:
        client = connect_async(url)
        try:
            # Each BLPOP holds its connection for 0.2 s, so 150 at once need more connections than the pool has.
            return await asyncio.gather(
                *(client.blpop([f"test:redis-client:burst:{i}"], timeout=0.2) for i in range(150)),
                return_exceptions=True,
            )
        finally:
            await client.aclose()

    results = asyncio.run(burst())
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, f"{len(failures)} of 150 commands failed, first: {failures[0]!r}"
