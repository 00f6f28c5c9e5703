#!/usr/bin/env python3
"""Microsoft Presidio (presidio-analyzer) as an anchor for our PII scanner, run offline.

Run through `scripts/presidio.sh ARGS...`, which installs Presidio into a venv first.

    scripts/presidio.sh --jsonl corpus.jsonl [--max-bytes N] [--speed-only]

Each input line is {"text": "...", "labels": [{"kind": "CARD", "start": 12, "end": 31,
"spoken": false}, ...]} with start/end as UTF-8 byte offsets into text (end exclusive).
Every text goes through `AnalyzerEngine.analyze(text=..., language="en")` with the
engine's default score threshold; only those calls are timed (process CPU time). The
result is one JSON object on stdout; progress goes to stderr.

Offline by construction:
- NLP engine: Presidio's no-op engine (no spaCy model is loaded or downloaded). It yields
  no tokens, so Presidio's context words from the text ("card", "ssn", ...) cannot raise
  scores; the pattern recognizers run as they do with any engine.
- tldextract (used by Presidio's EmailRecognizer to check an address's domain) is replaced
  by an extractor with no suffix-list URLs and no cache dir: it uses the public suffix
  snapshot bundled with the package and never fetches.
- An audit hook makes any socket creation, connect or DNS look-up in this process fail
  loudly instead of silently falling back.

Scoring (the same rule as our scanner's): a label is a true positive if some prediction
of the same kind overlaps it, else a false negative; a prediction that overlaps no label
of its kind is a false positive; precision = tp / (tp + fp), recall = tp / labels.
"""

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict


# --- offline guard (installed before anything else is imported) -----------------------
_NET_ATTEMPTS = []  # kept even if a library swallows the exception: main() then fails


def _no_network(event, args):
    # Creating a socket is not traffic (urllib3 probes IPv6 support at import); resolving
    # a name or connecting/sending to an address is. AF_UNIX paths (str/bytes) are local.
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                 "socket.gethostbyname_ex", "socket.gethostbyaddr", "socket.sendto",
                 "socket.sendmsg"):
        if event in ("socket.connect", "socket.sendto") and isinstance(args[-1], (str, bytes)):
            return
        _NET_ATTEMPTS.append(f"{event} {args!r}")
        raise RuntimeError(f"presidio_bench: network access attempted ({event} {args!r}); "
                           "this benchmark must run offline")


sys.addaudithook(_no_network)

T_IMPORT0 = time.process_time()
# Nothing may fetch the public suffix list: an empty URL list from the environment for
# any extractor built with defaults, and our own extractor for the one Presidio calls.
os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
import tldextract  # noqa: E402
import tldextract.tldextract  # noqa: E402

_OFFLINE_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None,
                                     fallback_to_snapshot=True)
tldextract.extract = _OFFLINE_TLD
tldextract.tldextract.extract = _OFFLINE_TLD

from importlib.metadata import version as _pkg_version  # noqa: E402

from presidio_analyzer import AnalyzerEngine  # noqa: E402
from presidio_analyzer import predefined_recognizers as _predefined  # noqa: E402
from presidio_analyzer.nlp_engine import NlpEngineProvider  # noqa: E402
import presidio_analyzer.predefined_recognizers.generic.email_recognizer as _email_mod  # noqa: E402

# The email recognizer does `import tldextract` and calls `tldextract.extract(...)` at
# match time, so it sees the patched module attribute; check that it really does.
assert _email_mod.tldextract.extract is _OFFLINE_TLD, "tldextract patch not seen by Presidio"
T_IMPORT1 = time.process_time()

# Presidio entity -> our kind. Every other entity is "unmapped": counted, not scored.
ENTITY_TO_KIND = {
    "CREDIT_CARD": "CARD",
    "US_SSN": "SSN",
    "IN_AADHAAR": "AADHAAR",
    "IN_PAN": "PAN",
    "IBAN_CODE": "IBAN",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "ABA_ROUTING_NUMBER": "ABA_ROUTING",
    "US_BANK_NUMBER": "BANK_ACCOUNT",
    # DATE_TIME is not mapped: it is any date or time, not a DOB or card expiry; its
    # overlaps with EXPIRY/DOB labels are shown under "unmapped_on_label".
}


