"""The text front end: figures, times, dates, units and money as a speaker of each language says them."""

from __future__ import annotations

import datetime
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

from tests.conftest import write_config
from tests.support.daemonproc import FAST, daemon_command
from tests.support.hostile import MAX_TEXT, NAMED, random_payloads
from voice_daemon.synthesis.spoken import COVERAGE, FULL, NUMBERS_ONLY, speakable, spoken_form
from voice_daemon.synthesis.text import LANGUAGES

# (language, written, spoken): each class per language (numbers, ordinals, percent, temperature,
# times, dates, durations, units, money, ranges, abbreviations), the reading chosen where several exist.
TABLE = [
    ("en", "21.5", "twenty-one point five"),
    ("en", "1,000,000", "one million"),
    ("en", "-4", "minus four"),
    ("en", "3rd", "third"),
    ("en", "21st", "twenty-first"),
    ("en", "15%", "fifteen percent"),
    ("en", "21.5 °C", "twenty-one point five degrees Celsius"),
    ("en", "70 °F", "seventy degrees Fahrenheit"),
    ("en", "-4°", "minus four degrees"),
    ("en", "07:30", "seven thirty"),
    ("en", "7:30 pm", "seven thirty p.m."),
    ("en", "7 am", "seven a.m."),
    ("en", "12:05", "twelve oh five"),
    ("en", "12/24/2026", "December twenty-fourth, twenty twenty-six"),
    ("en", "2026-12-24", "December twenty-fourth, twenty twenty-six"),
    ("en", "December 24, 2026", "December twenty-fourth, twenty twenty-six"),
    ("en", "1 h 20 min", "one hour twenty minutes"),
    ("en", "3.5 kWh", "three point five kilowatt-hours"),
    ("en", "230 V", "two hundred and thirty volts"),
    ("en", "12 km/h", "twelve kilometers per hour"),
    ("en", "5 m/s", "five meters per second"),
    ("en", "1013 hPa", "one thousand and thirteen hectopascals"),
    ("en", "400 ppm", "four hundred parts per million"),
    ("en", "12 µg/m³", "twelve micrograms per cubic meter"),
    ("en", "40 dB", "forty decibels"),
    ("en", "300 lx", "three hundred lux"),
    ("en", "$19.99", "nineteen dollars, ninety-nine cents"),
    ("en", "£5", "five pounds sterling"),
    ("en", "€3.50", "three euro, fifty cents"),
    ("en", "CHF 12", "twelve Swiss francs"),
    ("en", "20–25 °C", "twenty to twenty-five degrees Celsius"),
    ("en", "approx. 20 min", "approximately twenty minutes"),
    ("en", "e.g. 5 kg", "for example five kilograms"),
    ("en", "No. 5", "number five"),
    ("en", "1 kg", "one kilogram"),
    ("en", "2.5 l", "two point five liters"),
    ("de", "21,5", "einundzwanzig Komma fünf"),
    ("de", "1.000.000", "eine Million"),
    ("de", "-4", "minus vier"),
    ("de", "am 24. Dezember", "am vierundzwanzigsten Dezember"),
    ("de", "der 3. Mai", "der dritte Mai"),
    ("de", "im 3. Stock", "im dritten Stock"),
    ("de", "15 %", "fünfzehn Prozent"),
    ("de", "21,5 °C", "einundzwanzig Komma fünf Grad Celsius"),
    ("de", "7:30 Uhr", "sieben Uhr dreißig"),
    ("de", "7.30 Uhr", "sieben Uhr dreißig"),
    ("de", "um 1 Uhr", "um ein Uhr"),
    ("de", "19:05", "neunzehn Uhr fünf"),
    ("de", "24.12.2026", "vierundzwanzigster Dezember zweitausendsechsundzwanzig"),
    ("de", "am 24.12.", "am vierundzwanzigsten Dezember"),
    ("de", "2026-12-24", "vierundzwanzigster Dezember zweitausendsechsundzwanzig"),
    ("de", "seit dem 3.10.1990", "seit dem dritten Oktober neunzehnhundertneunzig"),
    ("en", "1905-07-04", "July fourth, nineteen oh-five"),
    ("nl", "1-1-1999", "één januari negentien honderd negenennegentig"),
    ("pl", "1.01.1999", "pierwszego stycznia tysiąc dziewięćset dziewięćdziesiątego dziewiątego roku"),
    ("de", "1 h 20 min", "eine Stunde zwanzig Minuten"),
    ("de", "3,5 kWh", "drei Komma fünf Kilowattstunden"),
    ("de", "1 kWh", "eine Kilowattstunde"),
    ("de", "12 km/h", "zwölf Kilometer pro Stunde"),
    ("de", "19,99 €", "neunzehn Euro und neunundneunzig Cent"),
    ("de", "5 €", "fünf Euro"),
    ("de", "0,32 €/kWh", "null Euro und zweiunddreißig Cent pro Kilowattstunde"),
    ("en", "$3.99/l", "three dollars, ninety-nine cents per liter"),
    ("de", "CHF 12.50", "zwölf Schweizer Franken fünfzig"),
    ("de", "$3", "drei Dollar"),
    ("de", "20–25 °C", "zwanzig bis fünfundzwanzig Grad Celsius"),
    ("de", "ca. 20 min", "circa zwanzig Minuten"),
    ("de", "z. B. 5 kg", "zum Beispiel fünf Kilogramm"),
    ("de", "21.5 °C", "einundzwanzig Komma fünf Grad Celsius"),
    ("de", "1,5 l", "eins Komma fünf Liter"),
    ("fr", "21,5", "vingt et un virgule cinq"),
    ("fr", "1 000 000", "un million"),
    ("fr", "-4", "moins quatre"),
    ("fr", "1er", "premier"),
    ("fr", "1re", "première"),
    ("fr", "2e", "deuxième"),
    ("fr", "15 %", "quinze pour cent"),
    ("fr", "21,5 °C", "vingt et un virgule cinq degrés Celsius"),
    ("fr", "7h30", "sept heures trente"),
    ("fr", "19 h", "dix-neuf heures"),
    ("fr", "21h", "vingt et une heures"),
    ("fr", "07:30", "sept heures trente"),
    ("fr", "24/12/2026", "vingt-quatre décembre deux mille vingt-six"),
    ("fr", "1er mai 2026", "premier mai deux mille vingt-six"),
    ("fr", "1 h 20 min", "une heure vingt minutes"),
    ("fr", "3,5 kWh", "trois virgule cinq kilowatt-heures"),
    ("fr", "12 km/h", "douze kilomètres par heure"),
    ("fr", "19,99 €", "dix-neuf euros et quatre-vingt-dix-neuf centimes"),
    ("fr", "1 €", "un euro"),
    ("fr", "5 $", "cinq dollars"),
    ("fr", "20–25 °C", "vingt à vingt-cinq degrés Celsius"),
    ("fr", "env. 20 km", "environ vingt kilomètres"),
    ("fr", "3,14", "trois virgule quatorze"),
    ("es", "21,5", "veintiuno coma cinco"),
    ("es", "1.000.000", "un millón"),
    ("es", "-4", "menos cuatro"),
    ("es", "1.º", "primero"),
    ("es", "1.ª", "primera"),
    ("es", "15 %", "quince por ciento"),
    ("es", "21,5 °C", "veintiuno coma cinco grados Celsius"),
    ("es", "21 °C", "veintiún grados Celsius"),
    ("es", "7:30", "siete y treinta"),
    ("es", "7:00", "siete en punto"),
    ("es", "1:15", "una y quince"),
    ("es", "24/12/2026", "veinticuatro de diciembre de dos mil veintiséis"),
    ("es", "24 de diciembre de 2026", "veinticuatro de diciembre de dos mil veintiséis"),
    ("es", "1 h 20 min", "una hora veinte minutos"),
    ("es", "12 km/h", "doce kilómetros por hora"),
    ("es", "19,99 €", "diecinueve euros con noventa y nueve céntimos"),
    ("es", "20–25 °C", "veinte a veinticinco grados Celsius"),
    ("es", "aprox. 20 km", "aproximadamente veinte kilómetros"),
    ("es", "3,14", "tres coma catorce"),
    ("it", "21,5", "ventuno virgola cinque"),
    ("it", "1.000.000", "un milione"),
    ("it", "-4", "meno quattro"),
    ("it", "1º", "primo"),
    ("it", "15%", "quindici percento"),
    ("it", "21,5 °C", "ventuno virgola cinque gradi Celsius"),
    ("it", "7:30", "sette e trenta"),
    ("it", "24/12/2026", "ventiquattro dicembre duemilaventisei"),
    ("it", "1 maggio", "primo maggio"),
    ("it", "12 km/h", "dodici chilometri orari"),
    ("it", "19,99 €", "diciannove euro e novantanove centesimi"),
    ("it", "20–25 °C", "venti a venticinque gradi Celsius"),
    ("it", "ca. 20 km", "circa venti chilometri"),
    ("it", "3,14", "tre virgola quattordici"),
    ("pt", "21,5", "vinte e um vírgula cinco"),
    ("pt", "1.000.000", "um milhão"),
    ("pt", "-4", "menos quatro"),
    ("pt", "1º", "primeiro"),
    ("pt", "1ª", "primeira"),
    ("pt", "15%", "quinze por cento"),
    ("pt", "21,5 °C", "vinte e um vírgula cinco graus Celsius"),
    ("pt", "7:30", "sete e trinta"),
    ("pt", "2:00", "duas horas"),
    ("pt", "24/12/2026", "vinte e quatro de dezembro de dois mil e vinte e seis"),
    ("pt", "1 de maio", "primeiro de maio"),
    ("pt", "12 km/h", "doze quilómetros por hora"),
    ("pt", "19,99 €", "dezanove euros e noventa e nove cêntimos"),
    ("pt", "20–25 °C", "vinte a vinte e cinco graus Celsius"),
    ("pt", "aprox. 20 km", "aproximadamente vinte quilómetros"),
    ("nl", "21,5", "eenentwintig komma vijf"),
    ("nl", "1.000.000", "een miljoen"),
    ("nl", "-4", "min vier"),
    ("nl", "3e", "derde"),
    ("nl", "1ste", "eerste"),
    ("nl", "15%", "vijftien procent"),
    ("nl", "21,5 °C", "eenentwintig komma vijf graden Celsius"),
    ("nl", "7:30", "zeven uur dertig"),
    ("nl", "24-12-2026", "vierentwintig december tweeduizendzesentwintig"),
    ("nl", "24/12/2026", "vierentwintig december tweeduizendzesentwintig"),
    ("nl", "1 januari", "één januari"),
    ("nl", "12 km/h", "twaalf kilometer per uur"),
    ("nl", "19,99 €", "negentien euro, negenennegentig cent"),
    ("nl", "20–25 °C", "twintig tot vijfentwintig graden Celsius"),
    ("nl", "ca. 20 km", "circa twintig kilometer"),
    ("nl", "bijv. 5 kg", "bijvoorbeeld vijf kilogram"),
    ("pl", "21,5", "dwadzieścia jeden przecinek pięć"),
    ("pl", "1 000 000", "milion"),
    ("pl", "-4", "minus cztery"),
    ("pl", "15%", "piętnaście procent"),
    ("pl", "21,5 °C", "dwadzieścia jeden przecinek pięć stopnia Celsjusza"),
    ("pl", "5 °C", "pięć stopni Celsjusza"),
    ("pl", "2 °C", "dwa stopnie Celsjusza"),
    ("pl", "o 7:30", "o siódmej trzydzieści"),
    ("pl", "7:30", "siódma trzydzieści"),
    ("pl", "24.12.2026", "dwudziestego czwartego grudnia dwa tysiące dwudziestego szóstego roku"),
    ("pl", "24 grudnia", "dwudziestego czwartego grudnia"),
    ("pl", "12 km/h", "dwanaście kilometrów na godzinę"),
    ("pl", "19,99 €", "dziewiętnaście euro, dziewięćdziesiąt dziewięć centów"),
    ("pl", "20–25 °C", "dwadzieścia do dwadzieścia pięć stopni Celsjusza"),
    ("pl", "ok. 20 km", "około dwadzieścia kilometrów"),
    ("cs", "21,5", "dvacet jedna celá pět"),
    ("cs", "1 000 000", "milion"),
    ("cs", "-4", "mínus čtyři"),
    ("cs", "15 %", "patnáct procent"),
    ("cs", "21,5 °C", "dvacet jedna celá pět stupně Celsia"),
    ("cs", "-4 °C", "mínus čtyři stupně Celsia"),
    ("cs", "7:30", "sedm třicet"),
    ("ru", "21,5", "двадцать одна целая пять десятых"),
    ("ru", "1 000 000", "один миллион"),
    ("ru", "-4", "минус четыре"),
    ("ru", "15 %", "пятнадцать процентов"),
    ("ru", "21,5 °C", "двадцать одна целая пять десятых градуса Цельсия"),
    ("ru", "-4 °C", "минус четыре градуса Цельсия"),
    ("ru", "7:30", "семь тридцать"),
    ("tr", "21,5", "yirmibir virgül beş"),
    ("tr", "1.000.000", "birmilyon"),
    ("tr", "-4", "eksi dört"),
    ("tr", "%15", "yüzde onbeş"),
    ("tr", "21,5 °C", "yirmibir virgül beş santigrat derece"),
    ("tr", "-4 °C", "eksi dört santigrat derece"),
    ("tr", "7:30", "yedi otuz"),
    ("hu", "21,5", "huszonegy egész öt tized"),
    ("hu", "1 000 000", "egymillió"),
    ("hu", "-4", "mínusz négy"),
    ("hu", "15%", "tizenöt százalék"),
    ("hu", "21,5 °C", "huszonegy egész öt tized Celsius-fok"),
    ("hu", "-4 °C", "mínusz négy Celsius-fok"),
    ("hu", "7:30", "hét óra harminc"),
]


