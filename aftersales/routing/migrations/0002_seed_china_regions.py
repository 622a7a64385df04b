"""Seed mainland China's seven regions (华东, 华北 …) and their 31 provinces as default regions.

Codes are lowercase pinyin, usable as option keys of a choice or cascading location field.
Safe to rerun: existing codes are left as they are. Reverse removes the seeded regions no agent
covers.
"""

from django.db import migrations

REGIONS = [
    ("east-china", "华东", "East China", [
        ("shanghai", "上海", "Shanghai"), ("jiangsu", "江苏", "Jiangsu"),
        ("zhejiang", "浙江", "Zhejiang"), ("anhui", "安徽", "Anhui"),
        ("fujian", "福建", "Fujian"), ("jiangxi", "江西", "Jiangxi"),
        ("shandong", "山东", "Shandong"),
    ]),
    ("north-china", "华北", "North China", [
        ("beijing", "北京", "Beijing"), ("tianjin", "天津", "Tianjin"),
        ("hebei", "河北", "Hebei"), ("shanxi", "山西", "Shanxi"),
        ("inner-mongolia", "内蒙古", "Inner Mongolia"),
    ]),
    ("south-china", "华南", "South China", [
        ("guangdong", "广东", "Guangdong"), ("guangxi", "广西", "Guangxi"),
        ("hainan", "海南", "Hainan"),
    ]),
    ("central-china", "华中", "Central China", [
        ("henan", "河南", "Henan"), ("hubei", "湖北", "Hubei"), ("hunan", "湖南", "Hunan"),
    ]),
    ("southwest", "西南", "Southwest", [
        ("chongqing", "重庆", "Chongqing"), ("sichuan", "四川", "Sichuan"),
        ("guizhou", "贵州", "Guizhou"), ("yunnan", "云南", "Yunnan"), ("tibet", "西藏", "Tibet"),
    ]),
    ("northwest", "西北", "Northwest", [
        ("shaanxi", "陕西", "Shaanxi"), ("gansu", "甘肃", "Gansu"), ("qinghai", "青海", "Qinghai"),
        ("ningxia", "宁夏", "Ningxia"), ("xinjiang", "新疆", "Xinjiang"),
    ]),
    ("northeast", "东北", "Northeast", [
        ("liaoning", "辽宁", "Liaoning"), ("jilin", "吉林", "Jilin"),
        ("heilongjiang", "黑龙江", "Heilongjiang"),
    ]),
]  # fmt: skip


def seed(apps, schema_editor):
    Region = apps.get_model("routing", "Region")
    for position, (code, name_zh, name_en, provinces) in enumerate(REGIONS):
        region, _created = Region.objects.get_or_create(
            code=code, defaults={"name_zh": name_zh, "name_en": name_en, "position": position}
        )
        for index, (child, child_zh, child_en) in enumerate(provinces):
            Region.objects.get_or_create(
                code=child,
                defaults={
                    "name_zh": child_zh,
                    "name_en": child_en,
                    "parent": region,
                    "position": index,
                },
            )


def unseed(apps, schema_editor):
    Region = apps.get_model("routing", "Region")
    provinces = [child[0] for _c, _zh, _en, children in REGIONS for child in children]
    tops = [code for code, _zh, _en, _children in REGIONS]
    for codes in (provinces, tops):
        Region.objects.filter(code__in=codes, agents__isnull=True, children__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("routing", "0001_add_routing")]

    operations = [migrations.RunPython(seed, unseed)]
