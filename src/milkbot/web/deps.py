"""What routes get from the app: its settings, the analytics service and the encoded cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from milkbot.analytics import Analytics
from milkbot.settings import Settings
from milkbot.web.responses import EncodedCache, cache_control

if TYPE_CHECKING:
    from milkbot.web.auth import LoginLimits


@dataclass(slots=True)
class WebState:
    """Per-app state, built by ``create_app`` and opened by its lifespan."""

    settings: Settings
    analytics: Analytics
    encoded: EncodedCache
    login_limits: LoginLimits = field(default_factory=lambda: _login_limits())

    @property
    def cache_header(self) -> str:
        """Cache-Control of responses built from cached analytics results."""
        return cache_control(self.settings.cache_ttl)


def _login_limits() -> LoginLimits:
    from milkbot.web.auth import LoginLimits

    return LoginLimits()


async def get_state(request: Request) -> WebState:
    """The app's :class:`WebState` (async: FastAPI would run a plain function in a thread)."""
    state: WebState = request.app.state.web
    return state


State = Annotated[WebState, Depends(get_state)]
