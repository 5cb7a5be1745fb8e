"""The service app plus two bare endpoints, the baselines of `bench perf-service`.

Kept out of services/ so the system under test has no benchmark-only routes. The
baselines are plain Starlette routes, like the product read they are compared
with, so that a ratio measures what the strategy's read path adds, not a
difference in routing machinery.
"""

from starlette.requests import Request
from starlette.responses import Response

from services.app import create_app

BARE_KEY = "perf:bare"

app = create_app()


async def bare_redis(request: Request) -> Response:
    """One Redis GET and nothing else: the ceiling of any Redis-backed read."""
    return Response(await request.app.state.redis.get(BARE_KEY), media_type="application/json")


async def bare_const(request: Request) -> Response:
    """No I/O at all: the ceiling of any read served from process memory."""
    return Response(b'{"ok":true}', media_type="application/json")


app.add_route("/_bare/redis", bare_redis, methods=["GET"])
app.add_route("/_bare/const", bare_const, methods=["GET"])
