"""The research layer: one module per study (``study``, ``granularity``, ``frontier``, ``countermeasures``,
``visibility``, ``bench_craft``, …), what they share in :mod:`benchmarks.common`, their results in
``benchmarks/results/`` (each JSON with its ``provenance``) and the docs tables built from them by
``tools/docs_tables.py`` (one ``tools/docs_tables_<study>.py`` per study).

Run a study from the repository root as ``python benchmarks/<study>.py …`` (the commands the docs quote) or
``python -m benchmarks.<study> …``. The first form puts ``benchmarks/``, not the root, on ``sys.path``; each
runnable module therefore starts with the same two-line bootstrap (``if __name__ == "__main__" and not __package__: sys.path[0] = <root>``),
which makes ``benchmarks`` importable as a package in both forms. It replaces the directory Python added rather
than inserting one, and it is the only path manipulation in this folder. :mod:`ucs_lite` itself comes from the
installed package (``make install``: ``pip install -e .``).
"""
