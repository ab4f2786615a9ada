#!/usr/bin/env python3
"""Runs the x509-limbo SERVER cases through `openssl-objects verify` and compares the verdicts with
the expected ones and with raw OpenSSL's (the upstream OpenSSL harness run on the system libcrypto).

Usage: scripts/conformance.py LIMBO_DIR OPENSSL_OBJECTS_BINARY [--report FILE]

Each case is verified with the settings of the upstream OpenSSL harness (see LIMBO_DIR/README.md):
X509 strict and partial chains, the trusted certificates in the store, CRLs checked for the whole
chain, the validation time or no time checks, authentication level 2, the peer name (DNS, IP or
e-mail), one extended key usage mapped to a purpose, and the maximum depth. Cases with more than one
extended key usage are skipped, as the harness skips them.

Fails (exit 1) when a case that raw OpenSSL gets right is one we get wrong, or when we fail a case
that OpenSSL also fails but our message is not OpenSSL's own text for the error.
"""

import json
import os
import subprocess
import sys

PURPOSES = {"serverAuth": "sslserver", "clientAuth": "sslclient", "anyExtendedKeyUsage": "any"}


def arguments_for(case, directory, extra):
    args = ["verify", os.path.join(directory, "peer.pem"), "--json", "--partial-chain", "--x509-strict",
            "--auth-level", "2"]
    args += ["--trusted", os.path.join(directory, "trusted.pem")]
    untrusted = os.path.join(directory, "untrusted.pem")
    if os.path.getsize(untrusted) > 0:
        args += ["--untrusted", untrusted]
    crls = os.path.join(directory, "crls.pem")
    if os.path.exists(crls) and os.path.getsize(crls) > 0:
        args += ["--crl", crls]
    if case.get("validation_time"):
        args += ["--at", case["validation_time"].replace("+00:00", "Z")]
    else:
        args += ["--no-check-time"]
    peer = case.get("expected_peer_name")
    if peer:
        flag = {"DNS": "--host", "IP": "--ip", "RFC822": "--email"}[peer["kind"]]
        args += [flag, peer["value"]]
    ekus = case.get("extended_key_usage") or []
    if len(ekus) == 1:
        args += ["--purpose", PURPOSES[ekus[0]]]
    if case.get("max_chain_depth") is not None:
        args += ["--max-depth", str(case["max_chain_depth"])]
    return args + extra


def run_cases(limbo, binary, extra):
    """Yields (case, our verdict, our message) for every SERVER case that is run."""
    for name in sorted(os.listdir(os.path.join(limbo, "cases"))):
        directory = os.path.join(limbo, "cases", name)
        with open(os.path.join(directory, "testcase.json")) as handle:
            case = json.load(handle)
        if case["validation_kind"] != "SERVER":
            continue
        if len(case.get("extended_key_usage") or []) > 1:
            yield case, None, None
            continue
        run = subprocess.run([binary] + arguments_for(case, directory, extra), capture_output=True, text=True)
        if run.returncode not in (0, 1):
            yield case, "ERROR", f"openssl-objects failed to run (exit {run.returncode}): {run.stderr.strip()}"
            continue
        result = json.loads(run.stdout)
        yield case, "SUCCESS" if result["valid"] else "FAILURE", (result.get("error") or {}).get("message")


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    limbo, binary = sys.argv[1], sys.argv[2]
    report = sys.argv[sys.argv.index("--report") + 1] if "--report" in sys.argv else None
    with open(os.path.join(limbo, "results-openssl-3.0.22-local.json")) as handle:
        openssl = {r["id"]: r for r in json.load(handle)["results"]}

    counts = {"cases": 0, "skipped": 0, "agree_with_openssl": 0, "better_than_openssl": 0, "worse_than_openssl": 0,
              "both_wrong": 0}
    better, worse, message_mismatches, both_wrong = [], [], [], []
    for case, ours, ours_message in run_cases(limbo, binary, []):
        if ours is None:
            counts["skipped"] += 1
            continue
        counts["cases"] += 1
        if ours == "ERROR":
            print(f"{case['id']}: {ours_message}")
            worse.append((case["id"], ours_message))
            counts["worse_than_openssl"] += 1
            continue
        expected = case["expected_result"]
        theirs = openssl[case["id"]]["actual_result"]
        context = openssl[case["id"]].get("context")
        if ours == theirs:
            counts["agree_with_openssl"] += 1
            if ours == "FAILURE" and context and ours_message != context:
                message_mismatches.append((case["id"], context, ours_message))
        elif ours == expected:
            counts["better_than_openssl"] += 1
            better.append((case["id"], expected, theirs, ours_message))
        else:
            counts["worse_than_openssl"] += 1
            worse.append((case["id"], f"expected {expected}, OpenSSL {theirs}, ours {ours}: {ours_message}"))
        if ours != expected and theirs != expected:
            counts["both_wrong"] += 1
            both_wrong.append((case["id"], expected, ours_message))

    lines = ["# x509-limbo conformance", "",
             f"SERVER cases run: {counts['cases']} (skipped with several EKUs: {counts['skipped']}).",
             f"Same verdict as raw OpenSSL 3.0: {counts['agree_with_openssl']}; better than OpenSSL: "
             f"{counts['better_than_openssl']}; worse than OpenSSL: {counts['worse_than_openssl']}; "
             f"wrong like OpenSSL: {counts['both_wrong']}.", ""]
    if better:
        lines += ["## Where we do better than raw OpenSSL", ""]
        lines += [f"- `{i}`: expected {e}, OpenSSL {t}, ours {e} ({m})" for i, e, t, m in better]
        lines.append("")
    if worse:
        lines += ["## Where raw OpenSSL is right and we are wrong", ""]
        lines += [f"- `{i}`: {detail}" for i, detail in worse]
        lines.append("")
    if message_mismatches:
        lines += ["## Failures whose message is not OpenSSL's", ""]
        lines += [f"- `{i}`: OpenSSL \"{c}\", ours \"{m}\"" for i, c, m in message_mismatches]
        lines.append("")
    if both_wrong:
        lines += ["## Cases both raw OpenSSL and we get wrong (OpenSSL 3.0's own limits)", ""]
        lines += [f"- `{i}`: expected {e} ({m or 'accepted'})" for i, e, m in both_wrong]
        lines.append("")
    # A stricter setting of ours: never fall back to the subject CN for host names.
    stricter_better, stricter_worse = [], []
    for case, ours, message in run_cases(limbo, binary, ["--never-check-subject"]):
        if ours in (None, "ERROR"):
            continue
        expected = case["expected_result"]
        theirs = openssl[case["id"]]["actual_result"]
        if ours == expected and theirs != expected:
            stricter_better.append((case["id"], expected, message))
        elif ours != expected and theirs == expected:
            stricter_worse.append((case["id"], expected, message))
    lines += ["## A stricter setting: `--never-check-subject`", "",
              f"Never falling back to the subject CN gets {len(stricter_better)} more cases right than raw OpenSSL "
              f"and {len(stricter_worse)} wrong that OpenSSL gets right.", ""]
    lines += [f"- `{i}`: expected {e}, now {m or 'accepted'}" for i, e, m in stricter_better]
    lines += [f"- worse: `{i}`: expected {e}, now {m or 'accepted'}" for i, e, m in stricter_worse]
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if report:
        with open(report, "w") as handle:
            handle.write(text)
    return 1 if worse or message_mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