# Countries whose disabled recognizers for our kinds are always enabled (our callers).
OUR_COUNTRIES = {"in", "us", "uk"}


def kind_of(entity):
    if entity in ENTITY_TO_KIND:
        return ENTITY_TO_KIND[entity]
    if entity.endswith("_PASSPORT"):  # US_PASSPORT, IN_PASSPORT, UK_PASSPORT, ...
        return "PASSPORT"
    return None


def log(msg):
    print(f"presidio_bench: {msg}", file=sys.stderr, flush=True)


def build_engine(countries):
    """AnalyzerEngine over Presidio's default predefined recognizers for "en" with the
    no-op NLP engine, plus the Indian, US and UK English recognizers that Presidio ships
    disabled but that detect one of our kinds (ABA routing, Aadhaar, PAN, Indian and UK
    passports), plus every disabled English recognizer of `countries`."""
    nlp_engine = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "no_op",
        "models": [{"lang_code": "en", "model_name": "no_op"}],
    }).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])

    # Presidio's own registry config says which predefined recognizers are disabled by
    # default and which country each belongs to: enable the English ones that detect one
    # of our kinds in OUR_COUNTRIES, and every English one of `countries`.
    import yaml
    from presidio_analyzer.recognizer_registry.recognizers_loader_utils import (
        RecognizerConfigurationLoader,
    )
    with open(RecognizerConfigurationLoader._get_full_conf_path()) as f:
        conf = yaml.safe_load(f)
    have = {type(r).__name__ for r in analyzer.registry.recognizers
            if r.supported_language == "en"}
    enabled = []
    for rec in conf.get("recognizers", []):
        if rec.get("type") != "predefined" or rec.get("enabled", True):
            continue
        langs = rec.get("supported_languages") or ["en"]
        langs = [lang["language"] if isinstance(lang, dict) else lang for lang in langs]
        name = rec.get("class_name") or rec["name"]
        if "en" not in langs or name in have or not rec.get("country_code"):
            continue
        cls = getattr(_predefined, name, None)
        if cls is None:
            log(f"warning: no predefined recognizer class {name}; skipped")
            continue
        try:
            recognizer = cls(supported_language="en")
        except Exception as e:  # noqa: BLE001 - a recognizer we cannot build is skipped
            log(f"warning: cannot build {name}: {e}; skipped")
            continue
        country = rec["country_code"].lower()
        mapped = any(kind_of(e) for e in recognizer.get_supported_entities())
        if (mapped and country in OUR_COUNTRIES) or country in countries:
            analyzer.registry.add_recognizer(recognizer)
            enabled.append(name)
    return analyzer, sorted(enabled)


def byte_to_char(text):
    """Map UTF-8 byte offsets to str indices: None when the text is ASCII (identity)."""
    if text.isascii():
        return None
    offsets = {}
    pos = 0
    for i, ch in enumerate(text):
        offsets[pos] = i
        pos += len(ch.encode("utf-8"))
    offsets[pos] = len(text)
    return offsets


def overlaps(a, b):
    return a[0] < b[1] and b[0] < a[1]


def read_docs(path, max_bytes):
    """Yield (line_no, text, nbytes, labels) until max_bytes of text have been read (the
    document that reaches the limit is included)."""
    total = 0
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if max_bytes is not None and total >= max_bytes:
                return
            if not line.strip():
                continue
            doc = json.loads(line)
            text = doc["text"]
            nbytes = len(text.encode("utf-8"))
            total += nbytes
            yield line_no, text, nbytes, doc.get("labels") or []


