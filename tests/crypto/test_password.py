"""The pure password generator: lengths, exclusions, the each-type guarantee, and errors."""

from __future__ import annotations

import string

import pytest

from mamori.crypto.password import (
    DIGITS,
    LOWERCASE,
    PUNCTUATION,
    UPPERCASE,
    PasswordError,
    PasswordPolicy,
    generate,
)

ALL = LOWERCASE + UPPERCASE + DIGITS + PUNCTUATION


def test_punctuation_is_alibabas_set() -> None:
    assert string.punctuation == PUNCTUATION
    assert len(PUNCTUATION) == 32


def test_default_is_32_characters_of_every_type() -> None:
    password = generate(PasswordPolicy())
    assert len(password) == 32
    assert set(password) <= set(ALL)
    for chars in (LOWERCASE, UPPERCASE, DIGITS, PUNCTUATION):
        assert set(password) & set(chars)


@pytest.mark.parametrize("length", [8, 9, 31, 64, 127, 128])
def test_lengths(length: int) -> None:
    assert len(generate(PasswordPolicy(length=length))) == length


@pytest.mark.parametrize("length", [0, 7, 129, -1])
def test_out_of_range_lengths_raise(length: int) -> None:
    with pytest.raises(PasswordError) as info:
        generate(PasswordPolicy(length=length))
    assert info.value.param == "PasswordLength"


@pytest.mark.parametrize(
    ("field", "chars"),
    [
        ("exclude_lowercase", LOWERCASE),
        ("exclude_uppercase", UPPERCASE),
        ("exclude_numbers", DIGITS),
        ("exclude_punctuation", PUNCTUATION),
    ],
)
def test_each_exclusion(field: str, chars: str) -> None:
    policy = PasswordPolicy(length=128, **{field: True})  # type: ignore[arg-type]
    for _ in range(50):
        password = generate(policy)
        assert not set(password) & set(chars)
        assert set(password) <= set(ALL)


def test_exclude_characters() -> None:
    banned = "aeiouAEIOU01lI|`'\""
    for _ in range(100):
        assert not set(generate(PasswordPolicy(length=128, exclude_characters=banned))) & set(
            banned
        )


def test_exclude_characters_can_empty_a_whole_class() -> None:
    policy = PasswordPolicy(length=64, exclude_characters=DIGITS)
    for _ in range(50):
        password = generate(policy)
        assert not set(password) & set(DIGITS)
        for chars in (LOWERCASE, UPPERCASE, PUNCTUATION):
            assert set(password) & set(chars)


def test_only_digits() -> None:
    policy = PasswordPolicy(
        length=8, exclude_lowercase=True, exclude_uppercase=True, exclude_punctuation=True
    )
    assert generate(policy).isdigit()


def test_require_each_included_type_over_many_draws() -> None:
    # At length 8 with two sparse classes (one digit, one punctuation mark allowed), a draw
    # without the guarantee would miss one of them most of the time.
    policy = PasswordPolicy(
        length=8,
        exclude_characters=DIGITS[1:] + PUNCTUATION[1:],
    )
    for _ in range(2000):
        password = generate(policy)
        assert len(password) == 8
        assert "0" in password and "!" in password
        assert set(password) & set(LOWERCASE) and set(password) & set(UPPERCASE)


def test_required_characters_land_at_random_positions() -> None:
    policy = PasswordPolicy(length=8, exclude_characters=DIGITS[1:] + PUNCTUATION[1:])
    positions = {generate(policy).index("0") for _ in range(2000)}
    assert positions == set(range(8))


def test_without_the_guarantee_types_may_be_missing() -> None:
    policy = PasswordPolicy(
        length=8, exclude_characters=DIGITS[1:], require_each_included_type=False
    )
    assert any("0" not in generate(policy) for _ in range(200))


def test_everything_excluded_raises() -> None:
    for policy in (
        PasswordPolicy(
            exclude_lowercase=True,
            exclude_uppercase=True,
            exclude_numbers=True,
            exclude_punctuation=True,
        ),
        PasswordPolicy(exclude_characters=ALL),
        PasswordPolicy(
            exclude_lowercase=True,
            exclude_uppercase=True,
            exclude_punctuation=True,
            exclude_characters=DIGITS,
        ),
    ):
        with pytest.raises(PasswordError) as info:
            generate(policy)
        assert info.value.param == "ExcludeCharacters"


def test_length_too_short_for_each_type_is_only_possible_below_the_minimum() -> None:
    # Four classes always fit in the 8-character minimum: the check guards the invariant.
    with pytest.raises(PasswordError):
        generate(PasswordPolicy(length=3))


def test_distribution_every_allowed_character_appears() -> None:
    seen: set[str] = set()
    for _ in range(200):
        seen |= set(generate(PasswordPolicy(length=128)))
    assert seen == set(ALL)


def test_distribution_with_exclusions() -> None:
    banned = "xyzXYZ789"
    policy = PasswordPolicy(length=128, exclude_punctuation=True, exclude_characters=banned)
    seen: set[str] = set()
    for _ in range(200):
        seen |= set(generate(policy))
    assert seen == set(LOWERCASE + UPPERCASE + DIGITS) - set(banned)


def test_draws_differ() -> None:
    assert len({generate(PasswordPolicy()) for _ in range(100)}) == 100
