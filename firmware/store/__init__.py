"""The kiosk's durable state: the catalog (SQLite, FTS5, audit chain), the state
machines, the data-directory layout, crash-safe writes, operator accounts."""
