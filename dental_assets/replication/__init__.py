"""Replication of an OpenDental MariaDB/MySQL database into the warehouse's ``raw`` schema.

- ``mysql``: read-only UTC sessions, retries with backoff, the ``mariadb`` bulk client.
- ``extract``: source rows streamed into PostgreSQL ``COPY`` (plain ``--batch`` text, or server-side CSV
  when a string column is nullable); value conversions; schema drift.
- ``fingerprint``: per-partition fingerprints (change detection) and content fingerprints (checks).
- ``sync``: full or incremental sync of one table's window, and its verification.
- ``plan``: which partitions differ (for the change sensor, the backstop schedule and ``dental sync``).
- ``verified``: the tables a plan can skip, unchanged on both sides since a plan verified them equal.

No Dagster import here: the Dagster side is ``dental_assets/defs/raw``.
"""
