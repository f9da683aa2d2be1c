"""What a sink keeps for itself between runs (connectors.base.SinkMemory), in the state's `sink_memory`."""

from __future__ import annotations

from rfmsync.sync.state import Database


class StateSinkMemory:
    """One store's and sink's values; each put commits at once, so an audience id created on the
    platform is kept even if the run dies right after."""

    def __init__(self, db: Database, store: str, sink: str) -> None:
        self.db, self.store, self.sink = db, store, sink

    def get(self, key: str) -> str | None:
        row = self.db.conn.execute("SELECT value FROM sink_memory WHERE store = ? AND sink = ? AND key = ?",
                                   (self.store, self.sink, key)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, value: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO sink_memory (store, sink, key, value) VALUES (?, ?, ?, ?) ON CONFLICT "
                         "(store, sink, key) DO UPDATE SET value = excluded.value", (self.store, self.sink, key, value))
