"""The safe YAML reader: positions, duplicate keys, tags, limits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reconciler.manifests.yaml_reader import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    _read,
    read_yaml,
    read_yaml_file,
)


def test_values_and_keys_keep_their_positions() -> None:
    text = "a:\n  b: [1, two]\n  c: {d: true}\n"
    (doc,), problems = read_yaml(text, "f.yaml")
    assert problems == []
    assert doc.data == {"a": {"b": [1, "two"], "c": {"d": True}}}
    assert str(doc.at(("a", "b", 1))) == "f.yaml:2:10"
    assert str(doc.key_at(("a", "c"))) == "f.yaml:3:3"
    assert str(doc.at(("a", "c", "d"))) == "f.yaml:3:10"
    # A path that is not there falls back to the nearest enclosing value.
    assert doc.at(("a", "c", "missing")) == doc.at(("a", "c"))


def test_positions_read_when_first_asked_are_those_a_read_with_positions_gives() -> None:
    text = (
        "a: &b {x: 1, y: [2, 3]}\n"
        "c:\n  <<: *b\n  y: 4\n  z:\n    - {k: v}\n    - [5, 6]\n"
        "---\n"
        "second: {deep: {er: [1, {x: y}]}}\n"
    )
    lazy, problems = read_yaml(text, "f.yaml")
    assert problems == []
    eager, _ = _read(text, "f.yaml", positions=True)
    assert [d.location for d in lazy] == [d.location for d in eager]
    # The first question about a position reads the file again, for every document.
    source = lazy[1].positions._source
    assert source is not None and source.read is None
    assert lazy[1].values == eager[1].values
    assert source.read is not None and lazy[0].positions._source is source
    assert (lazy[0].values, lazy[0].keys) == (eager[0].values, eager[0].keys)
    assert len(eager[0].values) == 14 and str(lazy[0].key_at(("c", "z"))) == "f.yaml:5:3"
    # A copy of a document (variables substituted) shares its positions.
    assert str(replace(lazy[1], data={}).at(("second", "deep", "er", 1, "x"))) == "f.yaml:9:29"


def test_multiple_documents_are_read_in_order_and_empty_ones_kept_as_none() -> None:
    docs, problems = read_yaml("a: 1\n---\n# nothing\n---\nb: 2\n", "f.yaml")
    assert problems == []
    assert [d.data for d in docs] == [{"a": 1}, None, {"b": 2}]
    assert [d.index for d in docs] == [0, 1, 2]
    assert docs[2].location.line == 5


def test_duplicate_keys_are_errors_naming_both_lines() -> None:
    _, problems = read_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert [p.render().splitlines()[0] for p in problems] == [
        'f.yaml:3:1: error: duplicate key "a" (first defined at line 1)'
    ]


def test_object_constructing_tags_are_refused_and_nothing_is_built() -> None:
    for text in (
        "a: !!python/object/apply:os.system ['touch /tmp/pwned']",
        "a: !!python/name:os.system",
        "a: !!binary aGVsbG8=",
        "a: !!set {x, y}",
    ):
        docs, problems = read_yaml(text, "f.yaml")
        assert docs == []
        assert len(problems) == 1 and "is not allowed in manifests" in problems[0].message


def test_keys_stay_text_and_dates_stay_strings() -> None:
    (doc,), problems = read_yaml("on: yes\n1: x\nwhen: 2024-01-01\nn: ~\n", "f.yaml")
    assert problems == []
    assert doc.data == {"on": True, "1": "x", "when": "2024-01-01", "n": None}


def test_merge_keys_and_aliases_within_a_document() -> None:
    text = "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\nlist: [*b]\n"
    (doc,), problems = read_yaml(text, "f.yaml")
    assert problems == []
    assert doc.data["use"] == {"x": 1, "y": 3}
    assert doc.data["list"] == [{"x": 1, "y": 2}]


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 10) + "]")
    docs, problems = read_yaml("\n".join(lines), "bomb.yaml")
    assert docs == []
    assert "alias bomb" in problems[0].message


def test_recursive_alias_is_refused() -> None:
    _, problems = read_yaml("a: &x [1, *x]\n", "f.yaml")
    assert "refers to no complete anchor" in problems[0].message


def test_deep_nesting_is_refused_without_crashing() -> None:
    for depth in (MAX_DEPTH + 1, 200_000):
        docs, problems = read_yaml("[" * depth + "]" * depth, "deep.yaml")
        assert docs == [] and len(problems) == 1
    block = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 2)) + "  " * 70 + "v: 1\n"
    _, problems = read_yaml(block, "deep.yaml")
    assert "nest deeper" in problems[0].message


def test_syntax_errors_point_at_the_problem() -> None:
    _, problems = read_yaml("a: [1, 2\nb: 3\n", "f.yaml")
    assert problems[0].location is not None and problems[0].location.line == 2
    assert problems[0].message.startswith("not valid YAML")


def test_complex_keys_are_refused() -> None:
    _, problems = read_yaml("? [a, b]\n: 1\n", "f.yaml")
    assert "mapping keys must be plain names" in problems[0].message


def test_oversized_and_binary_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * MAX_FILE_BYTES, encoding="utf-8")
    _, problems = read_yaml_file(str(big), "big.yaml")
    assert "larger than" in problems[0].message
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"a: \xff\xfe\x00")
    _, problems = read_yaml_file(str(binary), "bin.yaml")
    assert "not UTF-8" in problems[0].message
    _, problems = read_yaml_file(str(tmp_path / "absent.yaml"), "absent.yaml")
    assert "cannot read file" in problems[0].message


def test_control_characters_are_a_clear_error() -> None:
    _, problems = read_yaml("a: \x07\n", "f.yaml")
    assert len(problems) == 1 and "not valid YAML" in problems[0].message


def test_non_finite_numbers_are_refused() -> None:
    for text in ("a: .nan", "a: -.inf", "a: [.Inf]"):
        docs, problems = read_yaml(text, "f.yaml")
        assert docs == [] and "is not a finite number" in problems[0].message
    (doc,), problems = read_yaml("a: '.nan'", "f.yaml")
    assert problems == [] and doc.data == {"a": ".nan"}
