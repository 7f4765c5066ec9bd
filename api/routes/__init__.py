"""HTTP routes, one Controller per resource.

``V1_HANDLERS`` is mounted under ``/api/v1``; ``ROOT_HANDLERS`` at the root. Other parts
(billing, dashboard) add their controllers to the lists in their own modules and are
listed in ``EXTENSIONS`` (``"module:attribute"`` strings naming a list of handlers),
imported by the app factory only if the module exists.
"""

from __future__ import annotations

#: Extra route-handler lists mounted at the root, as "module:attribute"; missing modules
#: are skipped, so a part can be listed before it is written.
EXTENSIONS: tuple[str, ...] = (
    "api.routes.billing:ROUTE_HANDLERS",
    "api.web:ROUTE_HANDLERS",
    "api.routes.webhooks_twilio:ROUTE_HANDLERS",
)
