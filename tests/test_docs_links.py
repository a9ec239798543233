"""The README and docs/: every relative link leads to a file that exists, and every #anchor to one of its headings."""

import re
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 250  # the README is a front door; internals go to docs/

FENCE = re.compile(r"^(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
NOT_IN_SLUG = re.compile(r"[^\w\- ]")
EXTERNAL = ("http://", "https://", "mailto:")


def prose_lines(text):
    """The lines of a Markdown text outside fenced code blocks, each with its 1-based number."""
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line.strip()):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield number, line


def heading_anchors(text):
    """The anchors GitHub gives a Markdown text's headings: lower case, punctuation dropped, spaces as hyphens,
    a repeated anchor suffixed -1, -2, ..."""
    anchors, seen = set(), {}
    for _, line in prose_lines(text):
        match = HEADING.match(line)
        if match is None:
            continue
        slug = NOT_IN_SLUG.sub("", INLINE_CODE.sub(lambda code: code.group(0)[1:-1], match.group(1)).lower())
        slug = slug.replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def broken_links(markdown_file):
    """'file:line: target (why)' for each relative link of markdown_file whose file or heading does not exist."""
    problems = []
    for number, line in prose_lines(markdown_file.read_text(encoding="utf-8")):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if target.startswith(EXTERNAL):
                continue
            path_part, _, anchor = target.partition("#")
            linked = (markdown_file.parent / path_part).resolve() if path_part else markdown_file
            where = f"{markdown_file.name}:{number}: {target}"
            if not linked.exists():
                problems.append(f"{where} (no file {linked})")
            elif anchor and linked.suffix == ".md" and anchor not in heading_anchors(
                    linked.read_text(encoding="utf-8")):
                problems.append(f"{where} (no heading with the anchor #{anchor} in {linked.name})")
    return problems


def documentation_files():
    return [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("markdown_file", documentation_files(), ids=lambda path: path.name)
def test_every_relative_link_leads_somewhere(markdown_file):
    assert broken_links(markdown_file) == []


def test_the_readme_is_a_front_door():
    lines = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move internals to docs/"


def test_every_page_of_docs_is_linked_from_the_readme():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    unlinked = [path.name for path in documentation_files()[1:] if f"(docs/{path.name})" not in readme]
    assert unlinked == [], "link these from the README's 'Where to read more'"


def test_a_missing_file_and_a_missing_heading_are_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Known limits\n\n## Known limits\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("# Page: one `code` heading\n\n"
                    "[ok](other.md#known-limits) [ok](other.md#known-limits-1) [ok](#page-one-code-heading)\n"
                    "[gone](missing.md) [bad](other.md#no-such-heading) [bad](#nowhere)\n"
                    "`[in code](missing.md)` [web](https://example.org/x.md)\n"
                    "```\n[in a fence](missing.md)\n```\n", encoding="utf-8")
    problems = broken_links(page)
    assert [problem.split(" ")[0] + " " + problem.split(" ")[1] for problem in problems] == [
        "page.md:4: missing.md", "page.md:4: other.md#no-such-heading", "page.md:4: #nowhere"]
