"""Sessions read from Redis, kept in PostgreSQL (SESSION_ENGINE when CACHE_URL is set).

Django's `cached_db`, with two changes for a Redis that may be unreachable for a while:
- reading a session falls back to PostgreSQL and serves the request (Django's would answer 500
  when it cannot put the row it read back into the cache);
- ending a session (sign-out, a new sign-in) removes it from Redis before PostgreSQL, so it
  fails as a whole while Redis is unreachable: removed from PostgreSQL only, it would live on
  in the cache, signed in on every web process, until it expired there.
"""

import logging

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.contrib.sessions.backends.db import SessionStore as DBStore

logger = logging.getLogger(__name__)


class SessionStore(CachedDBStore):
    def load(self) -> dict:
        try:
            data = self._cache.get(self.cache_key)
        except Exception:
            logger.warning("session cache unreachable; reading the session from the database")
            data = None
        if data is not None:
            return data
        row = self._get_session_from_db()
        if row is None:
            return {}
        data = self.decode(row.session_data)
        try:
            self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=row.expire_date))
        except Exception:
            logger.warning("session cache unreachable; the session is not cached")
        return data

    def delete(self, session_key: str | None = None) -> None:
        key = session_key or self.session_key
        if key is None:
            return
        self._cache.delete(self.cache_key_prefix + key)
        DBStore.delete(self, key)
