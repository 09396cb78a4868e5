"""Pushdown assets: ``@pgcron_assets`` over ``multi_asset`` and the one-asset ``pgcron_asset``.

An asset's SQL travels in its spec's metadata (``dagster-pgcron/sql``), set by
``DagsterPgCronTranslator.get_pushdown_asset_spec``; declared ``pgcron.JobSpec``s are accepted too and
materialize by running their command now. The body is usually ``yield from pg_cron.materialize(context)``,
which runs the selected assets' SQL inside PostgreSQL through the core pushdown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
import pgcron

from dagster_pgcron.resource import PgCronResource
from dagster_pgcron.translator import META_SQL, DagsterPgCronTranslator

__all__ = ["build_pgcron_assets", "pgcron_asset", "pgcron_assets", "to_asset_specs"]

DEFAULT_RESOURCE_KEY = "pg_cron"


def to_asset_specs(
    specs: Sequence[dg.AssetSpec | pgcron.JobSpec | pgcron.Job],
    translator: DagsterPgCronTranslator | None = None,
) -> list[dg.AssetSpec]:
    """``AssetSpec``s for pushdown: JobSpecs/Jobs go through the translator and run their command."""
    translator = translator or DagsterPgCronTranslator()
    out: list[dg.AssetSpec] = []
    for spec in specs:
        if isinstance(spec, dg.AssetSpec):
            if not spec.metadata.get(META_SQL):
                raise pgcron.UnsupportedCommand(
                    f"asset spec {spec.key.to_user_string()} has no SQL: build it with "
                    "DagsterPgCronTranslator().get_pushdown_asset_spec(key, sql, ...)"
                )
            out.append(spec)
        elif isinstance(spec, (pgcron.JobSpec, pgcron.Job)):
            base = translator.get_asset_spec(spec)
            out.append(base.merge_attributes(metadata={META_SQL: spec.command}))
        else:
            raise TypeError(
                f"pgcron_assets(specs=...) takes dg.AssetSpec, pgcron.JobSpec or pgcron.Job; got "
                f"{type(spec).__name__}"
            )
    return out


def pgcron_assets(
    *,
    specs: Sequence[dg.AssetSpec | pgcron.JobSpec | pgcron.Job],
    translator: DagsterPgCronTranslator | None = None,
    name: str | None = None,
    check_specs: Sequence[dg.AssetCheckSpec] | None = None,
    op_tags: Mapping[str, Any] | None = None,
    pool: str | None = None,
    partitions_def: dg.PartitionsDefinition[Any] | None = None,
    retry_policy: dg.RetryPolicy | None = None,
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """Decorate a body (usually ``yield from pg_cron.materialize(context)``) into a subsettable
    multi-asset."""
    asset_specs = to_asset_specs(specs, translator)

    def decorator(fn: Callable[..., Any]) -> dg.AssetsDefinition:
        return dg.multi_asset(
            specs=asset_specs,
            name=name or fn.__name__,
            can_subset=True,
            check_specs=check_specs,
            op_tags=op_tags,
            pool=pool,
            partitions_def=partitions_def,
            retry_policy=retry_policy,
        )(fn)

    return decorator


def build_pgcron_assets(
    *,
    specs: Sequence[dg.AssetSpec | pgcron.JobSpec | pgcron.Job],
    name: str,
    translator: DagsterPgCronTranslator | None = None,
    resource_key: str = DEFAULT_RESOURCE_KEY,
    retry_policy: dg.RetryPolicy | None = None,
    partitions_def: dg.PartitionsDefinition[Any] | None = None,
) -> dg.AssetsDefinition:
    """A ready multi-asset whose body pushes each selected asset's SQL down (resource ``resource_key``)."""
    asset_specs = to_asset_specs(specs, translator)

    @dg.multi_asset(
        specs=asset_specs,
        name=name,
        can_subset=True,
        required_resource_keys={resource_key},
        retry_policy=retry_policy,
        partitions_def=partitions_def,
    )
    def _pushdown(context) -> Iterator[dg.MaterializeResult[Any]]:  # type: ignore[no-untyped-def]
        resource: PgCronResource = getattr(context.resources, resource_key)
        yield from resource.materialize(context)

    return _pushdown


def pgcron_asset(
    key: dg.AssetKey | str | Sequence[str],
    sql: str,
    *,
    database: str | None = None,
    username: str | None = None,
    timeout: float | None = None,
    resource_key: str = DEFAULT_RESOURCE_KEY,
    translator: DagsterPgCronTranslator | None = None,
    retry_policy: dg.RetryPolicy | None = None,
    partitions_def: dg.PartitionsDefinition[Any] | None = None,
    name: str | None = None,
    **attributes: Any,
) -> dg.AssetsDefinition:
    """One asset whose materialization runs ``sql`` inside PostgreSQL (``attributes``: AssetSpec fields)."""
    translator = translator or DagsterPgCronTranslator()
    spec = translator.get_pushdown_asset_spec(
        key, sql, database=database, username=username, timeout=timeout, **attributes
    )
    op_name = name or "_".join(spec.key.path)
    return build_pgcron_assets(
        specs=[spec],
        name=op_name,
        resource_key=resource_key,
        retry_policy=retry_policy,
        partitions_def=partitions_def,
    )
