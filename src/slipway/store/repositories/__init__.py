"""SQL per aggregate: plain synchronous functions of a `Connection`.

They know nothing about threads or asyncio; `slipway.store.database.Store`
decides which thread runs them and inside which transaction.
"""
