"""Request dependencies: the settings, a database session, storage and live progress."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from api.keyer_preview import PreviewCache
from jobs.progress import LiveProgress
from jobs.settings import Settings
from workers.storage import Storage


@dataclass
class Services:
    """What the app holds for its lifetime (``app.state.services``)."""

    settings: Settings
    sessions: sessionmaker[Session]
    storage: Storage
    live: LiveProgress
    previews: PreviewCache = field(default_factory=PreviewCache)
    """Decoded frames of the keyer tuning previews (:mod:`api.keyer_preview`)."""


def get_services(request: Request) -> Services:
    """The app's services."""
    return request.app.state.services


def get_session(services: Annotated[Services, Depends(get_services)]) -> Iterator[Session]:
    """A database session for one request."""
    with services.sessions() as session:
        yield session


ServicesDep = Annotated[Services, Depends(get_services)]
SessionDep = Annotated[Session, Depends(get_session)]
