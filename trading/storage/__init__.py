"""Storage for the live runtime: PostgreSQL (asyncpg) for durable state, Redis for the live cache.

```python
env = os.environ
servers = start_storage(home, database_url=env.get("DATABASE_URL"), redis_url=env.get("REDIS_URL"))
pool = await open_pool(servers.database_url)
await migrate(pool)
journal, orders = EventJournal(pool), OrderStore(pool)
cache = LiveCache.from_url(servers.redis_url)
...
await cache.close(); await pool.close(); servers.stop()
```
"""

from trading.storage.cache import LiveCache, Subscription
from trading.storage.database import open_pool, ping
from trading.storage.errors import StorageError
from trading.storage.journal import EventJournal, JournalEntry
from trading.storage.migrate import migrate
from trading.storage.repositories import (
    AccountRow,
    AccountStore,
    ApiKeyRow,
    ApiKeyStore,
    CredentialStore,
    FillRow,
    FillStore,
    OrderRow,
    OrderStore,
    PositionRow,
    PositionStore,
    ResearchJobRow,
    ResearchJobStore,
    StrategyRow,
    StrategyStore,
)
from trading.storage.servers import StorageServers, start_storage, stop_storage

__all__ = [
    "AccountRow",
    "AccountStore",
    "ApiKeyRow",
    "ApiKeyStore",
    "CredentialStore",
    "EventJournal",
    "FillRow",
    "FillStore",
    "JournalEntry",
    "LiveCache",
    "OrderRow",
    "OrderStore",
    "PositionRow",
    "PositionStore",
    "ResearchJobRow",
    "ResearchJobStore",
    "StorageError",
    "StorageServers",
    "StrategyRow",
    "StrategyStore",
    "Subscription",
    "migrate",
    "open_pool",
    "ping",
    "start_storage",
    "stop_storage",
]
