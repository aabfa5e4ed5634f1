"""The science bureau's view of the graph.

- :mod:`bureau.targets` — the plan's targets against the graph: ``target_progress(store, as_of_year)``, grouped by
  ``progress_by_department`` / ``progress_by_region``; metrics registered by key (``METRICS``).
- :mod:`bureau.gapmap` — ``build_gap_map(store, need_is_unmet)``: demand against supply per chain segment and the
  ranked 卡脖子 candidates; ``engine_need_is_unmet(engine)`` / ``graph_need_is_unmet(store)``.
- :mod:`bureau.topics` — ``curate_topics(store, gap_map)``: unmet needs clustered into candidate special-project
  topics; ``publish_topic(store, topic, ...)`` writes one as a Challenge.
- :mod:`bureau.charts` — ``render_chain_map_svg`` / ``render_targets_svg`` / ``render_segments_svg`` for web pages,
  the ``*_figure`` functions and ``save_figure`` for files.
- :mod:`bureau.export` — ``bureau_tables(...)`` and ``export_report(tables, "xlsx"|"csv", output)``.
- :mod:`bureau.cockpit` — the cockpit's data: ``plan_view(store, year)`` (every target at a year and at the end of
  each plan year), ``department_view``, ``county_table``, ``activity_trend`` (needs, matches reviewed, docking,
  deals per year) and ``segment_detail``.
- :mod:`bureau.challenges` — 揭榜挂帅 at the bureau's desk: the form, drafts from topics (public text only), the
  lifecycle, ``recommend_teams`` (fit 0–100, weak-fit warning), applications, review and award.
- :mod:`bureau.svg` — the web pages' inline SVG charts (text as text, readable at a phone's width).
"""
