"""Typed results of the matcher: what every question (need → achievements, achievement → enterprises,
enterprise → achievements) returns to the service, the bureau and the batch command."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Question(StrEnum):
    """The three questions the engine answers; also the ``question`` of a Feedback node."""

    NEED_ACHIEVEMENT = "need_achievement"
    ACHIEVEMENT_ENTERPRISE = "achievement_enterprise"
    ENTERPRISE_ACHIEVEMENT = "enterprise_achievement"


class PathStep(BaseModel):
    """One node on an explanation path."""

    id: str
    label: str
    name: str


class ExplainedPath(BaseModel):
    """A path through the graph linking the two sides, with the relationship types between the nodes."""

    nodes: list[PathStep]
    rel_types: list[str] = []
    text: str = ""  # e.g. "某成果 -[OWNS]- 某大学 -[COLLABORATED_WITH]- 某企业"


class Explanation(BaseModel):
    shared_terms: list[str] = []  # key terms both texts use, most telling first
    chain_path: list[PathStep] = []  # chain segments linking the two sides (same or upstream → downstream)
    chain_relation: str = ""  # same_segment | upstream | downstream | same_chain | ""
    graph_paths: list[ExplainedPath] = []
    sentence: str = ""  # the one-sentence reason a broker reads


class Match(BaseModel):
    candidate_id: str
    label: str  # NodeLabel value of the candidate (Achievement, Enterprise)
    name: str
    score: float  # the engine's ranking score (comparable across queries of the same question)
    confidence: float = Field(ge=0, le=1)  # calibrated probability that a broker would call this a real fit
    rank: int = 0
    features: dict[str, float] = {}  # raw channel scores and graph features
    contributions: dict[str, float] = {}  # how much each feature moved the score (sums to about score - bias)
    explanation: Explanation = Explanation()
    via: list[str] = []  # for enterprise answers: the needs / achievements that led to this candidate
    behind: list[PathStep] = []  # for achievement answers: owners, inventors and the inventors' institutions


class MatchResult(BaseModel):
    question: Question
    query_id: str
    query_label: str
    query_name: str
    query_terms: list[str] = []  # the query's own key terms
    matches: list[Match] = []
    is_gap: bool = False  # no candidate reaches the confidence threshold: say so, do not pad
    #: False when the engine's configuration cannot tell gaps better than chance: ``is_gap`` is then never set
    gap_known: bool = True
    threshold: float = 0.0
    best_confidence: float = 0.0
    segment_ids: list[str] = []  # the query's chain segments (where a gap is counted)
    note: str = ""
    #: the channels that scored this answer: all configured ones, or the lexical ones alone while the dense
    #: rows are still being computed after a first start or an encoder change
    channels: list[str] = []
