#!/usr/bin/env python3
"""Prints 'N passed, N failed, N skipped' from ctest's JUnit output."""
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError, IndexError) as err:
    print(f"summarize-junit: cannot read ctest results: {err}", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(1)

passed = failed = skipped = 0
for case in root.iter("testcase"):
    status = case.get("status", "")
    if case.find("failure") is not None or case.find("error") is not None or status == "fail":
        failed += 1
    elif case.find("skipped") is not None or status in ("notrun", "disabled"):
        skipped += 1
    else:
        passed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
