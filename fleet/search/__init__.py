"""Search over graphs, blocks and documentation pages (SPEC §13).

- :mod:`fleet.search.sources`: the text indexed for each source, and its hash.
- :mod:`fleet.search.service`: a query ranked by the database's full-text search,
  blended with recency.
- :mod:`fleet.search.coverage`: the coverage pass the ``search_coverage`` job runs:
  backfill missing and stale entries, delete orphans, report coverage by kind.
"""
