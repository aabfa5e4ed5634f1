"""Reads a government plan (实施方案/规划) into the graph: the plan, its quantitative targets, its numbered
tasks with their responsible units, and the chains, organisations and regions it names.

The parser works from the structure Chinese plans share, not from one file: a document number like
``平政办〔2021〕19号``, numbered task paragraphs ``1.``/``2、`` ending in ``(责任单位:...)``, and clauses with a
number, a counting unit and a qualifier (``200家以上``, ``20%以上``, ``10名左右``, ``20亿元``). Each target gets a
metric key from its wording (:data:`METRIC_RULES`, first match wins) that the bureau's metrics know.

``parse_policy(text)`` is pure; ``load_policy(store, path)`` writes everything in one transaction.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from neo4j import ManagedTransaction

from graph.exceptions import ValidationError
from graph.model import (
    Department,
    Node,
    NodeLabel,
    Policy,
    Provenance,
    Relation,
    RelType,
    Target,
    Task,
)
from graph.store import GraphStore, UpsertReport, write_nodes, write_relations

#: (pattern on the target's wording, metric key) — first match wins, so specific wording goes first
METRIC_RULES: tuple[tuple[str, str], ...] = (
    (r"研发投入|研发经费|R&D", "rd_growth"),
    (r"高新技术企业", "high_tech_enterprises"),
    (r"科技型中小企业", "tech_smes"),
    (r"创新平台|研发平台|重点实验室|技术创新中心", "provincial_platforms"),
    (r"团队", "high_level_teams"),
    (r"院士", "academicians"),
    (r"人才", "high_level_talents"),
    (r"技术经纪|技术经理人|技术市场从业人员", "brokers_per_year"),
    (r"科技专项|科技项目", "major_projects"),
    (r"核心技术|关键技术", "core_technologies"),
    (r"技术合同", "tech_contract_turnover"),
    (r"科技成果|成果转化", "achievements_transferred"),
)

UNMAPPED_METRIC = "unmapped"

# Counting units a plan's targets use; years and dates (年/月/日/号) are deliberately absent.
_UNITS = r"亿元|万元|元|%|％|家|名|个|项|人|所|件|座|次|倍"
_CN_DIGITS = "零〇一二两三四五六七八九十百千万"
# A number in Arabic or Chinese numerals ("200家", "二百家", "1.5万家"); not an ordinal ("第十四个").
_QUANTITY = re.compile(
    rf"(?<![第.\d{_CN_DIGITS}])(?P<num>\d+(?:\.\d+)?(?:万(?!元))?|[{_CN_DIGITS}]+)\s*(?P<unit>{_UNITS})(?P<cmp>以上|左右|以内|以下|及以上)?"
)
_CN_VALUE = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_CN_SCALE = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_CLAUSE_SPLIT = re.compile(r"[，,；;。！!\n]")
_DEADLINE = re.compile(r"到\s*(\d{4})\s*年")
_DOC_NUMBER = re.compile(r"[\u4e00-\u9fa5]{1,8}[〔\[（(]\d{4}[〕\]）)]\s*\d+\s*号")
_ISO_DATE = re.compile(r"发布日期\s*[:：]?\s*(\d{4})-(\d{1,2})-(\d{1,2})")
_CN_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_TASK_LINE = re.compile(r"^\s*(\d{1,3})\s*[.．、]\s*(\S.*)$")
_SECTION_LINE = re.compile(r"^\s*[（(]([一二三四五六七八九十]+)[）)]\s*(.+)$")
_PART_LINE = re.compile(r"^\s*([一二三四五六七八九十]+)\s*、\s*(.+)$")
_RESPONSIBLE = re.compile(r"[（(]\s*责任单位\s*[:：]\s*(.+?)[）)]\s*$")
_TITLE_LINE = re.compile(r"^[^\s，,。；;:：]{4,60}(?:实施方案|方案|规划|计划|意见|办法|纲要|行动)$")
_NOTICE_LINE = re.compile(r"^.{0,40}关于.+的(?:通知|意见|决定)$")
# "以尼龙新材料、高压电气、生物医药等产业" / "围绕尼龙化工、高压电气等优势产业"
_CHAIN_LIST = re.compile(r"(?:以|围绕|聚焦|重点围绕|发展)([^，。；,;]{2,80}?)等(?:优势|主导|战略性新兴|新兴)?产业")
_ORG_SUFFIX = re.compile(
    r"([\u4e00-\u9fa5（）()]{2,30}(?:有限公司|公司|集团|大学|学院|研究院|研究所|国家重点实验室|重点实验室|技术创新中心|"
    r"工程技术研究中心|企业技术中心))"
)
# Words that precede an organisation's name in a sentence and are not part of it.
_ORG_LEAD = re.compile(
    r"^(?:.*?(?:支持|依托|加大对|推动|鼓励|引导|建设|对接|等|和|与|、|的|争创|实施|积极|加快|建立|设立|知名))+"
)
_GENERIC_ORGS = {
    "公司", "集团", "大学", "学院", "研究院", "研究所", "重点实验室", "技术创新中心", "企业技术中心", "产业技术研究院",
}
# A county or district government among the responsible units ("宝丰县政府", "高新区管委会").
_REGION_UNIT = re.compile(r"^([\u4e00-\u9fa5]{1,6}?(?:县|区|市))(?:人民政府|政府|管委会)$")


@dataclass
class ParsedTarget:
    name: str
    metric: str
    value: float
    unit: str
    comparator: str
    deadline_year: int | None
    per_year: bool
    sentence: str
    task_number: int | None  # the numbered task the target sits in, None in the goals paragraph
    line: int


@dataclass
class ParsedTask:
    number: int
    name: str
    text: str
    section: str
    responsible: list[str]
    line: int


@dataclass
class ParsedPolicy:
    """What a plan says, before it touches the graph."""

    name: str
    doc_number: str
    issued_on: date | None
    horizon_year: int | None
    targets: list[ParsedTarget] = field(default_factory=list)
    tasks: list[ParsedTask] = field(default_factory=list)
    chain_mentions: list[str] = field(default_factory=list)
    org_mentions: list[str] = field(default_factory=list)
    region_mentions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def departments(self) -> list[str]:
        seen: dict[str, None] = {}
        for task in self.tasks:
            for unit in task.responsible:
                seen.setdefault(unit, None)
        return list(seen)


@dataclass
class PolicyReport:
    """What ``load_policy`` wrote and what it could not link."""

    policy_id: str
    name: str
    targets: int
    tasks: int
    departments: int
    chains_named: list[str]
    orgs_named: list[str]
    unlinked_mentions: list[str]
    unmapped_targets: list[str]
    warnings: list[str]
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def metric_for(wording: str) -> str:
    """The metric key for a target's wording, or ``unmapped``."""
    for pattern, key in METRIC_RULES:
        if re.search(pattern, wording):
            return key
    return UNMAPPED_METRIC


