"""Entity resolution for organisations: one Enterprise/Institution node per real organisation.

Names arrive in many forms: 中国平煤神马集团尼龙科技有限公司, 平煤神马尼龙科技, 平顶山市XX有限责任公司（原XX厂）.
:func:`canonical_org_name` strips what does not identify an organisation (brackets, leading region
names, legal-form words 有限公司/股份/集团/有限责任公司), and :class:`OrgResolver` decides, with a stated
reason, whether a name is an organisation it already knows. Precision comes first: a wrong merge joins
two companies' achievements and is hard to notice, a missed merge only leaves a duplicate a reviewer
can merge later. So the rules are:

1. the same unified social credit code -> same organisation; two different codes -> never the same;
2. the same canonical name (and no conflicting codes) -> same organisation;
3. a short form that is the *leading* part of exactly one known canonical name, at least 4 characters,
   and not a generic word pair (科技/技术/新材料 ...), e.g. 平煤神马尼龙 in 平煤神马尼龙科技 -> same;
   a short form matching several names, or only the tail of one (尼龙科技 of 平煤神马尼龙科技), is not
   merged but listed as a *candidate* for review.

Every merge yields a :class:`graph.model.MergeRecord` (with a MERGED_INTO edge to the kept node) so a
reviewer can see and undo it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from graph.model import Enterprise, Institution, MergeRecord, NodeLabel
from ingest import text as textpipe
from ingest.records import institution_kind

# Provinces, their short forms, and the cities/counties most often prefixed in Henan listings. A region
# prefix is only removed when something substantial remains, so 河南大学 keeps its name.
_PROVINCES = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽", "福建", "江西",
    "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西", "甘肃", "青海", "台湾",
    "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门",
)
_CITIES = (
    "平顶山", "郑州", "洛阳", "开封", "许昌", "漯河", "南阳", "新乡", "焦作", "安阳", "鹤壁", "濮阳", "三门峡",
    "商丘", "周口", "驻马店", "信阳", "济源", "舞钢", "汝州", "宝丰", "叶县", "鲁山", "郏县", "卫东", "新华",
    "湛河", "石龙", "福州", "厦门", "泉州", "漳州", "莆田", "龙岩", "三明", "南平", "宁德", "深圳", "广州",
    "杭州", "南京", "苏州", "武汉", "西安", "成都", "长沙", "济南", "青岛", "合肥",
)
_REGION_PREFIX = re.compile(
    r"^(?:中国|中华人民共和国)?"
    r"(?:(?:" + "|".join(sorted(_PROVINCES, key=len, reverse=True))
    + r")(?:省|市|自治区|壮族自治区|回族自治区|维吾尔自治区)?)?"
    r"(?:(?:" + "|".join(sorted(_CITIES, key=len, reverse=True)) + r")(?:市|县|区)?)?"
    r"(?:[\u4e00-\u9fff]{1,3}(?:县|区)(?=[\u4e00-\u9fff]{4,}))?"
)
# Legal forms and group words, longest first; removed wherever they stand at the end, 集团 anywhere.
_LEGAL_SUFFIXES = (
    "股份有限公司", "有限责任公司", "集团有限公司", "集团股份有限公司", "有限公司", "股份公司", "总公司", "分公司",
    "公司", "集团", "股份", "有限", "厂",
)
_LEGAL_TAIL = re.compile("(?:" + "|".join(sorted(_LEGAL_SUFFIXES, key=len, reverse=True)) + ")+$")
_BRACKETS = re.compile(r"[（(\[【〔][^）)\]】〕]*[）)\]】〕]")
_NOISE = re.compile(r"[\s·•.,，、\-—_\"'“”‘’《》<>]+")
#: words that say what a company does rather than who it is; a short form made only of these is generic
GENERIC_WORDS = (
    "科技", "技术", "实业", "发展", "工业", "工程", "有限", "股份", "集团", "控股", "投资", "贸易", "信息", "电子",
    "化工", "材料", "新材料", "能源", "新能源", "机械", "设备", "装备", "制造", "电气", "电力", "生物", "医药",
    "环保", "建设", "建材", "农业", "食品", "智能", "网络", "软件", "服务", "管理", "咨询", "研究", "开发",
    "尼龙", "塑料", "化学", "钢铁", "煤业", "矿业", "纺织", "汽车", "电器", "光电", "高新", "创新", "产业",
)
_GENERIC = re.compile("^(?:" + "|".join(sorted(GENERIC_WORDS, key=len, reverse=True)) + ")+$")

CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
_UNIVERSITY_LIKE = re.compile(
    r"(大学|学院|研究所|研究院|科学院|农科院|中科院|医院|研究中心|实验室|学校|院[\u4e00-\u9fff]{1,5}所$)"
)
#: common abbreviations of academies, expanded so 甘肃省农科院 and 甘肃省农业科学院 meet
_INSTITUTION_ABBREVIATIONS = (("中科院", "中国科学院"), ("农科院", "农业科学院"))


def canonical_org_name(name: str) -> str:
    """The identifying core of an organisation name: '中国平煤神马集团尼龙科技有限公司' -> '平煤神马尼龙科技'.

    Institutions (大学, 学院, 研究所 ...) keep their region, because for them it is part of the name
    (河南大学 is not 大学); companies lose leading region names and legal-form words.
    """
    text = textpipe.normalize(name)
    text = _BRACKETS.sub("", text)
    text = _NOISE.sub("", text)
    if not text:
        return ""
    if _UNIVERSITY_LIKE.search(text) and "公司" not in text:
        for short, full in _INSTITUTION_ABBREVIATIONS:
            text = text.replace(short, full)
        return text
    core = _LEGAL_TAIL.sub("", text) or text
    core = core.replace("集团", "") or core
    m = _REGION_PREFIX.match(core)
    if m and m.end() > 0 and len(core) - m.end() >= 2:
        core = core[m.end():]
    core = _LEGAL_TAIL.sub("", core) or core
    return core


_PROVINCE_RE = re.compile("(" + "|".join(sorted(_PROVINCES, key=len, reverse=True)) + ")")
_CITY_RE = re.compile("(" + "|".join(sorted(_CITIES, key=len, reverse=True)) + ")")


def org_region(name: str) -> tuple[str, str]:
    """The (province, city) a company name starts with: '河南省平顶山市XX' -> ('河南', '平顶山'); '' when absent."""
    text = _NOISE.sub("", _BRACKETS.sub("", textpipe.normalize(name)))
    if _UNIVERSITY_LIKE.search(text):
        return "", ""
    text = re.sub(r"^(?:中国|中华人民共和国)", "", text)
    m = _REGION_PREFIX.match(text)
    if not m or m.end() == 0:
        return "", ""
    prefix = text[: m.end()]
    province = _PROVINCE_RE.match(prefix)
    city = _CITY_RE.search(prefix)
    return (province.group(1) if province else "", city.group(1) if city else "")


def regions_conflict(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Two region prefixes that cannot both hold (河南 vs 福建); a missing part is no conflict."""
    return any(x and y and x != y for x, y in zip(a, b, strict=True))