@pytest.mark.parametrize(("language", "written", "spoken"), TABLE)
def test_each_class_is_said_as_a_speaker_of_the_language_says_it(
    language: str, written: str, spoken: str
) -> None:
    assert spoken_form(written, language) == spoken


def test_the_issue_s_sentences_in_context() -> None:
    said = spoken_form("Es sind 21,5 °C, der Wecker klingelt um 7:30 Uhr.", "de")
    assert said == "Es sind einundzwanzig Komma fünf Grad Celsius, der Wecker klingelt um sieben Uhr dreißig."
    assert spoken_form("Am 24.12.2026 kommt Besuch.", "de") == (
        "Am vierundzwanzigsten Dezember zweitausendsechsundzwanzig kommt Besuch."
    )
    assert spoken_form("Le réveil sonne à 7h30.", "fr") == "Le réveil sonne à sept heures trente."
    assert spoken_form("Battery at 15%, wind 12 km/h.", "en") == (
        "Battery at fifteen percent, wind twelve kilometers per hour."
    )


def test_languages_without_coverage_and_unknown_codes_keep_their_text() -> None:
    for language in sorted(set(LANGUAGES) - set(COVERAGE)):
        assert spoken_form("Um 7:30 Uhr 21,5 °C", language) == "Um 7:30 Uhr 21,5 °C"
    assert spoken_form("7:30", "xx") == "7:30"
    assert spoken_form("7:30", "EN-us") == "seven thirty"


