"""The spoken form of written text: figures, times, dates, units and money as a speaker says them.

``spoken_form("Es sind 21,5 °C", "de")`` gives ``"Es sind einundzwanzig Komma fünf Grad Celsius"``.
Number words come from ``num2words``; unit names (with their plural forms), decimal and grouping
marks, month names and the date order of each language come from the Unicode CLDR through Babel.
What neither knows (a few abbreviations, the word for a range, clock conventions) is written here.

Full coverage for en, de, fr, es, it, pt, nl, pl; numbers, percentages, temperatures and times for
cs, ru, tr, hu; every other language gets its text back unchanged (XTTS's own front end reads it).
Nothing here raises on odd input: what no rule recognises stays as written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from decimal import Decimal
from functools import cache, lru_cache

from babel import Locale
from babel.dates import get_month_names
from babel.numbers import (
    format_decimal,
    get_currency_name,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
)
from babel.units import format_compound_unit, format_unit
from num2words import CONVERTER_CLASSES
from num2words import num2words as _num2words

from voice_daemon.errors import RequestError
from voice_daemon.synthesis.text import normalize_language

num2words: Callable[..., str] = _num2words  # the library ships no types; it returns the words

__all__ = ["COVERAGE", "FULL", "NUMBERS_ONLY", "speakable", "spoken_form"]

FULL: tuple[str, ...] = ("en", "de", "fr", "es", "it", "pt", "nl", "pl")
NUMBERS_ONLY: tuple[str, ...] = ("cs", "ru", "tr", "hu")
# What each covered language gets (the README's table is written from this).
COVERAGE: dict[str, tuple[str, ...]] = {
    **{
        lang: (
            "numbers",
            "ordinals",
            "percent",
            "temperature",
            "times",
            "dates",
            "durations",
            "units",
            "money",
            "ranges",
            "abbreviations",
        )
        for lang in FULL
    },
    **{lang: ("numbers", "percent", "temperature", "times") for lang in NUMBERS_ONLY},
}

log = logging.getLogger(__name__)
_SPACES = str.maketrans({"\xa0": " ", "\u202f": " "})


def spoken_form(text: str, language: str) -> str:
    """``text`` as a speaker of ``language`` (an XTTS code such as "en", "de", "zh-cn") says it.

    Languages without coverage (and codes XTTS does not know) get ``text`` back unchanged.
    """
    try:
        lang = normalize_language(language)
    except RequestError:
        return text
    if lang not in COVERAGE or not re.search(r"[0-9%°℃℉€$£]|\w\.", text):
        return text
    for rule in _rules(lang):
        text = rule(text)
    return re.sub(r"[ \t]{2,}", " ", text)


def speakable(text: str, language: str, normalize: bool = True) -> str:
    """What XTTS is given for ``text``: its spoken form, or ``text`` itself when ``normalize``
    (the setting ``synthesis.normalize``) is off.  The one place every synthesis path asks."""
    return spoken_form(text, language) if normalize else text


# -- number words -------------------------------------------------------------------------------

# num2words says "punto" in es (where "21,5" is "coma"), has no word in it, a declined one in ru
_POINT_WORD = {"es": "coma", "it": "virgola", "ru": "запятая"}
_WHOLE_FRACTION = {"fr", "es", "it", "pt", "tr"}  # "3,14": "trois virgule quatorze"
_GRAMMATICAL_FRACTION = {"cs", "ru", "hu"}  # num2words says "целая ... десятых" itself
_LARGEST = 10**15
_MINUS_WORD = {"it": "meno"}  # num2words has none for Italian


@lru_cache(maxsize=4096)
def cardinal(value: int, lang: str) -> str:
    """The words for a whole number (negative ones with the language's minus word)."""
    if value < 0:
        return f"{_minus(lang)} {cardinal(-value, lang)}"
    if value >= _LARGEST:  # past what num2words names: said digit by digit, as a code would be
        return " ".join(num2words(int(digit), lang=lang) for digit in str(value))
    return num2words(value, lang=lang)


@lru_cache(maxsize=1024)
def ordinal(value: int, lang: str) -> str:
    """The words for an ordinal ("third", "dritte"); the cardinal where num2words knows none."""
    try:
        return num2words(value, lang=lang, to="ordinal")
    except (NotImplementedError, TypeError, ValueError):
        return cardinal(value, lang)


def decimal_words(sign: str, whole: str, fraction: str, lang: str) -> str:
    """The words for ``sign whole . fraction`` (digits as written, no marks)."""
    minus = f"{_minus(lang)} " if sign and (int(whole) or fraction.strip("0")) else ""
    if not fraction:
        return minus + cardinal(int(whole), lang)
    if lang in _GRAMMATICAL_FRACTION and len(fraction) <= 6 and int(whole) < _LARGEST:
        return minus + num2words(Decimal(f"{whole}.{fraction}"), lang=lang)
    point = _POINT_WORD.get(lang) or str(getattr(CONVERTER_CLASSES[lang], "pointword", ",")).strip()
    if lang in _WHOLE_FRACTION and len(fraction) <= 2 and not fraction.startswith("0"):
        tail = cardinal(int(fraction), lang)
    else:
        tail = " ".join(cardinal(int(digit), lang) for digit in fraction)
    return f"{minus}{cardinal(int(whole), lang)} {point} {tail}"


def _minus(lang: str) -> str:
    return _MINUS_WORD.get(lang) or str(getattr(CONVERTER_CLASSES[lang], "negword", "minus")).strip()


def _cldr(lang: str) -> str:
    """The CLDR locale for ``lang``: European Portuguese, as num2words' "pt" is."""
    return "pt_PT" if lang == "pt" else lang


_NOT_AFTER = r"(?<![\w.,/])"  # a figure starts after none of these


@cache
def _number_pattern(lang: str) -> str:
    """A regex source for one written number in ``lang``: groups sign, whole, fraction.

    The language's own grouping and decimal marks come from CLDR; a "." decimal is accepted
    everywhere too (sensor values are written so), unless it is a grouping mark ("1.000" in de):
    where the decimal mark is a comma, "." groups too.
    """
    group = get_group_symbol(_cldr(lang)).translate(_SPACES)
    decimal = get_decimal_symbol(_cldr(lang))
    groups = {re.escape(group)} | ({" ", "\xa0", "\u202f"} if group == " " else set())
    if decimal == ",":  # "1.000.000" is written where "1 000 000" is the rule, too
        groups.add(re.escape("."))
    group_re = "|".join(sorted(groups))
    decimals = re.escape(decimal) + ("" if decimal == "." else r"|\.")
    whole = rf"[1-9]\d{{0,2}}(?:(?:{group_re})\d{{3}})+(?!\d)|\d+"
    return rf"{_NOT_AFTER}(?P<sign>[-−])?(?P<whole>{whole})(?:(?:{decimals})(?P<fraction>\d+))?(?!\d)"


def _parts(match: re.Match[str], prefix: str = "") -> tuple[str, str, str]:
    """(sign, whole digits, fraction digits) of a number matched by ``_number_pattern``."""
    sign = match.group(f"{prefix}sign") or ""
    whole = re.sub(r"\D", "", match.group(f"{prefix}whole"))
    return sign, whole, match.group(f"{prefix}fraction") or ""


def _value(sign: str, whole: str, fraction: str) -> Decimal:
    """The number as written, visible decimals kept: CLDR's plural rules count them ("1,0 Liter")."""
    return Decimal(f"{'-' if sign else ''}{whole}{'.' + fraction if fraction else ''}")


def _named(pattern: str, prefix: str) -> str:
    """``pattern`` with its group names prefixed (to use a number pattern twice in one regex)."""
    return re.sub(r"\(\?P<(\w+)>", lambda m: f"(?P<{prefix}{m.group(1)}>", pattern)


# -- rules --------------------------------------------------------------------------------------

Rule = Callable[[str], str]


@cache
def _rules(lang: str) -> tuple[Rule, ...]:
    """The rewriting passes for ``lang``, in order: the most specific forms first."""
    full = lang in FULL
    passes: list[Rule | None] = [
        _abbreviation_rule(lang) if full else None,
        _money_rule(lang) if full else None,
        _date_rule(lang) if full else None,
        _month_date_rule(lang) if full else None,
        _time_rule(lang),
        _ordinal_rule(lang) if full else None,
        _range_rule(lang) if full else None,
        _percent_first_rule(lang) if lang == "tr" else None,
        _unit_rule(lang),
        _number_rule(lang),
    ]
    return tuple(rule for rule in passes if rule is not None)


def _sub(pattern: str, replace: Callable[[re.Match[str]], str]) -> Rule:
    compiled = re.compile(pattern)
    return lambda text: compiled.sub(lambda match: _spaced(match, replace), text)


def _spaced(match: re.Match[str], replace: Callable[[re.Match[str]], str]) -> str:
    """The words for ``match``, kept apart from letters glued to the figure ("3x" -> "three x").

    A figure no library can say (num2words has limits per language) stays as written.
    """
    try:
        words = replace(match)
    except (ArithmeticError, ValueError, TypeError, KeyError, IndexError, NotImplementedError) as exc:
        log.debug("left %r as written: %s", match.group(0), exc)
        return match.group(0)
    text = match.string
    after = text[match.end() : match.end() + 1]
    before = text[match.start() - 1 : match.start()] if match.start() else ""
    return f"{' ' if before.isalnum() else ''}{words}{' ' if after.isalnum() else ''}"


def _number_rule(lang: str) -> Rule:
    return _sub(_number_pattern(lang), lambda m: decimal_words(*_parts(m), lang))


# -- units, percent, temperature ----------------------------------------------------------------

_UNITS: dict[str, str] = {  # written symbol -> CLDR unit
    "°C": "temperature-celsius",
    "° C": "temperature-celsius",
    "℃": "temperature-celsius",
    "°F": "temperature-fahrenheit",
    "° F": "temperature-fahrenheit",
    "℉": "temperature-fahrenheit",
    "°": "angle-degree",
    "%": "concentr-percent",
    "‰": "concentr-permille",
    "ppm": "concentr-part-per-1e6",
    "W": "power-watt",
    "kW": "power-kilowatt",
    "MW": "power-megawatt",
    "kWh": "energy-kilowatt-hour",
    "V": "electric-volt",
    "mA": "electric-milliampere",
    "A": "electric-ampere",
    "km/h": "speed-kilometer-per-hour",
    "m/s": "speed-meter-per-second",
    "mph": "speed-mile-per-hour",
    "km": "length-kilometer",
    "m": "length-meter",
    "cm": "length-centimeter",
    "mm": "length-millimeter",
    "kg": "mass-kilogram",
    "g": "mass-gram",
    "mg": "mass-milligram",
    "l": "volume-liter",
    "L": "volume-liter",
    "ml": "volume-milliliter",
    "m³": "volume-cubic-meter",
    "m²": "area-square-meter",
    "hPa": "pressure-hectopascal",
    "mbar": "pressure-millibar",
    "lx": "light-lux",
    "h": "duration-hour",
    "min": "duration-minute",
    "s": "duration-second",
    "ms": "duration-millisecond",
    "µg/m³": "mass-microgram/volume-cubic-meter",
    "μg/m³": "mass-microgram/volume-cubic-meter",
}
_LIGHT_UNITS = {"%", "°C", "° C", "℃", "°F", "° F", "℉", "°"}  # the only units for the numbers-only languages
# Units CLDR does not name, by CLDR plural category ("other" stands in for the missing ones).
_EXTRA_UNITS: dict[str, dict[str, dict[str, str]]] = {
    "Wh": {
        "en": {"one": "watt-hour", "other": "watt-hours"},
        "de": {"other": "Wattstunden", "one": "Wattstunde"},
        "fr": {"one": "wattheure", "other": "wattheures"},
        "es": {"one": "vatio hora", "other": "vatios hora"},
        "it": {"one": "wattora", "other": "wattora"},
        "pt": {"one": "watt-hora", "other": "watts-hora"},
        "nl": {"other": "wattuur"},
        "pl": {"one": "watogodzina", "few": "watogodziny", "other": "watogodzin"},
    },
    "dB": {
        "en": {"one": "decibel", "other": "decibels"},
        "de": {"other": "Dezibel"},
        "fr": {"one": "décibel", "other": "décibels"},
        "es": {"one": "decibelio", "other": "decibelios"},
        "it": {"other": "decibel"},
        "pt": {"one": "decibel", "other": "decibéis"},
        "nl": {"other": "decibel"},
        "pl": {"one": "decybel", "few": "decybele", "other": "decybeli"},
    },
}
# Units whose noun is feminine, where the word for 1 agrees ("eine Stunde", "une heure", "una hora").
_FEMININE = {
    "de": {
        "duration-hour",
        "duration-minute",
        "duration-second",
        "duration-millisecond",
        "energy-kilowatt-hour",
        "speed-mile-per-hour",
        "Wh",
    },
    "fr": {
        "duration-hour",
        "duration-minute",
        "duration-second",
        "duration-millisecond",
        "energy-kilowatt-hour",
        "Wh",
    },
    "es": {"duration-hour"},
    "pt": {"duration-hour"},
}
_ONE_BEFORE_NOUN = {  # the word for 1 before a noun: (ending, masculine, feminine)
    "de": ("eins", "ein", "eine"),
    "fr": ("un", "un", "une"),
    "es": ("uno", "un", "una"),
    "it": ("uno", "un", "una"),
    "pt": ("um", "um", "uma"),
}


def unit_phrase(value: Decimal, words: str, unit: str, lang: str) -> str:
    """``words`` (the spoken ``value``) with the unit's name in the right plural form, as CLDR has it."""
    words = _agree(words, unit, lang)
    if unit in _EXTRA_UNITS:
        forms = _EXTRA_UNITS[unit][lang]
        return f"{words} {forms.get(Locale.parse(_cldr(lang)).plural_form(abs(value)), forms['other'])}"
    if "/" in unit:
        numerator, denominator = unit.split("/")
        phrase = format_compound_unit(
            value, numerator, denominator_unit=denominator, length="long", locale=_cldr(lang)
        )
    else:
        phrase = format_unit(value, unit, length="long", locale=_cldr(lang))
    if phrase is None:  # babel's types allow it, its code returns a string: left as written
        raise KeyError(unit)
    number = format_decimal(value, locale=_cldr(lang))
    if number not in phrase:
        return f"{words} {phrase}"
    return phrase.replace(number, words, 1).translate(_SPACES)


def _agree(words: str, unit: str, lang: str) -> str:
    """ "eins Stunde" -> "eine Stunde", "veintiuno grados" -> "veintiún grados"."""
    if lang not in _ONE_BEFORE_NOUN:
        return words
    ending, masculine, feminine = _ONE_BEFORE_NOUN[lang]
    if lang == "es" and unit not in _FEMININE.get(lang, ()) and words.endswith("veintiuno"):
        return words[: -len("veintiuno")] + "veintiún"
    if not re.search(rf"(?:^|[\s-]){ending}$", words):
        return words
    replacement = feminine if unit in _FEMININE.get(lang, ()) else masculine
    return words[: -len(ending)] + replacement


def _unit_alternatives(lang: str) -> str:
    symbols = _LIGHT_UNITS if lang in NUMBERS_ONLY else {*_UNITS, *_EXTRA_UNITS}
    return "|".join(re.escape(symbol) for symbol in sorted(symbols, key=len, reverse=True))


def _unit_id(symbol: str) -> str:
    return _UNITS.get(symbol, symbol)


def _amount(match: re.Match[str], unit: str, lang: str, prefix: str = "") -> str:
    """The number matched (its groups named with ``prefix``) and its unit, in words."""
    sign, whole, fraction = _parts(match, prefix)
    return unit_phrase(_value(sign, whole, fraction), decimal_words(sign, whole, fraction, lang), unit, lang)


def _unit_rule(lang: str) -> Rule:
    pattern = rf"{_number_pattern(lang)}\s?(?P<unit>{_unit_alternatives(lang)})(?![\w/²³])"
    return _sub(pattern, lambda match: _amount(match, _unit_id(match.group("unit")), lang))


def _percent_first_rule(lang: str) -> Rule:
    """Turkish writes the percent sign first ("%15": "yüzde on beş")."""
    pattern = r"%\s?" + _number_pattern(lang).replace(_NOT_AFTER, "")
    return _sub(pattern, lambda match: _amount(match, "concentr-percent", lang))


# -- ranges ---------------------------------------------------------------------------------------

_RANGE_WORD = {"en": "to", "de": "bis", "fr": "à", "es": "a", "it": "a", "pt": "a", "nl": "tot", "pl": "do"}


def _range_rule(lang: str) -> Rule:
    """ "20–25 °C" -> "twenty to twenty-five degrees Celsius"; the unit agrees with the second figure."""
    first, second = (
        _named(_number_pattern(lang), "a_"),
        _named(_number_pattern(lang).replace(_NOT_AFTER, ""), "b_"),
    )
    pattern = (
        rf"{first}\s?(?:–|—|-(?=\d)|\s-\s)\s?{second}(?:\s?(?P<unit>{_unit_alternatives(lang)})(?![\w/²³]))?"
    )

    def replace(match: re.Match[str]) -> str:
        low = decimal_words(*_parts(match, "a_"), lang)
        unit = match.group("unit")
        high = (
            _amount(match, _unit_id(unit), lang, "b_") if unit else decimal_words(*_parts(match, "b_"), lang)
        )
        return f"{low} {_RANGE_WORD[lang]} {high}"

    return _sub(pattern, replace)


# -- money ----------------------------------------------------------------------------------------

_CURRENCIES = {
    "€": "EUR",
    "$": "USD",
    "US$": "USD",
    "£": "GBP",
    "CHF": "CHF",
    "Fr.": "CHF",
    "EUR": "EUR",
    "USD": "USD",
    "GBP": "GBP",
}


def _money_rule(lang: str) -> Rule:
    currencies = {
        **_CURRENCIES,
        **{get_currency_symbol(code, locale=_cldr(lang)): code for code in {*_CURRENCIES.values()}},
    }
    symbols = "|".join(re.escape(s) for s in sorted(currencies, key=len, reverse=True))
    number = _number_pattern(lang)
    after_symbol = _named(number.replace(_NOT_AFTER, ""), "p_")
    dash = r"(?:[.,][-–]{1,2})?"  # "12,-- €": no cents
    before = rf"(?<![\w$€£])(?P<pre>{symbols})\s?{after_symbol}{dash}"
    per = "|".join(re.escape(s) for s in sorted(_UNITS, key=len, reverse=True) if "/" not in _UNITS[s])
    pattern = rf"(?:{before}|{number}{dash}\s?(?P<post>{symbols}))(?:\s?/\s?(?P<per>{per})(?![\w/²³]))?(?!\w)"

    def replace(match: re.Match[str]) -> str:
        prefix = "p_" if match.group("pre") else ""
        sign, whole, fraction = _parts(match, prefix)
        words = money_words(
            sign, whole, fraction, currencies[match.group("pre") or match.group("post")], lang
        )
        if not match.group("per"):
            return words
        unit = _unit_id(match.group("per"))  # "0,32 €/kWh": "... pro Kilowattstunde"
        per_unit = format_compound_unit("X", denominator_unit=unit, length="long", locale=_cldr(lang))
        if per_unit is None:  # babel's types allow it, its code returns a string: left as written
            raise KeyError(unit)
        return per_unit.replace("X", words)

    return _sub(pattern, replace)


def money_words(sign: str, whole: str, fraction: str, currency: str, lang: str) -> str:
    """ "19,99 €" -> "neunzehn Euro und neunundneunzig Cent" (num2words where it knows the currency)."""
    cents = int((fraction + "00")[:2]) if fraction else 0
    minus = f"{_minus(lang)} " if sign else ""
    converter = CONVERTER_CLASSES[lang]
    forms = getattr(converter, "CURRENCY_FORMS", {}).get(currency)
    amount = int(whole)
    if forms is None:  # CLDR names the currency; the cents are said as a bare number
        name = get_currency_name(currency, count=amount, locale=_cldr(lang))
        main = f"{_agree(cardinal(amount, lang), currency, lang)} {name}"
        return minus + (f"{main} {cardinal(cents, lang)}" if cents else main)
    if cents:
        try:
            return minus + num2words(
                Decimal(f"{amount}.{cents:02d}"), lang=lang, to="currency", currency=currency
            )
        except (NotImplementedError, TypeError, ValueError, KeyError):
            pass
    main = f"{_agree(cardinal(amount, lang), currency, lang)} {converter.pluralize(amount, forms[0])}"
    return minus + (
        f"{main} {cardinal(cents, lang)} {converter.pluralize(cents, forms[1])}" if cents else main
    )


# -- times ----------------------------------------------------------------------------------------

_MERIDIEM = r"(?P<meridiem>[ap]\.\s?m\.|[ap]m\b|[AP]\.?M\.?(?![\w]))"


def _time_rule(lang: str) -> Rule:
    """ "07:30", "7:30 pm", "19h30" (fr), "7.30 Uhr" (de); seconds are read too."""
    clock = (
        r"(?<![\w.:,])(?P<hour>[01]?\d|2[0-4])(?P<mark>:|\.(?=\d\d\s?(?:Uhr|h)\b))(?P<minute>[0-5]\d)"
        r"(?::(?P<second>[0-5]\d))?(?!\d)"
    )
    patterns = [rf"{clock}(?:\s?{_MERIDIEM})?(?P<uhr>\s?Uhr\b)?"]
    if lang == "en":
        patterns.append(rf"(?<![\w.:,])(?P<hour2>1[0-2]|0?\d)\s?{_MERIDIEM.replace('meridiem', 'meridiem2')}")
    if lang == "de":
        patterns.append(r"(?<![\w.:,])(?P<hour4>[01]?\d|2[0-4])\s?Uhr\b(?:\s(?P<minute4>[0-5]?\d)\b)?")
    if lang == "fr":
        patterns.append(
            r"(?<![\w.:,])(?P<hour3>[01]?\d|2[0-4])\s?h\s?(?P<minute3>[0-5]\d)?(?![\d\w])(?!\s?min)"
        )
    compiled = [re.compile(p) for p in patterns]

    def replace(match: re.Match[str]) -> str:
        groups = match.groupdict()
        hour = int(groups.get("hour") or groups.get("hour2") or groups.get("hour3") or groups["hour4"])
        minute = int(groups.get("minute") or groups.get("minute3") or groups.get("minute4") or 0)
        meridiem = groups.get("meridiem") or groups.get("meridiem2")
        words = clock_words(hour, minute, lang, meridiem, _word_before(match))
        if words.endswith(".") and match.string.startswith(".", match.end()):
            words = words[:-1]  # "at 7 pm." -> "at seven p.m."
        if second := groups.get("second"):
            words += f" {unit_phrase(Decimal(second), cardinal(int(second), lang), 'duration-second', lang)}"
        return words

    def rule(text: str) -> str:
        for regex in compiled:
            text = regex.sub(lambda m: _spaced(m, replace), text)
        return text

    return rule


def _word_before(match: re.Match[str]) -> str:
    words = match.string[: match.start()].split()
    return words[-1].lower() if words else ""


def clock_words(hour: int, minute: int, lang: str, meridiem: str | None = None, before: str = "") -> str:
    """A clock time as it is read out in ``lang`` ("seven thirty p.m.", "sieben Uhr dreißig")."""
    if lang == "en":
        return _clock_en(hour, minute, meridiem)
    if lang == "de":
        return f"{'ein' if hour == 1 else cardinal(hour, lang)} Uhr" + (
            f" {cardinal(minute, lang)}" if minute else ""
        )
    if lang == "fr":
        head = unit_phrase(Decimal(hour), cardinal(hour, lang), "duration-hour", lang)
        return head + (f" {cardinal(minute, lang)}" if minute else "")
    if lang == "pl":
        return _clock_pl(hour, minute, before)
    hour_words = (
        _agree(cardinal(hour, lang), "duration-hour", lang) if lang in ("es", "pt") else cardinal(hour, lang)
    )
    if lang == "pt" and hour_words.endswith("dois"):
        hour_words = hour_words[:-4] + "duas"
    if lang == "nl":
        return f"{hour_words} uur" + (f" {cardinal(minute, lang)}" if minute else "")
    if lang == "hu":
        return f"{hour_words} óra" + (f" {cardinal(minute, lang)}" if minute else "")
    if not minute:
        return {"es": f"{hour_words} en punto", "pt": f"{hour_words} horas"}.get(lang, hour_words)
    joiner = {"es": " y ", "it": " e ", "pt": " e "}.get(lang, " ")
    return f"{hour_words}{joiner}{cardinal(minute, lang)}"


def _clock_en(hour: int, minute: int, meridiem: str | None) -> str:
    suffix = ""
    if meridiem:
        suffix = " a.m." if meridiem.lower().startswith("a") else " p.m."
    head = cardinal(hour, "en")
    if not minute:
        return head + (suffix or " o'clock")
    tail = f"oh {cardinal(minute, 'en')}" if minute < 10 else cardinal(minute, "en")
    return f"{head} {tail}{suffix}"


def _clock_pl(hour: int, minute: int, before: str) -> str:
    """Polish reads the hour as a feminine ordinal ("siódma"), after "o" in the locative ("o siódmej")."""
    ending = "ej" if before in ("o", "po", "do", "od", "około", "przed") else "a"
    head = " ".join(_adjective_ending(word, ending) for word in ordinal(hour or 24, "pl").split())
    return head + (f" {cardinal(minute, 'pl')}" if minute else "")


def _adjective_ending(word: str, ending: str) -> str:
    """A Polish adjective's masculine nominative ("siódmy", "trzeci", "drugi") with another ending."""
    if word.endswith("y"):
        return word[:-1] + ending
    if word.endswith("i"):
        return word[:-1] + (
            "i" + ending if ending.startswith(("e", "a")) and not word.endswith("gi") else ending
        )
    return word


# -- dates ----------------------------------------------------------------------------------------


def _date_rule(lang: str) -> Rule:
    """ISO dates everywhere; "24.12.2026"; "12/24/2026" in the order CLDR gives the language."""
    month_first = Locale.parse(_cldr(lang)).date_formats["short"].pattern.lstrip("'").lower().startswith("m")
    slash = r"(?P<a2>\d{1,2})/(?P<b2>\d{1,2})/(?P<y2>\d{4}|\d{2})"
    patterns = [
        r"(?<![\w.:/-])(?P<y1>\d{4})-(?P<m1>0?[1-9]|1[0-2])-(?P<d1>0?[1-9]|[12]\d|3[01])(?![\w:-])",
        rf"(?<![\w.:/-]){slash}(?![\w/])",
        r"(?<![\w.:/,-])(?P<d3>0?[1-9]|[12]\d|3[01])\.(?P<m3>0?[1-9]|1[0-2])\.(?P<y3>\d{4}|\d{2}(?!\d))?",
        r"(?<![\w.:/-])(?P<d4>0?[1-9]|[12]\d|3[01])-(?P<m4>0?[1-9]|1[0-2])-(?P<y4>\d{4})(?![\w:-])",
    ]
    compiled = re.compile("|".join(f"(?:{p})" for p in patterns))

    def replace(match: re.Match[str]) -> str:
        g = match.groupdict()
        if g["y1"]:
            day, month, year = int(g["d1"]), int(g["m1"]), g["y1"]
        elif g["a2"]:
            first, second = int(g["a2"]), int(g["b2"])
            month, day = (first, second) if month_first else (second, first)
            year = g["y2"]
        elif g["d3"]:
            day, month, year = int(g["d3"]), int(g["m3"]), g["y3"]
        else:
            day, month, year = int(g["d4"]), int(g["m4"]), g["y4"]
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return match.group(0)
        return date_words(day, month, int(year) if year else None, lang, _word_before(match))

    return lambda text: compiled.sub(lambda m: _spaced(m, replace), text)


def _month_date_rule(lang: str) -> Rule:
    """Dates with the month's name: "December 24, 2026", "24th of December", "1er mai", "24 grudnia"."""
    names = month_numbers(lang)
    cased = str.capitalize if lang == "en" else str  # English months are capitals: "march 5 miles" is no date
    month = "|".join(re.escape(cased(name)) for name in sorted(names, key=len, reverse=True))
    year = r"(?:,?\s+(?:de\s+)?(?P<year>\d{4})(?!\d))?"
    day = r"(?<![\w.,])(?P<day>0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th|er|º|\.º)?"
    patterns = [rf"{day}\s+(?:of\s+|de\s+)?(?P<month>{month})\.?(?!\w){year}"]
    if lang == "en":
        patterns.append(rf"(?P<month>{month})\.?\s+{day}(?![\d\w]){year}")
    compiled = [re.compile(p, 0 if lang == "en" else re.IGNORECASE) for p in patterns]

    def replace(match: re.Match[str]) -> str:
        day_, month_ = int(match.group("day")), names[match.group("month").lower().rstrip(".")]
        year_ = int(match.group("year")) if match.group("year") else None
        before = _word_before(match)
        if lang == "en" and match.re is compiled[0]:
            said = f"{'' if before == 'the' else 'the '}{ordinal(day_, 'en')} of {_month_name(month_, 'en')}"
            return said + (f", {year_words(year_, 'en')}" if year_ else "")
        return date_words(day_, month_, year_, lang, before)

    def rule(text: str) -> str:
        for regex in compiled:
            text = regex.sub(lambda m: _spaced(m, replace), text)
        return text

    return rule


@cache
def month_numbers(lang: str) -> dict[str, int]:
    """Every CLDR month name of ``lang`` (wide and abbreviated, in a date and standing alone), lower
    case, to its number."""
    return {
        name.lower().rstrip("."): number
        for context in ("format", "stand-alone")
        for width in ("wide", "abbreviated")
        for number, name in get_month_names(width, context, locale=_cldr(lang)).items()
        if len(name.rstrip(".")) > 2
    }


def _month_name(month: int, lang: str) -> str:
    name: str = get_month_names("wide", "format", locale=_cldr(lang))[month]
    return name


def date_words(day: int, month: int, year: int | None, lang: str, before: str = "") -> str:
    """A date as it is said in ``lang``; month names from CLDR (the form used inside a date)."""
    name = _month_name(month, lang)
    spoken_year = year_words(year, lang) if year is not None else ""
    if lang == "en":
        return f"{name} {ordinal(day, 'en')}" + (f", {spoken_year}" if year is not None else "")
    if lang == "de":
        return f"{german_ordinal(day, before)} {name}" + (f" {spoken_year}" if year is not None else "")
    if lang == "pl":
        day_words = " ".join(_adjective_ending(w, "ego") for w in ordinal(day, "pl").split())
        return f"{day_words} {name}" + (f" {spoken_year}" if year is not None else "")
    day_words = {"fr": "premier", "it": "primo", "pt": "primeiro"}.get(lang, "") if day == 1 else ""
    day_words = day_words or cardinal(day, lang)
    link = " de " if lang in ("es", "pt") else " "
    return f"{day_words}{link}{name}" + (f"{link}{spoken_year}" if year is not None else "")


def year_words(year: int, lang: str) -> str:
    """A year as num2words says one ("twenty twenty-six", "neunzehnhundertneunundneunzig"); Polish
    dates say it as an ordinal in the genitive ("dwa tysiące dwudziestego szóstego roku")."""
    if lang == "pl":
        words = ordinal(year, "pl").split()
        return " ".join([*words[:-2], *(_adjective_ending(w, "ego") for w in words[-2:])]) + " roku"
    return num2words(year, lang=lang, to="year")


_GERMAN_DATIVE = {
    "am",
    "vom",
    "zum",
    "im",
    "beim",
    "dem",
    "den",
    "ab",
    "seit",
    "bis",
    "zur",
    "des",
    "vor",
    "nach",
}
_GERMAN_WEAK = {"der", "die", "das", "diese", "dieser", "jede", "jeder"}


def german_ordinal(value: int, before: str) -> str:
    """A German ordinal with the ending its place asks for: "am vierundzwanzigsten", "der dritte"."""
    stem = ordinal(value, "de")
    if before in _GERMAN_DATIVE:
        return stem + "n"
    return stem if before in _GERMAN_WEAK else stem + "r"


# -- ordinals ---------------------------------------------------------------------------------------

_ORDINAL_SUFFIX = {
    "en": r"(?:st|nd|rd|th)",
    "fr": r"(?P<fem>re|ère)|er|e|ème|eme",
    "es": r"\.?(?:º|o|(?P<fem>ª|a))",
    "it": r"(?:º|(?P<fem>ª))",
    "pt": r"\.?(?:º|(?P<fem>ª))",
    "nl": r"(?:ste|de|e)",
}


def _ordinal_rule(lang: str) -> Rule:
    """ "3rd", "1er", "1.º", "2e"; in German and Polish "24." before a month name or after an article."""
    if lang in ("de", "pl"):
        return _dotted_ordinal_rule(lang)
    pattern = rf"(?<![\w.,])(?P<n>\d+)(?:{_ORDINAL_SUFFIX[lang]})(?![\w])"

    def replace(match: re.Match[str]) -> str:
        value = int(match.group("n"))
        if lang == "fr" and value == 1:
            return "première" if match.group("fem") else "premier"
        words = ordinal(value, lang)
        if match.groupdict().get("fem"):
            words = " ".join(re.sub(r"o$", "a", w) for w in words.split())
        return words

    return _sub(pattern, replace)


def _dotted_ordinal_rule(lang: str) -> Rule:
    months = "|".join(re.escape(name) for name in sorted(month_numbers(lang), key=len, reverse=True))
    articles = "|".join(sorted(_GERMAN_DATIVE | _GERMAN_WEAK)) if lang == "de" else "w|we|od|do|na|po"
    pattern = (
        rf"(?P<article>\b(?i:{articles})\s+)(?P<n>\d{{1,3}})\.(?=\s+\w)"
        rf"|(?<![\w.,])(?P<m>\d{{1,2}})\.(?=\s+(?i:{months})\b)"
    )
    compiled = re.compile(pattern)

    def replace(match: re.Match[str]) -> str:
        value = int(match.group("n") or match.group("m"))
        article = match.group("article") or ""
        if lang == "de":
            return article + german_ordinal(value, article.strip().lower() or _word_before(match))
        ending = "ego" if match.group("m") else "y"
        return article + " ".join(_adjective_ending(w, ending) for w in ordinal(value, "pl").split())

    return lambda text: compiled.sub(lambda m: _spaced(m, replace), text)


# -- abbreviations --------------------------------------------------------------------------------

ABBREVIATIONS: dict[str, dict[str, str]] = {  # what CLDR does not list: common written abbreviations
    "en": {
        "approx.": "approximately",
        "ca.": "circa",
        "e.g.": "for example",
        "i.e.": "that is",
        "etc.": "et cetera",
        "vs.": "versus",
        "no.": "number",
    },
    "de": {
        "ca.": "circa",
        "z.B.": "zum Beispiel",
        "z. B.": "zum Beispiel",
        "bzw.": "beziehungsweise",
        "usw.": "und so weiter",
        "Nr.": "Nummer",
        "inkl.": "inklusive",
        "evtl.": "eventuell",
        "ggf.": "gegebenenfalls",
        "d.h.": "das heißt",
        "d. h.": "das heißt",
        "u.a.": "unter anderem",
        "max.": "maximal",
    },
    "fr": {
        "env.": "environ",
        "ca.": "environ",
        "etc.": "et cetera",
        "M.": "Monsieur",
        "Mme": "Madame",
        "Mlle": "Mademoiselle",
        "n°": "numéro",
        "p.ex.": "par exemple",
        "p. ex.": "par exemple",
    },
    "es": {
        "aprox.": "aproximadamente",
        "ca.": "aproximadamente",
        "etc.": "etcétera",
        "Sr.": "señor",
        "Sra.": "señora",
        "Dr.": "doctor",
        "n.º": "número",
        "p.ej.": "por ejemplo",
        "p. ej.": "por ejemplo",
    },
    "it": {
        "ca.": "circa",
        "ecc.": "eccetera",
        "Sig.": "signor",
        "Sig.ra": "signora",
        "n.": "numero",
        "es.": "esempio",
    },
    "pt": {
        "aprox.": "aproximadamente",
        "ca.": "cerca de",
        "etc.": "etcétera",
        "Sr.": "senhor",
        "Sra.": "senhora",
        "n.º": "número",
        "p.ex.": "por exemplo",
        "p. ex.": "por exemplo",
    },
    "nl": {
        "ca.": "circa",
        "bijv.": "bijvoorbeeld",
        "o.a.": "onder andere",
        "enz.": "enzovoort",
        "nr.": "nummer",
        "dhr.": "de heer",
        "mevr.": "mevrouw",
    },
    "pl": {
        "ok.": "około",
        "np.": "na przykład",
        "itd.": "i tak dalej",
        "itp.": "i tym podobne",
        "godz.": "godzina",
        "nr": "numer",
        "tzw.": "tak zwany",
        "ul.": "ulica",
    },
}


def _abbreviation_rule(lang: str) -> Rule:
    table = dict(ABBREVIATIONS[lang])
    table.update({key[0].upper() + key[1:]: value for key, value in table.items() if key[0].islower()})
    alternatives = "|".join(re.escape(a) for a in sorted(table, key=len, reverse=True))
    compiled = re.compile(rf"(?<![\w.])(?:{alternatives})(?=\s|$)(?!\s*$)")

    def replace(match: re.Match[str]) -> str:
        word = match.group(0)
        if word.lower() in ("n.", "nr", "nr.", "no.") and not re.match(r"\s*\d", match.string[match.end() :]):
            return word  # "No." stands for "number" only before one
        return table[word]

    return lambda text: compiled.sub(replace, text)
