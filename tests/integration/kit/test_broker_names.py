"""Nothing outside a broker's own packages names a broker.

Every ``.py`` file under ``src/brokerlink`` is scanned, except a broker's own packages
(``adapters/<broker>/``, ``emulators/<broker>/``: any package there not starting with
``_``), the two registries, and in ``core/enums.py`` the ``BrokerType`` vocabulary
constants (``BrokerType.ALPACA = BrokerType("alpaca")`` and their declarations).

The rule, decided here and stated in docs/adding-a-broker.md:

* **Code is strict.** Every identifier and every string literal that is not a docstring
  is checked, case-insensitively, for a broker name (``alpaca``, ``tradier``, ``schwab``,
  ``interactive_brokers``, ``ibkr``, ``robinhood``, ``fidelity``, ``td_ameritrade``,
  ``ameritrade``) as part of it (``ALPACA_OAUTH``, ``tradier_app``); and for the paper
  broker, whose name is also an ordinary word ("paper trading"), for its class names
  (``PaperBroker``, ``PaperSettings``, any ``Paper...`` identifier), its helpers
  (``paper_url``, ``parse_paper_url``), ``BrokerType.PAPER``, imports of
  ``brokerlink.adapters.paper`` and the string literal ``"paper"``.
* **Prose is allowed.** Comments and docstrings may cite a broker as an example of a
  general rule; they carry no behaviour, and a fact a broker's code depends on lives in
  its spec.
* **A generic word is marked.** A line whose code uses "paper" in its ordinary sense
  (``EnvironmentKind.PAPER = "paper"``: paper trading) ends with the comment
  ``# not a broker: <why>``, which exempts that line.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src" / "brokerlink"
BROKER_PARENTS = ("adapters", "emulators")
REGISTRIES = {Path("adapters/registry.py"), Path("emulators/registry.py")}
ENUMS = Path("core/enums.py")

BROKER_NAMES = ("alpaca", "tradier", "schwab", "interactive_brokers", "ibkr",
                "robinhood", "fidelity", "td_ameritrade", "ameritrade")
PAPER_NAME = re.compile(r"^_?Paper[A-Z]\w*$|^(parse_)?paper_url$")
PAPER_CODE = re.compile(r"BrokerType\s*\.\s*PAPER\b|\badapters\s*\.\s*paper\b")
NOT_A_BROKER = "# not a broker:"
VOCABULARY = re.compile(r"^\s*(BrokerType\.[A-Z_]+ = BrokerType\(\"[a-z_]+\"\)"
                        r"|[A-Z_]+: ClassVar\[BrokerType\])\s*$")


def _exempt(relative: Path) -> bool:
    parts = relative.parts
    if relative in REGISTRIES:
        return True
    return (len(parts) > 2 and parts[0] in BROKER_PARENTS and not parts[1].startswith("_"))


def _allowed(relative: Path, line: str) -> bool:
    return NOT_A_BROKER in line or (relative == ENUMS and bool(VOCABULARY.match(line)))


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef |
                      ast.AsyncFunctionDef):
            body = node.body
            # A string statement first in a body, or right after an assignment (an
            # attribute docstring), is documentation.
            for index, statement in enumerate(body):
                is_doc = (isinstance(statement, ast.Expr)
                          and isinstance(statement.value, ast.Constant)
                          and isinstance(statement.value.value, str)
                          and (index == 0 or isinstance(body[index - 1],
                                                        ast.Assign | ast.AnnAssign)))
                if is_doc:
                    end = statement.end_lineno or statement.lineno
                    lines.update(range(statement.lineno, end + 1))
    return lines


def _literal(text: str) -> str:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # an f-string: check its source text
    return value if isinstance(value, str) else text


def findings(path: Path, relative: Path) -> list[str]:
    """Every place in ``path``'s code that names a broker, as ``file:line: token``."""
    source = path.read_text(encoding="utf-8")
    docs = _docstring_lines(ast.parse(source))
    lines = source.splitlines()
    found: list[str] = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        line = token.start[0]
        if line > len(lines) or _allowed(relative, lines[line - 1]):
            continue
        if token.type == tokenize.NAME:
            text = token.string
        elif token.type == tokenize.STRING and line not in docs:
            text = _literal(token.string)
        else:
            continue
        lowered = text.lower()
        named = [name for name in BROKER_NAMES if name in lowered]
        if named or (token.type == tokenize.NAME and PAPER_NAME.match(text)) or \
                (token.type == tokenize.STRING and lowered.strip() == "paper"):
            found.append(f"{relative}:{line}: {token.string[:60]}")
    for number, text in enumerate(lines, start=1):
        code = text.split("#", 1)[0]
        if number not in docs and not _allowed(relative, text) and PAPER_CODE.search(code):
            found.append(f"{relative}:{number}: {code.strip()[:60]}")
    return found


def scan() -> list[str]:
    found: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        if not _exempt(relative):
            found.extend(findings(path, relative))
    return found


def test_the_scanner_finds_what_it_is_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Alpaca and PaperBroker in a docstring are prose."""\n'
        "# tradier in a comment is prose\n"
        "from brokerlink.adapters.paper.config import paper_url\n"
        "ALPACA_OAUTH = 1\n"
        'kind = "paper"\n'
        "if broker is BrokerType.TRADIER: pass\n"
        "x = PaperSettings()\n"
        'label = f"{name} at Schwab"\n'
        "ok = EnvironmentKind.PAPER\n"
        'PAPER = "paper"  # not a broker: paper trading\n', encoding="utf-8")
    found = findings(sample, Path("sample.py"))
    assert {int(f.split(":")[1]) for f in found} == {3, 4, 5, 6, 7, 8}
    assert _exempt(Path("adapters/alpaca/spec.py"))
    assert not _exempt(Path("adapters/_shared/spec.py"))
    assert not _exempt(Path("manager/manager.py"))


def test_nothing_outside_the_broker_packages_names_a_broker() -> None:
    found = scan()
    assert not found, "broker names outside the broker packages:\n" + "\n".join(found)
