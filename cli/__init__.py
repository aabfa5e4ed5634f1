"""The ``techmatch`` command line: the entry point (``cli.main``) and one module per subcommand
(``cli.commands``). It sits above the other packages: it imports from api, bureau, matcher, ingest, graph and
evaluation, and none of them imports it (``tests/test_architecture.py``)."""
