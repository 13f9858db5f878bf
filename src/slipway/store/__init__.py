"""The durable store: SQLite by default, PostgreSQL for several replicas.

Open it with `open_store(url)`; it migrates the schema itself. The `Store` it
returns implements the store ports of `slipway.core.ports`.
"""

from slipway.store.database import DEFAULT_READERS, Store, default_store_url, open_store

__all__ = ["DEFAULT_READERS", "Store", "default_store_url", "open_store"]