def split_units(text: str) -> list[str]:
    """Split a 责任单位 list on 、，, but not inside brackets (``各县〔市、区〕政府〔管委会〕`` stays one unit)."""
    units: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch in "〔（([【":
            depth += 1
        elif ch in "〕）)]】":
            depth = max(0, depth - 1)
        if depth == 0 and ch in "、，,；;":
            units.append("".join(current))
            current = []
        else:
            current.append(ch)
    units.append("".join(current))
    return [u.strip() for u in units if u.strip()]


def parse_number(text: str) -> float | None:
    """``"200"`` -> 200, ``"1.5万"`` -> 15000, ``"二百"`` -> 200, ``"一千五百"`` -> 1500; None if not a number."""
    try:
        return float(text[:-1]) * 10000 if text.endswith("万") and text[:-1] else float(text)
    except ValueError:
        pass
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _CN_VALUE:
            digit = _CN_VALUE[ch]
        elif ch == "万":
            total += (section + (digit or 0) or 1) * 10000
            section, digit = 0, None
        elif ch in _CN_SCALE:
            section += (1 if digit is None else digit) * _CN_SCALE[ch]
            digit = None
        else:
            return None
    return float(total + section + (digit or 0))


def _normalise(text: str) -> str:
    # The published text comes with non-breaking spaces, full-width digits and bullet glyphs.
    table: dict[int, str | int] = {ord("\u3000"): " ", ord("\xa0"): " ", ord("•"): " "}
    table.update({0xFF10 + i: ord("0") + i for i in range(10)})
    return text.translate(table)


