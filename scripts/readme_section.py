"""Replace one `<!-- section: NAME -->` block of README.md with the contents of a file.

Usage: python scripts/readme_section.py NAME FILE
"""

import re
import sys
from pathlib import Path

name, source = sys.argv[1], Path(sys.argv[2])
readme = Path(__file__).resolve().parent.parent / "README.md"
text = readme.read_text()
pattern = re.compile(rf"(<!-- section: {re.escape(name)} -->\n).*?(<!-- /section: {re.escape(name)} -->)", re.S)
if not pattern.search(text):
    sys.exit(f"no section {name!r} in README.md")
readme.write_text(pattern.sub(lambda m: m.group(1) + source.read_text().rstrip() + "\n" + m.group(2), text))
