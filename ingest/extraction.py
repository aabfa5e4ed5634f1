"""Find institutions and patent numbers mentioned in free text.

"本产品根据泉州师范学院专利技术（ZL201720001285.X）" names an institution (泉州师范学院) and a patent
(ZL201720001285.X). The loader turns these into an Institution node with an OWNS edge and a patent
number on the achievement.

Patent numbers (Chinese formats):
- application / grant numbers: ``ZL`` (or 专利号/申请号 before it) + 12 digits (year, type 1/2/3/8/9,
  serial) + ``.`` + a check character, since 2003: ZL201720001285.X; before 2003 8 digits + check:
  ZL93100001.2. Written with or without the dot, with spaces, full-width characters or ``CN`` in front.
- publication numbers: ``CN`` + 7 or 9 digits + kind code (A, B, U, S ...): CN102345678A.
Bare 12-digit numbers are taken only right after a 专利号/申请号/专利 cue, so phone numbers and dates
are not mistaken for patents. Results are normalised to ``ZL<digits>.<check>`` and ``CN<digits><kind>``.

Institutions: a name ending in 大学, 学院, 研究院, 研究所, 科学院, 医院 or 研究中心, cut on the left at the
words that start a clause (根据, 由, 与, 依托 ...), at least four characters, and not a generic phrase
(高等院校, 科研院所, 本学院). A 学院/研究所 inside a university is reported as the university, since it is the
university that owns patents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graph.model import InstitutionKind
from ingest import text as textpipe
from ingest.records import institution_kind

# --- patents -----------------------------------------------------------------------------------

_SEP = r"[\s.·。]?"
_ZL_12 = re.compile(
    r"(?:ZL|zl|CN|cn)\s*((?:19[89]\d|20[0-4]\d)[12389]\d{7})" + _SEP + r"([\dXx])(?![\d])"
)
_ZL_8 = re.compile(r"(?:ZL|zl)\s*(\d{2}[123]\d{5})" + _SEP + r"([\dXx])(?![\d])")
_CUED_12 = re.compile(
    r"(?:专利号|申请号|专利申请号|授权号|专利)\s*[:：为是]?\s*"
    r"((?:19[89]\d|20[0-4]\d)[12389]\d{7})" + _SEP + r"([\dXx])?(?![\d])"
)
_CUED_8 = re.compile(
    r"(?:专利号|申请号|专利申请号|授权号)\s*[:：为是]?\s*(\d{2}[123]\d{5})" + _SEP + r"([\dXx])(?![\d])"
)
_PUBLICATION = re.compile(r"(?<![A-Za-z])CN\s*(\d{9}|\d{7})\s*([ABCUSY]\d?)(?![A-Za-z\d])", re.IGNORECASE)


def patent_check_char(digits: str) -> str:
    """The check character of a CN application number (weights 2..9 cycling; 10 -> X)."""
    weights = [2, 3, 4, 5, 6, 7, 8, 9]
    total = sum(int(d) * weights[i % 8] for i, d in enumerate(digits))
    rest = total % 11
    return "X" if rest == 10 else str(rest)


def find_patent_numbers(text: str | None) -> list[str]:
    """Patent numbers in ``text``, normalised (ZL201720001285.X, CN102345678A), in order, no repeats."""
    if not text:
        return []
    norm = textpipe.normalize(text).upper()
    # "ZL 2015 1 0534700.3": spaces inside a number written after ZL are layout, not separators
    norm = re.sub(r"ZL[\d\s]{8,24}", lambda m: re.sub(r"\s+", "", m.group(0)), norm)
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []

    def add(m: re.Match[str], value: str) -> None:
        if any(s < m.end() and m.start() < e for s, e in taken):
            return
        taken.append((m.start(), m.end()))
        found.append((m.start(), value))

    for m in _PUBLICATION.finditer(norm):
        add(m, f"CN{m.group(1)}{m.group(2).upper()}")
    for pattern in (_ZL_12, _ZL_8, _CUED_12, _CUED_8):
        for m in pattern.finditer(norm):
            digits = m.group(1)
            check = (m.group(2) or patent_check_char(digits)).upper()
            add(m, f"ZL{digits}.{check}")
    return list(dict.fromkeys(v for _, v in sorted(found)))


# --- institutions ------------------------------------------------------------------------------

_SUFFIX = r"(?:大学|学院|研究院|研究所|科学院|农科院|医院|研究中心)"
#: an abbreviated institute right after an academy: 甘肃省农科院植保所, 福建省农业科学院质标所
_SUFFIX_RE = re.compile(_SUFFIX + r"|(?<=院)[\u4e00-\u9fff]{1,5}?所(?![\u4e00-\u9fff]{0,2}(?:长|研究))")
_RUN = re.compile(r"[\u4e00-\u9fff]+")
#: words that join two names; a run is split there before names are cut out of it
_JOINERS = re.compile(r"以及|并与|联合|合作|与|和|及|同|跟")
#: words that begin a clause; the name starts after the last of them
_LEFT_CUTS = (
    "根据", "依托", "依据", "联合", "合作", "委托", "来自", "属于", "通过", "基于", "利用", "采用", "由于", "经过",
    "本项目", "该项目", "本成果", "该成果", "本技术", "该技术", "本产品", "本发明", "我们", "团队", "课题组",
    "其中", "目前", "已经", "已在", "已与", "拥有", "具有", "获得", "荣获", "主要", "牵头",
    "例如", "比如", "并且", "链接", "简介", "引进", "立足", "近些年", "近年来", "如果", "搜索", "推荐",
    "下属", "十余家", "多家",
    "几家", "要去", "哪个", "一个", "各个", "全市", "全省", "知识产权归", "组织", "余所", "余家",
    "由", "向", "对", "为", "是", "在", "于", "从", "被", "将", "把", "的", "了",
    "等", "请", "经", "获", "系", "即", "或", "共", "本", "该", "其", "我", "届", "位", "名", "据", "属", "以",
    "至", "归", "去", "利用", "采用", "使用", "应用", "运用",
)
_LEFT_CUT = re.compile("(?:" + "|".join(sorted(map(re.escape, _LEFT_CUTS), key=len, reverse=True)) + ")")
#: phrases that end in an institution suffix but name none
_GENERIC = re.compile(
    r"^(?:高等院校|高等学院|高校院所|科研院所|研究院所|各大|国内外|国内|国外|相关|知名|重点|多所|多家|各类|省内|省级|国家级|"
    r"医学院|大学|学院|研究院|研究所|科学院|医院|研究中心|附属医院|中医院|人民医院|专科医院|综合医院|"
    r"各级医院|基层医院|大中型医院|大型医院|中小医院|各大医院|三甲医院|二甲医院|乡镇医院|社区医院|"
    r"动物医院|宠物医院|民营医院|公立医院|军队医院|兽医院|设计院|研究生院|美术学院|商学院|法学院)$"
)
_GENERIC_HEAD = re.compile(
    r"^(?:各|多|诸|该|本|此|这|那|某|全|一|二|三|两|几|数|其他|其它|相关|知名|重点|国内|国外|我国|全国|省|市|县|农科院|"
    r"省内|市内|大中型|大型|中小|基层|乡镇|社区|一流|著名|专业|综合|高等|等)"
)
_UNIVERSITY_INSTITUTE = re.compile(r"^(.{2,12}?大学.{1,8}?研究院)")
#: a university's school, department or lab is reported as the university; its 研究院 (浙江大学台州研究院) is
#: usually an institute of its own and is kept whole
_UNIVERSITY = re.compile(r"^(.{2,12}?(?:大学|(?<!科)学院))(?:.{1,}(?:学院|研究所|研究中心|医院|系|实验室))$")


@dataclass(frozen=True)
class InstitutionMention:
    name: str
    kind: InstitutionKind
    start: int
    end: int


def _clean_left(span: str, after_digit: bool) -> str:
    cut = 0
    if after_digit and span[:1] in ("年", "月", "日", "号"):
        cut = 1  # "2019年3月12日福建省农科院": the date's last character is not part of the name
    for m in _LEFT_CUT.finditer(span):
        # a cut word inside the suffix itself (研究所 holds 所) must not cut the name
        if m.start() >= cut and m.end() <= len(span) - 2:
            cut = max(cut, m.end())
    return span[cut:]


def _plausible(name: str) -> bool:
    if len(name) < 4 or len(name) > 30:
        return False
    if _GENERIC.match(name) or _GENERIC_HEAD.match(name):
        return False
    # the part before the suffix must say whose institution it is (at least two characters)
    head = re.sub(_SUFFIX + "$", "", name)
    return len(head) >= 2


def _names_in_piece(piece: str, offset: int, after_digit: bool) -> list[tuple[str, int]]:
    """Names ending at each institution suffix of a piece; a name that follows another directly
    (中国农业科学院 + 作物科学研究所) is joined to it."""
    out: list[tuple[str, int]] = []
    last_end = 0
    prev_end = -1
    for m in _SUFFIX_RE.finditer(piece):
        span = piece[last_end : m.end()]
        name = _clean_left(span, after_digit=after_digit and last_end == 0)
        start = m.end() - len(name)
        if out and start == prev_end:
            joined, jstart = out.pop()
            name, start = joined + name, jstart
        out.append((name, start))
        prev_end = last_end = m.end()
    return [(name, offset + start) for name, start in out]


def find_institutions(text: str | None) -> list[InstitutionMention]:
    """Institutions named in ``text``, in order of first mention, one entry per name."""
    if not text:
        return []
    norm = textpipe.normalize(text)
    seen: dict[str, InstitutionMention] = {}
    for run in _RUN.finditer(norm):
        after_digit = run.start() > 0 and norm[run.start() - 1].isdigit()
        pos = 0
        pieces = []
        for j in _JOINERS.finditer(run.group(0)):
            pieces.append((pos, run.group(0)[pos : j.start()]))
            pos = j.end()
        pieces.append((pos, run.group(0)[pos:]))
        for piece_start, piece in pieces:
            names = _names_in_piece(piece, run.start() + piece_start, after_digit and piece_start == 0)
            for name, start in names:
                end = start + len(name)
                if norm[end : end + 1] == "生":  # 大学生, 研究生院 ...
                    continue
                if norm[end : end + 2] in ("有限", "公司", "股份"):  # XX研究所有限公司 is a company
                    continue
                uni = _UNIVERSITY.match(name)
                if uni:
                    own_institute = _UNIVERSITY_INSTITUTE.match(name)
                    name = own_institute.group(1) if own_institute else uni.group(1)
                if not _plausible(name) or name in seen:
                    continue
                seen[name] = InstitutionMention(name=name, kind=institution_kind(name), start=start,
                                                end=start + len(name))
    return sorted(seen.values(), key=lambda m: m.start)
