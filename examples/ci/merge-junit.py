#!/usr/bin/env python3
"""Merges JUnit XML reports, such as the shards of a `pybsim test` suite, into one file.

    examples/ci/merge-junit.py -o merged.xml reports/pybsim-*.xml

Every <testsuite> of the inputs (roots <testsuites> or <testsuite>) goes, unchanged and in
the order given, into one <testsuites> whose tests, failures, errors and time are the
sums of the suites'. The result keeps to the strict JUnit schema
(tests/pybsim-test/junit-strict.xsd). A file that is missing or not a JUnit report stops
the merge with a message naming it (exit status 1); nothing is written then.
"""

import argparse
import sys
import xml.etree.ElementTree as ET

COUNTS = ("tests", "failures", "errors")


def suites_of(path):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise SystemExit(f"merge-junit: {path}: {e}")
    if root.tag == "testsuite":
        return [root]
    if root.tag == "testsuites":
        return list(root.findall("testsuite"))
    raise SystemExit(f"merge-junit: {path}: the root is <{root.tag}>, not a JUnit report")


def number(path, suite, key, kind):
    text = suite.get(key, "0")
    try:
        return kind(text)
    except ValueError:
        raise SystemExit(f"merge-junit: {path}: testsuite {suite.get('name')!r}: {key}={text!r} is not a number")


def main():
    ap = argparse.ArgumentParser(description="Merge JUnit XML reports into one.")
    ap.add_argument("-o", "--output", required=True, help="the merged report to write")
    ap.add_argument("reports", nargs="+", help="JUnit XML files")
    a = ap.parse_args()
    merged = ET.Element("testsuites", {"name": "pybsim test"})
    totals = dict.fromkeys(COUNTS, 0)
    seconds = 0.0
    files = 0
    for path in a.reports:
        files += 1
        for suite in suites_of(path):
            for key in COUNTS:
                totals[key] += number(path, suite, key, int)
            seconds += number(path, suite, "time", float)
            merged.append(suite)
    for key in COUNTS:
        merged.set(key, str(totals[key]))
    merged.set("time", f"{seconds:.6f}")
    ET.ElementTree(merged).write(a.output, encoding="UTF-8", xml_declaration=True)
    print(
        f"merge-junit: {files} files, {len(merged)} suites, {totals['tests']} tests, "
        f"{totals['failures']} failures, {totals['errors']} errors -> {a.output}"
    )


if __name__ == "__main__":
    main()