def labels_to_chars(line_no, text, labels):
    b2c = byte_to_char(text)
    out = []
    for lab in labels:
        s, e = int(lab["start"]), int(lab["end"])
        if b2c is not None:
            if s not in b2c or e not in b2c:
                raise SystemExit(f"presidio_bench: line {line_no}: label {lab} is not on "
                                 "UTF-8 character boundaries")
            s, e = b2c[s], b2c[e]
        elif not (0 <= s <= e <= len(text)):
            raise SystemExit(f"presidio_bench: line {line_no}: label {lab} out of range")
        out.append((lab["kind"], s, e, bool(lab.get("spoken", False))))
    return out


def ratio(num, den):
    return round(num / den, 4) if den else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jsonl", required=True, help="corpus: one JSON document per line")
    ap.add_argument("--max-bytes", type=int, default=None,
                    help="stop reading once this many bytes of text have been taken")
    ap.add_argument("--speed-only", action="store_true", help="time only, no scoring")
    ap.add_argument("--countries", default="",
                    help="comma-separated country codes (e.g. in,us,uk) whose English "
                         "recognizers that Presidio disables by default are all enabled; "
                         "the disabled ones that detect one of our kinds always are")
    ap.add_argument("--score-threshold", type=float, default=None,
                    help="score_threshold passed to analyze() (default: none, i.e. the "
                         "engine's default, 0 in Presidio 2.2)")
    ap.add_argument("--verbose", action="store_true",
                    help="print each document's labels and predictions on stderr")
    args = ap.parse_args()
    countries = {c.strip().lower() for c in args.countries.split(",") if c.strip()}

    presidio_version = _pkg_version("presidio-analyzer")
    t0 = time.process_time()
    w0 = time.perf_counter()
    analyzer, extra = build_engine(countries)
    # Warm-up outside the timed region: recognizers load lazily and tldextract parses its
    # bundled suffix list on first use.
    analyzer.analyze(text="card 4111 1111 1111 1111, mail a.b@example.co.uk, "
                          "call +1 212 555 0100", language="en")
    setup_cpu = time.process_time() - t0
    setup_wall = time.perf_counter() - w0

    active = sorted(analyzer.get_supported_entities(language="en"))
    log(f"presidio-analyzer {presidio_version}, NLP engine "
        f"{type(analyzer.nlp_engine).__name__}, score threshold "
        f"{analyzer.default_score_threshold}")
    log(f"enabled beyond Presidio's defaults: {', '.join(extra) or 'none'}")
    log("active entities: " + ", ".join(
        f"{e}->{kind_of(e)}" if kind_of(e) else f"{e}(unmapped)" for e in active))

    docs = total_bytes = 0
    cpu = 0.0
    predictions = Counter()
    per_kind = defaultdict(Counter)   # kind -> labels/tp/fn/fp/predictions/tp_predictions
    spoken = defaultdict(Counter)     # kind -> labels/tp/fn/tp_predictions
    cross = Counter()                 # "X_on_Y"
    unmapped = Counter()
    unmapped_on_label = Counter()     # "ENTITY_on_Y"
    last_log = time.monotonic()

    for line_no, text, nbytes, raw_labels in read_docs(args.jsonl, args.max_bytes):
        c0 = time.process_time()
        results = analyzer.analyze(text=text, language="en",
                                   score_threshold=args.score_threshold)
        cpu += time.process_time() - c0
        docs += 1
        total_bytes += nbytes

        for r in results:
            predictions[r.entity_type] += 1
        if args.verbose:
            log(f"line {line_no}: {text!r}")
            for lab in raw_labels:
                log(f"  label {lab['kind']}{' (spoken)' if lab.get('spoken') else ''}: "
                    f"{text.encode('utf-8')[lab['start']:lab['end']].decode('utf-8')!r}")
            for r in sorted(results, key=lambda r: r.start):
                log(f"  pred  {r.entity_type} {r.score:.2f}: {text[r.start:r.end]!r}")
        if not args.speed_only:
            labels = labels_to_chars(line_no, text, raw_labels)
            preds = []
            for r in results:
                k = kind_of(r.entity_type)
                if k is None:
                    unmapped[r.entity_type] += 1
                    for lk, ls, le, _ in labels:
                        if overlaps((r.start, r.end), (ls, le)):
                            unmapped_on_label[f"{r.entity_type}_on_{lk}"] += 1
                else:
                    preds.append((k, r.start, r.end))
            for lk, ls, le, lsp in labels:
                hit = any(pk == lk and overlaps((ps, pe), (ls, le)) for pk, ps, pe in preds)
                row = per_kind[lk]
                row["labels"] += 1
                row["tp" if hit else "fn"] += 1
                if lsp:
                    srow = spoken[lk]
                    srow["labels"] += 1
                    srow["tp" if hit else "fn"] += 1
            for pk, ps, pe in preds:
                row = per_kind[pk]
                row["predictions"] += 1
                same = [(ls, le, lsp) for lk, ls, le, lsp in labels
                        if lk == pk and overlaps((ps, pe), (ls, le))]
                if same:
                    row["tp_predictions"] += 1
                    if any(lsp for _, _, lsp in same):
                        spoken[pk]["tp_predictions"] += 1
                else:
                    row["fp"] += 1
                for other in sorted({lk for lk, ls, le, _ in labels
                                     if lk != pk and overlaps((ps, pe), (ls, le))}):
                    cross[f"{pk}_on_{other}"] += 1

        now = time.monotonic()
        if now - last_log >= 5:
            last_log = now
            log(f"{docs} docs, {total_bytes / 1e6:.2f} MB, {cpu:.1f} CPU s "
                f"({total_bytes / 1e6 / max(cpu, 1e-9):.3f} MB/CPU s)")

    out = {
        "presidio_version": presidio_version,
        "nlp_engine": analyzer.nlp_engine.engine_name,
        "score_threshold": (args.score_threshold if args.score_threshold is not None
                            else analyzer.default_score_threshold),
        "extra_recognizers": extra,
        "entities_active": active,
        "docs": docs,
        "bytes": total_bytes,
        "cpu_seconds": round(cpu, 4),
        "mb_per_cpu_second": round(total_bytes / 1e6 / cpu, 4) if cpu > 0 else None,
        "engine_setup_seconds": round(setup_cpu, 4),
        "engine_setup_wall_seconds": round(setup_wall, 4),
        "import_seconds": round(T_IMPORT1 - T_IMPORT0, 4),
        "predictions": dict(sorted(predictions.items())),
    }
    if not args.speed_only:
        def kind_row(c):
            return {
                "labels": c["labels"], "tp": c["tp"], "fp": c["fp"], "fn": c["fn"],
                "precision": ratio(c["tp"], c["tp"] + c["fp"]),
                "recall": ratio(c["tp"], c["labels"]),
                "predictions": c["predictions"], "tp_predictions": c["tp_predictions"],
            }
        out["per_kind"] = {k: kind_row(per_kind[k]) for k in sorted(per_kind)}
        tot = Counter()
        for c in per_kind.values():
            tot.update(c)
        out["total"] = kind_row(tot)
        stot = Counter()
        for c in spoken.values():
            stot.update(c)
        out["spoken"] = {
            "labels": stot["labels"], "tp": stot["tp"], "fn": stot["fn"],
            "recall": ratio(stot["tp"], stot["labels"]),
            "tp_predictions": stot["tp_predictions"],
            "per_kind": {k: {"labels": c["labels"], "tp": c["tp"], "fn": c["fn"],
                             "recall": ratio(c["tp"], c["labels"]),
                             "tp_predictions": c["tp_predictions"]}
                         for k, c in sorted(spoken.items())},
        }
        out["cross_type"] = dict(sorted(cross.items()))
        out["unmapped"] = dict(sorted(unmapped.items()))
        out["unmapped_on_label"] = dict(sorted(unmapped_on_label.items()))
    log(f"done: {docs} docs, {total_bytes / 1e6:.3f} MB, {cpu:.2f} CPU s, "
        f"{out['mb_per_cpu_second']} MB/CPU s (setup {setup_cpu:.2f} CPU s)")
    if _NET_ATTEMPTS:
        log("error: network access was attempted: " + "; ".join(_NET_ATTEMPTS[:5]))
        sys.exit(3)
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
