"""Column mappings: which input header means which field, for every entity type techmatch loads.

Each entity (achievement, need, enterprise, talent, institution, platform) has canonical field names
and, for each, the headers that mean it in Chinese and English (成熟度 / 技术成熟度 / maturity ...). Headers
are compared after folding width and case and dropping spaces, ``*`` required-markers and a trailing
unit in brackets, so ``价格（万元）`` and ``Price`` both find ``price``. A deployment adds its own
headers with a YAML or JSON mapping file (see ``docs/ingest.md``)::

    achievement:
      maturity: [成熟阶段]        # more headers for a field; they are tried first
    need:
      enterprise: [需求方]

The full table is documented in ``docs/ingest.md``; :func:`mapping_table` prints it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from graph.exceptions import ValidationError

ENTITY_TYPES = ("achievement", "need", "enterprise", "talent", "institution", "platform")


@dataclass(frozen=True)
class FieldSpec:
    """One canonical field, the headers that mean it, and whether a row needs it."""

    name: str
    aliases: tuple[str, ...]
    required: bool = False
    help: str = ""


def _f(name: str, *aliases: str, required: bool = False, help: str = "") -> FieldSpec:
    return FieldSpec(name=name, aliases=(name, *aliases), required=required, help=help)


_ID = _f("id", "编号", "序号id", "ID", "记录编号", help="stable id; derived from the content when absent")
_REGION = _f("region", "地区", "所在地区", "区县", "所在区县", "所在地", "区域", help="county / district name")

BUILTIN: dict[str, tuple[FieldSpec, ...]] = {
    "achievement": (
        _ID,
        _f("name", "成果名称", "项目名称", "名称", "标题", "title", required=True),
        _f("description", "成果简介", "简介", "成果描述", "描述", "内容", "技术简介", "摘要", "abstract"),
        _f("application_scope", "应用范围", "应用领域", "适用范围", "应用前景", "scope"),
        _f("industry", "所属行业", "行业", "技术领域", "所属领域", "领域", "industry_l2"),
        _f("ip_type", "知识产权类型", "成果类型", "类型", "专利类型", "kind",
           help="发明专利/实用新型/非专利技术 ..."),
        _f("maturity", "成熟度", "技术成熟度", "成熟程度", "成果阶段",
           help="研发/小试/中试/样品/产业化 (or zhibei wording)"),
        _f("cooperation", "合作方式", "转化方式", "交易方式", "cooperation_modes",
           help="转让,许可,合作开发 ... (list)"),
        _f("price", "价格", "转让价格", "参考价格", "交易价格", "price_wan",
           help="万元; 面议 = none; ranges keep the low end"),
        _f("post_time", "发布时间", "发布日期", "登记日期", "posted_on", "date"),
        _f("owners", "持有单位", "成果持有人", "所有人", "权利人", "专利权人", "完成单位", "单位", "owner",
           help="organisations, list; resolved and linked with OWNS"),
        _f("inventors", "发明人", "完成人", "成果完成人", "inventor", help="people, list"),
        _f("patent_numbers", "专利号", "申请号", "专利申请号", "patent", "patent_no", help="list; also found in text"),
        _REGION,
    ),
    "need": (
        _ID,
        _f("name", "需求名称", "项目名称", "名称", "标题", "title", required=True),
        _f("description", "需求描述", "需求内容", "描述", "内容", "简介", "详细描述", "技术难题"),
        _f("enterprise", "企业名称", "需求单位", "需求企业", "发布单位", "企业", "单位名称", "company",
           help="the posting enterprise; resolved and linked with POSTED"),
        _f("credit_code", "统一社会信用代码", "信用代码", "社会信用代码", "uscc"),
        _f("budget", "预算", "预算金额", "拟投入资金", "投入资金", "budget_wan", help="万元"),
        _f("deadline", "截止日期", "截止时间", "完成期限"),
        _f("valid_period", "有效期", "有效期限", help="'A至B': the deadline is B"),
        _f("cooperation", "合作方式", "合作模式", "cooperation_modes"),
        _f("min_maturity", "最低成熟度", "成熟度要求", "要求成熟度", help="研发/小试/中试/样品/产业化: less mature "
           "achievements are not counted as supply (also read from the text: 中试以上)"),
        _f("sector", "sector_gbt4754", "所属行业", "行业", "行业分类", "国民经济行业"),
        _f("post_time", "发布时间", "发布日期", "posted_on", "date"),
        _f("confidentiality", "保密", "保密级别", "公开范围", help="public/brokers/private or 公开/经纪人可见/保密"),
    ),
    "enterprise": (
        _ID,
        _f("name", "企业名称", "单位名称", "公司名称", "名称", "company", required=True),
        _f("credit_code", "统一社会信用代码", "信用代码", "社会信用代码", "uscc"),
        _REGION,
        _f("size", "企业规模", "规模", help="大型/中型/小型/微型"),
        _f("high_tech", "高新技术企业", "是否高新技术企业", "高企", help="是/否"),
        _f("tech_sme", "科技型中小企业", "是否科技型中小企业", help="是/否"),
        _f("description", "企业简介", "简介", "描述", "主营业务"),
        _f("products", "主要产品", "产品", help="list"),
        _f("founded_on", "成立日期", "成立时间", "注册日期"),
        _f("high_tech_since", "高企认定年份", "认定年份", "高新认定年份"),
    ),
    "talent": (
        _ID,
        _f("name", "姓名", "专家姓名", "人才姓名", "名字", required=True),
        _f("title", "职称", "职务", "头衔"),
        _f("affiliation", "工作单位", "所在单位", "单位", "依托单位", "organisation", "organization",
           help="an institution or enterprise; resolved and linked with AFFILIATED_WITH"),
        _f("expertise", "研究方向", "专业领域", "擅长领域", "研究领域", "专长", help="list"),
        _f("bio", "个人简介", "简介", "简历", "biography"),
        _f("high_level", "高层次人才", "是否高层次人才", help="是/否"),
        _f("academician", "院士", "是否院士", help="是/否"),
        _f("email", "邮箱", "电子邮箱", "电子邮件", "e-mail"),
        _REGION,
    ),
    "institution": (
        _ID,
        _f("name", "机构名称", "单位名称", "高校名称", "名称", required=True),
        _f("kind", "机构类型", "类型", "单位类型", help="高校/科研院所/医院/其他"),
        _REGION,
        _f("description", "简介", "机构简介", "描述"),
        _f("aliases", "别名", "简称", help="list"),
    ),
    "platform": (
        _ID,
        _f("name", "平台名称", "名称", required=True),
        _f("kind", "平台类型", "类型", help="重点实验室/工程技术研究中心/企业技术中心/孵化器 ..."),
        _f("level", "级别", "平台级别", help="国家级/省级/市级"),
        _f("host", "依托单位", "承建单位", "建设单位", "单位", help="an institution or enterprise; linked with HOSTS"),
        _f("description", "简介", "平台简介", "描述"),
        _REGION,
        _f("established_year", "成立年份", "认定年份", "批准年份", "获批年份"),
    ),
}

#: how messages name each entity
ENTITY_NAMES = {"achievement": "科技成果", "need": "技术需求", "enterprise": "企业", "talent": "人才",
                "institution": "机构", "platform": "平台"}

#: the column the loader appends to a reject file; ignored when the fixed file is loaded again
ERROR_COLUMN = "错误原因"
ROW_COLUMN = "原行号"
#: a reject file's columns for the cells a row had beyond the header (多余的单元格1, 2 ...): the reader
#: refuses the row again while they hold anything, so they are merged back before the row loads
EXTRA_COLUMN = "多余的单元格"
#: ``_raw``: a JSON Lines reject file's text of a line that was not a JSON object
IGNORED_HEADERS = frozenset({ERROR_COLUMN, ROW_COLUMN, "_error", "_row", "_raw"})


def is_extra_column(header: str) -> bool:
    return header.startswith(EXTRA_COLUMN) and header[len(EXTRA_COLUMN):].isdigit()

_UNIT = re.compile(r"[（(][^）)]*[)）]\s*$")


def normalize_header(header: str) -> str:
    """Fold width and case, drop spaces, ``*`` markers and a trailing bracketed unit: '价格（万元）*' -> '价格'."""
    text = unicodedata.normalize("NFKC", str(header)).strip().lower()
    text = re.sub(r"[\s*＊:：_\-]+", "", text)
    stripped = _UNIT.sub("", text)
    return stripped or text


@dataclass
class HeaderMatch:
    """How a file's headers matched one entity's fields."""

    columns: dict[str, str]  # canonical field -> source header
    missing_required: list[str]
    unknown: list[str]

    @property
    def header_of(self) -> dict[str, str]:
        return self.columns


@dataclass
class EntityMapping:
    """The fields of one entity type and the headers that mean them."""

    entity: str
    fields: dict[str, FieldSpec] = field(default_factory=dict)

    def match(self, headers: Iterable[str]) -> HeaderMatch:
        """Map each header to at most one field; an earlier alias wins over a later one."""
        headers = list(headers)
        by_norm: dict[str, str] = {}
        for h in headers:
            if h in IGNORED_HEADERS:
                continue
            by_norm.setdefault(normalize_header(h), h)
        columns: dict[str, str] = {}
        taken: set[str] = set()
        # required fields first so a generic alias (名称) goes to name, not to a later field
        ordered = sorted(self.fields.values(), key=lambda s: not s.required)
        for spec in ordered:
            for alias in spec.aliases:
                header = by_norm.get(normalize_header(alias))
                if header is not None and header not in taken:
                    columns[spec.name] = header
                    taken.add(header)
                    break
        missing = [s.name for s in self.fields.values() if s.required and s.name not in columns]
        unknown = [h for h in headers if h not in taken and h not in IGNORED_HEADERS]
        return HeaderMatch(columns=columns, missing_required=missing, unknown=unknown)

    def canonical(self, record: Mapping[str, Any], columns: Mapping[str, str]) -> dict[str, Any]:
        """The record re-keyed by canonical field names (fields with no column are absent)."""
        return {name: record.get(header) for name, header in columns.items()}

    def required_aliases(self, name: str) -> str:
        """The headers that mean a field, for a message: 成果名称、项目名称、名称、标题 (the English ones last)."""
        aliases = self.fields[name].aliases
        return "、".join(sorted(aliases, key=lambda a: a.isascii())[:5])


def builtin_mappings() -> dict[str, EntityMapping]:
    return {
        entity: EntityMapping(entity=entity, fields={s.name: s for s in specs}) for entity, specs in BUILTIN.items()
    }


def load_mapping_file(path: str | Path, base: dict[str, EntityMapping] | None = None) -> dict[str, EntityMapping]:
    """The built-in mappings with the extra headers of a YAML/JSON file put in front of each field's list."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"表头映射文件 {path}：无法读取（{exc}）", where=str(path)) from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml and json raise their own error types
        raise ValidationError(f"表头映射文件 {path}：不是有效的 YAML/JSON（{exc}）", where=str(path)) from None
    mappings = {k: EntityMapping(v.entity, dict(v.fields)) for k, v in (base or builtin_mappings()).items()}
    if data is None:
        return mappings
    if not isinstance(data, dict):
        raise ValidationError(f"表头映射文件 {path}：应为“数据类型 → 字段 → 表头列表”的结构", where=str(path))
    for entity, fields in data.items():
        if entity not in mappings:
            raise ValidationError(
                f"表头映射文件 {path}：未知的数据类型 {entity!r}（可用：{'、'.join(ENTITY_TYPES)}）",
                field=str(entity), where=str(path),
            )
        if not isinstance(fields, dict):
            raise ValidationError(f"表头映射文件 {path}：{entity} 下应为“字段 → 表头列表”", where=str(path))
        for name, aliases in fields.items():
            spec = mappings[entity].fields.get(name)
            if spec is None:
                known = ", ".join(mappings[entity].fields)
                raise ValidationError(
                    f"表头映射文件 {path}：{entity} 没有字段 {name!r}（字段有：{known}）",
                    field=str(name), where=str(path),
                )
            extra = [aliases] if isinstance(aliases, str) else list(aliases or [])
            mappings[entity].fields[name] = replace(spec, aliases=(*map(str, extra), *spec.aliases))
    return mappings


