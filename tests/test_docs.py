"""The user guide in ``docs/`` builds cleanly, and what it tells a user to type exists.

``mkdocs build --strict`` fails on a broken link or anchor (``mkdocs.yml`` turns those
into warnings). The examples are checked against the code, so the guide cannot name a
setting, a command or an option that does not exist:

* every ``AgentMagics.NAME`` in the guide or the README is a configurable trait (a method
  on the architecture page), and the configuration page's table lists every one;
* every ``%agent SUB`` is a subcommand (``cmd_SUB`` in ``hermes_nb/kernel/commands.py``) with
  the options it is given, and the commands page lists every subcommand;
* every ``%%agent --OPTION`` is an option of the cell magic;
* every ``python`` block is valid IPython: its ``%config`` values are accepted by the
  traits, its ``%agent``/``%%agent`` lines parse, a profile block (``c.AgentMagics...``)
  configures ``AgentMagics``, and a block of plain Python (no magics, no ``c.``) runs;
* the ``mcp.json`` example parses, and the keys the MCP page lists are keys it reads;
* the architecture page names every module of the package, and what it names as
  ``module.name`` (``models.get_session``, ``agent/loop.Agent``) exists.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.inputtransformer2 import TransformerManager
from markdown.extensions.toc import slugify
from traitlets import TraitError
from traitlets.config import Config
from traitlets.config.loader import KVArgParseConfigLoader

from hermes_nb.kernel import commands
from hermes_nb.kernel.magics import AgentMagics, _parsers
from hermes_nb.mcp.settings import _KNOWN as MCP_KEYS
from hermes_nb.mcp.settings import parse_servers

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = {p.name: p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md"))}
README = (ROOT / "README.md").read_text(encoding="utf-8")
EVERYTHING = {**PAGES, "README.md": README}

SETTINGS = set(AgentMagics.class_trait_names(config=True))
CELL_PARSER, LINE_PARSER = _parsers()
SUBPARSERS: dict[str, Any] = next(a for a in LINE_PARSER._actions if a.dest == "command").choices
SUBCOMMANDS = {name[len("cmd_") :] for name in dir(commands) if name.startswith("cmd_")}


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=config.parent,
    )


# -- the build -----------------------------------------------------------------------


def test_the_guide_builds_strict_without_a_warning(tmp_path: Path) -> None:
    built = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    output = built.stdout + built.stderr
    assert built.returncode == 0 and "WARNING" not in output, output
    for name in PAGES:
        page = "index.html" if name == "index.md" else f"{name[:-3]}/index.html"
        assert (tmp_path / "site" / page).is_file(), page
    assert (tmp_path / "site" / "images" / "jupyterlab-run.png").is_file()


def test_a_broken_anchor_fails_the_strict_build(tmp_path: Path) -> None:
    """The validation settings are what make a broken link fail: without them mkdocs
    only mentions a missing anchor at INFO level and the build passes."""
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text() + "\nSee [nowhere](install.md#no-such-heading).\n")
    built = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert built.returncode != 0 and "no-such-heading" in built.stdout + built.stderr


def test_every_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    assert {name for name in PAGES if f": {name}" not in nav} == set()


def test_the_readme_links_to_files_and_headings_that_exist() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert {"docs/index.md", "docs/configuration.md", "docs/images/jupyterlab-run.png"} <= {
        link.split("#")[0] for link in local
    }
    for link in local:
        path, _, anchor = link.partition("#")
        target = ROOT / path if path else ROOT / "README.md"
        assert target.is_file(), link
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(encoding="utf-8"), flags=re.M)
            assert anchor in {slugify(h.replace("`", ""), "-") for h in headings}, link


def test_the_screenshot_is_small() -> None:
    assert (DOCS / "images" / "jupyterlab-run.png").stat().st_size < 150_000


def test_the_guide_gives_the_readme_s_two_commands_as_they_are() -> None:
    marked = re.findall(r"<!-- ([a-z]+-command) -->\n```bash\n(.*?)\n```", README, flags=re.S)
    assert [name for name, _ in marked] == ["run-command", "test-command"]
    install = blocks(PAGES["install.md"], "bash")
    for _, command in marked:
        assert f"{command}\n" in install, command


# -- settings, commands and options named anywhere ---------------------------------------


def test_every_setting_the_docs_name_exists() -> None:
    """The user's pages name settings; the architecture page may name methods too."""
    for name, text in EVERYTHING.items():
        named = set(re.findall(r"AgentMagics\.([A-Za-z_]\w*)", text))
        if name == "architecture.md":
            assert all(hasattr(AgentMagics, n) for n in named), (name, named)
        else:
            assert named <= SETTINGS, (name, named - SETTINGS)


def test_the_configuration_page_lists_every_setting() -> None:
    rows = re.findall(r"^\| `(\w+)` \|", PAGES["configuration.md"], flags=re.M)
    assert sorted(rows) == sorted(SETTINGS)


