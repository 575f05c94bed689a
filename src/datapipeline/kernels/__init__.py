"""Kernels: the fast paths of the rules, each behind a small interface and tested against the
rule it speeds up.

- :mod:`~datapipeline.kernels.bytetable`: ASCII text mapped through a byte table (the normal
  form of titles, their merge keys);
- :mod:`~datapipeline.kernels.text`: text rules applied only to the rows they change, and cheap
  tests of which rows those are (white space, blank values);
- :mod:`~datapipeline.kernels.node_link`: node-link JSON rendered from frames in native code;
- direct I/O for large outputs lives behind :func:`datapipeline.atomic.atomic_open`.

The rules themselves, in their plainest form, are :mod:`datapipeline.mentions.rules`.
"""
