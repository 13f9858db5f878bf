"""The store source runs against the same two databases as the store's own tests."""

from tests.integration.store.conftest import store, store_url

__all__ = ["store", "store_url"]