def _targets_in(
    sentence: str, task_number: int | None, deadline: int | None, line: int, goals: bool
) -> list[ParsedTarget]:
    """Quantitative targets in one paragraph. Outside the goals paragraph only clauses with a qualifier count,
    so that incidental numbers in task prose (``不低于10年``) are not taken for targets."""
    out: list[ParsedTarget] = []
    for clause in _CLAUSE_SPLIT.split(sentence):
        matches = list(_QUANTITY.finditer(clause))
        prev_end = 0
        for i, m in enumerate(matches):
            value = parse_number(m.group("num"))
            if value is None or not value:
                continue
            next_start = matches[i + 1].start() if i + 1 < len(matches) else len(clause)
            tail = clause[m.end():next_start]
            # What follows the number belongs to this target only up to the next enumeration mark.
            tail = re.split(r"[、]", tail, maxsplit=1)[0]
            wording = (clause[prev_end:m.start()] + m.group(0) + tail).strip(" 、")
            prev_end = m.end() + len(tail)
            qualifier = m.group("cmp") or ""
            if not goals and not (qualifier or re.search(r"达到|不少于|突破|力争", wording)):
                continue
            metric = metric_for(wording)
            if metric == UNMAPPED_METRIC:
                metric = metric_for(clause)
            comparator = "~" if qualifier == "左右" else "<=" if qualifier in ("以内", "以下") else ">="
            unit = "%" if m.group("unit") == "％" else m.group("unit")
            out.append(
                ParsedTarget(
                    name=_strip_lead(wording),
                    metric=metric,
                    value=value,
                    unit=unit,
                    comparator=comparator,
                    deadline_year=deadline,
                    per_year="每年" in clause or "年均" in clause,
                    sentence=sentence.strip()[:500],
                    task_number=task_number,
                    line=line,
                )
            )
    return out


def _strip_lead(wording: str) -> str:
    # "到2025年" and "全市" only frame the target; the name is what is counted.
    wording = _DEADLINE.sub("", wording)
    return re.sub(r"^(?:全市|我市|力争|并)+", "", wording).strip(" 、") or wording


def _task_name(body: str) -> str:
    first = re.split(r"[。]", body, maxsplit=1)[0]
    if len(first) > 40:  # a task with no short heading: keep its opening words
        first = re.split(r"[，,；;]", first, maxsplit=1)[0][:40]
    return first.strip()


def _org_mentions(text: str) -> list[str]:
    found: dict[str, None] = {}
    for piece in re.split(r"[，,。；;、：:\n]", text):
        for m in _ORG_SUFFIX.finditer(piece):
            name = _ORG_LEAD.sub("", m.group(1)).strip("（）() ")
            if len(name) >= 4 and name not in _GENERIC_ORGS and not name.startswith(("各", "市")):
                found.setdefault(name, None)
    return list(found)


def _chain_mentions(text: str) -> list[str]:
    found: dict[str, None] = {}
    for m in _CHAIN_LIST.finditer(text):
        for name in re.split(r"[、和及]", m.group(1)):
            name = name.strip()
            if 2 <= len(name) <= 12:
                found.setdefault(name, None)
    return list(found)


