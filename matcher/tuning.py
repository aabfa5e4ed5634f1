"""Every tunable number of the matcher, each with where it came from.

"judgement, not fitted" means a value chosen by reasoning about its units, not by a search over a judged set:
change it only with a benchmark run beside the old value. Fitted values name the script that fits them and the
split they were fitted on; their figures are in ``benchmarks/README.md``, not here (they would go stale).

The ingest side keeps its own constants (``ingest/classify.py``, same conventions): ingest does not import the
matcher.
"""

from __future__ import annotations

from matcher.scores import Curve

# -- fusion (matcher.fusion, matcher.engine) -------------------------------------------------------------

#: channel weights in the fused score; absent channels count 1.0. Equal by judgement, not fitted: 20 judged dev
#: needs are too few to tune four weights on (benchmarks/need_achievement.py compares the fusions)
CHANNEL_WEIGHTS = {"bm25_words": 1.0, "char_ngram": 1.0, "dense": 1.0, "dense_use_m3": 1.0}

#: the fusion of an engine with dense channels (matcher.fusion.LearnedFusion): each channel's weight on its
#: rank-normal score and on its background z-score, a logistic regression of "judged relevant" (grade >= 1) over the
#: 13,268 judged pairs of the 320 tune needs (eval/judging, both rounds), e5 scored by adapters that never saw the
#: need (cross-fitted). Chosen over equal rank-normal weights by 5-fold cross-validation on tune (figures in
#: benchmarks/README.md, "Judged-set quality"). Refit for each adapter shipped (last: 2026-12-02) by
#: benchmarks/judged_quality.py --fit
LEARNED_FUSION = {
    "rank_normal": {"bm25_words": 0.0131, "char_ngram": 0.2469, "dense": 1.178, "dense_use_m3": -0.2068},
    "z": {"bm25_words": 0.0984, "char_ngram": 0.0457, "dense": 0.1804, "dense_use_m3": 0.2729},
}

#: z-scores are clipped: one rare-term BM25 hit must not outvote every other channel on its own. Judgement, not
#: fitted (well above any real match's z on the dev set)
Z_CLIP = 12.0
#: weight, in documents, of the whole corpus's variance in a document's background variance
#: (:func:`matcher.fusion.background_z`). Judgement, not fitted: small enough to vanish on a market of thousands,
#: large enough that a sparse 71-document demo corpus still has a background
BACKGROUND_PRIOR = 20.0
#: corpora up to this size get exact ranks in every channel; above, see :func:`matcher.fusion.rank_normal`. A speed
#: knob, not a quality one (benchmarks/scale.py: exact and approximate ranks give the same top lists)
EXACT_RANKS_UP_TO = 20_000
#: above it, the ranks computed exactly (the top of each channel's list). Speed knob, as above
TOP_EXACT = 2_000
#: reciprocal-rank fusion's k: the literature default (Cormack, Clarke & Büttcher 2009), not fitted here; RRF is
#: a measured baseline only (benchmarks/need_achievement.py)
RRF_K = 60.0

# -- graph features and the candidate pool (matcher.questions) -------------------------------------------

#: cold-start weight of each graph feature, in the fused score's units (standard deviations above the corpus), until
#: brokers' feedback trains the re-ranker (which reads every feature, weight 0 or not). Preference features (fit)
#: are centred on 0.5 = unknown.
#:
#: The chain features were measured on the judged set (its needs and achievements placed as ``techmatch ingest``
#: places them; benchmarks/ranking_search.py): the judgement weights they had (same segment 1.0, adjacent 0.5, same
#: chain 0.2) cost nDCG@10 on tune (5-fold CV, p < 0.001) and on report, and weights fitted with the channels on tune
#: gained nothing beyond noise; so they add nothing to the ranking score. The chain relation still shows in every
#: explanation (matcher.explain) and the bureau's views. The other weights are judgement, not fitted (the judged
#: needs have no enterprise, region, budget or history around them): an earlier relationship is worth about one σ.
GRAPH_WEIGHTS = {
    "chain_same_segment": 0.0,
    "chain_adjacent": 0.0,
    "chain_same_chain": 0.0,
    "prior_collaboration": 1.0,
    "same_region": 0.2,
    "maturity": 0.0,
    "cooperation_fit": 0.0,
    "budget_fit": 0.4,
    # the need's own stated floor (中试以上) not met: the enterprise said it will not take it. About half of a
    # text-perfect match's fused score on a market of thousands, so such a candidate is not counted as supply
    "maturity_short": -1.5,
}
#: the graph features read as a preference around 0.5 (unknown) rather than from 0
CENTRED = frozenset({"maturity", "cooperation_fit", "budget_fit"})

