"""Access to the project's one Feast feature repo, owned by the data side.

- `store`: the `FeatureStore` factory, configured from the project settings.
- `apply`: `feast apply` of the repo, and the one `feast-apply` command every pipeline CLI mounts.
- `layout`: what a feature service is made of (views, features, join keys, sources), read from
  the registry; training extraction, batch scoring and the online reader all read it here.
- `point_in_time`: the point-in-time join engines (sorted search, DuckDB ASOF, Feast as the
  reference) that training's and batch scoring's extracts run on the layout above.
- `entity_rows`: entity rows (request and order files) read exactly: ids that fit int64,
  times in every ISO form the README promises, row by row.
- `feast_internals`: every Feast-internal detail the fast paths rely on (Redis key layout,
  value (de)serialization, private store calls), each beside the Feast function it mirrors.

Pipelines import this package; it imports only `mlops_common`, Feast and DuckDB.
"""
