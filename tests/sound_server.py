"""A web server on 127.0.0.1 that serves sounds by path, as a NAS or a CDN would for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def serve_sounds(files: Mapping[str, tuple[bytes, str]]) -> AsyncIterator[str]:
    """Serve `{"/path": (body, content type)}`; yields the base URL, `http://127.0.0.1:port`."""

    def handler(body: bytes, content_type: str) -> web.RequestHandler:  # type: ignore[type-arg]
        async def serve(request: web.Request) -> web.Response:
            return web.Response(body=body, content_type=content_type)

        return serve

    app = web.Application()
    for path, (body, content_type) in files.items():
        app.router.add_get(path, handler(body, content_type))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
