#!/usr/bin/env python3
"""Summarise `quire import --json` output over the shared corpus as a Markdown
table per kind of file (the README's "Supported files" table).

usage: quire import --json ../shared/corpus/pdfs ../shared/corpus/docs > out.jsonl
       python3 scripts/corpus_table.py out.jsonl ../shared/corpus
"""
import collections
import csv
import json
import os
import sys


def kinds(corpus):
    out = {}
    for sub, key in (("pdfs", "file"), ("docs", "file")):
        path = os.path.join(corpus, sub, "manifest.tsv")
        with open(path, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                out[os.path.join(corpus, sub, row[key])] = ("PDF: " + row["kind"]) if sub == "pdfs" else row["format"]
    return out


def main():
    results, corpus = sys.argv[1], os.path.realpath(sys.argv[2])
    kind_of = kinds(corpus)
    table = collections.OrderedDict()
    for line in open(results):
        r = json.loads(line)
        if "outcome" not in r:
            continue
        kind = kind_of.get(r["path"], "other (manifests, ground truth)")
        t = table.setdefault(kind, [0, 0, collections.Counter()])
        if r["outcome"] in ("imported", "unchanged"):
            t[0] += 1
        else:
            t[1] += 1
            t[2][r["error"]["code"]] += 1
    print("| Kind (from the corpus manifests) | Imported | Failed | Failure reasons |")
    print("| --- | ---: | ---: | --- |")
    for kind in sorted(table):
        ok, failed, reasons = table[kind]
        why = ", ".join(f"{c} ×{n}" for c, n in reasons.most_common())
        print(f"| {kind} | {ok} | {failed} | {why} |")


if __name__ == "__main__":
    main()