def is_generic(core: str) -> bool:
    """True when a canonical name is only trade words (尼龙科技, 新材料科技): it names no one in particular."""
    return len(core) < 2 or bool(_GENERIC.match(core))


def normalize_credit_code(code: str | None) -> str | None:
    """Upper-cased, spaces removed; None when empty. Format is checked by the Enterprise model."""
    if code is None:
        return None
    text = re.sub(r"\s+", "", textpipe.normalize(str(code))).upper()
    return text or None


def org_id(label: NodeLabel, name: str, credit_code: str | None = None, region: tuple[str, str] = ("", "")) -> str:
    """A stable id for an organisation: its credit code when known, else a hash of region and canonical name."""
    if credit_code:
        return f"ent-{credit_code}"
    prefix = "ent" if label == NodeLabel.ENTERPRISE else "inst"
    key = "|".join((*region, canonical_org_name(name) or textpipe.normalize(name)))
    return f"{prefix}-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:16]}"


def org_label(name: str) -> NodeLabel:
    """Institution for universities, institutes and hospitals; Enterprise otherwise."""
    return NodeLabel.INSTITUTION if _UNIVERSITY_LIKE.search(name) and "公司" not in name else NodeLabel.ENTERPRISE


@dataclass
class KnownOrg:
    id: str
    label: NodeLabel
    name: str
    core: str
    credit_code: str | None = None
    aliases: set[str] = field(default_factory=set)
    region: tuple[str, str] = ("", "")


