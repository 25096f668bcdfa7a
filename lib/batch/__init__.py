"""Offline batch scoring: `python -m lib.batch IN OUT` (see __main__).

- files.py: where rows come from and go to (a CSV or Parquet file, or a folder or
  prefix of Parquet parts; local or s3://), read and written a chunk at a time;
- engine.py: one chunk scored into output rows (every input row accounted for: scored,
  or refused with why), and a whole input streamed through it;
- cluster.py: the same over a Dask distributed cluster, one task per Parquet part,
  shipping the compiled scorer only.
"""
