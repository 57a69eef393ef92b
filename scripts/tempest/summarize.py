"""Summarise a Tempest run from its subunit v2 stream.

    summarize.py RUN.subunit OUT_DIR [--min-passed N] [--wall SECONDS]

Writes OUT_DIR/summary.txt (the counts, then each failed and skipped test with a one-line
reason) and OUT_DIR/tests.tsv (status, seconds, test id, reason), prints the summary with the
counts line `tempest image: N passed, M failed, K skipped` last. A class-level result
(`setUpClass (tempest...Class)`) counts as one test. Exits 1 when a test failed or fewer
than N passed (default 0), else 0.
"""
import argparse
import re
import sys

import subunit
import testtools

ORDER = {"fail": 0, "uxsuccess": 0, "skip": 1, "success": 2, "xfail": 2}
# The last exception line of a traceback says most; Tempest's REST exceptions put the
# service's answer on the "Details:" line after it.
EXCEPTION = re.compile(r"^([\w]+\.)*\w*(Error|Exception|Fault|Failure|Request|Found|Conflict|"
                       r"Forbidden|Unauthorized|Mismatch|ResponseCode)\b")
# Tempest logs each call; the last refused one tells which request failed.
REQUEST = re.compile(r"Request \([^)]*\): ([45]\d\d) (\w+) \w+://[^/\s]+(\S*)")


def reason(test):
    """One line: a skip's reason, or a failure's last exception line with its details."""
    details = test["details"]
    text = next((details[key].as_text() for key in ("traceback", "reason") if key in details), "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if test["status"] == "skip" or not lines:
        return lines[0] if lines else ""
    found = [i for i, line in enumerate(lines) if EXCEPTION.match(line)]
    if not found:
        return lines[-1][:300]
    i = found[-1]
    line = lines[i]
    if i + 1 < len(lines) and lines[i + 1].startswith("Details:"):
        line += " | " + re.sub(r"(<br />)+", " ", lines[i + 1])
    logged = "".join(detail.as_text() for key, detail in details.items() if "logging" in key)
    refused = REQUEST.findall(logged)
    if refused:
        line = "[%s] %s" % (" ".join(refused[-1]), line)
    return line[:300]


def duration(test):
    start, stop = test["timestamps"]
    return (stop - start).total_seconds() if start and stop else 0.0


def tests_read(path):
    tests = []
    with open(path, "rb") as stream:
        source = subunit.ByteStreamToStreamResult(stream, non_subunit_name="stdout")
        result = testtools.StreamToDict(tests.append)
        result.startTestRun()
        source.run(result)
        result.stopTestRun()
    tests = [t for t in tests if t["status"] not in ("exists", "inprogress")]
    return sorted(tests, key=lambda t: (ORDER.get(t["status"], 0), t["id"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("subunit")
    parser.add_argument("out")
    parser.add_argument("--min-passed", type=int, default=0)
    parser.add_argument("--wall", type=int, help="the run's wall time in seconds, to print")
    args = parser.parse_args()
    tests = tests_read(args.subunit)
    passed = sum(t["status"] in ("success", "xfail") for t in tests)
    skipped = sum(t["status"] == "skip" for t in tests)
    failed = len(tests) - passed - skipped
    counts = "tempest image: %d passed, %d failed, %d skipped" % (passed, failed, skipped)
    if args.wall is not None:
        counts += " in %dm%02ds" % divmod(args.wall, 60)

    with open(args.out + "/tests.tsv", "w") as tsv:
        for t in tests:
            tsv.write("%s\t%.2f\t%s\t%s\n" % (t["status"], duration(t), t["id"],
                                              reason(t) if t["status"] != "success" else ""))
    lines = []
    for title, wanted in (("SKIPPED", ("skip",)), ("FAILED", ("fail", "uxsuccess"))):
        chosen = [t for t in tests if t["status"] in wanted]
        if chosen:
            lines.append("%s (%d)" % (title, len(chosen)))
            for t in chosen:
                lines += ["  " + re.sub(r"\[.*\]$", "", t["id"]), "      " + reason(t)]
    if passed < args.min_passed:
        lines.append("fewer than %d tests passed" % args.min_passed)
    lines.append(counts)
    with open(args.out + "/summary.txt", "w") as summary:
        summary.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if failed == 0 and passed >= args.min_passed else 1


if __name__ == "__main__":
    sys.exit(main())
