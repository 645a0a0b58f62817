"""What every request needs, built once per process: settings, database, storage, notifier."""

from __future__ import annotations

from dataclasses import dataclass, field

from agnt_api.db import Database
from agnt_api.notify import Notifier, create_notifier
from agnt_api.services.key_cache import KeyCache
from agnt_api.services.presence import SeenThrottle
from agnt_api.settings import Settings
from agnt_api.storage import Storage, create_storage


@dataclass
class Runtime:
    """The service's dependencies; services take it as their first argument."""

    settings: Settings
    database: Database
    storage: Storage
    notifier: Notifier
    keys: KeyCache
    seen: SeenThrottle = field(default_factory=SeenThrottle)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        """Build every dependency without doing I/O (connections open on first use)."""
        database = Database(settings.database_url)
        notifier = create_notifier(database)
        database.on_commit = notifier.committed
        return cls(
            settings=settings,
            database=database,
            storage=create_storage(settings),
            notifier=notifier,
            keys=KeyCache(settings.auth_cache_seconds),
        )

    async def close(self) -> None:
        """Release connections, listeners and threads."""
        await self.notifier.close()
        await self.storage.close()
        self.database.dispose()