def test_every_agent_command_the_docs_name_exists_with_its_options() -> None:
    assert set(SUBPARSERS) == SUBCOMMANDS  # the parser and commands.py agree
    for name, text in EVERYTHING.items():
        for sub, rest in re.findall(r"(?<![%\w])%agent ([a-z]\w*)([^`\n|]*)", text):
            assert sub in SUBCOMMANDS, (name, sub)
            options = set(re.findall(r"(?<![\w-])--?[a-z][\w-]*", rest))
            known = set(SUBPARSERS[sub]._option_string_actions)
            assert options <= known, (name, sub, options - known)


def test_the_commands_page_lists_every_command() -> None:
    listed = set(re.findall(r"^\| `%agent ([a-z]+)", PAGES["usage.md"], flags=re.M))
    assert listed == SUBCOMMANDS


def test_every_cell_option_the_docs_name_exists() -> None:
    known = set(CELL_PARSER._option_string_actions)
    seen: set[str] = set()
    for name, text in EVERYTHING.items():
        for rest in re.findall(r"%%agent((?: +\[?--?[a-z][\w-]*(?: [A-Z]+)?\]?)+)", text):
            options = set(re.findall(r"--?[a-z][\w-]*", rest))
            assert options <= known, (name, options - known)
            seen |= options
    listed = set(re.findall(r"^\| `(--?[a-z][\w-]*)(?: [A-Z]+)?`(?:, `(-[a-z])`)?", PAGES["usage.md"], flags=re.M))
    assert {o for pair in listed for o in pair if o} == known
    assert seen


def test_the_command_line_settings_configure_agent_magics() -> None:
    argv = re.findall(r"(--AgentMagics\.\w+=\S+?)[` ]", PAGES["configuration.md"])
    assert argv
    config = KVArgParseConfigLoader(argv, classes=[AgentMagics]).load_config()
    magics = AgentMagics(config=config)
    for arg in argv:
        name = arg.split("=")[0].split(".")[1]
        assert getattr(magics, name) == config.AgentMagics[name], arg


# -- the python examples -------------------------------------------------------------------


def python_blocks() -> list[tuple[str, str]]:
    return [(name, block) for name, text in EVERYTHING.items() for block in blocks(text, "python")]


def accept_setting(magics: AgentMagics, assignment: str, where: str) -> None:
    """``NAME = VALUE`` as ``%config AgentMagics.NAME = VALUE`` would set it: the trait's
    type and its validators must accept the value (nothing is switched on)."""
    name, value = assignment.split("=", 1)
    name = name.strip()
    assert name in SETTINGS, (where, name)
    [statement] = ast.parse(f"_ = {value.strip()}").body
    assert isinstance(statement, ast.Assign)
    try:
        literal = ast.literal_eval(statement.value)
    except ValueError:
        return  # a placeholder such as N: the name was checked
    try:
        magics.traits()[name]._validate(magics, literal)
    except TraitError as err:
        raise AssertionError(f"{where}: AgentMagics.{name} = {literal!r}: {err}") from None


def test_every_python_block_is_valid_ipython() -> None:
    found = python_blocks()
    assert len(found) >= 10
    for name, block in found:
        code = TransformerManager().transform_cell(block)
        compile(code, f"<{name}>", "exec")


def test_the_magic_lines_in_python_blocks_work_as_written() -> None:
    magics = AgentMagics()
    counted = {"config": 0, "agent": 0, "cell": 0}
    for name, block in python_blocks():
        lines = block.splitlines()
        if lines[0].startswith("%%agent"):
            CELL_PARSER.parse_argstring(lines[0][len("%%agent") :])
            counted["cell"] += 1
            continue
        for line in lines:
            if line.startswith("%config "):
                assignment = line[len("%config ") :]
                assert assignment.startswith("AgentMagics."), (name, line)
                accept_setting(magics, assignment[len("AgentMagics.") :], name)
                counted["config"] += 1
            elif line.startswith("%agent"):
                try:
                    LINE_PARSER.parse_argstring(line[len("%agent") :])
                except UsageError as err:
                    raise AssertionError(f"{name}: {line}: {err}") from None
                counted["agent"] += 1
    assert all(counted.values()), counted


def test_every_config_value_in_the_text_is_accepted() -> None:
    """``%config AgentMagics.X = V`` written in a sentence, not a block."""
    magics = AgentMagics()
    found = 0
    for name, text in EVERYTHING.items():
        for assignment in re.findall(r"`%config AgentMagics\.([^`]+ = [^`]+)`", text):
            accept_setting(magics, assignment, name)
            found += 1
    assert found


def test_the_profile_blocks_configure_agent_magics() -> None:
    profiles = [(n, b) for n, b in python_blocks() if re.match(r"c\.\w+", b)]
    assert profiles
    for name, block in profiles:
        c = Config()
        exec(block, {"c": c})
        if "AgentMagics" in c:
            magics = AgentMagics(config=c)
            for key, value in c.AgentMagics.items():
                assert getattr(magics, key) == value, (name, key)


