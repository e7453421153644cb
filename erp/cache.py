"""The Redis cache that holds sessions (CACHES when CACHE_URL is set): Django's, keeping one
client per connection pool instead of building one for every call.

Django's `RedisCacheClient.get_client` constructs a `redis.Redis` around the shared pool on
each cache call (its response callbacks and command parser with it): 0.13-0.19 ms of a web
process's CPU for every signed-in request's session read. The client keeps no connection of
its own (the pool lends one per command and is safe across threads, and after a fork it
starts afresh), so one per pool serves every call.
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _OneClientPerPool(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class SessionRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _OneClientPerPool
