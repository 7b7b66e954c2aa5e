"""The code location's domain modules (raw, dbt, journey, synthetic, automation) and shared resources.

Importing any of them turns on Dagster's batched event writes for this process
(``dental_assets.instance.enable_event_batches``), so the code server, run workers, ``dagster job
execute`` and ``dental sync`` all store a range run's materializations in batches."""

from dental_assets.instance import enable_event_batches

enable_event_batches()
