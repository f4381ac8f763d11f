"""The store: everything the gateway keeps, behind one interface (``records.Records``).

The backend is SQLite (``gateway.store.sqlite``: one site, the default); callers use what this
module names and never a table, a query or a connection:

- ``open_records(path, readonly=...)``: the store for one piece of work (a CLI command, the
  console's reads), as a context manager giving a ``Records``;
- ``SharedReader(path)``: one read-only store kept open for many short reads (the console);
- ``DaemonStore``: the daemon's store, every call on a thread of its own
  (``await store.call(lambda records: ...)``), its writes ordered and retried;
- ``DaemonLock``, ``backup``, ``restore``, ``check_store_file``: the store file's upkeep.
"""

from gateway.store.sqlite.backup import backup, restore
from gateway.store.sqlite.lock import DaemonLock
from gateway.store.sqlite.records import SharedReader, open_records
from gateway.store.sqlite.schema import SCHEMA_VERSION, check_store_file
from gateway.store.sqlite.thread import Store as DaemonStore

__all__ = ["SCHEMA_VERSION", "DaemonLock", "DaemonStore", "SharedReader", "backup",
           "check_store_file", "open_records", "restore"]