@pytest.mark.slow
def test_the_plain_python_blocks_run(tmp_path: Path) -> None:
    """A block with no magic and no profile ``c.`` is plain Python: it runs as written
    (in its own process, in an empty folder)."""
    plain = [(n, b) for n, b in python_blocks() if not re.search(r"^(%|c\.)", b, flags=re.M)]
    assert len(plain) >= 2
    for name, block in plain:
        ran = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, (name, block, ran.stderr[-2000:])


def test_the_mcp_example_is_a_configuration_hermes_nb_reads() -> None:
    [example] = blocks(PAGES["mcp.md"], "json")
    servers, problems = parse_servers(json.loads(example), "mcp.md")
    assert problems == [] and len(servers) == 3
    assert all(s is not None and not s.extra for s in servers.values())
    table = PAGES["mcp.md"].split("\n| key | meaning |\n", 1)[1].split("\n\n", 1)[0]
    keys = re.findall(r"^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \|", table, flags=re.M)
    listed = {k.strip("`") for row in keys for k in row.split(", ")}
    assert listed and listed <= MCP_KEYS, listed - MCP_KEYS


# -- the architecture page -----------------------------------------------------------------


def package_modules() -> set[str]:
    """Every module of hermes_nb as the architecture page names it: top-level modules by
    name (``cell_loop``), the rest by their path in the package (``agent/tools/pyexec``)."""
    package = ROOT / "hermes_nb"
    found = set()
    for path in package.rglob("*.py"):
        parts = path.relative_to(package).with_suffix("").parts
        if "labextension" in parts or parts[-1] == "__init__":
            continue
        found.add("/".join(parts))
    return found


def test_the_architecture_page_names_every_module() -> None:
    page = PAGES["architecture.md"]
    words = set(re.findall(r"[a-z_]+", page))
    missing = sorted(m for m in package_modules() if m.split("/")[-1] not in words)
    assert missing == [], missing
    for package in ("agent", "ui", "mcp", "context", "serverext", "store", "kernel", "safety", "agent/providers", "agent/tools"):
        assert f"hermes_nb/{package}/" in page or f"{package.split('/')[-1]}/" in page, package


#: where a module the page names by its own name (``run_lifecycle.Run``) may live
PACKAGES = ("", "kernel.", "store.", "safety.", "ui.", "agent.", "agent.providers.", "agent.tools.", "mcp.",
            "context.", "serverext.")  # fmt: skip


def _module_named(dotted: str) -> Any:
    """The one module of hermes_nb called ``dotted`` in the root or a package, else None."""
    found = []
    for package in PACKAGES:
        try:
            found.append(importlib.import_module(f"hermes_nb.{package}{dotted}"))
        except ModuleNotFoundError:
            continue
    unique = {id(m): m for m in found}  # hermes_nb.session_ops is hermes_nb.store.session_ops
    return next(iter(unique.values())) if len(unique) == 1 else None


def test_what_the_architecture_page_names_exists() -> None:
    checked = 0
    for dotted in re.findall(r"`([a-z_/]+(?:\.[A-Za-z_]\w*)+)", PAGES["architecture.md"]):
        parts = dotted.replace("/", ".").split(".")
        if parts[-1] in ("py", "json", "ts"):
            continue  # a file name
        found: Any = None
        for i in range(len(parts), 0, -1):  # the longest start that is a module
            found = _module_named(".".join(parts[:i]))
            if found is not None:
                break
        if found is None:
            continue  # not a module path: ``hermes_nb.run`` (a comm name), ``_index.json``
        for name in parts[i:]:
            assert hasattr(found, name), dotted
            found = getattr(found, name)
        checked += 1
    assert checked >= 30, checked


def test_the_classes_the_architecture_page_names_have_what_it_says() -> None:
    """``Run.start``, ``Session.save``: a class of hermes_nb with that name has it."""
    import hermes_nb.kernel.magics  # noqa: F401  (loads the modules a run uses)
    import hermes_nb.serverext.handlers  # noqa: F401

    for module in sorted(package_modules()):
        importlib.import_module("hermes_nb." + module.replace("/", "."))
    classes: dict[str, list[type]] = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("hermes_nb"):
            for value in vars(module).values():
                if isinstance(value, type) and value.__module__ == name:
                    classes.setdefault(value.__name__, []).append(value)
    named = re.findall(r"`([A-Z]\w*)((?:\.\w+)+)", PAGES["architecture.md"])
    assert len(named) >= 10
    for cls, attrs in named:
        assert cls in classes, cls
        path = attrs.strip(".").split(".")
        assert any(_has_path(c, path) for c in classes[cls]), cls + attrs


def _has_path(obj: Any, path: list[str]) -> bool:
    for name in path:
        if not hasattr(obj, name):
            return False
        obj = getattr(obj, name)
    return True
