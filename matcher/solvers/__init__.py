"""揭榜挂帅 solvers: who can solve a challenge, conflicts of interest, teams and fair assignment.

Public entry points (import from the submodules):

- :func:`matcher.solvers.ranking.rank_solvers` — ranked, explained solvers for a challenge or a text
- :func:`matcher.solvers.coi.check_conflicts` — 回避 rules that remove a candidate, with reasons
- :func:`matcher.solvers.teams.assemble_teams` — teams covering a challenge's competences, with a lead
- :func:`matcher.solvers.assignment.assign` — optimal solver/expert assignment under load limits
- :class:`matcher.solvers.challenges.ChallengeService` — challenge lifecycle and persistence
"""
