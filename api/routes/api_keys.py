"""API keys of the caller: create (shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from api.lib.deps import RuntimeDep, UserDep
from api.schemas.accounts import ApiKey, ApiKeyCreate, ApiKeyCreated
from api.services import accounts as svc

KeyId = Annotated[int, Parameter(ge=1, le=2**62, description="API key id")]


class ApiKeyController(Controller):
    path = "/api-keys"
    tags = ["api keys"]

    @post("/", summary="Create an API key; the key is in this response only")
    async def create(self, user: UserDep, runtime: RuntimeDep,
                     data: JSONBody[ApiKeyCreate | None] = None) -> ApiKeyCreated:
        async with runtime.pool.connection() as conn:
            key, row = await svc.create_api_key(conn, user.user_id, data.name if data else None)
        return ApiKeyCreated(id=row["id"], name=row["name"], prefix=row["prefix"], key=key,
                             created_at=row["created_at"])

    @get("/", summary="The caller's API keys (without the secret)")
    async def list_keys(self, user: UserDep, runtime: RuntimeDep) -> list[ApiKey]:
        async with runtime.pool.connection() as conn:
            rows = await svc.list_api_keys(conn, user.user_id)
        return [ApiKey(**r) for r in rows]

    @delete("/{key_id:int}", status_code=HTTP_204_NO_CONTENT, summary="Revoke an API key")
    async def revoke(self, key_id: KeyId, user: UserDep, runtime: RuntimeDep) -> None:
        async with runtime.pool.connection() as conn:
            await svc.revoke_api_key(conn, user.user_id, key_id)
        assert runtime.principals is not None
        runtime.principals.forget(user_id=user.user_id)
