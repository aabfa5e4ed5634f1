"""The matcher's settings: which encoders, how many matches, when a need is a gap, which 回避 rules apply.

A plain validated model: this module never reads the environment. The application's entry points build the
settings from ``TECHMATCH_*`` variables once (:func:`api.config.load_settings`, whose class composes this one)
and pass them to the engine and the solver functions.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graph.settings import DEFAULT_DATA_DIR

#: the 回避 rules applied when nothing else is configured (every rule there is)
DEFAULT_COI_RULES = "same_organisation,co_inventor,recent_collaboration,financial_tie"


class MatcherSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="the indexes (data_dir/index) and caches")
    embedder: str = Field(
        default="e5-market",
        description="primary dense encoder: e5-market (e5-small with the market adapter) | e5-small | use-m3 (each "
                    "with an optional @<passage characters>) | st:<path-or-name> | none"
    )
    extra_embedders: str = Field(
        default="use-m3",
        description="further dense channels beside the primary one, comma-separated (none when embedder is none)",
    )
    match_top_k: int = Field(default=20, ge=1, le=200)
    gap_confidence: float | None = Field(
        default=None, ge=0, le=1, description="below this a need is a gap; None = the threshold fitted with the curve"
    )
    coi_rules: str = Field(default=DEFAULT_COI_RULES, description="回避 rules applied to challenge solvers, "
                           "comma-separated")
    coi_window_years: int = Field(default=3, ge=0, description="a collaboration this recent is a conflict")
    embed_workers: int | None = Field(
        default=None, ge=1, description="worker processes of the embedding job, one thread each; None = one per "
        "core this process may run on (1 = encode in the job's own thread)")

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def coi_rule_names(self) -> list[str]:
        return [r.strip() for r in self.coi_rules.split(",") if r.strip()]

    @field_validator("embedder", "extra_embedders")
    @classmethod
    def _known_encoders(cls, value: str) -> str:
        from graph.exceptions import TechmatchError
        from matcher.embedders.registry import check_spec

        for spec in value.split(","):
            try:
                check_spec(spec)
            except TechmatchError as exc:  # pydantic reports a ValueError as this field's error
                raise ValueError(str(exc)) from None
        return value

    @field_validator("coi_rules")
    @classmethod
    def _known_rules(cls, value: str) -> str:
        from matcher.solvers.coi import RULES

        unknown = [r.strip() for r in value.split(",") if r.strip() and r.strip() not in RULES]
        if unknown:
            raise ValueError(f"未知的回避规则 {', '.join(unknown)}：可用 {', '.join(RULES)}")
        return value