@dataclass(frozen=True)
class Resolution:
    """The outcome for one name: the organisation it is, whether that is new, and why."""

    org: KnownOrg
    created: bool
    merged: bool = False
    reason: str = ""


@dataclass(frozen=True)
class Candidate:
    """A possible duplicate that was *not* merged (ambiguous or generic); listed for a reviewer."""

    name: str
    possible: tuple[str, ...]
    reason: str


class OrgResolver:
    """Resolves organisation names to one node per organisation, remembering every decision."""

    def __init__(self) -> None:
        self.orgs: dict[str, KnownOrg] = {}
        self._by_code: dict[str, KnownOrg] = {}
        self._by_core: dict[tuple[NodeLabel, str], list[KnownOrg]] = {}
        self.candidates: list[Candidate] = []
        self._noted: set[tuple[str, tuple[str, ...]]] = set()

    def _candidate(self, name: str, possible: Iterable[str], reason: str) -> None:
        """Note a possible duplicate for review, once per name and set of possible matches."""
        others = tuple(sorted({p for p in possible if p != name}))
        if others and (name, others) not in self._noted:
            self._noted.add((name, others))
            self.candidates.append(Candidate(name, others, reason))

    # -- knowledge -------------------------------------------------------------------------------
    def _index(self, label: NodeLabel, core: str, org: KnownOrg) -> None:
        if core:
            bucket = self._by_core.setdefault((label, core), [])
            if all(o.id != org.id for o in bucket):
                bucket.append(org)

    def add(self, org: KnownOrg) -> KnownOrg:
        self.orgs[org.id] = org
        if org.credit_code:
            self._by_code[org.credit_code] = org
        self._index(org.label, org.core, org)
        for alias in org.aliases:
            self._index(org.label, canonical_org_name(alias), org)
        return org

    def add_existing(self, label: NodeLabel, props: dict) -> None:
        """Know an organisation already in the graph (its stored properties)."""
        name = str(props.get("name") or "")
        self.add(KnownOrg(
            id=str(props["id"]), label=label, name=name,
            core=str(props.get("canonical_name") or canonical_org_name(name)),
            credit_code=props.get("credit_code"), aliases=set(props.get("aliases") or []), region=org_region(name),
        ))

    def _compatible(self, org: KnownOrg, code: str | None, region: tuple[str, str]) -> bool:
        if code and org.credit_code and org.credit_code != code:
            return False  # two legal entities, whatever their names say
        return not regions_conflict(region, org.region)

    # -- decisions -------------------------------------------------------------------------------
    def match(self, name: str, credit_code: str | None = None, label: NodeLabel | None = None
              ) -> tuple[KnownOrg | None, str]:
        """The known organisation ``name`` is, with the reason; (None, '') when there is none."""
        code = normalize_credit_code(credit_code)
        label = label or org_label(name)
        if code and code in self._by_code:
            return self._by_code[code], f"same unified social credit code {code}"
        core = canonical_org_name(name)
        if not core:
            return None, ""
        region = org_region(name)
        same = self._by_core.get((label, core), [])
        if same:
            fits = [o for o in same if self._compatible(o, code, region)]
            if len(fits) == 1:
                hit = fits[0]
                if textpipe.normalize(hit.name) == textpipe.normalize(name):
                    return hit, "same name"
                if is_generic(core):
                    # 平顶山市新材料科技有限公司 and 新材料科技公司 share only trade words
                    self._candidate(name, (hit.name,), "same generic name; not merged")
                    return None, ""
                return hit, f"same canonical name {core} (region, legal form, abbreviations normalised)"
            if len(fits) > 1:
                self._candidate(name, (o.name for o in fits),
                                "same name as several organisations in different regions")
            else:
                self._candidate(name, (o.name for o in same), "same name but a different region or credit code")
            return None, ""
        if is_generic(core) or len(core) < 4:
            self._note_candidates(name, label, core)
            return None, ""
        if code or label == NodeLabel.INSTITUTION:
            # a row with its own credit code is its own entity; institutions' short forms (福大, 郑大)
            # are not leading parts of their names and need an explicit alias
            return None, ""
        leading = {
            o.id: o
            for (lbl, c), orgs in self._by_core.items()
            if lbl == label and c != core and c.startswith(core)
            for o in orgs
        }
        if len(leading) == 1:
            org = next(iter(leading.values()))
            if self._compatible(org, code, region):
                return org, f"short form: {core} is the leading part of {org.core}"
        elif len(leading) > 1:
            self._candidate(name, (o.name for o in leading.values()), "short form of several organisations")
        else:
            self._note_candidates(name, label, core)
        return None, ""

    def _note_candidates(self, name: str, label: NodeLabel, core: str) -> None:
        if len(core) < 2:
            return
        inside = {
            o.id: o
            for (lbl, c), orgs in self._by_core.items()
            if lbl == label and c != core and core in c
            for o in orgs
        }
        if inside:
            self._candidate(name, (o.name for o in inside.values()),
                            "name appears inside other names; generic or not a leading part")

    def resolve(self, name: str, credit_code: str | None = None, label: NodeLabel | None = None) -> Resolution:
        """The organisation for ``name``: an existing one (merged=True when the name differs) or a new one."""
        code = normalize_credit_code(credit_code)
        label = label or org_label(name)
        hit, reason = self.match(name, code, label)
        if hit is not None:
            is_new_name = textpipe.normalize(name) != textpipe.normalize(hit.name) and name not in hit.aliases
            if is_new_name:
                hit.aliases.add(name)
                self._index(label, canonical_org_name(name), hit)
            if code and not hit.credit_code:
                hit.credit_code = code
                self._by_code[code] = hit
            return Resolution(hit, created=False, merged=is_new_name, reason=reason if is_new_name else "")
        region = org_region(name)
        org = KnownOrg(id=org_id(label, name, code, region), label=label, name=name,
                       core=canonical_org_name(name), credit_code=code, region=region)
        if org.id in self.orgs:
            # same canonical name kept apart (conflicting codes/regions): keep ids unique and stable
            org.id = f"{org.id}-{hashlib.sha1(name.encode('utf-8')).hexdigest()[:6]}"
        return Resolution(self.add(org), created=True)