def parse_policy(text: str, source: str = "<text>") -> ParsedPolicy:
    """Parse a plan's text. Raises :class:`ValidationError` (naming ``source``) when it holds neither targets
    nor numbered tasks, since then it is not a plan this parser understands."""
    text = _normalise(text)
    lines = [ln.strip() for ln in text.splitlines()]
    doc = _DOC_NUMBER.search(text)
    issued: date | None = None
    if m := _ISO_DATE.search(text) or _CN_DATE.search(text):
        try:
            issued = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            issued = None
    title = next((ln for ln in lines if _TITLE_LINE.match(ln)), None)
    notice = next((ln for ln in lines if _NOTICE_LINE.match(ln)), None)
    name = title or notice or Path(source).stem
    deadlines = [int(y) for y in _DEADLINE.findall(text)]
    # The plan's horizon is the nearest "到YYYY年" after issue (2035 visions are not the plan's deadline).
    horizon = min((y for y in deadlines if not issued or y >= issued.year), default=None)

    parsed = ParsedPolicy(
        name=name,
        doc_number=re.sub(r"\s+", "", doc.group(0)) if doc else "",
        issued_on=issued,
        horizon_year=horizon,
    )
    section = ""
    part = ""
    in_goals = False  # inside a goals paragraph, which may run over several lines
    for i, line in enumerate(lines, start=1):
        if not line:
            continue
        if pm := _PART_LINE.match(line):
            part = pm.group(2).strip()
            in_goals = "目标" in part
            continue
        sm = _SECTION_LINE.match(line)
        tm = _TASK_LINE.match(line)
        if sm and not tm:
            heading = re.split(r"[。]", sm.group(2), maxsplit=1)[0]
            section = heading
            in_goals = ("目标" in heading or "目标" in part) and _RESPONSIBLE.search(line) is None
        if tm:
            in_goals = False
            number, body = int(tm.group(1)), tm.group(2)
            resp = _RESPONSIBLE.search(body)
            responsible = split_units(resp.group(1)) if resp else []
            if not resp:
                parsed.warnings.append(f"{source}:{i}: task {number} names no 责任单位")
            own = _DEADLINE.search(body)
            parsed.tasks.append(
                ParsedTask(
                    number=number,
                    name=_task_name(body),
                    text=body,
                    section=section or part,
                    responsible=responsible,
                    line=i,
                )
            )
            parsed.targets.extend(
                _targets_in(body, number, int(own.group(1)) if own else horizon, i, goals=False)
            )
        elif in_goals:  # every quantity in the goals paragraph is a target
            own = _DEADLINE.search(line)
            parsed.targets.extend(_targets_in(line, None, int(own.group(1)) if own else horizon, i, goals=True))
    numbers = [t.number for t in parsed.tasks]
    if len(set(numbers)) != len(numbers):
        parsed.warnings.append(f"{source}: task numbers repeat: {numbers}")
    if not parsed.targets and not parsed.tasks:
        raise ValidationError(
            "no quantitative targets and no numbered tasks found; is this a plan (实施方案/规划)?", where=source
        )
    for t in parsed.targets:
        if t.metric == UNMAPPED_METRIC:
            parsed.warnings.append(f"{source}:{t.line}: target {t.name!r} has no known metric")
    parsed.chain_mentions = _chain_mentions(text)
    parsed.org_mentions = _org_mentions(text)
    parsed.region_mentions = [
        m.group(1)
        for unit in parsed.departments
        if (m := _REGION_UNIT.match(unit)) and not unit.startswith(("各", "市"))
    ]
    return parsed


def stable_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha1("|".join(parts).encode("utf-8")).hexdigest()[:12]
    return f"{prefix}-{digest}"


def department_id(name: str) -> str:
    return stable_id("dept", re.sub(r"\s+", "", name))


