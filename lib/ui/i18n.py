"""The pages' language: English source strings, their translations from
`locales/<language>.toml`, and numbers, percentages, money and dates written for the
language's locale (Babel).

The language is per browser session: navigation.py sets it at the start of every run
(the sidebar picker, else UI_LANGUAGE), for the thread running that session's script.
The API's messages stay English: programs match on them.
"""

from __future__ import annotations

import tomllib
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

LANGUAGES = {"en": "English", "fr": "Français"}
LOCALES = {"en": "en_US", "fr": "fr_FR"}
LOCALE_FOLDER = Path(__file__).resolve().parent / "locales"
# Currency symbols a dataset config may use, and the ISO code Babel writes them from.
CURRENCY_CODES = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "CHF": "CHF"}

_language: ContextVar[str | None] = ContextVar("ui_language", default=None)


def use(language: str) -> None:
    """The language of what this thread (a session's script run) writes from now on."""
    _language.set(language if language in LANGUAGES else "en")


def language() -> str:
    """This thread's language; where use() was never called, the server's UI_LANGUAGE."""
    from lib.settings import get_settings

    return _language.get() or get_settings().ui_language


@lru_cache(maxsize=len(LANGUAGES))
def catalogue(language: str) -> dict[str, str]:
    """English source text -> its translation (empty for English)."""
    path = LOCALE_FOLDER / f"{language}.toml"
    if language == "en" or not path.exists():
        return {}
    entries = tomllib.loads(path.read_text(encoding="utf-8"))
    return {key: value for key, value in entries.items() if isinstance(value, str)}


def t(text: str, /, **values: Any) -> str:
    """`text` in the session's language, with `{name}` fields filled from `values`."""
    current = language()
    translated = text if current == "en" else catalogue(current).get(text, text)
    return translated.format(**values) if values else translated


def N_(text: str) -> str:
    """Marks text for the catalogue where it is defined; t() translates it where it is shown."""
    return text


# Words the lib modules report as values (model families, threshold criteria, registry and job
# states, confidence bands, audit columns): shown through t(), listed here for the catalogue.
VOCABULARY = (
    N_("logistic regression"),
    N_("hist gradient boosting"),
    N_("max f1"),
    N_("max expected profit"),
    N_("serving"),
    N_("candidate"),
    N_("archived"),
    N_("queued"),
    N_("running"),
    N_("cancelling"),
    N_("succeeded"),
    N_("failed"),
    N_("cancelled"),
    N_("low"),
    N_("medium"),
    N_("high"),
    N_("at"),
    N_("actor"),
    N_("action"),
    N_("from version"),
    N_("to version"),
    N_("reason"),
    N_("id"),
)


def _locale() -> str:
    return LOCALES[language()]


def number(value: float | int | None, decimals: int = 0) -> str:
    """1,234.5 in English, 1 234,5 in French; "n/a" for no value."""
    from babel.numbers import format_decimal

    if value is None:
        return t("n/a")
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=_locale())


def percent(value: float | None, decimals: int = 1) -> str:
    """26.5% in English, 26,5 % in French; "n/a" for no value."""
    from babel import Locale
    from babel.numbers import format_percent

    if value is None:
        return t("n/a")
    locale = Locale.parse(_locale())
    pattern = locale.percent_formats[None].pattern.split(";")[0]  # where the locale puts "%"
    if decimals:
        pattern = pattern.replace("#,##0", "#,##0." + "0" * decimals, 1)
    return format_percent(value, format=pattern, locale=locale)


def money(value: float, currency: str, compact: bool = False) -> str:
    """A whole amount with the currency where the locale puts it: $1,234 / 1 234 $US;
    `compact`, for a card: $1.7M / 1,7 M $US."""
    from babel import Locale
    from babel.numbers import format_compact_currency, format_currency

    code = CURRENCY_CODES.get(currency.strip(), currency.strip())
    if len(code) != 3 or not code.isalpha() or not code.isupper():  # not an ISO code: written as given
        return (
            f"{currency}{number(value)}" if language() == "en" and len(currency) == 1 else f"{number(value)} {currency}"
        )
    locale = Locale.parse(_locale())
    if compact and abs(value) >= 100_000:
        return format_compact_currency(value, code, locale=locale, fraction_digits=1)
    pattern = locale.currency_formats["standard"].pattern.split(";")[0].replace(".00", "")
    return format_currency(round(value), code, format=pattern, locale=locale, currency_digits=False)


def separators() -> str:
    """Plotly's decimal and thousands separators for the language ("." and "," in English)."""
    from babel.numbers import get_decimal_symbol, get_group_symbol

    return get_decimal_symbol(_locale()) + get_group_symbol(_locale())


def range_label(label: str) -> str:
    """A band "12.5 to 30" as the language writes it: 12.5–30, 12,5–30."""
    low, sep, high = label.partition(" to ")
    try:
        values = float(low), float(high)
    except ValueError:
        return label
    decimals = [len(part.partition(".")[2]) for part in (low, high)]
    return f"{number(values[0], decimals[0])}–{number(values[1], decimals[1])}" if sep else label


def day(moment: float) -> str:
    """A UTC day, short: Nov 25 / 25 nov."""
    from babel.dates import format_skeleton

    return format_skeleton("MMMd", datetime.fromtimestamp(moment, UTC), locale=_locale())


def date_time(moment: float | str | datetime, with_time: bool = True) -> str:
    """A UTC moment (epoch seconds, ISO text or datetime) as the locale writes it."""
    from babel.dates import format_date, format_datetime

    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    elif isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not with_time:
        return format_date(moment, "medium", locale=_locale())
    return format_datetime(moment, "medium", tzinfo=UTC, locale=_locale()) + " UTC"
