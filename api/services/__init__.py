"""The queries behind the routes, as named, typed functions: a route parses the request, calls one of these
and renders the answer; no route module holds Cypher (``tests/test_architecture.py`` checks).

One module per domain area: :mod:`~api.services.catalogue` (names, chains, segments, regions: what forms and
lists look up), :mod:`~api.services.workspace` (the broker's queue, the unmet needs), :mod:`~api.services.uploads`,
:mod:`~api.services.subscriptions`, :mod:`~api.services.stats`, :mod:`~api.services.feedback`,
:mod:`~api.services.challenges`, :mod:`~api.services.needs` (posting and changing a need, for the JSON routes and
the pages alike), :mod:`~api.services.matching` (a free text's matches, the solver index). Needs read here
are handed back to the route, which shows them only through the caller's :class:`~api.gate.NeedGate`, as before.
"""