_NAME_HINTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("achievement", ("achievement", "成果", "patent", "专利")),
    ("need", ("need", "requirement", "demand", "需求")),
    ("enterprise", ("enterprise", "compan", "企业", "公司")),
    ("talent", ("talent", "expert", "人才", "专家")),
    ("institution", ("institution", "universit", "机构", "高校", "院所")),
    ("platform", ("platform", "平台", "实验室")),
)


def known_headers(mappings: dict[str, EntityMapping] | None = None) -> frozenset[str]:
    """Every header any entity accepts, normalised: a row holding several of them is a header row."""
    return frozenset(normalize_header(a) for m in (mappings or builtin_mappings()).values()
                     for spec in m.fields.values() for a in spec.aliases)


def fits_an_entity(headers: Iterable[str], mappings: dict[str, EntityMapping] | None = None) -> bool:
    """Whether some entity finds all its required columns among ``headers``."""
    headers = list(headers)
    return any(not m.match(headers).missing_required for m in (mappings or builtin_mappings()).values())


def guess_entity(path: Path, headers: Iterable[str], mappings: dict[str, EntityMapping] | None = None) -> str:
    """The entity a file holds: from its name if it says so, else the mapping that matches most headers."""
    stem = path.stem.lower()
    for entity, hints in _NAME_HINTS:
        if any(h in stem for h in hints):
            return entity
    mappings = mappings or builtin_mappings()
    headers = list(headers)
    best, best_score = None, 0
    for entity, mapping in mappings.items():
        m = mapping.match(headers)
        if m.missing_required:
            continue
        # the distinctive name header (企业名称, 姓名 ...) decides ties between mappings
        score = len(m.columns) + (2 if normalize_header(m.columns["name"]) != "名称" else 0)
        if score > best_score:
            best, best_score = entity, score
    if best is None:
        shown = "、".join(h for h in headers[:12] if h not in IGNORED_HEADERS) or "（没有）"
        raise ValidationError(
            f"{path}: 无法判断文件里是哪一类数据（表头：{shown}）；请指定类型（命令行 --type "
            f"{'|'.join(ENTITY_TYPES)}，上传时选择类型），或把表头改成 docs/ingest.md 列出的写法",
            field="entity", where=str(path),
        )
    return best


def mapping_table(mappings: dict[str, EntityMapping] | None = None) -> str:
    """The mappings as a markdown table per entity (used to write docs/ingest.md)."""
    out = []
    for entity, mapping in (mappings or builtin_mappings()).items():
        out.append(f"### {entity}\n\n| field | required | headers accepted | notes |\n|---|---|---|---|")
        for spec in mapping.fields.values():
            out.append(
                f"| `{spec.name}` | {'yes' if spec.required else ''} | {', '.join(spec.aliases)} | {spec.help} |"
            )
        out.append("")
    return "\n".join(out)
