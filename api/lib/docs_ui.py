"""The API reference pages (Scalar at ``/schema``, Swagger UI at ``/swagger``), served
with their scripts from our own origin (:mod:`api.lib.assets`) and no inline script: each
page loads the library and one small init file from ``/static`` that reads the document's
URL from a ``data-`` attribute, so the strict CSP of :mod:`api.lib.headers` holds here too.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

if TYPE_CHECKING:
    from litestar import Request


def _page(title: str, head: str, body: str) -> bytes:
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title>{head}</head><body>{body}</body></html>").encode()


class ScalarPage(ScalarRenderPlugin):
    """Scalar's API reference, from ``/assets/scalar`` (fonts bundled, none fetched)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(js_url="/assets/scalar/standalone.js", css_url="", favicon="",
                         style="", **kwargs)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        url = escape(self.get_openapi_json_route(request))
        return _page(openapi_schema["info"]["title"], "",
                     f'<div id="app" data-url="{url}"></div>'
                     "<noscript>The API reference needs JavaScript; the document itself is "
                     f'at <a href="{url}">{url}</a>.</noscript>'
                     f'<script src="{self.js_url}"></script>'
                     '<script src="/static/docs-scalar.js"></script>')


class SwaggerPage(SwaggerRenderPlugin):
    """Swagger UI, from ``/assets/swagger``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(js_url="/assets/swagger/swagger-ui-bundle.js",
                         css_url="/assets/swagger/swagger-ui.css",
                         standalone_preset_js_url="/assets/swagger/"
                                                  "swagger-ui-standalone-preset.js",
                         favicon="", style="", **kwargs)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        url = escape(self.get_openapi_json_route(request))
        return _page(openapi_schema["info"]["title"],
                     f'<link rel="stylesheet" href="{self.css_url}">',
                     f'<div id="swagger-container" data-url="{url}"></div>'
                     f'<script src="{self.js_url}"></script>'
                     f'<script src="{self.standalone_preset_js_url}"></script>'
                     '<script src="/static/docs-swagger.js"></script>')
