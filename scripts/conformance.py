#!/usr/bin/env python3
"""Runs the x509-limbo SERVER cases through `openssl-objects verify`, once with the defaults and once
with the strict Web PKI profile (`--profile webpki`), and compares the verdicts with the expected ones
and with raw OpenSSL's (the upstream OpenSSL harness run on the system libcrypto).

Usage: scripts/conformance.py LIMBO_DIR OPENSSL_OBJECTS_BINARY [--report FILE]

Each case is verified with the settings of the upstream OpenSSL harness (see LIMBO_DIR/README.md):
X509 strict and partial chains, the trusted certificates in the store, CRLs checked for the whole
chain, the validation time or no time checks, authentication level 2, the peer name (DNS, IP or
e-mail), one extended key usage mapped to a purpose, and the maximum depth. Cases with more than one
extended key usage are skipped, as the harness skips them.

The default column is scored on every SERVER case. It fails (exit 1) when a case that raw OpenSSL gets
right is one we get wrong, or when we fail a case that OpenSSL also fails but our message is not
OpenSSL's own text for the error. One difference is the defaults' own and is listed, not failed: a
host name that only the subject CN carries (no subject alternative name has it) is a host name
mismatch for us, since our defaults never fall back to the CN, where OpenSSL goes on to find another
error first.

The profile column is scored on the Web PKI side of limbo's conflicting pairs: a case whose
`conflicts_with` names another case and that is not a `webpki::` case is left out (its Web PKI
sibling is scored instead). It fails when fewer than PROFILE_BAR cases are right, or when a case raw
OpenSSL gets right is one the profile gets wrong, unless limbo contradicts itself there: the rule that
refuses it is the very rule that makes right a scored case raw OpenSSL gets wrong (limbo expects the
same kind of certificate to pass in one case and to fail in the other). Those are listed.
"""

import json
import os
import subprocess
import sys

PURPOSES = {"serverAuth": "sslserver", "clientAuth": "sslclient", "anyExtendedKeyUsage": "any"}
PROFILE_BAR = 186


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


def load_cases(limbo):
    cases = []
    for name in sorted(os.listdir(os.path.join(limbo, "cases"))):
        directory = os.path.join(limbo, "cases", name)
        with open(os.path.join(directory, "testcase.json")) as handle:
            case = json.load(handle)
        if case["validation_kind"] == "SERVER":
            cases.append((case, directory))
    return cases


def run(binary, case, directory, extra):
    """Our verdict (SUCCESS, FAILURE, ERROR, or None when skipped), our message and our rule."""
    if len(case.get("extended_key_usage") or []) > 1:
        return None, None, None
    result = subprocess.run([binary] + arguments_for(case, directory, extra), capture_output=True, text=True)
    if result.returncode not in (0, 1):
        return "ERROR", f"openssl-objects failed to run (exit {result.returncode}): {result.stderr.strip()}", None
    document = json.loads(result.stdout)
    error = document.get("error") or {}
    return ("SUCCESS" if document["valid"] else "FAILURE"), error.get("message"), error.get("profile_rule") or error.get(
        "explanation")


