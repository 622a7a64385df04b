# ruff: noqa: S311, E501  (seeded test data, not cryptography; long Chinese template lines)
"""A deterministic corpus of realistic after-sales articles, and the relevance queries.

``build_corpus(seed, size)`` returns :class:`Spec` rows (a stable ``key``, zh-Hans and maybe
English title/body, tags, product codes) covering appliances, fault codes, symptoms,
installation, maintenance, parts prices, warranty, model manuals and service outlets.
``size`` above the natural ~1,000 adds more model manuals and outlets (the bench's 100,000).
The relevance queries live in ``relevance_queries.tsv`` (query, expected key): written by
``python -m tests.knowledge.corpus`` once, then edited and checked in; the test reads the file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# appliance key, Chinese name, English name, model prefix, fault codes (code, fault, symptom).
APPLIANCES: list[tuple[str, str, str, str, list[tuple[str, str, str]]]] = [
    ("washer", "洗衣机", "washing machine", "XQG", [
        ("E1", "进水超时", "不进水"), ("E2", "门锁异常", "门锁不上"), ("E3", "排水故障", "不排水"),
        ("E4", "水位传感器故障", "水位不准"), ("E5", "加热故障", "水不热"),
        ("E6", "电机故障", "滚筒不转"), ("E8", "脱水不平衡", "脱水时晃动"),
        ("F1", "主板通讯故障", "面板无反应"), ("F3", "溢水保护", "一直进水"),
        ("UE", "偏心报警", "不脱水")]),
    ("fridge", "冰箱", "refrigerator", "BCD", [
        ("E1", "冷藏传感器故障", "冷藏不冷"), ("E2", "冷冻传感器故障", "冷冻不冻"),
        ("E5", "化霜故障", "结霜严重"), ("E6", "通讯故障", "显示屏乱码"),
        ("F1", "压缩机启动故障", "压缩机不启动"), ("F2", "风机故障", "风扇不转"),
        ("H1", "环境温度过高", "温度过高报警"), ("EC", "门开报警", "门关不严"),
        ("E7", "制冰机故障", "不制冰"), ("E9", "变频板故障", "不制冷")]),
    ("aircon", "空调", "air conditioner", "KFR", [
        ("E1", "高压保护", "外机停机"), ("E2", "防冻结保护", "蒸发器结冰"),
        ("E4", "排气温度过高", "制冷效果差"), ("E5", "低电压保护", "频繁停机"),
        ("E6", "通讯故障", "内外机不通讯"), ("F1", "室内温度传感器故障", "温度显示不准"),
        ("F2", "室外盘管传感器故障", "不制热"), ("H6", "内风机故障", "内机不出风"),
        ("P4", "压缩机驱动故障", "压缩机不转"), ("E9", "防冷风保护", "吹冷风")]),
    ("gasheater", "燃气热水器", "gas water heater", "JSQ", [
        ("E1", "点火失败", "打不着火"), ("E2", "意外熄火", "中途熄火"),
        ("E3", "风压过大", "烟道堵塞"), ("E4", "温度传感器故障", "水温忽冷忽热"),
        ("E5", "风机故障", "风机不转"), ("E6", "过热保护", "水温过高"),
        ("E8", "漏电保护", "跳闸"), ("F1", "燃气阀故障", "燃气不通"),
        ("C4", "防冻保护", "冬季管道结冰"), ("EA", "运行超时", "自动关机")]),
    ("eheater", "电热水器", "electric water heater", "DSZF", [
        ("E1", "干烧保护", "不加热"), ("E2", "温度传感器故障", "温度显示异常"),
        ("E3", "超温保护", "水太烫"), ("E4", "漏电保护", "漏电跳闸"),
        ("E5", "加热管故障", "加热很慢"), ("E6", "镁棒耗尽", "出水有异味")]),
    ("hood", "油烟机", "range hood", "CXW", [
        ("E1", "电机过热", "吸力变小"), ("E2", "风门故障", "风门打不开"),
        ("E3", "通讯故障", "按键失灵"), ("E4", "挥手感应故障", "感应不灵"),
        ("E5", "油杯满", "滴油")]),
    ("stove", "燃气灶", "gas stove", "JZT", [
        ("E1", "点火针故障", "打不着火"), ("E2", "熄火保护", "松手就灭"),
        ("E3", "电池电量低", "点火无力"), ("E4", "定时故障", "定时不准")]),
    ("dishwasher", "洗碗机", "dishwasher", "WQP", [
        ("E1", "进水故障", "不进水"), ("E2", "加热故障", "洗不干净"),
        ("E3", "排水故障", "不排水"), ("E4", "漏水保护", "底部漏水"),
        ("E5", "软水器故障", "餐具有水垢"), ("E6", "门开关故障", "门关不上")]),
    ("purifier", "净水器", "water purifier", "MRO", [
        ("E1", "缺水保护", "不出水"), ("E2", "滤芯到期", "滤芯提醒"),
        ("E3", "漏水保护", "机器漏水"), ("E4", "TDS超标", "水质变差"),
        ("E5", "增压泵故障", "出水很慢")]),
    ("microwave", "微波炉", "microwave oven", "MG", [
        ("E1", "磁控管故障", "不加热"), ("E2", "门开关故障", "开门不停"),
        ("E3", "转盘电机故障", "转盘不转"), ("E4", "温度传感器故障", "烧焦")]),
    ("robot", "扫地机器人", "robot vacuum", "RV", [
        ("E1", "左轮悬空", "卡住不动"), ("E2", "边刷缠绕", "边刷不转"),
        ("E3", "尘盒未安装", "不吸尘"), ("E4", "激光雷达故障", "乱撞"),
        ("E5", "回充失败", "找不到充电座"), ("E6", "主刷卡死", "吸力变小")]),
    ("boiler", "壁挂炉", "wall-hung boiler", "LL1GBQ", [
        ("E1", "点火失败", "打不着火"), ("E2", "水压过低", "水压不足"),
        ("E3", "风机故障", "风机不转"), ("E4", "过热保护", "暖气不热"),
        ("E5", "采暖温度传感器故障", "温度显示异常"), ("E6", "防冻保护", "管道结冰")]),
]  # fmt: skip

SYMPTOMS = [
    ("leak", "漏水", "leaking water"), ("noise", "噪音大", "loud noise"),
    ("nopower", "无法启动", "will not start"), ("smell", "有异味", "bad smell"),
    ("remote", "遥控器失灵", "remote control not working"), ("shock", "外壳漏电", "electric shock"),
]  # fmt: skip
INSTALL = [
    ("req", "安装条件与尺寸要求", "installation requirements"),
    ("fee", "安装收费标准", "installation fees"),
    ("move", "拆机移机服务", "moving and reinstalling"),
    ("accessories", "安装辅材清单", "installation materials"),
]
CARE = [
    ("clean", "日常清洁方法", "cleaning"),
    ("descale", "除垢保养步骤", "descaling"),
    ("winter", "冬季防冻注意事项", "winter frost protection"),
    ("idle", "长期不用如何存放", "long-term storage"),
]
PARTS = [
    "主板", "电源板", "显示板", "电机", "排水泵", "进水阀", "温控器", "压缩机", "风扇", "门封条",
]  # fmt: skip
WARRANTY = [
    ("period", "整机保修期限", "warranty period"),
    ("extended", "延保服务购买与使用", "extended warranty"),
    ("tradein", "以旧换新活动规则", "trade-in programme"),
]
CITIES = [
    "北京", "上海", "广州", "深圳", "杭州", "南京", "苏州", "成都", "重庆", "武汉", "西安", "长沙",
    "郑州", "济南", "青岛", "天津", "沈阳", "大连", "哈尔滨", "长春", "福州", "厦门", "合肥",
    "南昌", "昆明", "贵阳", "南宁", "海口", "太原", "石家庄", "兰州", "银川", "西宁", "呼和浩特",
    "乌鲁木齐", "拉萨", "宁波", "温州", "无锡", "常州", "佛山", "东莞", "珠海", "中山", "惠州",
    "泉州", "烟台", "潍坊", "洛阳", "徐州",
]  # fmt: skip
DISTRICT_WORDS = ["东区", "西区", "南区", "北区", "高新区", "开发区"]
OUTLET_TOPICS = [
    ("outlet", "维修服务网点地址与电话", "service outlets"),
    ("onsite", "上门服务时间与范围", "on-site service hours"),
]
GENERAL = [
    ("invoice", "如何申请电子发票", "how to get an e-invoice"),
    ("serial", "如何查看产品序列号", "where to find the serial number"),
    ("app", "手机App绑定设备失败", "app pairing fails"),
    ("wifi", "设备无法连接WiFi", "device cannot join wifi"),
    ("holiday", "春节期间服务安排", "service during spring festival"),
    ("complaint", "投诉与建议渠道", "complaints and suggestions"),
    ("refund", "七天无理由退货流程", "seven-day returns"),
    ("fee", "保外维修收费标准", "out-of-warranty repair fees"),
    ("progress", "如何查询维修进度", "tracking a repair"),
    ("recall", "产品召回公告查询", "product recalls"),
]

FILLER = [
    "请先断开电源，等待五分钟后再操作。", "如问题仍未解决，请联系售后预约工程师上门。",
    "操作前请确认产品在保修期内，保留购机发票。", "非专业人员请勿自行拆机，以免造成人身伤害。",
    "工程师上门时请出示购机凭证，保外维修按标准收费。", "更换的旧配件由工程师带回统一处理。",
    "本文适用于大部分在售型号，个别型号请参考说明书。", "若机器显示其他代码，请记录代码后联系客服。",
]  # fmt: skip


@dataclass
class Spec:
    """One article to create: its stable key, texts, labels and visibility."""

    key: str
    title_zh: str
    body_zh: str
    title_en: str = ""
    body_en: str = ""
    tags: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    visibility: str = "public"
    days_old: int = 0


def _body(rng: random.Random, lines: list[str]) -> str:
    extra = rng.sample(FILLER, 3)
    return "".join(f"<p>{line}</p>" for line in [*lines, *extra])


def build_corpus(seed: int = 8, size: int = 1000) -> list[Spec]:
    """The corpus: about 1,050 articles for ``size`` ≤ 1,050, padded with more model manuals
    and outlet pages to reach a larger ``size``. Same seed, same corpus."""
    rng = random.Random(seed)
    specs: list[Spec] = []
    for key, zh, en, prefix, faults in APPLIANCES:
        series = [
            f"{prefix}{rng.choice([60, 80, 90, 100, 120])}-{rng.randint(10, 99)}" for _ in range(3)
        ]
        for code, fault, symptom in faults:
            steps = [
                f"{zh}显示{code}故障代码，表示{fault}，常见表现为{symptom}。",
                f"可能原因：{fault}相关部件老化、线路松动或使用环境异常。",
                f"处理方法：断电重启；检查{symptom}相关部位；仍显示{code}请报修。",
            ]
            specs.append(
                Spec(
                    key=f"fault:{key}:{code}",
                    title_zh=f"{zh}显示{code}代码：{fault}（{symptom}）怎么办",
                    body_zh=_body(rng, steps),
                    title_en=f"{en.capitalize()} error {code}: {fault}"
                    if rng.random() < 0.5
                    else "",
                    body_en=f"<p>The {en} shows {code}. Restart it; if {code} stays, book a repair.</p>",
                    tags=[zh, "故障代码", code, symptom],
                    products=[*series, code],
                    visibility=rng.choice(["public", "public", "public", "internal"]),
                    days_old=rng.randint(0, 900),
                )
            )
        for skey, symptom, symptom_en in SYMPTOMS:
            specs.append(
                Spec(
                    key=f"symptom:{key}:{skey}",
                    title_zh=f"{zh}{symptom}的原因与排查",
                    body_zh=_body(
                        rng,
                        [
                            f"{zh}出现{symptom}时，请按以下步骤排查。",
                            f"检查电源、安装位置和相关部件，{symptom}多由老化引起。",
                        ],
                    ),
                    title_en=f"{en.capitalize()} {symptom_en}",
                    body_en=f"<p>If your {en} has this problem ({symptom_en}), check power first.</p>",
                    tags=[zh, symptom],
                    days_old=rng.randint(0, 900),
                )
            )
        for ikey, topic, topic_en in INSTALL:
            specs.append(
                Spec(
                    key=f"install:{key}:{ikey}",
                    title_zh=f"{zh}{topic}",
                    body_zh=_body(
                        rng,
                        [
                            f"{zh}{topic}说明，请在预约安装前阅读。",
                            "安装师傅会携带标准辅材，超出部分按价目表收费。",
                        ],
                    ),
                    title_en=f"{en.capitalize()} {topic_en}",
                    tags=[zh, "安装"],
                    days_old=rng.randint(0, 900),
                )
            )
        for ckey, topic, topic_en in CARE:
            specs.append(
                Spec(
                    key=f"care:{key}:{ckey}",
                    title_zh=f"{zh}{topic}",
                    body_zh=_body(rng, [f"定期保养可以延长{zh}寿命。", f"{topic}如下。"]),
                    title_en=f"{en.capitalize()} {topic_en}",
                    tags=[zh, "保养"],
                    days_old=rng.randint(0, 900),
                )
            )
        for part in PARTS:
            specs.append(
                Spec(
                    key=f"part:{key}:{part}",
                    title_zh=f"{zh}{part}更换价格与配件编号",
                    body_zh=_body(
                        rng,
                        [f"{zh}{part}为原厂配件，价格含上门费。", "配件编号以机身铭牌型号为准。"],
                    ),
                    tags=[zh, "配件", part],
                    visibility=rng.choice(["public", "internal"]),
                    days_old=rng.randint(0, 900),
                )
            )
        for wkey, topic, topic_en in WARRANTY:
            specs.append(
                Spec(
                    key=f"warranty:{key}:{wkey}",
                    title_zh=f"{zh}{topic}",
                    body_zh=_body(rng, [f"{zh}{topic}说明。", "具体以购机凭证和当地政策为准。"]),
                    title_en=f"{en.capitalize()} {topic_en}",
                    tags=[zh, "保修"],
                    days_old=rng.randint(0, 900),
                )
            )
        for model in series:
            for doc, doc_en in (("使用说明书", "user manual"), ("技术参数", "specifications")):
                specs.append(
                    Spec(
                        key=f"model:{model}:{doc_en}",
                        title_zh=f"{model} {zh}{doc}",
                        body_zh=_body(rng, [f"型号{model}的{doc}。", f"本型号属于{zh}系列。"]),
                        title_en=f"{model} {en} {doc_en}",
                        tags=[zh, doc],
                        products=[model],
                        days_old=rng.randint(0, 900),
                    )
                )
    for city in CITIES:
        for okey, topic, _topic_en in OUTLET_TOPICS:
            district = rng.choice(DISTRICT_WORDS)
            specs.append(
                Spec(
                    key=f"outlet:{city}:{okey}",
                    title_zh=f"{city}{topic}",
                    body_zh=_body(
                        rng,
                        [
                            f"{city}{district}设有授权服务中心，电话请见下表。",
                            "工作日上门时间为8:00至20:00。",
                        ],
                    ),
                    tags=[city, "服务网点"],
                    days_old=rng.randint(0, 900),
                )
            )
    for gkey, topic, topic_en in GENERAL:
        specs.append(
            Spec(
                key=f"general:{gkey}",
                title_zh=topic,
                body_zh=_body(rng, [f"{topic}，请按以下说明办理。"]),
                title_en=topic_en.capitalize(),
                tags=["常见问题"],
                days_old=rng.randint(0, 900),
            )
        )
    number = 0
    while len(specs) < size:
        number += 1
        key, zh, en, prefix, faults = APPLIANCES[number % len(APPLIANCES)]
        model = f"{prefix}{number:05d}-{rng.randint(10, 99)}"
        part = rng.choice(PARTS)
        specs.append(
            Spec(
                key=f"extra:{number}",
                title_zh=f"{model} {zh}维修案例：更换{part}",
                body_zh=_body(
                    rng, [f"用户反馈{model}工作异常，工程师检测后更换{part}，试机正常。"]
                ),
                tags=[zh, "维修案例"],
                products=[model],
                visibility=rng.choice(["public", "internal"]),
                days_old=rng.randint(0, 900),
            )
        )
    return specs


# The synonyms an administrator of this corpus would maintain.
SYNONYMS = [
    ["无法启动", "不开机", "开不了机", "开不开机"],
    ["不制冷", "不冷", "制冷差"],
    ["不排水", "排不了水", "排水慢", "积水"],
    ["打不着火", "点不着火", "点火失败"],
    ["服务网点", "维修点", "售后网点"],
    ["价格", "多少钱", "费用"],
    ["冰箱", "电冰箱"],
    ["漏水", "渗水", "滴水"],
    ["噪音大", "声音大", "异响"],
    ["收费标准", "收费", "多少钱"],
]


def _queries_for(spec: Spec, rng: random.Random) -> list[str]:
    kind, *rest = spec.key.split(":")
    zh_of = {a[0]: a[1] for a in APPLIANCES}
    en_of = {a[0]: a[2] for a in APPLIANCES}
    if kind == "fault":
        appliance, code = rest
        zh = zh_of[appliance]
        symptom = spec.tags[3]
        colloquial = {"不排水": "排不了水", "打不着火": "点不着火", "不制冷": "不冷"}.get(
            symptom, symptom
        )
        options = [
            f"我家{zh}用着用着{colloquial}了，屏幕显示{code}",
            f"{code} 错误 {zh} {symptom}",
            f"{zh}显示{code}",
            f"{zh}报{code}怎么办",
            f"{code.lower()} {zh}",
            f"{zh}{colloquial} {code}",
        ]
        if spec.title_en:
            options.append(f"{en_of[appliance]} {code}")
        return rng.sample(options, 2)
    if kind == "symptom":
        appliance, _skey = rest
        zh = zh_of[appliance]
        symptom = spec.tags[1]
        variants = {"无法启动": "不开机", "噪音大": "声音大", "漏水": "渗水"}
        return [
            rng.choice(
                [
                    f"{zh}{variants.get(symptom, symptom)}",
                    f"{zh} {symptom}",
                    f"{zh[-2:]}{symptom[:3]}",
                    f"最近{zh}{variants.get(symptom, symptom)}正常吗",
                    f"{zh}{symptom}怎么回事",
                ]
            )
        ]
    if kind == "install":
        appliance, ikey = rest
        zh = zh_of[appliance]
        return [
            {
                "req": f"{zh}安装要求",
                "fee": f"{zh}安装多少钱",
                "move": f"{zh}移机",
                "accessories": f"{zh}安装辅材",
            }[ikey]
        ]
    if kind == "part":
        appliance, part = rest
        return [f"{zh_of[appliance]}{part}多少钱"]
    if kind == "outlet":
        city, okey = rest
        return [{"outlet": f"{city}维修点", "onsite": f"{city}上门时间"}[okey]]
    if kind == "model":
        model, doc_en = rest
        fragment = model.split("-")[0] if rng.random() < 0.3 else model
        return [f"{fragment} {'说明书' if doc_en == 'user manual' else '参数'}"]
    if kind == "care":
        appliance, ckey = rest
        zh = zh_of[appliance]
        return [
            {
                "clean": f"{zh}怎么清洁",
                "descale": f"{zh}除垢",
                "winter": f"{zh}冬天防冻",
                "idle": f"{zh}长期不用",
            }[ckey]
        ]
    if kind == "warranty":
        appliance, wkey = rest
        zh = zh_of[appliance]
        return [
            {"period": f"{zh}保修几年", "extended": f"{zh}延保", "tradein": f"{zh}以旧换新"}[wkey]
        ]
    if kind == "general":
        return [spec.title_zh[:6]]
    return []


def build_queries(seed: int = 8) -> list[tuple[str, str]]:
    """Candidate (query, expected key) pairs; ``relevance_queries.tsv`` is their checked-in,
    hand-edited selection."""
    rng = random.Random(seed + 1)
    pairs: list[tuple[str, str]] = []
    for spec in build_corpus(seed):
        if spec.visibility != "public" and not spec.key.startswith("fault:"):
            continue
        for query in _queries_for(spec, rng):
            pairs.append((query, spec.key))
    rng.shuffle(pairs)
    return pairs


if __name__ == "__main__":
    import sys

    for query, key in sorted(build_queries()[:260], key=lambda p: p[1]):
        sys.stdout.write(f"{query}\t{key}\n")