#: candidates that get graph features and re-ranking, at least. Judgement, not fitted: far below the corpus, far
#: above any page a broker reads
POOL = 300
#: a query's confidence is that of its most confident candidate among the first GAP_WINDOW ranked (the first
#: page a broker reads), whatever k was asked: the gap decision does not depend on the page size. Product
#: decision (one page), not fitted
GAP_WINDOW = 10
#: needs and enterprise profiles considered per achievement (each is one query against the achievement corpus).
#: Judgement, not fitted
REVERSE_POOL = 20

# -- brokers' verdicts (matcher.rerank, matcher.recalibration) -------------------------------------------

#: direct effect of a verdict on the same (question, query, candidate), in score units (z). Judgement, not
#: fitted: an accept lifts the pair by about one and a half σ
ACCEPT_BOOST = 1.5
#: a broker's no on this very pair: it leaves the top of that list. Judgement, not fitted (far below any score)
REJECT_PENALTY = -20.0
#: verdicts at which the learned re-ranker's log-odds count half (weight n / (n + prior)). Judgement, not fitted
RERANK_PRIOR = 30.0
#: fewest verdicts, and fewest of each kind, before a confidence refit is tried. Judgement, not fitted
MIN_VERDICTS = 30
MIN_EACH = 5
#: folds of the recalibration's held-out check (grouped by query). Judgement, not fitted
FOLDS = 10

# -- calibrated confidence (matcher.confidence) ----------------------------------------------------------

#: fitted on the tune part of the project's judged set (320 needs, eval/judging, both rounds) by
#: ``python benchmarks/judged_quality.py --fit`` for each channel set an engine can have (paste its output here
#: after a change to the channels, the fusion or an encoder), keyed by the channels' names; checked on the report
#: part there. ``dense`` is the default encoder's channel (e5-market), read on the tune needs with cross-fitted
#: scores (each need scored by an adapter that did not train on it: scripts/train_e5_adapter.py --cross-fit 3).
#: ``supply_weights`` are keyed by channel name. ``tells_gaps``: the leave-one-need-out gap_auc on tune is above
#: 0.5 by a one-sided bootstrap test at 5 %.
CURVES: dict[frozenset[str], Curve] = {
    # the default: e5-market + USE multilingual + both lexical channels, learned fusion (LEARNED_FUSION)
    frozenset({"bm25_words", "char_ngram", "dense", "dense_use_m3"}): Curve(
        supply_weights={"bm25_words": 0.0844, "char_ngram": 0.0867, "dense": 0.9299, "dense_use_m3": 0.0961},
        coefficients={"fused": 2.1950, "supply": -0.0561, "bonus": 2.1950},
        intercept=-6.9242, gap_threshold=0.2439, loo_gap_auc=0.63, tells_gaps=True,
    ),
    # one encoder (Settings.extra_embedders empty), learned fusion over the channels present
    frozenset({"bm25_words", "char_ngram", "dense"}): Curve(
        supply_weights={"bm25_words": 0.0912, "char_ngram": 0.0885, "dense": 0.9626},
        coefficients={"fused": 1.8054, "supply": -0.0128, "bonus": 1.8054},
        intercept=-7.1096, gap_threshold=0.2369, loo_gap_auc=0.62, tells_gaps=True,
    ),
    # no encoder (Settings.embedder = none; z-score fusion), and every engine while its dense rows are being
    # computed. On the first 120 tune needs its top confidence told gaps no better than chance (0.59, interval
    # reaching 0.5: no gap verdicts); on 320 it does, if weakly (0.60 [0.53, 0.67])
    frozenset({"bm25_words", "char_ngram"}): Curve(
        supply_weights={"bm25_words": 0.0897, "char_ngram": 0.1187},
        coefficients={"fused": 0.1955, "supply": 0.4984, "bonus": 0.1955},
        intercept=-4.6553, gap_threshold=0.0813, loo_gap_auc=0.60, tells_gaps=True,
    ),
}

# -- expert finding (matcher.solvers.ranking) ------------------------------------------------------------

#: channel weights of the named solver scorers (each channel's scores are z-scored per query, then added with
#: these weights); "char" is the evaluation README's reference channel on its own. The dense weight of
#: "combined" was chosen on NSFC expert-finding samples with seeds 1 and 2 (weights 0.5-6 tried; 6 best on
#: both), never on the reported seed-7 sample (benchmarks/expert_finding.py)
SCORERS: dict[str, dict[str, float]] = {
    "char": {"char_ngram": 1.0},
    "lexical": {"char_ngram": 1.0, "bm25_words": 1.0},
    "dense": {"dense": 1.0},
    "combined": {"char_ngram": 1.0, "bm25_words": 1.0, "dense": 6.0},
}
#: how a solver's works' scores make its score: its top 3 works, decay 0.5 (matcher.solvers.expertise). Chosen
#: on the same seed-1/2 NSFC samples as SCORERS; seed 7 never used for tuning (benchmarks/expert_finding.py)
DEFAULT_AGGREGATION = "topk:3:0.5"
