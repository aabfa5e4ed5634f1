"""The NSFC expert-finding protocol of ``/work/shared/eval/README.md`` §2, as data: works, queries, truth.

An expert is (负责人, 依托单位). For an expert with two or more projects, the project with the largest
项目批准号 is held out and its title is the query; every other project of every expert is that expert's
work. Queries are sampled with ``random.Random(seed).shuffle`` over the experts with >= 2 projects in
file order (order of first appearance).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

NSFC_CSV = "data/nsfc/natural-2017-09-26.csv"


def shared_dir() -> Path:
    return Path(os.environ.get("TECHMATCH_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def expert_id(name: str, institution: str) -> str:
    return "nsfc-" + hashlib.sha1(f"{name}|{institution}".encode()).hexdigest()[:16]


def _grant_key(number: str) -> tuple[int, int | str]:
    number = number.strip()
    return (0, int(number)) if number.isdigit() else (1, number)


@dataclass
class ExpertFindingTask:
    works: list[dict]  # {expert_id, expert_name, institution, title, year, kind}
    queries: list[dict]  # {id, text}
    truth: dict[str, str]  # query id -> expert id

    def write_jsonl(self, directory: Path) -> tuple[Path, Path]:
        works, queries = directory / "works.jsonl", directory / "queries.jsonl"
        with works.open("w", encoding="utf-8") as fh:
            for w in self.works:
                fh.write(json.dumps(w, ensure_ascii=False) + "\n")
        with queries.open("w", encoding="utf-8") as fh:
            for q in self.queries:
                fh.write(json.dumps(q, ensure_ascii=False) + "\n")
        return works, queries


def load_task(seed: int = 7, n_queries: int = 500, csv_path: Path | None = None) -> ExpertFindingTask:
    path = csv_path or shared_dir() / NSFC_CSV
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    projects: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        key = (row["负责人"].strip(), row["依托单位"].strip())
        projects.setdefault(key, []).append(row)  # dict keeps first-appearance (file) order
    held_out: dict[tuple[str, str], dict] = {}
    for key, items in projects.items():
        if len(items) >= 2:
            held_out[key] = max(items, key=lambda r: _grant_key(r["项目批准号"]))
    works = []
    for key, items in projects.items():
        for row in items:
            if held_out.get(key) is row:
                continue
            start = row.get("起止年月", "")[:4]
            works.append(
                {
                    "expert_id": expert_id(*key),
                    "expert_name": key[0],
                    "institution": key[1],
                    "title": row["项目名称"].strip(),
                    "year": int(start) if start.isdigit() else None,
                    "kind": "项目",
                    "work_id": row["项目批准号"].strip(),
                }
            )
    eligible = list(held_out)
    random.Random(seed).shuffle(eligible)
    sample = eligible[:n_queries]
    queries = [{"id": held_out[k]["项目批准号"].strip(), "text": held_out[k]["项目名称"].strip()} for k in sample]
    truth = {held_out[k]["项目批准号"].strip(): expert_id(*k) for k in sample}
    return ExpertFindingTask(works=works, queries=queries, truth=truth)


def recall_mrr(run: dict[str, list[str]], truth: dict[str, str], k: int = 10) -> tuple[float, float]:
    """Recall@k and MRR (rank cut at 100) with one relevant expert per query."""
    hits, rr = 0, 0.0
    for qid, expert in truth.items():
        ranked = run.get(qid, [])[:100]
        if expert in ranked[:k]:
            hits += 1
        if expert in ranked:
            rr += 1.0 / (ranked.index(expert) + 1)
    n = max(1, len(truth))
    return hits / n, rr / n