def merge_record(kept: KnownOrg, merged_name: str, reason: str, source: str) -> MergeRecord:
    """The reviewable record of ``merged_name`` folded into ``kept`` (stable id: reloads are unchanged)."""
    digest = hashlib.sha1(f"{kept.id}\n{merged_name}".encode()).hexdigest()[:16]
    return MergeRecord(id=f"merge-{digest}", kept_id=kept.id, kept_name=kept.name, merged_name=merged_name,
                       reason=reason, source=source)


def org_node(org: KnownOrg, base: Enterprise | Institution | None = None) -> Enterprise | Institution:
    """The node for a resolved organisation, keeping a loaded row's other fields when there is one."""
    aliases = sorted(a for a in org.aliases if a != org.name)
    if org.label == NodeLabel.ENTERPRISE:
        if isinstance(base, Enterprise):
            return base.model_copy(update={"id": org.id, "canonical_name": org.core, "aliases": aliases,
                                           "credit_code": base.credit_code or org.credit_code})
        return Enterprise(id=org.id, name=org.name, canonical_name=org.core, aliases=aliases,
                          credit_code=org.credit_code)
    if isinstance(base, Institution):
        return base.model_copy(update={"id": org.id, "canonical_name": org.core,
                                       "aliases": sorted(set(aliases) | set(base.aliases))})
    return Institution(id=org.id, name=org.name, canonical_name=org.core, aliases=aliases,
                       kind=institution_kind(org.name))