def test_unknown_symbols_and_units_stay_as_written() -> None:
    assert spoken_form("5 furlongs and 3 zorks ¤ ♥", "en") == "five furlongs and three zorks ¤ ♥"
    assert spoken_form("", "de") == ""


def test_normalize_off_feeds_the_text_as_written() -> None:
    assert speakable("7:30", "en", normalize=False) == "7:30"
    assert speakable("7:30", "en") == "seven thirty"


_FORBIDDEN = re.compile(r"[0-9°%€$£/:]")


def _figures(language: str, rng: random.Random) -> list[str]:
    """Figures written as CLDR formats them for ``language`` (its marks, its date orders, its currency
    symbols), and in the other common ways."""
    locale = "pt_PT" if language == "pt" else language
    written: list[str] = []
    for _ in range(12):
        value = rng.choice([rng.randint(-(10**7), 10**7), round(rng.uniform(-1000, 1000), rng.randint(1, 3))])
        number = format_decimal(value, locale=locale)
        hour, minute = rng.randint(0, 23), rng.randint(0, 59)
        written += [
            number,
            format_percent(rng.uniform(0, 1.5), "#,##0.#%", locale=locale),
            f"{number} °C",
            f"{number}°C",
            f"{number} °F",
            f"{number}°",
            f"{hour:02d}:{minute:02d}",
            f"{hour}:{minute:02d}",
        ]
        if language in FULL:
            day = datetime.date(rng.randint(1900, 2099), rng.randint(1, 12), rng.randint(1, 28))
            written += [format_date(day, width, locale=locale) for width in ("short", "medium", "long")]
            written += [
                day.isoformat(),
                f"{rng.randint(0, 20)}–{rng.randint(21, 40)} °C",
                f"{rng.randint(1, 5)} h {rng.randint(1, 59)} min",
            ]
            written += [
                format_currency(abs(value), code, locale=locale) for code in ("EUR", "USD", "GBP", "CHF")
            ]
            written.append(
                format_currency(rng.uniform(0, 2), "EUR", locale=locale) + rng.choice(["/kWh", "/l"])
            )
            written += [
                f"{number} {unit}"
                for unit in (
                    "W",
                    "kW",
                    "kWh",
                    "Wh",
                    "V",
                    "A",
                    "km/h",
                    "m/s",
                    "mph",
                    "km",
                    "m",
                    "cm",
                    "mm",
                    "kg",
                    "g",
                    "l",
                    "ml",
                    "hPa",
                    "mbar",
                    "ppm",
                    "µg/m³",
                    "dB",
                    "lx",
                )
            ]
    return written


