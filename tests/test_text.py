"""Language codes and text splitting."""

import pytest

from voice_daemon.errors import RequestError
from voice_daemon.synthesis.text import (
    CHAR_LIMITS,
    LANGUAGES,
    complete_sentences,
    normalize_language,
    split_text,
)


def test_all_seventeen_xtts_languages_are_known() -> None:
    assert len(LANGUAGES) == 17
    for code in LANGUAGES:
        assert normalize_language(code) == code


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("EN", "en"),
        ("en-US", "en"),
        ("pt_BR", "pt"),
        ("zh", "zh-cn"),
        ("zh-CN", "zh-cn"),
        ("zh-TW", "zh-cn"),
        (" de ", "de"),
    ],
)
def test_region_suffixes_and_case_are_accepted(given: str, expected: str) -> None:
    assert normalize_language(given) == expected


def test_unknown_language_names_the_code_and_the_supported_ones() -> None:
    with pytest.raises(RequestError) as error:
        normalize_language("xx")
    assert "'xx'" in str(error.value)
    assert "en" in str(error.value) and "zh-cn" in str(error.value)


def _words(text: str) -> list[str]:
    return text.split()


def test_sentences_become_pieces_without_losing_anything() -> None:
    text = 'Hello there. "Is it raining?" she asked. Mr. Smith said no! Then 3.5 kg of rice… fine.'
    pieces = split_text(text, "en")
    assert pieces == [
        "Hello there.",
        '"Is it raining?"',
        "she asked.",
        "Mr. Smith said no!",
        "Then 3.5 kg of rice…",
        "fine.",
    ]
    assert _words(" ".join(pieces)) == _words(text)


def test_2000_characters_are_split_under_the_limit_and_nothing_is_cut() -> None:
    sentence = "The washing machine has finished its programme and the laundry is ready to hang up. "
    text = sentence * 24  # about 2000 characters
    assert len(text) >= 2000
    pieces = split_text(text, "en")
    assert all(len(piece) <= CHAR_LIMITS["en"] for piece in pieces)
    assert _words(" ".join(pieces)) == _words(text)


def test_a_sentence_longer_than_the_limit_is_split_at_clauses_then_words() -> None:
    clause = "the front door is open, "
    text = (clause * 20).strip() + " and nobody is home"
    pieces = split_text(text, "en")
    assert len(pieces) > 1
    assert all(len(piece) <= CHAR_LIMITS["en"] for piece in pieces)
    assert _words(" ".join(pieces)) == _words(text)


def test_text_without_spaces_is_cut_only_when_nothing_else_is_possible() -> None:
    text = "あ" * 200  # Japanese limit is 71 characters, and there is no space or punctuation
    pieces = split_text(text, "ja")
    assert all(len(piece) <= CHAR_LIMITS["ja"] for piece in pieces)
    assert "".join(pieces) == text


def test_cjk_sentence_ends_need_no_space() -> None:
    assert split_text("今天很好。明天下雨！", "zh") == ["今天很好。", "明天下雨！"]


def test_streamed_text_gives_up_only_the_sentences_that_are_complete() -> None:
    """A sentence is complete once something follows its end: "3." may yet become "3.5"."""
    assert complete_sentences("Hello there. Mr. Smith is in room 3.") == (
        ["Hello there."],
        " Mr. Smith is in room 3.",
    )
    assert complete_sentences("It costs 3.5 euros! And") == (["It costs 3.5 euros!"], " And")
    assert complete_sentences("你好。世界") == (["你好。"], "世界")
    assert complete_sentences("No end yet") == ([], "No end yet")
    streamed, rest = [], ""
    for piece in ["First one. Sec", "ond one?", " Third", " one."]:
        done, rest = complete_sentences(rest + piece)
        streamed += done
    assert streamed == ["First one.", "Second one?"] and rest.strip() == "Third one."


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("Am 24. Dezember kommt Besuch. Dann.", "de", ["Am 24. Dezember kommt Besuch.", "Dann."]),
        ("Wir wohnen im 3. Stock. Gut.", "de", ["Wir wohnen im 3. Stock.", "Gut."]),
        ("Es dauert ca. 20 Minuten, z.B. heute.", "de", ["Es dauert ca. 20 Minuten, z.B. heute."]),
        (
            "The alarm rings at 7 a.m. tomorrow. Wake up at 7 a.m. Then eat.",
            "en",
            ["The alarm rings at 7 a.m. tomorrow.", "Wake up at 7 a.m.", "Then eat."],
        ),
        (
            "It costs approx. 20 dollars, e.g. in No. 5. I said no. Room 3. Next.",
            "en",
            ["It costs approx. 20 dollars, e.g. in No. 5.", "I said no.", "Room 3.", "Next."],
        ),
        ("Dzisiaj 24. grudnia, ok. 20 osób. Koniec.", "pl", ["Dzisiaj 24. grudnia, ok. 20 osób.", "Koniec."]),
    ],
)
def test_no_break_after_ordinals_dates_abbreviations_or_time_markers(
    text: str, language: str, expected: list[str]
) -> None:
    assert split_text(text, language) == expected


def test_a_streamed_full_stop_after_a_figure_waits_for_the_next_word() -> None:
    """ "am 24. " may go on with "Dezember": it is not a complete sentence until the next word comes."""
    assert complete_sentences("Wir treffen uns am 24. ") == ([], "Wir treffen uns am 24. ")
    assert complete_sentences("Am 24. Dezember. Da") == (["Am 24. Dezember."], " Da")
    assert complete_sentences("Es ist 3. Dann") == (["Es ist 3."], " Dann")
    assert complete_sentences("Wake up at 7 a.m. ") == ([], "Wake up at 7 a.m. ")
    assert complete_sentences("Wake up at 7 a.m. Then") == (["Wake up at 7 a.m."], " Then")
    assert complete_sentences("Hello there. ") == (["Hello there."], " ")
