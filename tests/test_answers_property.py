"""Every answer reproml accepts renders files that parse and show the text as typed; what no file can hold is
refused. Property-based (hypothesis): names, descriptions, authors and e-mails with quotes, backslashes, `${`,
Markdown marks and any Unicode, one preset per example, a bounded number of examples to stay fast."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tempfile
import tomllib
import unicodedata
from functools import cache
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from reproml.commands.new import NewOptions, build_answers, render
from reproml.errors import UsageError
from reproml.presets import PRESETS, get_preset

# Characters no file can hold as typed: reproml refuses them (reproml.names.control_character).
REFUSED_CATEGORIES = ("Cc", "Cs", "Zl", "Zp")
accepted_text = st.characters(exclude_categories=REFUSED_CATEGORIES)
# Names: ASCII, starting with a letter (most other names are refused for reasons tested elsewhere).
names = st.builds(
    str.__add__,
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
)
descriptions = st.text(accepted_text, max_size=60)
authors = st.text(accepted_text, max_size=30)
emails = st.one_of(st.just(""), st.emails(), st.text(accepted_text, max_size=20))
NIX = shutil.which("nix-instantiate")


@cache
def pyproject_validator():
    from validate_pyproject import api

    return api.Validator()


def answers(preset: str, name: str, description: str, author: str, email: str) -> dict:
    options = NewOptions(path=Path("proj"), template=preset, name=name, description=description,
                         author=author, email=email, python="3.12")
    return build_answers(options, get_preset(preset), Path("/nowhere/proj"))


def inline_text(markdown: str, kind: str) -> list[str]:
    """The text of each heading or paragraph of ``markdown`` (CommonMark), each only if it is plain text."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    texts = []
    for opening, inline in zip(tokens, tokens[1:], strict=False):
        if opening.type == f"{kind}_open" and inline.type == "inline":
            children = inline.children or []
            plain = all(child.type == "text" for child in children)
            texts.append("".join(child.content for child in children) if plain else f"<markup: {children}>")
    return texts


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much,
                                                                    HealthCheck.too_slow])
@given(preset=st.sampled_from(sorted(PRESETS)), name=names, description=descriptions, author=authors,
       email=emails)
@example(preset="pythonml", name='My "Best" Model', description='say "hi" \\ ${x}', author="O'Brien \"Ada\"",
         email="ada@example.org")
@example(preset="flake-python-ml", name="Cell ${Seg}", description="1. *not* a list <b>&amp; `x` #",
         author="Ada\\", email="")
@example(preset="uv-python-ml", name="My_Model_", description="- _x_ ~~y~~ [a](b) % comment", author="",
         email="")
def test_every_accepted_answer_renders_files_that_parse(preset, name, description, author, email):
    try:
        data = answers(preset, name, description, author, email)
    except UsageError:
        reject()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "p"
        render(data, project)
        pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
        pyproject_validator()(pyproject)
        meta = pyproject["project"]
        assert meta["description"] == data["description"]
        if data["author_name"]:
            assert meta["authors"][0]["name"] == data["author_name"]
            assert meta["authors"][0].get("email", "") == data["author_email"]
        conf = ast.parse((project / "docs/conf.py").read_text(encoding="utf-8"))
        values = {node.targets[0].id: node.value.value for node in conf.body
                  if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)}
        assert values["project"] == data["project_name"]
        assert values["author"] == (data["author_name"] or data["project_name"])
        init = ast.parse((project / "src" / data["package_name"] / "__init__.py").read_text(encoding="utf-8"))
        assert ast.get_docstring(init, clean=False) == f"{data['project_name']}: {data['description']}"
        recorded = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
        for key in ("project_name", "description", "author_name", "author_email"):
            assert recorded[key] == data[key]
        for markdown in ("README.md", "docs/index.md"):
            text = (project / markdown).read_text(encoding="utf-8")
            assert inline_text(text, "heading")[0] == data["project_name"]
            assert inline_text(text, "paragraph")[0] == data["description"]
        flake = project / ".nix" / "flake.nix"
        if flake.exists() and NIX:
            parsed = subprocess.run([NIX, "--parse", str(flake)], capture_output=True, text=True, timeout=60)
            assert parsed.returncode == 0, parsed.stderr
            expected = f"{data['project_name']}: development shell"
            evaluated = subprocess.run([NIX, "--eval", "--strict", "-E", f"(import {flake}).description"],
                                       capture_output=True, text=True, timeout=60)
            assert evaluated.returncode == 0, evaluated.stderr
            assert evaluated.stdout.strip() == nix_quote(expected)


def nix_quote(text: str) -> str:
    """How `nix-instantiate --eval` prints a string: double quotes, with \\ " and ${ escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(["name", "description", "author", "email"]), before=st.text(max_size=5),
       bad=st.characters(categories=REFUSED_CATEGORIES), after=st.text(max_size=5))
def test_control_characters_and_line_breaks_are_refused_with_the_reason(field, before, bad, after):
    given_answers = {"name": "cell-seg", "description": "d", "author": "Ada", "email": "ada@example.org"}
    given_answers[field] = "x" + before + bad + after
    with pytest.raises(UsageError, match=r"contains a control character \(U\+[0-9A-F]{4}\)"):
        answers("uv-python-ml", **given_answers)
    assert unicodedata.category(bad) in REFUSED_CATEGORIES


def test_the_issues_name_and_description_make_a_project_that_parses(tmp_path):
    done = subprocess.run([sys.executable, "-m", "reproml", "new", str(tmp_path / "proj"), "-t", "pythonml",
                           "--name", 'My "Best" Model', "--description", 'Segments "cells" \\ fast', "--yes",
                           "--no-lock",
                           "--no-git", "--no-lock"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    conf = (tmp_path / "proj/docs/conf.py").read_text()
    assert 'project = "My \\"Best\\" Model"' in conf
    ast.parse(conf)
    meta = tomllib.loads((tmp_path / "proj/pyproject.toml").read_text())["project"]
    assert (meta["name"], meta["description"]) == ("my-best-model", 'Segments "cells" \\ fast')


def test_a_control_character_typed_at_the_prompt_is_refused_and_asked_again(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from reproml import cli

    monkeypatch.setattr(cli, "_on_a_terminal", lambda: True)
    typed = ["uv-python-ml", "", "bad\x1b[31m", "Segments cells", "Ada, Lovelace", "Ada", "ada@localhost",
             "ada@example.org", "3.12", "none", "n", "n", "n",
             "", "", "", "n"]  # CI, pre-commit and license: defaults; lock: no
    result = CliRunner().invoke(cli.app, ["new", str(tmp_path / "proj")], input="\n".join(typed) + "\n")
    assert result.exit_code == 0, result.output
    assert "--description 'bad\\x1b[31m' contains a control character (U+001B)" in result.output
    assert "has a comma, which a pyproject.toml author name cannot hold" in result.output
    assert "'ada@localhost' is not an e-mail address" in result.output
    meta = tomllib.loads((tmp_path / "proj/pyproject.toml").read_text())["project"]
    assert meta["description"] == "Segments cells"
    assert meta["authors"] == [{"name": "Ada", "email": "ada@example.org"}]