def host_only_in_common_name(binary, directory, case):
    """Whether the DNS name asked for is in the leaf's subject CN and in none of its DNS SANs."""
    peer = case.get("expected_peer_name") or {}
    if peer.get("kind") != "DNS":
        return False
    result = subprocess.run([binary, "inspect", os.path.join(directory, "peer.pem"), "--json"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return False
    leaf = json.loads(result.stdout)["files"][0]["objects"][0]
    names = [n[4:] for n in (leaf.get("subject_alt_names") or []) if n.startswith("DNS:")]
    common_names = [part[3:] for part in leaf["subject"].split(",") if part.startswith("CN=")]
    return peer["value"] not in names and peer["value"] in common_names


def is_scored_for_profile(case):
    """The Web PKI side of conflicting pairs: rfc5280 (and other) siblings of a pair are left out."""
    return not case.get("conflicts_with") or case["id"].startswith("webpki::")


def default_column(cases, openssl, verdicts, binary):
    counts = {"cases": 0, "skipped": 0, "agree": 0, "better": 0, "worse": 0, "both_wrong": 0}
    better, worse, mismatches, both_wrong, common_name = [], [], [], [], []
    for case, directory in cases:
        ours, message, _ = verdicts[case["id"]]
        if ours is None:
            counts["skipped"] += 1
            continue
        counts["cases"] += 1
        expected = case["expected_result"]
        theirs = openssl[case["id"]]["actual_result"]
        context = openssl[case["id"]].get("context")
        if ours == "ERROR":
            counts["worse"] += 1
            worse.append((case["id"], message))
            continue
        if ours == theirs:
            counts["agree"] += 1
            if ours == "FAILURE" and context and message != context:
                if message == "hostname mismatch" and host_only_in_common_name(binary, directory, case):
                    common_name.append((case["id"], context, message))
                else:
                    mismatches.append((case["id"], context, message))
        elif ours == expected:
            counts["better"] += 1
            better.append((case["id"], expected, theirs, message))
        else:
            counts["worse"] += 1
            worse.append((case["id"], f"expected {expected}, OpenSSL {theirs}, ours {ours}: {message}"))
        if ours != expected and theirs != expected:
            counts["both_wrong"] += 1
            both_wrong.append((case["id"], expected, message))
    right = counts["cases"] - sum(1 for c, _ in cases if verdicts[c["id"]][0] not in (None, c["expected_result"]))
    lines = ["## Default (raw OpenSSL's verification, our defaults)", "",
             f"SERVER cases run: {counts['cases']} (skipped with several EKUs: {counts['skipped']}); right: {right}.",
             f"Same verdict as raw OpenSSL 3.0: {counts['agree']}; better than OpenSSL: {counts['better']}; "
             f"worse than OpenSSL: {counts['worse']}; wrong like OpenSSL: {counts['both_wrong']}; failures with "
             f"OpenSSL's own message: {sum(1 for c, _ in cases if verdicts[c['id']][0] == 'FAILURE' and openssl[c['id']]['actual_result'] == 'FAILURE') - len(mismatches) - len(common_name)}"
             f" of {sum(1 for c, _ in cases if verdicts[c['id']][0] == 'FAILURE' and openssl[c['id']]['actual_result'] == 'FAILURE')}.",
             ""]
    if better:
        lines += ["### Where the defaults do better than raw OpenSSL", ""]
        lines += [f"- `{i}`: expected {e}, OpenSSL {t}, ours {e} ({m})" for i, e, t, m in better]
        lines.append("")
    if worse:
        lines += ["### Where raw OpenSSL is right and the defaults are wrong", ""]
        lines += [f"- `{i}`: {detail}" for i, detail in worse]
        lines.append("")
    if common_name:
        lines += ["### Failures the defaults report at the host name (it is only in the subject CN, never used)", ""]
        lines += [f"- `{i}`: OpenSSL \"{c}\", ours \"{m}\"" for i, c, m in common_name]
        lines.append("")
    if mismatches:
        lines += ["### Failures whose message is not OpenSSL's", ""]
        lines += [f"- `{i}`: OpenSSL \"{c}\", ours \"{m}\"" for i, c, m in mismatches]
        lines.append("")
    if both_wrong:
        lines += ["### Cases both raw OpenSSL and the defaults get wrong", ""]
        lines += [f"- `{i}`: expected {e} ({m or 'accepted'})" for i, e, m in both_wrong]
        lines.append("")
    return lines, bool(worse or mismatches)


def profile_column(cases, openssl, verdicts):
    scored = [(c, d) for c, d in cases if is_scored_for_profile(c) and verdicts[c["id"]][0] is not None]
    left_out = [c["id"] for c, _ in cases if not is_scored_for_profile(c)]
    right, wrong, turned, fixed = [], [], [], []
    openssl_right = 0
    # The rules that make a case right that raw OpenSSL gets wrong, and the cases they do it for.
    needed = {}
    for case, _ in scored:
        ours, message, rule = verdicts[case["id"]]
        expected = case["expected_result"]
        theirs = openssl[case["id"]]["actual_result"]
        if theirs == expected:
            openssl_right += 1
        if ours == expected:
            right.append(case["id"])
            if theirs != expected and ours == "FAILURE" and rule:
                needed.setdefault(rule, []).append(case["id"])
            if theirs != expected:
                fixed.append((case["id"], rule if ours == "FAILURE" else None))
        else:
            wrong.append((case["id"], expected, theirs, ours, rule or message))
            if theirs == expected:
                turned.append((case["id"], rule))
    contradicted = [(i, r, needed[r]) for i, r in turned if r in needed]
    unexplained = [(i, r) for i, r in turned if r not in needed]
    lines = ["## With the Web PKI profile (`--profile webpki`)", "",
             f"Scored: {len(scored)} cases (the Web PKI side of limbo's conflicting pairs; left out: "
             + ", ".join(f"`{i}`" for i in left_out) + ").",
             f"Right: {len(right)} of {len(scored)} (raw OpenSSL: {openssl_right}); the bar is {PROFILE_BAR}. "
             f"Cases raw OpenSSL gets right that the profile gets wrong: {len(turned)}, of which limbo contradicts "
             f"itself on {len(contradicted)}.", ""]
    if fixed:
        lines += ["### Where the profile is right and raw OpenSSL is wrong (the rule or check that decides)", ""]
        lines += [f"- `{i}`: {r or 'accepted'}" for i, r in fixed]
        lines.append("")
    if contradicted:
        lines += ["### Cases raw OpenSSL gets right that limbo contradicts", ""]
        for i, rule, others in contradicted:
            lines.append(f"- `{i}` is refused by `{rule}`, the rule that makes right "
                         + ", ".join(f"`{o}`" for o in others) + ".")
        lines.append("")
    if wrong:
        lines += ["### Every case the profile still gets wrong", ""]
        for i, expected, theirs, ours, detail in wrong:
            lines.append(f"- `{i}`: expected {expected}, OpenSSL {theirs}, with the profile {ours}"
                         + (f" ({detail})" if detail else ""))
        lines.append("")
    if unexplained:
        lines += ["### Cases raw OpenSSL gets right that the profile turns wrong", ""]
        lines += [f"- `{i}` ({r})" for i, r in unexplained]
        lines.append("")
    failed = len(right) < PROFILE_BAR or bool(unexplained)
    return lines, failed


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    limbo, binary = sys.argv[1], sys.argv[2]
    report = sys.argv[sys.argv.index("--report") + 1] if "--report" in sys.argv else None
    with open(os.path.join(limbo, "results-openssl-3.0.22-local.json")) as handle:
        openssl = {r["id"]: r for r in json.load(handle)["results"]}
    cases = load_cases(limbo)
    plain = {c["id"]: run(binary, c, d, []) for c, d in cases}
    strict = {c["id"]: run(binary, c, d, ["--profile", "webpki"]) for c, d in cases}

    default_lines, default_failed = default_column(cases, openssl, plain, binary)
    profile_lines, profile_failed = profile_column(cases, openssl, strict)
    lines = ["# x509-limbo conformance", ""] + default_lines + profile_lines
    text = "\n".join(lines)
    print(text)
    if report:
        with open(report, "w") as handle:
            handle.write(text)
    if default_failed:
        print("conformance: the defaults regress against raw OpenSSL or lose its messages", file=sys.stderr)
    if profile_failed:
        print("conformance: the Web PKI profile misses its bar", file=sys.stderr)
    return 1 if default_failed or profile_failed else 0


if __name__ == "__main__":
    sys.exit(main())