@pytest.mark.parametrize("language", FULL + NUMBERS_ONLY)
def test_no_digit_or_symbol_survives_generated_figures(language: str) -> None:
    rng = random.Random(language)
    for figure in _figures(language, rng):
        for text in (figure, f"x {figure}.", f"({figure})"):
            said = spoken_form(text, language)
            assert not _FORBIDDEN.search(said), f"{text!r} -> {said!r}"


def test_the_hostile_corpus_never_raises() -> None:
    texts = [h.payload.decode("utf-8", "replace")[:MAX_TEXT] for h in NAMED + random_payloads(20)]
    texts += ["9" * 400, "-" * 300 + "1", "1." * 500, "1:" * 500, "€" * 200 + "5", "\ud800 7:30"]
    for language in [*COVERAGE, "zh-cn"]:
        for text in texts:
            assert isinstance(spoken_form(text, language), str)


def test_voice_daemon_normalize_prints_the_pieces_and_never_imports_torch(tmp_path: Path) -> None:
    config = tmp_path / "vd.toml"
    config.write_text('[synthesis]\nlanguage = "de"\n', encoding="utf-8")
    probe = (
        "import sys; from voice_daemon.cli import main; code = main(sys.argv[1:]); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(code)"
    )
    one = subprocess.run(
        [sys.executable, "-c", probe, "--config", str(config), "normalize", "Um 7:30 Uhr."],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert one.returncode == 0, one.stderr
    assert one.stdout == "Um sieben Uhr dreißig.\n"
    lines = subprocess.run(
        daemon_command("--config", str(config), "normalize", "--language", "en"),
        input="It is 5 °C.\n\nAt 7 pm.\n",
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert lines.returncode == 0, lines.stderr
    assert lines.stdout == "It is five degrees Celsius.\n\nAt seven p.m.\n"


def test_a_request_with_figures_is_synthesised_from_the_text_voice_daemon_normalize_prints(
    home: Path, tiny_model: Path
) -> None:
    """Through the real daemon and worker with the tiny model: the audio of the written text is the
    audio-cache entry of its spoken form (the key covers what the model is fed), so asking for the
    text that `voice-daemon normalize` prints is a cache hit with the very same samples."""
    from voice_daemon.app import Daemon
    from voice_daemon.core.request import SpeechRequest
    from voice_daemon.settings import load_settings

    written = "Es sind 21,5 °C, der Wecker klingelt um 7:30 Uhr."
    config = write_config(home, tiny_model, FAST)
    printed = subprocess.run(
        daemon_command("--config", str(config), "normalize", "--language", "de", written),
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    fed = printed.stdout.strip()
    assert fed == "Es sind einundzwanzig Komma fünf Grad Celsius, der Wecker klingelt um sieben Uhr dreißig."
    daemon = Daemon(load_settings(config))
    running = daemon.start()
    try:
        first = running.seam.stream(SpeechRequest(text=written, language="de", id="written", source="test"))
        heard = np.concatenate(list(first))
        again = running.seam.stream(SpeechRequest(text=fed, language="de", id="spoken", source="test"))
        replayed = np.concatenate(list(again))
    finally:
        daemon.stop()
    assert first.facts["audio_cache"] == "miss" and again.facts["audio_cache"] == "hit"
    assert np.array_equal(heard, replayed)  # sampling is random: only the same cache key makes them equal
