"""The system under test: one FastAPI app, whose caching is the chosen strategy.

Settings, the Redis pool, the origin and the strategy are built in `lifespan`,
not at import time, so `create_app(settings)` gives tests apps with other
settings. Routes are thin: they validate, ask the strategy, and say in
`X-Cache` which tier answered.
"""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from services import cache
from services.config import Settings, load_settings
from services.inputs import (
    Category,
    ProductId,
    parse_product_id,
    read_body,
    read_changes,
    validation_error,
)
from services.invalidation_log import InvalidationLog
from services.metrics import Metrics
from services.openapi import (
    CHANGES_BODY,
    NOT_FOUND,
    UNAVAILABLE,
    HTTPError,
    Product,
    ProductList,
    install_openapi,
)
from services.origin import UNREACHABLE, open_origin
from services.server_timing import ServerTiming
from services.strategies import STRATEGIES
from services.strategies.base import SOURCES, Deps, Served, Strategy

log = logging.getLogger("services.app")
JSON = "application/json"


def create_app(settings: Settings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = settings or load_settings()
        metrics = Metrics()
        origin = await open_origin(
            config.database_url, config.origin_delay_ms, config.database_read_url
        )
        redis = cache.connect(config.redis_url)
        strategy_class: type[Strategy] = STRATEGIES[config.cache_strategy].load()
        invalidations = InvalidationLog(config.invalidation_log)
        shared = cache.Cache(redis, metrics, invalidations)
        strategy = strategy_class(Deps(config, origin, shared, metrics))
        try:
            await origin.ping()
            await strategy.start()
            app.state.settings = config
            app.state.metrics = metrics
            app.state.origin = origin
            app.state.redis = redis
            app.state.strategy = strategy
            app.state.headers = {"X-Replica": config.replica_name}
            app.state.raw_headers = raw_headers(config.replica_name)
            app.state.health_said = {}
            log.info("replica %s: strategy %s", config.replica_name, config.cache_strategy)
            yield
        finally:
            await strategy.stop()
            await redis.aclose()
            await origin.close()
            invalidations.close()

    app = FastAPI(
        title="cache-invalidation-bench service",
        lifespan=lifespan,
        exception_handlers={
            RequestValidationError: with_replica_headers(validation_error),
            StarletteHTTPException: with_replica_headers(http_exception_handler),
            **{error: with_replica_headers(origin_unreachable) for error in UNREACHABLE},
        },
    )
    app.add_middleware(ServerTiming)
    _add_routes(app)
    _add_fault_control(app)
    _allow_every_method(app)
    install_openapi(app)
    return app


def strategy_of(request: Request) -> Strategy:
    """The strategy, read from app state in the route itself.

    Not an `Annotated[..., Depends()]` dependency: a plain `def` dependency runs in a
    thread pool and even an async one costs more dependency solving per request than
    a local-tier hit costs in all (measured by `bench perf-service`).
    """
    return request.app.state.strategy


class CachedBody(Response):
    """A JSON body served as stored, with headers encoded once per replica.

    Starlette's header handling costs about as much as a local-tier lookup; the
    cached read path is what this suite measures, so it must not be padded.
    """

    media_type = JSON

    def __init__(self, body: bytes, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", str(len(body)).encode()), *raw_headers]


def with_replica_headers(
    handler: Callable[[Request, Any], Awaitable[Response]],
) -> Callable[[Request, Any], Awaitable[Response]]:
    """An error answer carries X-Cache and X-Replica too, as the contract says every
    response does (no cache answered it: `miss`). Errors only: the hot path is untouched."""

    async def handle(request: Request, exc: Any) -> Response:
        response = await handler(request, exc)
        response.headers.update({"X-Cache": "miss", **getattr(request.app.state, "headers", {})})
        return response

    return handle


async def origin_unreachable(request: Request, exc: Exception) -> Response:
    """The origin did not answer this request (Redis failed open to it, or it was a
    miss): 503, which a caller may retry, never a 500 with a traceback."""
    log.warning("origin unreachable (%s: %s): answered 503", type(exc).__name__, exc)
    return JSONResponse({"detail": "origin unavailable"}, status_code=503)


def raw_headers(replica_name: str) -> dict[str, list[tuple[bytes, bytes]]]:
    """Per X-Cache value, the encoded extra headers of a response."""
    return {
        source: [
            (b"content-type", JSON.encode()),
            (b"x-cache", source.encode()),
            (b"x-replica", replica_name.encode()),
        ]
        for source in SOURCES
    }


def _respond(request: Request, body: bytes, source: str) -> Response:
    return CachedBody(body, request.app.state.raw_headers[source])


async def get_product(request: Request) -> Response:
    """GET /products/{id}: the read every scenario hammers, as a plain Starlette route.

    FastAPI's per-request parameter machinery costs about a third of what serving a
    local-tier hit costs in all (`bench perf-service` measures it); the id is checked
    with the same pydantic rules by hand, and errors still answer 422 in FastAPI's shape.
    """
    product_id = parse_product_id(request.path_params["product_id"])
    served = await strategy_of(request).get_product(product_id)
    if served is None:
        raise HTTPException(404, f"product {product_id} not found")
    return _respond(request, served.body, served.source)


class FaultDelay(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    ms: float = Field(ge=0, le=60_000, allow_inf_nan=False)


async def set_origin_delay(request: Request, delay: FaultDelay) -> dict[str, float]:
    request.app.state.origin.slow_down(delay.ms)
    return {"extra_ms": delay.ms}


async def set_subscriber_delay(request: Request, delay: FaultDelay) -> dict[str, float]:
    strategy = strategy_of(request)
    delay_invalidations = getattr(strategy, "delay_invalidations", None)  # LocalFirst's
    if delay_invalidations is None:
        raise HTTPException(409, f"{strategy.name} has no local tier to delay")
    delay_invalidations(delay.ms)
    return {"delay_ms": delay.ms}


FAULT_CONTROLS = {"origin-delay": set_origin_delay, "subscriber-delay": set_subscriber_delay}


class FaultControl:
    """`PUT /_faults/<control>` {"ms": ms}: the harness's fault controls, extra ms per
    origin query (origin-slow) and a local tier's invalidations applied late
    (subscriber-delay). Unpublished (they are the harness's, not the API's).

    One ASGI endpoint for every method, so that without FAULT_CONTROL=1 the routes do not
    exist: 404 whatever the method or body, checked before anything else is read. Only a
    replica that has them answers 405 for another method, or 422 for a bad body.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        control = FAULT_CONTROLS.get(request.path_params["control"])
        if not request.app.state.settings.fault_control or control is None:
            raise HTTPException(404, "Not Found")
        if request.method != "PUT":
            raise HTTPException(405, headers={"Allow": "PUT"})
        try:
            delay = FaultDelay.model_validate_json(await read_body(request))
        except ValidationError as exc:
            raise RequestValidationError(
                [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
            ) from None
        answer = JSONResponse(await control(request, delay))
        await answer(scope, receive, send)


class EveryMethod:
    """The last route of a path that several routes share (a Starlette GET, a FastAPI
    PATCH): a method none of them takes is a 405 listing every method the path has.
    Without it the router answered with the first route's own Allow (`HEAD, GET`)."""

    def __init__(self, methods: set[str]) -> None:
        self.allow = ", ".join(sorted(methods))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise HTTPException(405, headers={"Allow": self.allow})


def _allow_every_method(app: FastAPI) -> None:
    """After the routes: a catch-all 405 for each path served by more than one route."""
    routes: dict[str, list[Route]] = {}
    for route in app.router.routes:
        if isinstance(route, Route) and route.methods:
            routes.setdefault(route.path, []).append(route)
    for path, shared in routes.items():
        if len(shared) > 1:
            methods = set().union(*(route.methods or () for route in shared))
            app.router.routes.append(Route(path, EveryMethod(methods), include_in_schema=False))


def _add_fault_control(app: FastAPI) -> None:
    app.router.routes.append(Route("/_faults/{control}", FaultControl(), include_in_schema=False))


async def reachable(state: Any, name: str, ping: Callable[[], Awaitable[Any]]) -> str:
    """`ok` or `unreachable`: a fixed word per dependency, never an exception's text (which
    named hosts, ports and drivers to anyone asking). The detail goes to the log, when the
    dependency turns unreachable and when it is back."""
    said: dict[str, str] = state.health_said
    try:
        await ping()
        now = "ok"
    except Exception as exc:
        now = "unreachable"
        if said.get(name) != now:
            log.warning("healthz: %s unreachable (%s: %s)", name, type(exc).__name__, exc)
    if said.get(name) == "unreachable" and now == "ok":
        log.info("healthz: %s reachable again", name)
    said[name] = now
    return now


def _add_routes(app: FastAPI) -> None:
    app.add_route("/products/{product_id}", get_product, methods=["GET"])

    @app.patch(
        "/products/{product_id}",
        response_model=Product,
        responses={**NOT_FOUND, **UNAVAILABLE, 413: {"model": HTTPError}},
        openapi_extra=CHANGES_BODY,
    )
    async def update_product(product_id: ProductId, request: Request) -> Response:
        """The body is read by `read_changes`, capped and strict, not by FastAPI."""
        changes = await read_changes(request)
        body = await strategy_of(request).update_product(product_id, dict(changes))
        if body is None:
            raise HTTPException(404, f"product {product_id} not found")
        return _respond(request, body, "miss")

    @app.get("/categories/{category}/products", response_model=ProductList, responses=UNAVAILABLE)
    async def list_category(category: Category, request: Request) -> Response:
        served: Served = await strategy_of(request).list_category(category)
        return _respond(request, served.body, served.source)

    @app.get("/healthz", responses={503: {"description": "No origin: not serving"}})
    async def healthz(request: Request, response: Response) -> dict[str, Any]:
        state = request.app.state
        health: dict[str, Any] = {
            "replica": state.settings.replica_name,
            "strategy": state.settings.cache_strategy,
        }
        health["origin"] = await reachable(state, "origin", state.origin.ping)
        health["redis"] = await reachable(state, "redis", state.redis.ping)
        health.update(state.strategy.health())
        # Redis down is a degraded but serving replica (fail open); no origin is not serving.
        if health["origin"] != "ok":
            response.status_code = 503
        response.headers.update({"X-Cache": "miss", **state.headers})
        return health

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        return Response(
            request.app.state.metrics.render(),
            media_type="text/plain; version=0.0.4",
            headers={"X-Cache": "miss", **request.app.state.headers},
        )


app = create_app()
