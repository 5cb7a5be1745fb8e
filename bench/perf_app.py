"""The service app plus two bare endpoints, the baselines of `bench perf-service`.

Kept out of services/ so the system under test has no benchmark-only routes.
"""

from fastapi import Request, Response

from services.app import create_app

BARE_KEY = "perf:bare"

app = create_app()


@app.get("/_bare/redis")
async def bare_redis(request: Request) -> Response:
    """One Redis GET and nothing else: the ceiling of any Redis-backed read."""
    return Response(await request.app.state.redis.get(BARE_KEY), media_type="application/json")


@app.get("/_bare/const")
async def bare_const() -> Response:
    """No I/O at all: the ceiling of any read served from process memory."""
    return Response(b'{"ok":true}', media_type="application/json")
