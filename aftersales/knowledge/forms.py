"""Forms of the knowledge pages: the article editor (zh-Hans and English tabs), categories."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import BusinessLine, Team
from aftersales.core.forms import model_field
from aftersales.knowledge.models import Article, Category, Section
from aftersales.tickets.workspace_forms import MultipleFileField


def _labels(value: str) -> list[str]:
    return [part.strip() for part in value.replace("，", ",").split(",") if part.strip()]


class ArticleForm(forms.Form):
    business_line = forms.ModelChoiceField(
        queryset=BusinessLine.objects.none(), label=_("Business line")
    )
    section = forms.ModelChoiceField(
        queryset=Section.objects.none(), required=False, label=_("Section")
    )
    title_zh = forms.CharField(max_length=200, required=False, label=_("Title (Chinese)"))
    body_zh = forms.CharField(widget=forms.Textarea, required=False, label=_("Body (Chinese)"))
    title_en = forms.CharField(max_length=200, required=False, label=_("Title (English)"))
    body_en = forms.CharField(widget=forms.Textarea, required=False, label=_("Body (English)"))
    tags = forms.CharField(required=False, label=_("Tags"), help_text=_("Separate with commas."))
    products = forms.CharField(
        required=False, label=_("Products and fault codes"), help_text=_("Separate with commas.")
    )
    visibility = forms.ChoiceField(choices=Article.Visibility.choices, label=_("Visibility"))
    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.none(), required=False, label=_("Teams")
    )
    note = forms.CharField(max_length=200, required=False, label=_("Note for the history"))
    attachments = MultipleFileField(
        label=_("Images and files"),
        required=False,
        help_text=_("Shown with the article to whoever may read it."),
    )
    source_ticket = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # The version the editor was opened at, so a save over someone else's is caught.
    expected_version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, lines: Any, sections: Any, teams: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "business_line").queryset = lines
        model_field(self, "section").queryset = sections
        model_field(self, "teams").queryset = teams

    def texts(self) -> dict[str, dict[str, str]]:
        data = self.cleaned_data
        texts = {}
        if data["title_zh"] or data["body_zh"]:
            texts["zh-hans"] = {"title": data["title_zh"], "body": data["body_zh"]}
        if data["title_en"] or data["body_en"]:
            texts["en"] = {"title": data["title_en"], "body": data["body_en"]}
        return texts

    def labels(self, name: str) -> list[str]:
        return _labels(self.cleaned_data[name])


class CategoryForm(forms.Form):
    business_line = forms.ModelChoiceField(
        queryset=BusinessLine.objects.none(), label=_("Business line")
    )
    name_zh = forms.CharField(max_length=100, label=_("Name (Chinese)"))
    name_en = forms.CharField(max_length=100, label=_("Name (English)"))

    def __init__(self, *args: Any, lines: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "business_line").queryset = lines


class SectionForm(forms.Form):
    category = forms.ModelChoiceField(queryset=Category.objects.none(), label=_("Category"))
    name_zh = forms.CharField(max_length=100, label=_("Name (Chinese)"))
    name_en = forms.CharField(max_length=100, label=_("Name (English)"))

    def __init__(self, *args: Any, categories: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "category").queryset = categories


class SynonymForm(forms.Form):
    terms = forms.CharField(
        max_length=500,
        label=_("Words that mean the same"),
        help_text=_("Separate with = or commas, e.g. 不开机 = 无法启动 = 开不了机."),
    )

    def cleaned_terms(self) -> list[str]:
        raw = self.cleaned_data["terms"]
        # Full-width "=" and "," as typed with a Chinese input method.
        for separator in ("\uff1d", "\uff0c", ","):
            raw = raw.replace(separator, "=")
        return [part.strip() for part in raw.split("=") if part.strip()]


class ArticleLinkForm(forms.Form):
    article = forms.IntegerField(min_value=1)