def build_policy_graph(
    parsed: ParsedPolicy, store: GraphStore | None = None, source: str = ""
) -> tuple[list[Node], list[Relation], PolicyReport]:
    """Nodes and relationships for a parsed plan; with a store, NAMES links go to what the graph holds."""
    pid = stable_id("policy", parsed.doc_number or parsed.name)
    # Where each node came from: the file, and the line of a task or target, so the bureau can check the wording.
    def prov(line: int | None = None) -> Provenance | None:
        return Provenance(source=source, row=line) if source else None

    policy = Policy(
        id=pid,
        provenance=prov(),
        name=parsed.name,
        doc_number=parsed.doc_number,
        issued_on=parsed.issued_on,
        text_digest=hashlib.sha1(
            "\n".join([parsed.name, *(t.text for t in parsed.tasks)]).encode("utf-8")
        ).hexdigest(),
    )
    nodes: list[Node] = [policy]
    rels: list[Relation] = []
    departments = {name: Department(id=department_id(name), name=name) for name in parsed.departments}
    existing = (
        {r["id"] for r in store.read("MATCH (d:Department) RETURN d.id AS id")} if store is not None else set()
    )
    # An existing department node (same name, same derived id) is linked to, not rewritten.
    nodes.extend(d for d in departments.values() if d.id not in existing)
    tasks_by_number: dict[int, Task] = {}
    for t in parsed.tasks:
        task = Task(
            id=f"{pid}-task{t.number:02d}", name=t.name, number=t.number, text=t.text, section=t.section,
            provenance=prov(t.line),
        )
        tasks_by_number[t.number] = task
        nodes.append(task)
        rels.append(_rel(RelType.HAS_TASK, policy, task))
        for unit in t.responsible:
            rels.append(_rel(RelType.RESPONSIBLE_FOR, departments[unit], task))
    baseline = parsed.issued_on.year if parsed.issued_on else None
    for n, pt in enumerate(parsed.targets, start=1):
        target = Target(
            id=f"{pid}-target{n:02d}",
            name=pt.name,
            metric=pt.metric,
            value=pt.value,
            unit=("每年" + pt.unit) if pt.per_year and not pt.unit.startswith("每年") else pt.unit,
            comparator=pt.comparator,
            deadline_year=pt.deadline_year,
            baseline_year=baseline,
            sentence=pt.sentence,
            provenance=prov(pt.line),
        )
        nodes.append(target)
        rels.append(_rel(RelType.HAS_TARGET, policy, target))
        for unit in _responsible_for_target(parsed, pt):
            rels.append(_rel(RelType.RESPONSIBLE_FOR, departments[unit], target))

    chains_named: list[str] = []
    orgs_named: list[str] = []
    unlinked: list[str] = []
    if store is not None:
        text_by_task = {t.number: t.text for t in parsed.tasks}
        for chain in store.all_props(NodeLabel.INDUSTRY_CHAIN):
            terms = _chain_terms(chain)
            hit = [m for m in parsed.chain_mentions if any(term in m or m in term for term in terms)]
            if not hit:
                continue
            chains_named.append(chain["name"])
            rels.append(_rel_ids(RelType.NAMES, NodeLabel.POLICY, pid, NodeLabel.INDUSTRY_CHAIN, chain["id"]))
            for number, text in text_by_task.items():
                if any(term in text for term in terms):
                    rels.append(
                        _rel_ids(RelType.NAMES, NodeLabel.TASK, tasks_by_number[number].id,
                                 NodeLabel.INDUSTRY_CHAIN, chain["id"])
                    )
        matched_mentions: set[str] = set()
        orgs = [(label, org) for label in (NodeLabel.ENTERPRISE, NodeLabel.INSTITUTION, NodeLabel.PLATFORM)
                for org in store.all_props(label)]
        org_names = {id(org): [n for n in (org.get("name") or "", org.get("canonical_name") or "",
                                           *(org.get("aliases") or [])) if len(n) >= 3] for _, org in orgs}
        # A mention that is some organisation's exact name or alias names that one only: the subsidiary
        # "中国平煤神马集团尼龙科技有限公司" must not also link its parent, whose alias it contains.
        exact = {m for m in parsed.org_mentions for names in org_names.values() if m in names}
        for label, org in orgs:
            names = org_names[id(org)]
            hits = [
                m for m in parsed.org_mentions
                if m in names or (m not in exact and any(_same_org(m, n) for n in names))
            ]
            if not hits:
                continue
            matched_mentions.update(hits)
            orgs_named.append(org["name"])
            rels.append(_rel_ids(RelType.NAMES, NodeLabel.POLICY, pid, label, org["id"]))
            for number, text in text_by_task.items():
                if any(h in text for h in hits):
                    task_id = tasks_by_number[number].id
                    rels.append(_rel_ids(RelType.NAMES, NodeLabel.TASK, task_id, label, org["id"]))
        for region in store.all_props(NodeLabel.REGION):
            if region.get("name") and region["name"] in parsed.region_mentions:
                rels.append(_rel_ids(RelType.NAMES, NodeLabel.POLICY, pid, NodeLabel.REGION, region["id"]))
        unlinked = [m for m in parsed.org_mentions if m not in matched_mentions]
    else:
        unlinked = list(parsed.org_mentions)

    report = PolicyReport(
        policy_id=pid,
        name=parsed.name,
        targets=len(parsed.targets),
        tasks=len(parsed.tasks),
        departments=len(departments),
        chains_named=chains_named,
        orgs_named=orgs_named,
        unlinked_mentions=unlinked,
        unmapped_targets=[t.name for t in parsed.targets if t.metric == UNMAPPED_METRIC],
        warnings=list(parsed.warnings),
    )
    return nodes, rels, report


def _chain_terms(chain: dict) -> list[str]:
    name = chain.get("name") or ""
    terms = {name, re.sub(r"(?:产业链|产业|集群)$", "", name)}
    terms.update(k for k in (chain.get("keywords") or []) if len(k) >= 3)
    return [t for t in terms if len(t) >= 2]


def _same_org(mention: str, name: str) -> bool:
    if mention == name:
        return True
    # "舞钢公司" vs "舞阳钢铁有限责任公司" cannot be told apart by text; only whole-name containment counts.
    return len(mention) >= 5 and len(name) >= 5 and (mention in name or name in mention)


def _responsible_for_target(parsed: ParsedPolicy, target: ParsedTarget) -> list[str]:
    """A target inside a task belongs to that task's units; a goals-paragraph target to the units of the
    tasks whose text speaks of the same thing (the metric's wording)."""
    if target.task_number is not None:
        return next((t.responsible for t in parsed.tasks if t.number == target.task_number), [])
    pattern = next((p for p, key in METRIC_RULES if key == target.metric), None)
    units: dict[str, None] = {}
    for task in parsed.tasks:
        if pattern is not None and re.search(pattern, task.text):
            for unit in task.responsible:
                units.setdefault(unit, None)
    if not units and parsed.tasks:
        # No task speaks of it: the unit named most often across the tasks leads the plan and owns it.
        counts = Counter(u for t in parsed.tasks for u in t.responsible)
        if counts:
            return [counts.most_common(1)[0][0]]
    return list(units)


def _rel(rtype: RelType, a: Node, b: Node) -> Relation:
    return Relation(type=rtype, source_label=a.label, source_id=a.id, target_label=b.label, target_id=b.id)


def _rel_ids(rtype: RelType, a_label: NodeLabel, a_id: str, b_label: NodeLabel, b_id: str) -> Relation:
    return Relation(type=rtype, source_label=a_label, source_id=a_id, target_label=b_label, target_id=b_id)


def read_policy_text(path: Path | str) -> str:
    """The file's text; GB18030 is tried after UTF-8 because local government sites still publish in it."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"policy file not found: {path}", where=str(path))
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly anything
        raise ValidationError("cannot decode the file as UTF-8 or GB18030", where=str(path))
    if not text.strip():
        raise ValidationError("the policy file is empty", where=str(path))
    return text


_STALE_PARTS = (
    "MATCH (p:Policy {id: $pid})-[:HAS_TARGET|HAS_TASK]->(x) WHERE NOT x.id IN $keep "
    "WITH x, x.id AS gone DETACH DELETE x RETURN count(gone) AS removed"
)
# A re-read plan keeps its links to chains, organisations and regions it still names; the others go.
_OLD_NAMES = "MATCH (p:Policy {id: $pid})-[r:NAMES]->(x) WHERE NOT x.id IN $keep DELETE r"
_OLD_TASK_NAMES = (
    "MATCH (:Policy {id: $pid})-[:HAS_TASK]->(t:Task)-[r:NAMES]->(x) WHERE NOT (t.id + '|' + x.id) IN $keep DELETE r"
)


def load_policy(store: GraphStore, path: Path | str) -> PolicyReport:
    """Parse the plan at ``path`` and write it to the graph in one transaction. Re-running is idempotent; re-reading
    an edited plan updates it in place and removes the targets and tasks it no longer has."""
    text = read_policy_text(path)
    parsed = parse_policy(text, source=str(path))
    nodes, rels, report = build_policy_graph(parsed, store, source=str(path))
    for rel in rels:
        rel.check_endpoints()
    keep = [n.id for n in nodes if n.label in (NodeLabel.TARGET, NodeLabel.TASK)]

    def work(tx: ManagedTransaction) -> tuple[UpsertReport, int]:
        removed = tx.run(_STALE_PARTS, pid=report.policy_id, keep=keep).single()
        names = [r for r in rels if r.type == RelType.NAMES]
        policy_names = [r.target_id for r in names if r.source_label == NodeLabel.POLICY]
        task_names = [f"{r.source_id}|{r.target_id}" for r in names if r.source_label == NodeLabel.TASK]
        tx.run(_OLD_TASK_NAMES, pid=report.policy_id, keep=task_names).consume()
        tx.run(_OLD_NAMES, pid=report.policy_id, keep=policy_names).consume()
        written = write_nodes(tx, nodes)
        written.add(write_relations(tx, rels))
        return written, int(removed["removed"]) if removed else 0

    written, removed = store.transaction(work)
    if written.missing_endpoints:  # cannot happen for what we built ourselves, unless the graph changed under us
        report.warnings.append(f"{len(written.missing_endpoints)} links had a missing endpoint")
    if removed:
        report.warnings.append(f"{removed} targets/tasks the plan no longer has were removed")
    report.created, report.updated, report.unchanged = written.created, written.updated, written.unchanged
    return report
